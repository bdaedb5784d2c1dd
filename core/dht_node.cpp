// DhtNode: construction, the public API, the RpcIo handlers, table maintenance and ticks (a
// port of dht-rpc 6.27 index.js). Bootstrapping and the network-state probe live in
// dht_node_network.cpp.
#include "core/dht_node.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "core/dht_node_impl.hpp"
#include "protocol/crypto.hpp"
#include "protocol/node_id.hpp"

namespace hdht::dht {

namespace cmd = rpc::command;

namespace {

// randomOffset(n) = n - floor(Math.random() * 0.5 * n)
int random_offset(Runtime& rt, int n) {
  const double u = static_cast<double>(rt.random_u32()) / 4294967296.0;
  return n - static_cast<int>(u * 0.5 * n);
}

template <class F, class... A>
void emit(const F& fn, A&&... args) {
  if (fn) fn(std::forward<A>(args)...);
}

Bytes32 random_id(Runtime& rt) {
  Bytes32 id{};
  for (std::size_t i = 0; i < id.size(); i += 4) {
    const std::uint32_t r = rt.random_u32();
    for (std::size_t j = 0; j < 4; ++j)
      id[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  return id;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl basics

DhtNode::Impl::Impl(DhtNode& node)
    : n(node),
      tick_timer(node.runtime_),
      interfaces(node.runtime_, node.config_.interface_poll_interval,
                 [this](const std::vector<core::NetworkInterface>& list) {
                   // _onnetworkchange: both events, in this order.
                   if (n.events_.network_change) n.events_.network_change(list);
                   emit(n.events_.network_update);
                 }) {}

DhtNode::Impl::~Impl() {
  // Withdraw everything before the members go, so nothing calls back into a half-dead node.
  alive.reset();
  background.clear();
  requests.clear();
  delayed_pings.clear();
  tick_timer.cancel();
  interfaces.stop();
}

void DhtNode::Impl::defer(std::function<void()> fn) {
  std::weak_ptr<int> guard = alive;
  boost::asio::post(n.runtime_.executor(), [guard, fn = std::move(fn)] {
    if (!guard.expired()) fn();
  });
}

RequestSpec DhtNode::Impl::internal_spec(const Ipv4Address& to, std::uint64_t command,
                                         std::optional<Bytes> value) const {
  RequestSpec spec;
  spec.to = to;
  spec.internal = true;
  spec.command = command;
  spec.value = std::move(value);
  return spec;
}

bool DhtNode::Impl::send(RequestSpec spec, OkFn ok, ErrFn err) {
  if (spec.internal && !n.config_.send_down_hints && spec.command == cmd::kDownHint) return false;
  if (n.destroyed_) return false;
  const std::uint64_t key = next_key++;
  RequestCallbacks cb;
  // The handle is dropped first: the request is over, and the callback may start new ones.
  cb.on_response = [this, key, ok = std::move(ok)](const Reply& r) {
    requests.erase(key);
    if (ok) ok(r);
  };
  cb.on_error = [this, key, err = std::move(err)](std::error_code ec) {
    requests.erase(key);
    if (err) err(ec);
  };
  requests.emplace(key, n.io_->request(std::move(spec), std::move(cb)));
  return true;
}

// ---------------------------------------------------------------------------------------------
// Table maintenance

bool DhtNode::Impl::table_add(const Node& node) {
  const std::size_t b = n.table_->bucket_index(node.id);
  if (!row_created[b]) {
    row_created[b] = true;
    row_listened[b] = true;
  }
  const auto r = n.table_->add(node);
  if (r != RoutingTable::AddResult::full) return true;
  if (row_listened[b]) on_full_row(node, b);
  return false;
}

void DhtNode::Impl::nat_add(const Ipv4Address& addr) {
  const auto prev_host = n.nat_.host();
  const auto prev_port = n.nat_.port();
  n.nat_.add(addr);
  if (prev_host == n.nat_.host() && prev_port == n.nat_.port()) return;
  emit(n.events_.nat_update, n.nat_address());
}

void DhtNode::Impl::sample_bootstrap_maybe(const Ipv4Address& from, const Ipv4Address& to) {
  const std::size_t cap = std::max<std::size_t>(1, n.config_.bootstrap.size());
  if (none_persistent_samples.size() >= cap) return;
  if (std::find(none_persistent_samples.begin(), none_persistent_samples.end(), from) !=
      none_persistent_samples.end()) {
    return;
  }
  none_persistent_samples.push_back(from);
  nat_add(to);
}

void DhtNode::Impl::add_node_from_network(bool sample, const Peer& from, const Ipv4Address& to) {
  if (n.config_.filter_node && !n.config_.filter_node(from.addr)) return;
  if (!from.id) {
    sample_bootstrap_maybe(from.addr, to);
    return;
  }
  if (Node* old = n.table_->get(*from.id)) {
    if (sample && (old->sampled == 0 || n.tick_ - old->sampled >= n.config_.old_node_ticks)) {
      old->to = to;
      old->sampled = n.tick_;
      nat_add(to);  // may not touch the table, so `old` stays valid
    }
    old->pinged = old->seen = n.tick_;
    n.nodes_.touch(old->id);
    return;
  }
  Node node;
  node.id = *from.id;
  node.addr = from.addr;
  node.to = to;
  add_node(node);
}

void DhtNode::Impl::add_node(Node node) {
  if (n.nodes_.has(node.id) || node.id == n.table_->id()) return;
  node.added = node.pinged = node.seen = n.tick_;
  // A full bucket keeps `node` (sampled still 0) for a possible swap, as the JS closure does.
  if (!table_add(node)) return;
  n.nodes_.touch(node.id);
  if (node.to && node.sampled == 0) {
    if (Node* stored = n.table_->get(node.id)) stored->sampled = n.tick_;
    nat_add(*node.to);
  }
  if (const Node* stored = n.table_->get(node.id)) emit(n.events_.add_node, *stored);
}

void DhtNode::Impl::remove_node(const Bytes32& id) {
  if (!n.nodes_.has(id)) return;
  Node copy;
  if (const Node* node = n.table_->get(id)) {
    copy = *node;
  } else {
    copy.id = id;
  }
  n.table_->remove(id);
  n.nodes_.remove(id);
  emit(n.events_.remove_node, copy);
}

void DhtNode::Impl::remove_stale_node(const Bytes32& id, std::int64_t last_seen) {
  const Node* node = n.table_->get(id);
  if (node != nullptr && node->seen <= last_seen) remove_node(id);
}

void DhtNode::Impl::on_full_row(const Node& new_node, std::size_t bucket) {
  if (!n.bootstrapped_ || repinging >= n.config_.max_concurrent_repings) return;
  const Node* oldest = nullptr;
  for (const Node& node : n.table_->bucket(bucket)) {
    if (node.pinged == n.tick_) continue;
    if (oldest == nullptr || oldest->pinged > node.pinged ||
        (oldest->pinged == node.pinged && oldest->added > node.added)) {
      oldest = &node;
    }
  }
  if (oldest == nullptr) return;
  if (n.tick_ - oldest->pinged < n.config_.recent_node_ticks &&
      n.tick_ - oldest->added > n.config_.old_node_ticks) {
    return;
  }
  reping_and_swap(new_node, oldest->id);
}

void DhtNode::Impl::reping_and_swap(const Node& new_node, const Bytes32& old_id) {
  Node* old = n.table_->get(old_id);
  if (old == nullptr) return;
  const std::int64_t last_seen = old->seen;
  old->pinged = n.tick_;
  ++repinging;
  auto swap = [this, new_node, old_id] {
    --repinging;
    remove_node(old_id);
    add_node(new_node);
  };
  send(
      internal_spec(old->addr, cmd::kPing),
      [this, old_id, last_seen, swap](const Reply&) {
        const Node* node = n.table_->get(old_id);
        // A node that left the table meanwhile is treated as seen (the JS object keeps its
        // updated `seen`), so only a stale entry is swapped.
        if (node != nullptr && node->seen <= last_seen) return swap();
        --repinging;
      },
      [swap](std::error_code) { swap(); });
}

void DhtNode::Impl::check(const Bytes32& id) {
  Node* node = n.table_->get(id);
  if (node == nullptr) return;
  node->pinged = n.tick_;
  const std::int64_t last_seen = node->seen;
  ++checks;
  send(
      internal_spec(node->addr, cmd::kPing),
      [this, id, last_seen](const Reply&) {
        --checks;
        remove_stale_node(id, last_seen);
      },
      [this, id](std::error_code) {
        --checks;
        remove_node(id);
      });
}

void DhtNode::Impl::ping_some() {
  int cnt = n.io_->inflight() > 2 ? 3 : 5;
  std::optional<Bytes32> oldest = n.nodes_.oldest();
  if (!oldest) {
    n.refresh();  // tiny dht: ask the bootstrap nodes again
    return;
  }
  const Node* first = n.table_->get(*oldest);
  if (first != nullptr && n.tick_ - first->pinged < n.config_.recent_node_ticks) cnt = 2;
  while (cnt-- > 0) {
    if (!oldest) continue;
    const Node* node = n.table_->get(*oldest);
    if (node == nullptr || n.tick_ == node->pinged) continue;
    check(*oldest);
    oldest = n.nodes_.next(*oldest);
  }
}

// ---------------------------------------------------------------------------------------------
// RpcIo handlers

void DhtNode::Impl::note_server_host(const Ipv4Address& from) {
  for (const auto& p : probes)
    p->hosts.insert(from.ip_u32());
}

void DhtNode::Impl::on_request(const IncomingRequest& req) {
  if (!probes.empty() && req.socket() == n.io_->server_socket()) note_server_host(req.from().addr);
  if (req.from().id) add_node_from_network(!req.external(), req.from(), req.message().to);

  const rpc::Request& m = req.message();
  if (m.internal) return on_internal_request(req);
  if (!request_handler || !request_handler(req)) {
    req.send_reply(rpc::error_code::kUnknownCommand, std::nullopt, false, m.target.has_value());
  }
}

void DhtNode::Impl::on_internal_request(const IncomingRequest& req) {
  const rpc::Request& m = req.message();
  switch (m.command) {
    case cmd::kPing:
      req.send_reply(0, std::nullopt, false, false);
      return;
    case cmd::kDelayedPing:
      on_delayed_ping(req);
      return;
    case cmd::kPingNat: {
      if (!m.value || m.value->size() < 2) return;
      const auto port = static_cast<std::uint16_t>((*m.value)[0] | (*m.value)[1] << 8);
      if (port == 0) return;
      // The reply goes to the sender's host at the port it asked for, from the arrival socket.
      ReplyOptions opts;
      opts.token = false;
      opts.closer_nodes = false;
      opts.to = Ipv4Address{req.from().addr.ip, port};
      req.reply(std::nullopt, opts);
      return;
    }
    case cmd::kFindNode:
      if (!m.target) return;
      req.send_reply(0, std::nullopt, false, true);
      return;
    case cmd::kDownHint: {
      if (!m.value || m.value->size() < 6) return;
      if (checks < n.config_.max_concurrent_checks) {
        const Bytes32 id = crypto::hash32(ByteView(m.value->data(), 6));
        const Node* node = n.table_->get(id);
        if (node != nullptr && (node->pinged < n.tick_ || node->down_hints == 0)) {
          n.table_->get(id)->down_hints++;
          check(id);
        }
      }
      req.send_reply(0, std::nullopt, false, false);
      return;
    }
    default:
      req.send_reply(rpc::error_code::kUnknownCommand, std::nullopt, false, m.target.has_value());
      return;
  }
}

void DhtNode::Impl::on_delayed_ping(const IncomingRequest& req) {
  const rpc::Request& m = req.message();
  if (!m.value || m.value->size() < 4) return;
  const Bytes& v = *m.value;
  const std::uint32_t delay_ms =
      static_cast<std::uint32_t>(v[0]) | static_cast<std::uint32_t>(v[1]) << 8 |
      static_cast<std::uint32_t>(v[2]) << 16 | static_cast<std::uint32_t>(v[3]) << 24;
  if (static_cast<std::int64_t>(delay_ms) > n.config_.max_ping_delay.count()) return;
  if (delayed_pings.size() >= kMaxDelayedPings) return;
  const std::uint64_t key = next_key++;
  auto [it, ok] = delayed_pings.emplace(key, core::Timer(n.runtime_));
  it->second.expires_after(std::chrono::milliseconds(delay_ms), [this, key, req] {
    req.send_reply(0, std::nullopt, false, false);
    delayed_pings.erase(key);  // destroys this handler's timer: nothing may follow
  });
}

void DhtNode::Impl::on_response(const Reply& reply, bool external) {
  // While firewalled, requests leave on the client socket, so an external reply arrived on the
  // server socket (or on an injected socket; see the firewall probe).
  if (!probes.empty() && external && n.firewalled_) note_server_host(reply.from.addr);
  add_node_from_network(!external, reply.from, reply.to);
}

void DhtNode::Impl::on_timeout(const RequestSpec& spec) {
  if (!spec.to_id) return;
  if (n.table_->has(*spec.to_id)) remove_node(*spec.to_id);
}

// ---------------------------------------------------------------------------------------------
// Ticks

void DhtNode::Impl::arm_tick() {
  last_tick = n.runtime_.now();
  next_tick_at = last_tick + n.config_.tick_interval;
  tick_timer.expires_at(next_tick_at, [this] { on_tick(); });
}

void DhtNode::Impl::on_tick() {
  // setInterval: a fixed rate, so a late tick shows up as a gap.
  next_tick_at += n.config_.tick_interval;
  const TimePoint now = n.runtime_.now();
  if (next_tick_at <= now) next_tick_at = now + n.config_.tick_interval;
  tick_timer.expires_at(next_tick_at, [this] { on_tick(); });

  if (now - last_tick > n.config_.sleeping_interval && !n.suspended_) {
    on_wakeup();
  } else {
    ++n.tick_;
  }
  last_tick = now;

  if (!n.bootstrapped_ || n.suspended_) return;

  if (adaptive && n.ephemeral_ && --stable_ticks <= 0) {
    if (last_host == n.nat_.host()) {
      stable_ticks = n.config_.more_stable_ticks;  // do not recheck the same network
    } else {
      update_network_state(false, nullptr);
    }
  }

  if ((n.tick_ & 7) == 0) ping_some();

  if (((n.tick_ & 63) == 0 && n.nodes_.size() < n.table_->k()) || --refresh_ticks <= 0) {
    n.refresh();
  }

  down_hints_sent = 0;
  apply_health(health.update(n.io_->stats().responses, n.io_->stats().timeouts));
}

void DhtNode::Impl::apply_health(NetworkHealth::Signal s) {
  switch (s) {
    case NetworkHealth::Signal::none:
      return;
    case NetworkHealth::Signal::online:
      if (n.online_ && !n.degraded_) return;
      n.online_ = true;
      n.degraded_ = false;
      break;
    case NetworkHealth::Signal::degraded:
      if (n.degraded_) return;
      n.online_ = true;
      n.degraded_ = true;
      break;
    case NetworkHealth::Signal::offline:
      if (!n.online_) return;
      n.online_ = false;
      n.degraded_ = false;
      break;
  }
  emit(n.events_.network_update);
}

void DhtNode::Impl::on_wakeup() {
  n.tick_ += 2 * n.config_.old_node_ticks;  // everything now looks old
  n.tick_ += 8 - (n.tick_ & 7) - 2;         // a round of pings in two ticks
  stable_ticks = n.config_.more_stable_ticks;
  refresh_ticks = 1;
  last_host.reset();
  health.reset();
  apply_health(NetworkHealth::Signal::online);
  if (adaptive && !n.ephemeral_) {
    n.ephemeral_ = true;
    n.io_->set_ephemeral(true);
    emit(n.events_.ephemeral);
  }
  emit(n.events_.wakeup);
}

// ---------------------------------------------------------------------------------------------
// DhtNode

DhtNode::DhtNode(Runtime& runtime, DhtConfig config)
    : runtime_(runtime), config_(std::move(config)) {
  impl_ = std::make_unique<Impl>(*this);
  table_ = std::make_unique<RoutingTable>(random_id(runtime_));
  RpcIo::Handlers h;
  h.on_request = [this](const IncomingRequest& r) { impl_->on_request(r); };
  h.on_response = [this](const Reply& r, bool external) { impl_->on_response(r, external); };
  h.on_timeout = [this](const RequestSpec& s) { impl_->on_timeout(s); };
  h.on_other = [this](DatagramSocket& socket, ByteView data, const Ipv4Address& from) {
    // Cheap for the common raw case: no UdxSocket is made until a stream exists.
    if (udx_table_.ever_used() && udx_socket(socket).handle(data, from)) return true;
    if (raw_handler_) raw_handler_(socket, data, from);
    return true;
  };
  io_ = std::make_unique<RpcIo>(runtime_, config_.io, std::move(h));
  io_->set_table(table_.get());
  firewalled_ = io_->firewalled();

  Impl& m = *impl_;
  m.adaptive = !config_.ephemeral.has_value() && config_.adaptive;
  m.force_persistent = config_.ephemeral == false;
  tick_ = random_offset(runtime_, 100);  // spread the network's ticks
  m.refresh_ticks = random_offset(runtime_, config_.refresh_ticks);
  m.stable_ticks = m.adaptive ? config_.stable_ticks : 0;
  m.arm_tick();

  if (config_.bootstrapper_address) nat_.add(*config_.bootstrapper_address);
  for (auto it = config_.nodes.rbegin(); it != config_.nodes.rend(); ++it)
    add_node(*it);
}

DhtNode::~DhtNode() {
  impl_.reset();
  udx_sockets_.clear();  // detaches streams still open; they send nothing more
  io_.reset();
}

core::UdxSocket& DhtNode::udx_socket(DatagramSocket& socket) {
  for (auto& u : udx_sockets_)
    if (&u->socket() == &socket) return *u;
  return *udx_sockets_.emplace_back(
      std::make_unique<core::UdxSocket>(runtime_, socket, &udx_table_));
}

core::UdxSocket* DhtNode::udx_socket() {
  DatagramSocket* s = io_->socket();
  return s == nullptr ? nullptr : &udx_socket(*s);
}

void DhtNode::set_request_handler(std::function<bool(const IncomingRequest&)> handler) {
  impl_->request_handler = std::move(handler);
}

Result<void> DhtNode::start() {
  if (destroyed_) return RpcErrc::node_destroyed;
  if (impl_->boot_started) return {};
  auto r = io_->bind();
  if (!r) return r;
  impl_->boot_started = true;
  impl_->interfaces.start();
  impl_->defer([this] {
    emit(events_.listening);
    impl_->start_bootstrap();
  });
  return {};
}

void DhtNode::suspend() {
  if (suspended_ || destroyed_) return;
  suspended_ = true;
  impl_->tick_timer.cancel();
  impl_->interfaces.stop();
  io_->suspend();
}

Result<void> DhtNode::resume() {
  if (!suspended_ || destroyed_) return {};
  suspended_ = false;
  impl_->arm_tick();
  impl_->interfaces.start();  // dht.resume() re-subscribes to networkInterfaces
  impl_->on_wakeup();
  auto r = io_->resume();
  refresh();
  return r;
}

void DhtNode::destroy() {
  const bool emit_close = !destroyed_;
  destroyed_ = true;
  Impl& m = *impl_;
  m.tick_timer.cancel();
  m.interfaces.stop();
  m.delayed_pings.clear();
  // The node's own requests and queries are withdrawn silently (the reference would run their
  // error paths and edit a table nobody will read); the caller's requests fail with
  // REQUEST_DESTROYED through the RpcIo.
  m.background.clear();
  m.requests.clear();
  m.probes.clear();
  io_->destroy();
  if (emit_close) emit(events_.close);
}

std::optional<Bytes32> DhtNode::id() const {
  if (ephemeral_) return std::nullopt;
  return table_->id();
}

std::optional<Ipv4Address> DhtNode::nat_address() const {
  if (!nat_.host()) return std::nullopt;
  return Ipv4Address{*nat_.host(), nat_.port()};
}

bool DhtNode::randomized() const {
  return nat_.randomized();
}

std::optional<Ipv4Address> DhtNode::remote_address() const {
  if (!nat_.host() || nat_.port() == 0 || firewalled_) return std::nullopt;
  const DatagramSocket* s = io_->server_socket();
  if (s == nullptr || s->local_address().port != nat_.port()) return std::nullopt;
  return Ipv4Address{*nat_.host(), nat_.port()};
}

std::optional<Ipv4Address> DhtNode::address() const {
  const DatagramSocket* s = firewalled_ ? io_->client_socket() : io_->server_socket();
  if (s == nullptr) return std::nullopt;
  return s->local_address();
}

std::unique_ptr<Query> DhtNode::find_node(const Bytes32& target, QueryOptions opts) {
  impl_->refresh_ticks = config_.refresh_ticks;
  ++stats_.queries_total;
  return std::make_unique<Query>(*this, target, true, cmd::kFindNode, std::nullopt,
                                 std::move(opts));
}

std::unique_ptr<Query> DhtNode::query(const Bytes32& target, std::uint64_t command,
                                      std::optional<Bytes> value, QueryOptions opts) {
  impl_->refresh_ticks = config_.refresh_ticks;
  ++stats_.queries_total;
  return std::make_unique<Query>(*this, target, false, command, std::move(value), std::move(opts));
}

RequestHandle DhtNode::request(const Ipv4Address& to, std::uint64_t command,
                               std::optional<Bytes32> target, std::optional<Bytes> value,
                               std::optional<Bytes32> token, RequestCallbacks cb, int retries,
                               DatagramSocket* socket, int ttl) {
  RequestSpec spec;
  spec.to = to;
  spec.token = token;
  spec.command = command;
  spec.target = target;
  spec.value = std::move(value);
  spec.retries = retries;
  spec.socket = socket;
  spec.ttl = ttl;
  return io_->request(std::move(spec), std::move(cb));
}

RequestHandle DhtNode::ping(const Ipv4Address& to, RequestCallbacks cb, int retries,
                            DatagramSocket* socket, int ttl, std::size_t size) {
  RequestSpec spec = impl_->internal_spec(to, cmd::kPing);
  if (size > 0) spec.value = Bytes(size, 0);
  spec.retries = retries;
  spec.socket = socket;
  spec.ttl = ttl;
  return io_->request(std::move(spec), std::move(cb));
}

RequestHandle DhtNode::delayed_ping(const Ipv4Address& to, std::chrono::milliseconds delay,
                                    RequestCallbacks cb) {
  // The reference throws; here the request is simply not sent.
  if (delay > config_.max_ping_delay || delay.count() < 0) return {};
  const auto d = static_cast<std::uint32_t>(delay.count());
  Bytes value{static_cast<std::uint8_t>(d), static_cast<std::uint8_t>(d >> 8),
              static_cast<std::uint8_t>(d >> 16), static_cast<std::uint8_t>(d >> 24)};
  RequestSpec spec = impl_->internal_spec(to, cmd::kDelayedPing, std::move(value));
  spec.timeout = delay + std::chrono::milliseconds(1000);  // network overhead
  return io_->request(std::move(spec), std::move(cb));
}

void DhtNode::refresh() {
  const double u = static_cast<double>(runtime_.random_u32()) / 4294967296.0;
  const Node* node = table_->random(u);
  impl_->background_query(node != nullptr ? node->id : table_->id(), nullptr, nullptr);
}

void DhtNode::add_node(const Ipv4Address& addr) {
  Node node;
  node.id = rpc::node_id(addr);
  node.addr = addr;
  impl_->add_node(node);
}

std::vector<Ipv4Address> DhtNode::to_array(std::size_t limit) const {
  std::vector<Ipv4Address> out;
  for (const Bytes32& id : nodes_.ids(limit, true)) {
    if (const Node* node = table_->get(id)) out.push_back(node->addr);
  }
  return out;
}

RequestHandle DhtNode::send_request(RequestSpec spec, RequestCallbacks callbacks) {
  if (spec.internal && !config_.send_down_hints && spec.command == cmd::kDownHint) return {};
  return io_->request(std::move(spec), std::move(callbacks));
}

void DhtNode::resolve_bootstrap_nodes(std::function<void(std::vector<NodeRef>)> done) {
  impl_->resolve_bootstrap(std::move(done));
}

bool DhtNode::filter_node(const Ipv4Address& addr) const {
  return !config_.filter_node || config_.filter_node(addr);
}

bool DhtNode::take_down_hint_budget() {
  const int limit = config_.down_hints_rate_limit;
  if (limit != -1 && impl_->down_hints_sent >= limit) return false;
  ++impl_->down_hints_sent;
  return true;
}

}  // namespace hdht::dht
