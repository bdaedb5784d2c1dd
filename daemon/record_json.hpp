// How the record layer's results look on the control socket: peers, the node that answered,
// and the error a failed DHT operation becomes (data.name = the reference's error name).
#pragma once

#include <optional>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hyperdht_operations.hpp"
#include "daemon/jsonrpc.hpp"
#include "daemon/value_codec.hpp"
#include "protocol/bytes.hpp"
#include "protocol/peer_messages.hpp"

namespace hdht::daemon {

// {"publicKey": hex, "relayAddresses": ["a.b.c.d:port", ...]}
nlohmann::json peer_json(const msg::Peer& peer);
// {"host", "port", "id" (hex or null)}
nlohmann::json from_json(const dht::Peer& from);
nlohmann::json closest_json(const std::vector<dht::Peer>& closest);
// A value as {"encoding", "data"}: utf8 when the bytes are valid UTF-8 without control
// characters other than tab/newline/CR, else base64.
nlohmann::json auto_value_json(ByteView bytes);
// A value in the encoding asked for, except that bytes that are not UTF-8 go as base64.
nlohmann::json value_json(ByteView bytes, ValueEncoding wanted);
// -32010 with data.name = REQUEST_TIMEOUT, TOO_FEW_NODES, ... (REQUEST_FAILED if unnamed).
rpc::Error operation_error(std::error_code ec, const char* what);

// Peers from many replies, each public key once (the first record seen wins, as a swarm would
// connect to the first address it learns).
class PeerSet {
 public:
  // True if the peer is new.
  bool add(const msg::Peer& peer);
  nlohmann::json to_json() const;
  std::size_t size() const noexcept { return peers_.size(); }

 private:
  std::vector<msg::Peer> peers_;
};

}  // namespace hdht::daemon
