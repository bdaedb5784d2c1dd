// SocketPool: the extra UDP sockets a HyperDhtNode opens for holepunching (hyperdht
// lib/socket-pool.js). Each PooledSocket is bound to the node's host on a fresh port and shares
// the node's UDX instance (its UdxStreamTable), so a stream punched through it keeps living on it.
// What arrives on a pooled socket goes where the reference sends it: a 1-byte datagram is a
// holepunch probe (the owner's on_probe), a UDX packet for a live stream goes to that stream, and
// anything else is handed to the node's RpcIo (replies to the NAT-sampling pings sent from it, and
// relayed PEER_HOLEPUNCH replies).
//
// Lifetime: acquire() returns a reference (shared_ptr); when the last reference is released the
// socket closes, unless UDX streams still live on it, in which case it closes when the last of
// them goes (the reference's `refs === 0 && socket.idle`). A socket a route was added on
// (routes(), socket_routes.hpp) is reusable: once unreferenced and idle after having carried a
// stream it lingers kLingerTime before closing, so a reconnect to the same peer can use it;
// retain() (the reference's ref.active()) cancels the linger. Differences: udx-native's 'busy'
// event is not modelled (a stream that lands on a lingering socket simply keeps it open when
// the linger ends), and "was busy" is "a stream left it" (our 'idle'). The pool owns the sockets;
// destroying the pool (the node) closes them all and detaches the streams still on them; a
// reference kept past that holds a closed socket (udx() must not be used then) and must not outlive
// the runtime. A socket closes at once when it becomes unused; the objects are freed from a posted
// task, so a handler of the socket may drop the last reference. Not thread-safe: the node's
// executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/datagram_socket.hpp"
#include "core/runtime.hpp"
#include "core/socket_routes.hpp"
#include "core/timer.hpp"
#include "core/udx_socket.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::dht {
class DhtNode;
}

namespace hdht::hyperdht {

class SocketPool;

struct SocketPoolCounters {
  std::uint64_t sockets_added = 0;    // the reference's stats.socketsAdded
  std::uint64_t sockets_removed = 0;  // stats.socketsRemoved
  std::uint64_t bind_failures = 0;
  std::uint64_t probes_received = 0;  // 1-byte datagrams
};

class PooledSocket {
 public:
  using ProbeHandler = std::function<void(PooledSocket& self, const Ipv4Address& from)>;

  ~PooledSocket();
  PooledSocket(const PooledSocket&) = delete;
  PooledSocket& operator=(const PooledSocket&) = delete;

  core::DatagramSocket& socket() noexcept { return *socket_; }
  core::UdxSocket& udx() noexcept { return *udx_; }
  Ipv4Address local_address() const { return socket_->local_address(); }
  // 1-byte datagrams (holepunch probes) go here; none set: dropped.
  void set_on_probe(ProbeHandler handler) { on_probe_ = std::move(handler); }
  // A probe: one zero byte, with TTL 5 for low-TTL session opening (the reference's
  // HOLEPUNCH_TTL) or the default 64.
  void send_probe(const Ipv4Address& to, bool low_ttl);
  // Keeps this object (not the socket) alive without being a reference: once the references
  // are gone the socket closes, but local_address() and friends stay callable.
  std::shared_ptr<PooledSocket> keep_object() const { return self_.lock(); }

 private:
  friend class SocketPool;
  PooledSocket() = default;

  SocketPool* pool_ = nullptr;
  std::weak_ptr<PooledSocket> self_;
  std::unique_ptr<core::DatagramSocket> socket_;
  std::unique_ptr<core::UdxSocket> udx_;
  ProbeHandler on_probe_;
};

class SocketPool {
 public:
  // `bind_host`: pooled sockets bind to its ip (the node's bind host) on port 0.
  SocketPool(core::Runtime& runtime, dht::DhtNode& node, Ipv4Address bind_host);
  ~SocketPool();
  SocketPool(const SocketPool&) = delete;
  SocketPool& operator=(const SocketPool&) = delete;

  // The reference's LINGER_TIME.
  static constexpr core::Duration kLingerTime = std::chrono::milliseconds(3000);

  // A new socket (the reference never reuses one for acquire). Null if binding failed.
  std::shared_ptr<PooledSocket> acquire();
  // Another reference to the open pooled socket `udx` sits on (ref.active(): a lingering
  // socket stays); null if it is not one of ours or already closed (the reference's lookup).
  std::shared_ptr<PooledSocket> retain(const core::UdxSocket* udx);
  // The UdxSocket on one of our open datagram sockets (null if not ours).
  core::UdxSocket* find_udx(const core::DatagramSocket* socket) noexcept;
  // setReusable: a reusable socket lingers after its last stream.
  void set_reusable(const core::UdxSocket* udx, bool reusable);
  // Sockets lingering now (the reference's _lingering.size).
  std::size_t lingering() const noexcept;
  SocketRoutes& routes() noexcept { return routes_; }
  // Sockets open now (referenced, or released with streams still on them).
  std::size_t open_sockets() const noexcept;
  const SocketPoolCounters& counters() const noexcept { return counters_; }
  // Closes every pooled socket (node shutdown); later acquire()s return null.
  void destroy();

 private:
  friend class PooledSocket;
  struct Entry;
  void on_datagram(PooledSocket& s, ByteView data, const Ipv4Address& from);
  void release(PooledSocket* s);
  void sweep();  // frees the objects of closed sockets (posted)

  core::Runtime& runtime_;
  dht::DhtNode& node_;
  Ipv4Address host_;
  void close_maybe(PooledSocket* s);
  void schedule_sweep();

  Entry* entry_of(const PooledSocket* s) noexcept;
  std::shared_ptr<PooledSocket> reference(Entry& e);

  std::vector<std::unique_ptr<Entry>> entries_;
  SocketRoutes routes_{*this};
  SocketPoolCounters counters_;
  bool destroyed_ = false;
  bool sweep_scheduled_ = false;
  std::shared_ptr<SocketPool*> alive_;  // references and posted tasks hold weak_ptrs
};

}  // namespace hdht::hyperdht
