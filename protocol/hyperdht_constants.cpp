#include "protocol/hyperdht_constants.hpp"

#include "protocol/crypto.hpp"

namespace hdht::msg {
namespace {

constexpr std::string_view kDht = "hyperswarm/dht";
constexpr std::string_view kSecretStream = "hyperswarm/secret-stream";

// Function-local statics: thread-safe lazy init, and no static-init-order dependency on
// crypto::init() having run before main.
const Bytes32& dht_ns(std::uint32_t cmd) {
  static const auto table = [] {
    std::array<Bytes32, command::PLUGIN + 1> t{};
    crypto::init();
    for (std::uint32_t i = 0; i < t.size(); ++i)
      t[i] = crypto::namespace_id(kDht, static_cast<std::uint8_t>(i));
    return t;
  }();
  return table[cmd];
}

const Bytes32& ss_ns(std::uint8_t id) {
  static const auto table = [] {
    std::array<Bytes32, 3> t{};
    crypto::init();
    for (std::uint8_t i = 0; i < t.size(); ++i)
      t[i] = crypto::namespace_id(kSecretStream, i);
    return t;
  }();
  return table[id];
}

}  // namespace

const Bytes32& ns_announce() {
  return dht_ns(command::ANNOUNCE);
}
const Bytes32& ns_unannounce() {
  return dht_ns(command::UNANNOUNCE);
}
const Bytes32& ns_mutable_put() {
  return dht_ns(command::MUTABLE_PUT);
}
const Bytes32& ns_peer_handshake() {
  return dht_ns(command::PEER_HANDSHAKE);
}
const Bytes32& ns_peer_holepunch() {
  return dht_ns(command::PEER_HOLEPUNCH);
}
const Bytes32& ns_plugin() {
  return dht_ns(command::PLUGIN);
}

const Bytes32& ns_secret_stream_initiator() {
  return ss_ns(0);
}
const Bytes32& ns_secret_stream_responder() {
  return ss_ns(1);
}
const Bytes32& ns_secret_stream_send() {
  return ss_ns(2);
}

}  // namespace hdht::msg
