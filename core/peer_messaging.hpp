// The client side of the reference's lib/router.js: peerHandshake and peerHolepunch. Each sends
// one FROM_CLIENT message to a node (a relay, or the server itself) as a dht-rpc request and
// checks the answer as the reference does: a decodable message in mode REPLY, from the very
// address asked (the first relay answers with the tid of our request, whoever produced the
// payload), and for a handshake a noise message. Anything else is BAD_HANDSHAKE_REPLY /
// BAD_HOLEPUNCH_REPLY; request errors (REQUEST_TIMEOUT, ...) are passed on as they come.
//
// Lifetime: the returned RequestHandle owns the request; destroying it withdraws it and `done`
// never runs. Runs on the node's executor.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/dht_node.hpp"
#include "core/rpc_io.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::hyperdht {

struct PeerHandshakeReply {
  Bytes noise;                 // Noise IK message 2
  bool relayed = false;        // the reply named the server's address (a relay answered)
  Ipv4Address server_address;  // that address, or the node asked when it was the server
  Ipv4Address client_address;  // our address as the node asked saw it
};

struct PeerHolepunchReply {
  Ipv4Address from;          // the node asked
  Ipv4Address to;            // our address (of the socket it went out on) as that node saw it
  Bytes payload;             // the server's encrypted holepunch payload
  Ipv4Address peer_address;  // the server as the relay saw it (the node asked if not given)
};

// The reference's checks on a reply to a request sent to `asked`.
Result<PeerHandshakeReply> validate_handshake_reply(const dht::Reply& reply,
                                                    const Ipv4Address& asked);
Result<PeerHolepunchReply> validate_holepunch_reply(const dht::Reply& reply,
                                                    const Ipv4Address& asked);

// PEER_HANDSHAKE FROM_CLIENT{noise} for `target` to `to`, out of `socket` (null: the node's
// default request socket).
dht::RequestHandle peer_handshake(dht::DhtNode& node, const Bytes32& target, ByteView noise,
                                  const Ipv4Address& to, dht::DatagramSocket* socket,
                                  std::function<void(Result<PeerHandshakeReply>)> done);

// PEER_HOLEPUNCH FROM_CLIENT{id, payload, peerAddress} for `target` to `to`, out of `socket`.
dht::RequestHandle peer_holepunch(dht::DhtNode& node, const Bytes32& target, std::uint64_t id,
                                  ByteView payload, const std::optional<Ipv4Address>& peer_address,
                                  const Ipv4Address& to, dht::DatagramSocket* socket,
                                  std::function<void(Result<PeerHolepunchReply>)> done);

}  // namespace hdht::hyperdht
