#include "core/peer_messaging.hpp"

#include <memory>
#include <utility>

#include "core/hyperdht_errors.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/router_messages.hpp"

namespace hdht::hyperdht {

namespace mode = msg::router_mode;

Result<PeerHandshakeReply> validate_handshake_reply(const dht::Reply& reply,
                                                    const Ipv4Address& asked) {
  if (!reply.value) return make_error_code(HyperDhtErrc::bad_handshake_reply);
  auto hs = msg::decode_handshake(*reply.value);
  // An empty noise is a present one on the wire (compact-encoding's buffer); the reference's
  // `!hs.noise` only catches a missing one, which the decoder never yields.
  if (!hs || hs->mode != mode::REPLY || reply.from.addr != asked)
    return make_error_code(HyperDhtErrc::bad_handshake_reply);
  PeerHandshakeReply out;
  out.noise = std::move(hs->noise);
  out.relayed = hs->peer_address.has_value();
  out.server_address = hs->peer_address.value_or(asked);
  out.client_address = reply.to;
  return out;
}

Result<PeerHolepunchReply> validate_holepunch_reply(const dht::Reply& reply,
                                                    const Ipv4Address& asked) {
  if (!reply.value) return make_error_code(HyperDhtErrc::bad_holepunch_reply);
  auto hp = msg::decode_holepunch(*reply.value);
  if (!hp || hp->mode != mode::REPLY || reply.from.addr != asked)
    return make_error_code(HyperDhtErrc::bad_holepunch_reply);
  PeerHolepunchReply out;
  out.from = reply.from.addr;
  out.to = reply.to;
  out.payload = std::move(hp->payload);
  out.peer_address = hp->peer_address.value_or(asked);
  return out;
}

namespace {

template <class T>
dht::RequestCallbacks callbacks(const Ipv4Address& to,
                                Result<T> (*validate)(const dht::Reply&, const Ipv4Address&),
                                std::function<void(Result<T>)> done) {
  // Shared: RequestCallbacks must stay copyable, and exactly one of the two runs.
  auto fn = std::make_shared<std::function<void(Result<T>)>>(std::move(done));
  dht::RequestCallbacks cb;
  cb.on_response = [fn, to, validate](const dht::Reply& reply) { (*fn)(validate(reply, to)); };
  cb.on_error = [fn](std::error_code ec) { (*fn)(ec); };
  return cb;
}

}  // namespace

dht::RequestHandle peer_handshake(dht::DhtNode& node, const Bytes32& target, ByteView noise,
                                  const Ipv4Address& to, dht::DatagramSocket* socket,
                                  std::function<void(Result<PeerHandshakeReply>)> done) {
  msg::Handshake hs;
  hs.mode = mode::FROM_CLIENT;
  hs.noise = to_bytes(noise);
  return node.request(to, msg::command::PEER_HANDSHAKE, target, msg::encode(hs), std::nullopt,
                      callbacks<PeerHandshakeReply>(to, &validate_handshake_reply, std::move(done)),
                      3, socket);
}

dht::RequestHandle peer_holepunch(dht::DhtNode& node, const Bytes32& target, std::uint64_t id,
                                  ByteView payload, const std::optional<Ipv4Address>& peer_address,
                                  const Ipv4Address& to, dht::DatagramSocket* socket,
                                  std::function<void(Result<PeerHolepunchReply>)> done) {
  msg::Holepunch hp;
  hp.mode = mode::FROM_CLIENT;
  hp.id = id;
  hp.payload = to_bytes(payload);
  hp.peer_address = peer_address;
  return node.request(to, msg::command::PEER_HOLEPUNCH, target, msg::encode(hp), std::nullopt,
                      callbacks<PeerHolepunchReply>(to, &validate_holepunch_reply, std::move(done)),
                      3, socket);
}

}  // namespace hdht::hyperdht
