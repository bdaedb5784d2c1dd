// A port of dht-rpc 6.27.0 lib/io.js. Where the structure differs from the reference it is for
// speed (pooled request slots, O(1) tid lookup, one timer for all requests); the observable
// behaviour (bytes, order of callbacks, retry and window accounting) follows the JS.
#include "core/rpc_io.hpp"

#include <algorithm>
#include <cassert>
#include <deque>
#include <limits>
#include <queue>
#include <stdexcept>
#include <utility>

#include <boost/asio/post.hpp>

#include "core/routing_table.hpp"
#include "core/timer.hpp"
#include "protocol/compact.hpp"
#include "protocol/node_id.hpp"

namespace hdht::dht {

// One request, from request() until its response, failure or withdrawal. Slots are reused;
// `gen` counts the uses so that stale handles, timer entries and queue entries can tell.
struct RequestHandle::Slot {
  std::uint32_t gen = 0;
  bool live = false;    // between request() and the end of the request
  bool doomed = false;  // refused (too many in flight, or too large); fails on the next tick
  std::error_code doom_error;
  std::uint16_t tid = 0;
  std::size_t index = 0;  // position in Impl::inflight (swap-remove, as the reference's array)
  RequestSpec spec;
  RequestCallbacks cb;
  DatagramSocket* socket = nullptr;
  Bytes buffer;  // encoded once, on the first send; its capacity survives reuse of the slot
  bool encoded = false;
  int sent = 0;
  TimePoint created{};
  std::uint64_t timer_seq = 0;  // the armed timeout entry; 0 = none
};

namespace {

constexpr std::size_t kNoIndex = std::numeric_limits<std::size_t>::max();
constexpr std::size_t kTidSpace = 65536;

}  // namespace

struct RpcIo::Impl {
  using Slot = RequestHandle::Slot;

  struct TimeoutEntry {
    TimePoint at;
    std::uint64_t seq;
    Slot* slot;
    std::uint32_t gen;
  };
  struct Later {
    bool operator()(const TimeoutEntry& a, const TimeoutEntry& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  struct Queued {
    Slot* slot;
    std::uint32_t gen;
  };

  Impl(RpcIo& owner, Runtime& runtime)
      : io(owner),
        drain_timer(runtime),
        timeout_timer(runtime),
        by_tid(64, nullptr),
        request_limiter(owner.config_.request_rate_limit) {}

  RpcIo& io;
  core::Timer drain_timer;
  core::Timer timeout_timer;
  TimePoint next_drain{};

  std::vector<std::unique_ptr<Slot>> slots;  // owns every slot ever made
  std::vector<Slot*> free_slots;
  std::vector<Slot*> inflight;  // the reference's io.inflight, same order
  // Direct-mapped on the low tid bits; grows on a collision, so a lookup is one probe.
  std::vector<Slot*> by_tid;
  std::priority_queue<TimeoutEntry, std::vector<TimeoutEntry>, Later> timeouts;
  std::uint64_t timeout_seq = 0;
  std::deque<Queued> pending;  // sends waiting for the congestion window (FIFO)

  std::optional<rpc::TokenSecrets> secrets;
  core::SourceRateLimiter request_limiter;
  int rotate_countdown = 10;
  std::uint32_t next_tid = 0;
  std::uint16_t bound_server_port = 0;
  std::uint16_t bound_client_port = 0;
  bool bound = false;
  bool destroyed = false;
  bool suspended = false;
  // Sockets closed by suspend() stay allocated, so that an IncomingRequest answered late or a
  // request pinned to one of them sends into a closed socket rather than freed memory.
  std::vector<std::unique_ptr<DatagramSocket>> retired;

  // Encoding scratch, reused so steady-state replies do not allocate for their message.
  rpc::Request out_req;
  Bytes out;
  std::vector<const Node*> closest;

  // --- tid index ---
  Slot* find(std::uint16_t tid) const {
    Slot* s = by_tid[tid & (by_tid.size() - 1)];
    return s != nullptr && s->tid == tid ? s : nullptr;
  }
  void index_tid(Slot* s) {
    while (by_tid[s->tid & (by_tid.size() - 1)] != nullptr)
      grow_tid_index();
    by_tid[s->tid & (by_tid.size() - 1)] = s;
  }
  void grow_tid_index() {
    // Distinct tids that differ in their low bits still differ in more low bits: no collisions
    // among the existing entries after doubling. At 65536 entries only equal tids collide, and
    // next_free_tid() never hands out a tid in flight.
    std::vector<Slot*> bigger(by_tid.size() * 2, nullptr);
    for (Slot* s : by_tid) {
      if (s != nullptr) bigger[s->tid & (bigger.size() - 1)] = s;
    }
    by_tid.swap(bigger);
  }
  void unindex_tid(Slot* s) {
    Slot*& e = by_tid[s->tid & (by_tid.size() - 1)];
    if (e == s) e = nullptr;
  }
  std::uint16_t next_free_tid() {
    // The reference's counter (random start, wraps at 65536), skipping tids still in flight:
    // the reference would send a duplicate and match its response to whichever came first.
    for (;;) {
      if (next_tid >= kTidSpace) next_tid = 0;
      const auto tid = static_cast<std::uint16_t>(next_tid++);
      if (find(tid) == nullptr) return tid;
    }
  }

  // --- slots ---
  Slot* acquire() {
    if (free_slots.empty()) {
      slots.push_back(std::make_unique<Slot>());
      return slots.back().get();
    }
    Slot* s = free_slots.back();
    free_slots.pop_back();
    return s;
  }
  void release(Slot* s) {
    ++s->gen;
    s->live = false;
    s->doomed = false;
    s->doom_error = {};
    s->timer_seq = 0;
    s->spec = RequestSpec{};
    s->cb = RequestCallbacks{};  // drop captures now, not when the slot is reused
    s->socket = nullptr;
    s->encoded = false;
    free_slots.push_back(s);
  }
  // Takes a live slot out of the in-flight set; the caller releases it.
  void remove_inflight(Slot* s) {
    s->timer_seq = 0;
    if (s->index == kNoIndex) return;
    unindex_tid(s);
    const std::size_t i = s->index;
    if (i + 1 != inflight.size()) {
      inflight[i] = inflight.back();
      inflight[i]->index = i;
    }
    inflight.pop_back();
    s->index = kNoIndex;
  }

  // --- sending (Request.send / _sendNow) ---
  void encode_request(Bytes& dst, std::uint16_t tid, const Ipv4Address& to,
                      const std::optional<Bytes32>& token, bool internal, std::uint64_t command,
                      const std::optional<Bytes32>& target, std::optional<Bytes>& value,
                      const DatagramSocket* socket) {
    out_req.tid = tid;
    out_req.to = to;
    out_req.id.reset();
    if (!io.ephemeral_ && socket == io.server_.get() && io.table_ != nullptr) {
      out_req.id = io.table_->id();
    }
    out_req.token = token;
    out_req.internal = internal;
    out_req.command = command;
    out_req.target = target;
    out_req.value = std::move(value);  // borrowed for the encode, handed back below
    dst.clear();
    rpc::encode_into(dst, out_req);
    value = std::move(out_req.value);
    out_req.value.reset();
  }

  void send(Slot* s, bool force) {
    if (!s->live || s->socket == nullptr) return;
    if (!s->encoded) {
      encode_request(s->buffer, s->tid, s->spec.to, s->spec.token, s->spec.internal,
                     s->spec.command, s->spec.target, s->spec.value, s->socket);
      s->encoded = true;
      if (s->buffer.size() > DatagramSocket::kReceiveBufferSize) {
        refuse_oversized(s);
        return;
      }
    }
    if (!force && io.congestion_.is_full()) {
      pending.push_back({s, s->gen});
      return;
    }
    send_now(s);
  }

  // Every peer (libudx, and our sockets alike) reads datagrams into kReceiveBufferSize bytes and
  // drops the cut remainder as malformed. Sent, this request could only time out, and the
  // timeout would evict a healthy node from the table (and queries would send down hints about
  // it): a 60000-byte put emptied a testnet node's table. So it is never sent, and fails on the
  // next tick (not inside request()) with datagram_too_large, which no caller mistakes for a dead
  // node.
  void refuse_oversized(Slot* s) {
    ++io.stats_.oversized_requests;
    // Out of the in-flight set now: it holds no tid. The congestion window is not credited: a
    // first transmission never counted in it (a re-encode after a rebind leaves at most one
    // stale count, which the window's drain clears).
    if (s->index != kNoIndex) {
      remove_inflight(s);
      --io.stats_.active;
    }
    s->doomed = true;
    s->doom_error = make_error_code(RpcErrc::datagram_too_large);
    arm_timeout(s, io.runtime_.now());
  }

  void send_now(Slot* s) {
    if (!s->live) return;
    ++s->sent;
    io.congestion_.send();
    s->socket->send(s->spec.to, s->buffer, {.ttl = s->spec.ttl});
    const Duration t = s->spec.timeout && s->spec.timeout->count() > 0 ? *s->spec.timeout
                                                                       : io.config_.request_timeout;
    arm_timeout(s, io.runtime_.now() + t);
  }

  void arm_timeout(Slot* s, TimePoint at) {
    s->timer_seq = ++timeout_seq;
    timeouts.push({at, s->timer_seq, s, s->gen});
    if (!timeout_timer.pending() || at < timeout_timer.expiry()) {
      timeout_timer.expires_at(at, [this] { on_timeouts(); });
    }
  }

  static bool current(const TimeoutEntry& e) {
    return e.slot->gen == e.gen && e.slot->live && e.slot->timer_seq == e.seq;
  }

  void on_timeouts() {
    std::weak_ptr<RpcIo*> guard = io.alive_;
    const TimePoint now = io.runtime_.now();
    while (!timeouts.empty() && timeouts.top().at <= now) {
      const TimeoutEntry e = timeouts.top();
      timeouts.pop();
      if (!current(e)) continue;
      on_cycle(e.slot);
      if (guard.expired()) return;
    }
    while (!timeouts.empty() && !current(timeouts.top()))
      timeouts.pop();
    if (!timeouts.empty()) {
      timeout_timer.expires_at(timeouts.top().at, [this] { on_timeouts(); });
    }
  }

  // The reference's oncycle().
  void on_cycle(Slot* s) {
    s->timer_seq = 0;
    if (s->doomed) {
      finish(s, s->doom_error);
      return;
    }
    std::weak_ptr<RpcIo*> guard = io.alive_;
    const std::uint32_t gen = s->gen;
    if (s->cb.on_cycle) {
      auto hook = s->cb.on_cycle;  // the hook may replace itself through set_on_cycle()
      hook();
      if (guard.expired() || s->gen != gen) return;
    }
    if (s->sent > s->spec.retries) {
      ++io.stats_.timeouts;
      RequestSpec spec = std::move(s->spec);
      finish(s, RpcErrc::request_timeout);
      if (guard.expired()) return;
      if (io.handlers_.on_timeout) io.handlers_.on_timeout(spec);
    } else {
      ++io.stats_.retries;
      send(s, false);  // the reference retransmits unforced, even a forced request
    }
  }

  // Ends a live request with an error (Request.destroy(err)).
  void finish(Slot* s, std::error_code ec) {
    const bool was_inflight = s->index != kNoIndex;
    remove_inflight(s);
    if (was_inflight) {
      io.congestion_.recv();
      --io.stats_.active;
    }
    auto on_error = std::move(s->cb.on_error);
    release(s);
    if (on_error) on_error(ec);
  }

  // A handle let go of its request: the reference's req.destroy() minus the callback.
  void withdraw(Slot* s) {
    const bool was_inflight = s->index != kNoIndex;
    remove_inflight(s);
    if (was_inflight) {
      io.congestion_.recv();
      --io.stats_.active;
    }
    release(s);
  }

  // _clear(): newest in the list first, as the reference pops its array. Only the requests in
  // flight on entry: one that an on_error makes meanwhile is not failed (nor looped on).
  void fail_all(std::error_code ec) {
    std::vector<Queued> victims;
    victims.reserve(inflight.size());
    for (auto it = inflight.rbegin(); it != inflight.rend(); ++it)
      victims.push_back({*it, (*it)->gen});
    std::weak_ptr<RpcIo*> guard = io.alive_;
    for (const Queued& v : victims) {
      if (v.slot->gen != v.gen || !v.slot->live) continue;
      finish(v.slot, ec);
      if (guard.expired()) return;
    }
  }

  // --- the 750 ms drain (_drain) ---
  void start_drain() {
    if (drain_timer.pending()) return;
    next_drain = io.runtime_.now() + io.config_.drain_interval;
    drain_timer.expires_at(next_drain, [this] { on_drain(); });
  }
  void on_drain() {
    // setInterval: fixed rate, independent of how long the handlers took.
    next_drain += io.config_.drain_interval;
    drain_timer.expires_at(next_drain, [this] { on_drain(); });

    if (secrets && --rotate_countdown == 0) {
      rotate_countdown = io.config_.rotate_secrets_every;
      secrets->rotate();
    }
    io.congestion_.drain();
    while (!io.congestion_.is_full() && !pending.empty()) {
      const Queued q = pending.front();
      pending.pop_front();
      if (q.slot->gen == q.gen) send_now(q.slot);  // no callbacks run from send_now()
    }
  }

  const rpc::TokenSecrets& token_secrets() {
    if (!secrets) {
      // From the runtime's randomness: libsodium on real sockets, the seed in a simulation.
      Bytes32 s0{};
      Bytes32 s1{};
      for (auto* s : {&s0, &s1}) {
        for (std::size_t i = 0; i < 32; i += 4) {
          const std::uint32_t r = io.runtime_.random_u32();
          for (std::size_t j = 0; j < 4; ++j)
            (*s)[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
        }
      }
      secrets.emplace(s0, s1);
    }
    return *secrets;
  }

  // --- replies (Request._sendReply) ---
  void send_reply(const IncomingRequest& req, std::uint64_t error, std::optional<ByteView> value,
                  bool token, bool closer_nodes, const Ipv4Address& to, DatagramSocket* socket) {
    if (socket == nullptr) return;
    const Bytes32* id = nullptr;
    if (!io.ephemeral_ && socket == io.server_.get() && io.table_ != nullptr) {
      id = &io.table_->id();
    }
    std::optional<Bytes32> round_token;
    if (token) round_token = io.token(to, 1);
    closest.clear();
    if (req.msg_.target && closer_nodes && io.table_ != nullptr) {
      io.table_->closest(*req.msg_.target, 0, closest);
    }
    encode_reply(out, req.msg_.tid, to, id, round_token ? &*round_token : nullptr, closest, error,
                 value);
    if (out.size() > DatagramSocket::kReceiveBufferSize && !closest.empty()) {
      // A reply cut short at the requester makes this node look dead to it (evicted, down
      // hints). A request that arrived whole always fits once its optional closer nodes go (a
      // stored value was in a datagram itself): the value is what the requester asked for.
      closest.clear();
      encode_reply(out, req.msg_.tid, to, id, round_token ? &*round_token : nullptr, closest, error,
                   value);
    }
    if (out.size() > DatagramSocket::kReceiveBufferSize) {
      ++io.stats_.oversized_replies;  // unreadable anywhere: not worth the bandwidth
      return;
    }
    socket->send(to, out);
  }

  // rpc::encode_into(Response) byte for byte, written in place from the table's nodes: a busy
  // node answers FIND_NODE with 20 addresses, and building a Response (a vector of addresses)
  // to push through the generic writer byte by byte cost more than the rest of the request.
  // Debug builds check every reply against the generic encoder.
  static void encode_reply(Bytes& dst, std::uint16_t tid, const Ipv4Address& to, const Bytes32* id,
                           const Bytes32* token, const std::vector<const Node*>& closer,
                           std::uint64_t error, std::optional<ByteView> value) {
    if (error > cenc::kMaxSafeInteger) throw std::invalid_argument("rpc reply error above 2^53-1");
    std::size_t size = rpc::kHeaderSize;
    if (id != nullptr) size += 32;
    if (token != nullptr) size += 32;
    if (!closer.empty()) size += cenc::uint_size(closer.size()) + 6 * closer.size();
    if (error > 0) size += cenc::uint_size(error);
    if (value) size += cenc::uint_size(value->size()) + value->size();
    dst.resize(size);
    std::uint8_t* p = dst.data();
    *p++ = rpc::kResponseType;
    *p++ = static_cast<std::uint8_t>((id != nullptr ? rpc::response_flag::kId : 0) |
                                     (token != nullptr ? rpc::response_flag::kToken : 0) |
                                     (closer.empty() ? 0 : rpc::response_flag::kCloserNodes) |
                                     (error > 0 ? rpc::response_flag::kError : 0) |
                                     (value ? rpc::response_flag::kValue : 0));
    p = put_u16(p, tid);
    p = put_address(p, to);
    if (id != nullptr) p = std::copy(id->begin(), id->end(), p);
    if (token != nullptr) p = std::copy(token->begin(), token->end(), p);
    if (!closer.empty()) {
      p = put_uint(p, closer.size());
      for (const Node* n : closer)
        p = put_address(p, n->addr);
    }
    if (error > 0) p = put_uint(p, error);
    if (value) {
      p = put_uint(p, value->size());
      p = std::copy(value->begin(), value->end(), p);
    }
#ifndef NDEBUG
    rpc::Response check;
    check.tid = tid;
    check.to = to;
    if (id != nullptr) check.id = *id;
    if (token != nullptr) check.token = *token;
    for (const Node* n : closer)
      check.closer_nodes.push_back(n->addr);
    check.error = error;
    if (value) check.value = Bytes(value->begin(), value->end());
    assert(p == dst.data() + dst.size() && rpc::encode(check) == dst);
#endif
  }
  static std::uint8_t* put_u16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
    return p + 2;
  }
  static std::uint8_t* put_address(std::uint8_t* p, const Ipv4Address& a) {
    p = std::copy(a.ip.begin(), a.ip.end(), p);
    return put_u16(p, a.port);
  }
  // compact-encoding's uint (cenc::Writer::uint).
  static std::uint8_t* put_uint(std::uint8_t* p, std::uint64_t n) {
    int bytes = 0;
    if (n <= 0xfc) {
      *p++ = static_cast<std::uint8_t>(n);
      return p;
    }
    if (n <= 0xffff) {
      *p++ = 0xfd;
      bytes = 2;
    } else if (n <= 0xffffffff) {
      *p++ = 0xfe;
      bytes = 4;
    } else {
      *p++ = 0xff;
      bytes = 8;
    }
    for (int i = 0; i < bytes; ++i)
      *p++ = static_cast<std::uint8_t>(n >> (8 * i));
    return p;
  }

  // --- binding (_bindSockets) ---
  Result<void> bind_sockets() {
    auto& cfg = io.config_;
    std::vector<std::uint32_t> candidates;
    if (bound_server_port != 0) candidates.push_back(bound_server_port);
    std::uint32_t first = 0;
    std::uint32_t end = 0;
    if (cfg.port_range) {
      first = cfg.port_range->first;
      end = cfg.port_range->second;
    } else if (cfg.port != 0) {
      first = cfg.port;
      end = first + 5;
    }
    for (std::uint32_t p = first; p < end; ++p)
      candidates.push_back(p);

    std::unique_ptr<DatagramSocket> server;
    for (std::uint32_t p : candidates) {
      if (p <= 65535) {
        auto r = io.runtime_.bind_udp({cfg.bind_host.ip, static_cast<std::uint16_t>(p)});
        if (r) {
          server = std::move(*r);
          break;
        }
      }
      if (!cfg.any_port) return RpcErrc::bind_failed;
    }
    if (!server) {
      auto r = io.runtime_.bind_udp({cfg.bind_host.ip, 0});
      if (!r) return RpcErrc::bind_failed;
      server = std::move(*r);
    }

    auto c = io.runtime_.bind_udp({cfg.bind_host.ip, bound_client_port});
    if (!c) c = io.runtime_.bind_udp({cfg.bind_host.ip, 0});
    if (!c) return RpcErrc::bind_failed;
    std::unique_ptr<DatagramSocket> client = std::move(*c);

    bound_server_port = server->local_address().port;
    bound_client_port = client->local_address().port;

    DatagramSocket* old_server = io.server_.get();
    DatagramSocket* old_client = io.client_.get();
    if (io.server_) retired.push_back(std::move(io.server_));
    if (io.client_) retired.push_back(std::move(io.client_));
    io.server_ = std::move(server);
    io.client_ = std::move(client);
    for (DatagramSocket* s : {io.server_.get(), io.client_.get()}) {
      s->set_receive_handler([owner = &io, s](ByteView data, const Ipv4Address& from) {
        owner->on_message(*s, data, from);
      });
    }
    bound = true;
    start_drain();

    // A snapshot: a request that re-encodes too large leaves `inflight` inside send().
    const std::vector<Slot*> resend = inflight;
    for (Slot* s : resend) {
      // A request made while unbound or suspended has no socket yet; one pinned to the old
      // pair moves to the new pair (the reference would keep sending into the closed one).
      if (s->socket == old_server && old_server != nullptr) {
        s->socket = io.server_.get();
        s->encoded = false;
      } else if (s->socket == old_client && old_client != nullptr) {
        s->socket = io.client_.get();
        s->encoded = false;
      }
      if (s->socket == nullptr) s->socket = io.socket();
      s->sent = 0;
      send(s, false);
    }
    return {};
  }

  void close_sockets() {
    if (io.server_) io.server_->close();
    if (io.client_) io.client_->close();
  }
};

// ---------------------------------------------------------------------------------------------
// RequestHandle

RequestHandle::RequestHandle(RequestHandle&& other) noexcept
    : io_(std::move(other.io_)),
      slot_(std::exchange(other.slot_, nullptr)),
      gen_(other.gen_),
      tid_(other.tid_) {}

RequestHandle& RequestHandle::operator=(RequestHandle&& other) noexcept {
  if (this != &other) {
    cancel();
    io_ = std::move(other.io_);
    slot_ = std::exchange(other.slot_, nullptr);
    gen_ = other.gen_;
    tid_ = other.tid_;
  }
  return *this;
}

RequestHandle::~RequestHandle() {
  cancel();
}

RequestHandle::Slot* RequestHandle::live_slot() const noexcept {
  if (slot_ == nullptr || io_.expired()) return nullptr;
  return slot_->gen == gen_ && slot_->live ? slot_ : nullptr;
}

void RequestHandle::cancel() noexcept {
  if (Slot* s = live_slot()) {
    RpcIo* io = *io_.lock();
    io->impl_->withdraw(s);
  }
  slot_ = nullptr;
  io_.reset();
}

bool RequestHandle::active() const noexcept {
  return live_slot() != nullptr;
}

std::uint16_t RequestHandle::tid() const noexcept {
  return tid_;
}

void RequestHandle::set_on_cycle(std::function<void()> on_cycle) {
  if (Slot* s = live_slot()) s->cb.on_cycle = std::move(on_cycle);
}

// ---------------------------------------------------------------------------------------------
// IncomingRequest

void IncomingRequest::reply(std::optional<ByteView> value, ReplyOptions opts) const {
  auto io = io_.lock();
  if (!io) return;
  (*io)->impl_->send_reply(*this, 0, value, opts.token.value_or(true), opts.closer_nodes,
                           opts.to.value_or(from_.addr), opts.socket ? opts.socket : socket_);
}

void IncomingRequest::error(std::uint64_t code, ReplyOptions opts) const {
  auto io = io_.lock();
  if (!io) return;
  (*io)->impl_->send_reply(*this, code, std::nullopt, opts.token.value_or(false), opts.closer_nodes,
                           opts.to.value_or(from_.addr), opts.socket ? opts.socket : socket_);
}

void IncomingRequest::send_reply(std::uint64_t error, std::optional<ByteView> value, bool token,
                                 bool closer_nodes) const {
  auto io = io_.lock();
  if (!io) return;
  (*io)->impl_->send_reply(*this, error, value, token, closer_nodes, from_.addr, socket_);
}

void IncomingRequest::relay(std::optional<ByteView> value, const Ipv4Address& to,
                            DatagramSocket* socket) const {
  auto io = io_.lock();
  if (!io) return;
  DatagramSocket* s = socket ? socket : socket_;
  if (s == nullptr) return;
  auto& impl = *(*io)->impl_;
  std::optional<Bytes> v;
  if (value) v.emplace(value->begin(), value->end());
  impl.encode_request(impl.out, msg_.tid, to, std::nullopt, msg_.internal, msg_.command,
                      msg_.target, v, s);
  if (impl.out.size() > DatagramSocket::kReceiveBufferSize) {
    ++(*io)->stats_.oversized_replies;  // the next hop could not read it whole
    return;
  }
  s->send(to, impl.out);
}

// ---------------------------------------------------------------------------------------------
// RpcIo

RpcIo::RpcIo(Runtime& runtime, RpcIoConfig config, Handlers handlers)
    : runtime_(runtime),
      config_(std::move(config)),
      handlers_(std::move(handlers)),
      firewalled_(config_.firewalled),
      congestion_(config_.max_window),
      alive_(std::make_shared<RpcIo*>(this)) {
  impl_ = std::make_unique<Impl>(*this, runtime_);
  impl_->next_tid = runtime_.random_u32() % kTidSpace;
  impl_->rotate_countdown = config_.rotate_secrets_every;
  config_.max_inflight = std::min(config_.max_inflight, kTidSpace);
}

RpcIo::~RpcIo() {
  alive_.reset();  // handles and IncomingRequests see the RpcIo gone from here on
  impl_->drain_timer.cancel();
  impl_->timeout_timer.cancel();
  impl_->close_sockets();
}

Result<void> RpcIo::bind() {
  if (impl_->bound) return {};
  if (impl_->destroyed) return RpcErrc::bind_failed;
  return impl_->bind_sockets();
}

void RpcIo::suspend() {
  impl_->suspended = true;
  std::weak_ptr<RpcIo*> guard = alive_;
  impl_->drain_timer.cancel();
  impl_->fail_all(RpcErrc::io_suspended);
  if (guard.expired()) return;
  impl_->close_sockets();
  congestion_.clear();
}

Result<void> RpcIo::resume() {
  impl_->suspended = false;
  if (impl_->destroyed) return {};
  return impl_->bind_sockets();
}

void RpcIo::destroy() {
  if (impl_->destroyed) return;
  impl_->destroyed = true;
  std::weak_ptr<RpcIo*> guard = alive_;
  impl_->drain_timer.cancel();
  impl_->fail_all(RpcErrc::request_destroyed);
  if (guard.expired()) return;
  impl_->timeout_timer.cancel();
  impl_->close_sockets();
}

RequestHandle RpcIo::request(RequestSpec spec, RequestCallbacks callbacks) {
  Impl& m = *impl_;
  if (m.destroyed) return {};
  Impl::Slot* s = m.acquire();
  s->live = true;
  s->spec = std::move(spec);
  s->cb = std::move(callbacks);
  s->sent = 0;
  s->encoded = false;
  s->created = runtime_.now();
  s->index = kNoIndex;

  if (m.inflight.size() >= config_.max_inflight) {
    // Every tid is taken: fail on the next tick rather than re-entering the caller.
    s->doomed = true;
    s->doom_error = make_error_code(RpcErrc::request_destroyed);
    m.arm_timeout(s, runtime_.now());
    return RequestHandle(alive_, s, s->gen, 0);
  }

  s->tid = m.next_free_tid();
  m.index_tid(s);
  s->index = m.inflight.size();
  m.inflight.push_back(s);
  s->socket = s->spec.socket != nullptr ? s->spec.socket : (m.suspended ? nullptr : socket());

  if (s->spec.internal && s->spec.command < stats_.commands.size()) {
    ++stats_.commands[s->spec.command].tx;
  }
  ++stats_.active;
  ++stats_.requests_total;

  RequestHandle handle(alive_, s, s->gen, s->tid);
  m.send(s, s->spec.force);
  return handle;
}

void RpcIo::on_message(DatagramSocket& socket, ByteView data, const Ipv4Address& from) {
  if (data.empty() || from.port == 0 || impl_->suspended) return;
  const std::uint8_t type = data[0];
  if (type != rpc::kRequestType && type != rpc::kResponseType) {
    if (handlers_.on_other) handlers_.on_other(socket, data, from);
    return;
  }
  if (data.size() < 2) return;
  const bool external = &socket != this->socket();

  if (type == rpc::kRequestType) {
    // Before decoding: an over-limit request costs a map lookup and nothing else, and gets no
    // reply (one would make the flood's spoofed source the victim of an amplification).
    if (impl_->request_limiter.enabled() && !impl_->request_limiter.allow(from, runtime_.now())) {
      ++stats_.rate_limited_requests;
      return;
    }
    auto decoded = rpc::decode_request(data);
    if (!decoded) {
      ++stats_.dropped_malformed;
      return;
    }
    IncomingRequest req;
    req.io_ = alive_;
    req.msg_ = std::move(*decoded);
    req.from_ = {rpc::verified_id(req.msg_.id, from), from};
    req.socket_ = &socket;
    req.external_ = external;
    if (req.msg_.token && !impl_->token_secrets().accepts(from.host_string(), *req.msg_.token)) {
      ++stats_.invalid_tokens;
      ReplyOptions opts;
      opts.token = true;
      req.error(rpc::error_code::kInvalidToken, opts);
      return;
    }
    if (handlers_.on_request) handlers_.on_request(req);
    return;
  }

  auto decoded = rpc::decode_response(data);
  if (!decoded) {
    ++stats_.dropped_malformed;
    return;
  }
  Impl& m = *impl_;
  Impl::Slot* s = m.find(decoded->tid);
  if (s == nullptr) {
    ++stats_.dropped_unmatched;
    return;
  }

  Reply reply;
  reply.tid = decoded->tid;
  reply.rtt = runtime_.now() - s->created;
  reply.from = {rpc::verified_id(decoded->id, from), from};
  reply.to = decoded->to;
  reply.token = decoded->token;
  reply.has_closer_nodes = !decoded->closer_nodes.empty();
  reply.closer_nodes = std::move(decoded->closer_nodes);
  reply.error = decoded->error;
  reply.value = std::move(decoded->value);

  m.remove_inflight(s);
  congestion_.recv();
  if (s->spec.internal && s->spec.command < stats_.commands.size()) {
    ++stats_.commands[s->spec.command].rx;
  }
  --stats_.active;
  ++stats_.responses;
  auto on_response = std::move(s->cb.on_response);
  m.release(s);

  std::weak_ptr<RpcIo*> guard = alive_;
  if (handlers_.on_response) {
    handlers_.on_response(reply, external);
    if (guard.expired()) return;
  }
  if (on_response) on_response(reply);
}

Bytes32 RpcIo::token(const Ipv4Address& addr, int i) {
  return rpc::rpc_token(addr.host_string(),
                        impl_->token_secrets().secret(static_cast<std::size_t>(i)));
}

std::size_t RpcIo::inflight() const noexcept {
  return impl_->inflight.size();
}

std::size_t RpcIo::rate_limited_hosts() const noexcept {
  return impl_->request_limiter.hosts();
}

}  // namespace hdht::dht
