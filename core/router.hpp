// Router: the relay role every hyperdht node plays (the reference's lib/router.js). PEER_HANDSHAKE
// and PEER_HOLEPUNCH requests are passed between a client and a server through the nodes that
// hold the server's route, by the message's mode:
//
//   client -FROM_CLIENT-> relay -FROM_RELAY-> server -FROM_SERVER-> relay -REPLY-> client
//
// for both messages; for a handshake, a relay that knows the server only through a second node
// sends FROM_SECOND_RELAY there, and the server answers the first relay directly.
//
// Every hop keeps the client's transaction id (IncomingRequest::relay), so the final REPLY, sent
// by the first relay to the client's address, is the dht-rpc response to the client's own
// request. A route is either a forward (a server that announced itself to this node: its
// announce's source address, held in the ForwardCache the storing side fills) or a local server
// registered with set(). What the reference leaves unanswered is dropped in silence; a handshake
// from a client for a target with no route is answered with closer nodes only ("help route").
//
// Threading and lifetime: not thread-safe; runs on the node's executor. It holds no state per
// request; a local server's answer (Respond) may come later and is a no-op once the Router is gone.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "core/record_cache.hpp"
#include "core/record_handlers.hpp"
#include "core/rpc_io.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/router_messages.hpp"

namespace hdht::hyperdht {

// A client's handshake as a local server gets it. Valid during the call only.
struct ServerHandshake {
  const Bytes& noise;                       // Noise IK message 1
  std::optional<Ipv4Address> peer_address;  // the client as a relay saw it; none if direct
};
// The server's answer: Noise message 2, sent out of `socket` (null: the socket the request came
// in on; a holepunching server passes its punch socket so the relay reports that mapping).
struct ServerHandshakeReply {
  Bytes noise;
  dht::DatagramSocket* socket = nullptr;
};

struct ServerHolepunch {
  std::uint64_t id = 0;      // the server's holepunch slot
  const Bytes& payload;      // the encrypted holepunchPayload
  Ipv4Address peer_address;  // the client's punch socket as the relay saw it
};
struct ServerHolepunchReply {
  Bytes payload;
  dht::DatagramSocket* socket = nullptr;
};

// A local server answers each message once, now or later; nullopt = no answer (silence).
template <class T>
using Respond = std::function<void(std::optional<T>)>;

// A server behind this node (lib/server.js registers one per listening key pair).
struct LocalServer {
  Bytes record;  // its announce record, which FIND_PEER and LOOKUP here answer with
  // Called for every decodable handshake for the target, whatever its mode (as the reference).
  std::function<void(const ServerHandshake&, const dht::IncomingRequest&,
                     Respond<ServerHandshakeReply>)>
      on_handshake;
  // Called for FROM_RELAY holepunches carrying a peer address.
  std::function<void(const ServerHolepunch&, const dht::IncomingRequest&,
                     Respond<ServerHolepunchReply>)>
      on_holepunch;
};

// Where a target routes to from here. `server` stays valid until the next set()/remove().
struct Route {
  const LocalServer* server = nullptr;
  std::optional<Ipv4Address> relay;  // a forward's announcer address (none for local servers)
};

// What the router did, per message (status and tests).
struct RouterStats {
  std::uint64_t handshake_from_client = 0;  // FROM_CLIENT relayed on as FROM_RELAY
  std::uint64_t handshake_from_relay = 0;   // FROM_RELAY relayed on as FROM_SECOND_RELAY
  std::uint64_t handshake_from_server = 0;  // FROM_SERVER answered to the client as REPLY
  std::uint64_t handshake_no_route = 0;     // FROM_CLIENT without a route: closer nodes only
  std::uint64_t handshake_to_server = 0;    // given to a local server
  std::uint64_t holepunch_from_client = 0;  // FROM_CLIENT relayed on as FROM_RELAY
  std::uint64_t holepunch_from_server = 0;  // FROM_SERVER answered to the client as REPLY
  std::uint64_t holepunch_to_server = 0;    // given to a local server
  std::uint64_t server_replies = 0;         // local server answers sent
  std::uint64_t dropped = 0;                // undecodable, or missing what the mode needs
};

class Router {
 public:
  // `forwards` (the announced servers) must outlive the Router.
  explicit Router(ForwardCache& forwards);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Registers a local server. Like the reference's retained entry it never expires, replaces a
  // forward for the same target, and shadows any forward announced while it is registered.
  void set(const Bytes32& target, LocalServer server);
  // The route for a target (a local server first, then a forward; reading a forward keeps it
  // fresh, as the reference's cache does).
  Route get(const Bytes32& target);
  // The record of the local server listening on `target`, or null (valid until the next
  // set()/remove()).
  const Bytes* local_record(const Bytes32& target) const;
  // Drops the target's route, local server and forward alike (the reference's one entry).
  void remove(const Bytes32& target);

  void on_handshake(const dht::IncomingRequest& req);
  void on_holepunch(const dht::IncomingRequest& req);

  const RouterStats& stats() const noexcept { return *stats_; }

 private:
  // The route with a strong reference to the local server, so a handler may remove() itself.
  struct Held {
    std::shared_ptr<const LocalServer> server;
    std::optional<Ipv4Address> relay;
  };
  Held lookup(const std::optional<Bytes32>& target);
  void handshake_to_server(const LocalServer& server, const dht::IncomingRequest& req,
                           const msg::Handshake& hs);
  void holepunch_to_server(const LocalServer& server, const dht::IncomingRequest& req,
                           const msg::Holepunch& hp, const Ipv4Address& peer);

  ForwardCache& forwards_;
  std::unordered_map<Bytes32, std::shared_ptr<const LocalServer>, Key32Hash> servers_;
  // Shared with pending Respond callbacks: they count into it only while the Router lives.
  std::shared_ptr<RouterStats> stats_;
};

}  // namespace hdht::hyperdht
