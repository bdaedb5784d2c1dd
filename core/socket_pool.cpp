#include "core/socket_pool.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>

#include "core/dht_node.hpp"
#include "core/rpc_io.hpp"
#include "protocol/rpc_message.hpp"

namespace hdht::hyperdht {

namespace {
constexpr int kHolepunchTtl = 5;  // the reference's HOLEPUNCH_TTL
constexpr int kDefaultTtl = 64;   // DEFAULT_TTL
}  // namespace

struct SocketPool::Entry {
  explicit Entry(core::Runtime& runtime) : linger(runtime) {}
  std::shared_ptr<PooledSocket> socket;
  int refs = 1;
  bool closed = false;
  bool reusable = false;
  bool was_busy = false;  // a stream left it since it last lingered
  core::Timer linger;
};

// What acquire() hands out: the last copy going away is the reference's release().
namespace {
struct Reference {
  std::shared_ptr<PooledSocket> socket;
  std::weak_ptr<SocketPool*> pool;
  std::function<void(SocketPool&, PooledSocket*)> release;
  ~Reference() {
    if (auto p = pool.lock()) release(**p, socket.get());
  }
};
}  // namespace

PooledSocket::~PooledSocket() {
  udx_.reset();  // before the socket it sits on
}

void PooledSocket::send_probe(const Ipv4Address& to, bool low_ttl) {
  static const std::uint8_t kProbe[1] = {0};
  core::SendOptions opts;
  opts.ttl = low_ttl ? kHolepunchTtl : kDefaultTtl;
  socket_->send(to, ByteView(kProbe, 1), opts);
}

SocketPool::SocketPool(core::Runtime& runtime, dht::DhtNode& node, Ipv4Address bind_host)
    : runtime_(runtime),
      node_(node),
      host_(bind_host),
      alive_(std::make_shared<SocketPool*>(this)) {
  host_.port = 0;
}

SocketPool::~SocketPool() {
  destroy();
}

std::shared_ptr<PooledSocket> SocketPool::acquire() {
  if (destroyed_) return nullptr;
  auto bound = runtime_.bind_udp(host_);
  if (!bound) {
    ++counters_.bind_failures;
    return nullptr;
  }
  std::shared_ptr<PooledSocket> s(new PooledSocket());
  s->pool_ = this;
  s->self_ = s;
  s->socket_ = std::move(*bound);
  s->udx_ = std::make_unique<core::UdxSocket>(runtime_, *s->socket_, &node_.udx_streams());
  PooledSocket* raw = s.get();
  s->socket_->set_receive_handler([raw](ByteView data, const Ipv4Address& from) {
    if (raw->pool_ != nullptr) raw->pool_->on_datagram(*raw, data, from);
  });
  // libudx's 'idle': the last stream on it went; a released socket may close now. Deferred a
  // little by the stream's own call chain, which still holds the UdxSocket.
  s->udx_->set_on_idle([this, raw] {
    if (Entry* e = entry_of(raw)) e->was_busy = true;
    close_maybe(raw);
  });

  auto entry = std::make_unique<Entry>(runtime_);
  entry->socket = s;
  Entry& e = *entries_.emplace_back(std::move(entry));
  ++counters_.sockets_added;
  return reference(e);
}

std::shared_ptr<PooledSocket> SocketPool::reference(Entry& e) {
  auto ref = std::make_shared<Reference>();
  ref->socket = e.socket;
  ref->pool = alive_;
  ref->release = [](SocketPool& pool, PooledSocket* p) { pool.release(p); };
  return std::shared_ptr<PooledSocket>(ref, e.socket.get());
}

SocketPool::Entry* SocketPool::entry_of(const PooledSocket* s) noexcept {
  for (auto& e : entries_)
    if (e->socket.get() == s) return e.get();
  return nullptr;
}

std::shared_ptr<PooledSocket> SocketPool::retain(const core::UdxSocket* udx) {
  for (auto& e : entries_) {
    if (e->closed || e->socket->udx_.get() != udx) continue;
    ++e->refs;
    e->linger.cancel();
    return reference(*e);
  }
  return nullptr;
}

core::UdxSocket* SocketPool::find_udx(const core::DatagramSocket* socket) noexcept {
  for (auto& e : entries_)
    if (!e->closed && e->socket->socket_.get() == socket) return e->socket->udx_.get();
  return nullptr;
}

void SocketPool::set_reusable(const core::UdxSocket* udx, bool reusable) {
  for (auto& e : entries_)
    if (!e->closed && e->socket->udx_.get() == udx) e->reusable = reusable;
}

std::size_t SocketPool::lingering() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(),
                    [](const auto& e) { return !e->closed && e->linger.pending(); }));
}

std::size_t SocketPool::open_sockets() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const auto& e) { return !e->closed; }));
}

void SocketPool::on_datagram(PooledSocket& s, ByteView data, const Ipv4Address& from) {
  // libudx takes the instance's stream packets first; what is left is the socket's 'message'.
  if (s.udx_ && s.udx_->handle(data, from)) return;
  if (data.size() <= 1) {
    ++counters_.probes_received;
    // Copied: the handler may drop the last reference (the socket closes, the handler stays).
    if (auto handler = s.on_probe_) handler(s, from);
    return;
  }
  // The reference hands the rest to dht-rpc's onmessage, which ignores what is not a request
  // or a response; RpcIo::on_message would give it to the node's other-datagram hook instead,
  // which must never see a pooled socket (it keeps a UdxSocket per socket it sees).
  if (data[0] != rpc::kRequestType && data[0] != rpc::kResponseType) return;
  node_.io().on_message(s.socket(), data, from);
}

void SocketPool::release(PooledSocket* s) {
  Entry* e = entry_of(s);
  if (e == nullptr || e->refs <= 0) return;
  // The reference's _reset() on the owner's release; a retain()ed reference (a route retry)
  // never had a probe handler of its own.
  if (--e->refs == 0) s->on_probe_ = nullptr;
  close_maybe(s);
}

void SocketPool::close_maybe(PooledSocket* s) {
  Entry* e = entry_of(s);
  if (e == nullptr || e->refs > 0 || e->closed || e->linger.pending() ||
      (s->udx_ && s->udx_->stream_count() > 0)) {
    return;
  }
  if (e->reusable && e->was_busy) {
    // The reference's _close on a reusable socket: linger, then close if still unused.
    e->was_busy = false;
    e->linger.expires_after(kLingerTime, [this, s] { close_maybe(s); });
    return;
  }
  e->closed = true;
  ++counters_.sockets_removed;
  routes_.remove_socket(s->udx_.get());
  s->socket_->close();
  schedule_sweep();
}

void SocketPool::schedule_sweep() {
  if (sweep_scheduled_) return;
  sweep_scheduled_ = true;
  boost::asio::post(runtime_.executor(), [alive = std::weak_ptr<SocketPool*>(alive_)] {
    if (auto p = alive.lock()) (*p)->sweep();
  });
}

void SocketPool::sweep() {
  sweep_scheduled_ = false;
  std::erase_if(entries_, [](const auto& e) { return e->closed; });
}

void SocketPool::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  for (auto& e : entries_) {
    PooledSocket& s = *e->socket;
    e->linger.cancel();
    routes_.remove_socket(s.udx_.get());
    if (!e->closed) ++counters_.sockets_removed;
    e->closed = true;
    s.pool_ = nullptr;
    s.udx_.reset();  // detaches the streams still on it: the table goes with the node
    s.socket_->close();
  }
  entries_.clear();
}

}  // namespace hdht::hyperdht
