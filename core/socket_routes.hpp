// SocketRoutes: the reference's dht._socketPool.routes (lib/socket-pool.js SocketRoutes). Per
// remote public key, the socket a connection to that peer was made on and the peer's address
// there, so a later connect (ConnectOptions::reusable_socket) first sends its handshake straight
// to that address from that socket (connect.js retryRoute) before any FIND_PEER.
//
// A route is added when a connection on a socket is made and both sides advertised
// udx.reusableSocket (client: connect.js onsocket, server: server.js hs.onsocket); as the
// reference, an existing route for the key is kept (not replaced by the newer socket). A route
// goes when its socket closes (a pooled socket; the node's own sockets close only with the node)
// or when a stream it was added for fails with an error (the reference's rawStream 'error').
// Adding a route marks a pooled socket reusable: it lingers after its last stream (SocketPool).
//
// Lifetime: owned by the SocketPool; a stream's close hook reaches it through a weak guard, so a
// stream outliving the pool is harmless. Not thread-safe: the node's executor.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>

#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::hyperdht {

class SocketPool;

struct SocketRoute {
  core::UdxSocket* socket = nullptr;  // the node's own socket or a pooled one
  Ipv4Address address;                // the peer on that socket (the stream's remote)
};

struct SocketRoutesCounters {
  std::uint64_t added = 0;
  std::uint64_t removed_socket_closed = 0;  // gc on the socket's close
  std::uint64_t removed_stream_error = 0;   // a stream on it failed
};

class SocketRoutes {
 public:
  explicit SocketRoutes(SocketPool& pool);
  ~SocketRoutes();
  SocketRoutes(const SocketRoutes&) = delete;
  SocketRoutes& operator=(const SocketRoutes&) = delete;

  // routes.add(publicKey, rawStream) for a connected stream (its socket and remote); hooks the
  // stream's close so an error removes the route again.
  void add(const Bytes32& public_key, core::UdxStream& connected);
  std::optional<SocketRoute> get(const Bytes32& public_key) const;
  // The socket closed: every route on it goes (the reference's gc on 'close').
  void remove_socket(const core::UdxSocket* socket);
  std::size_t size() const noexcept { return routes_.size(); }
  const std::map<Bytes32, SocketRoute>& entries() const noexcept { return routes_; }
  const SocketRoutesCounters& counters() const noexcept { return counters_; }

 private:
  void on_stream_error(const Bytes32& public_key, core::UdxSocket* socket);

  SocketPool& pool_;
  std::map<Bytes32, SocketRoute> routes_;
  SocketRoutesCounters counters_;
  std::shared_ptr<SocketRoutes*> alive_ = std::make_shared<SocketRoutes*>(this);
};

}  // namespace hdht::hyperdht
