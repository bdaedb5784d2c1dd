// HyperDhtNode: a hyperdht 6.34 node (the reference's index.js) on top of a dht-rpc DhtNode. It
// installs the hyperdht request handler (the storing side, RecordHandlers, created once the node
// is persistent and answering only while it has an id, as the reference's onrequest), passes
// hyperdht's filterNode to dht-rpc, and offers the record operations of the reference's client:
// lookup, announce, unannounce, findPeer, immutablePut/Get and mutablePut/Get, with the same
// query options (commit phases, signing per storing node, client-side verification).
//
// PEER_HANDSHAKE and PEER_HOLEPUNCH go to the Router (router.hpp) on every node, ephemeral or
// not, as the reference routes them: through the forwards of servers that announced themselves
// here, and to local servers registered with router().set().
//
// Threading and lifetime: not thread-safe; runs on the Runtime's executor. The handles returned
// by the operations own their queries and requests; destroying a handle withdraws them silently.
// Handles must not outlive the node.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/dht_config.hpp"
#include "core/dht_node.hpp"
#include "core/holepuncher.hpp"
#include "core/hyperdht_operations.hpp"
#include "core/record_cache.hpp"
#include "core/record_handlers.hpp"
#include "core/router.hpp"
#include "core/runtime.hpp"
#include "core/socket_pool.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"
#include "protocol/result.hpp"

namespace hdht::hyperdht {

using namespace std::chrono_literals;

struct HyperDhtConfig {
  dht::DhtConfig dht;  // its filter_node is replaced by hyperdht's filterNode
  // opts.maxSize: topic records, refreshes, bumps and forwards; mutable and immutable values
  // get half of it each.
  std::size_t max_size = 65536;
  // opts.maxAge: nullopt = 20 min for topic records and forwards, 48 h for values; a value sets
  // both (as the reference does).
  std::optional<core::Duration> max_age;
  // Our caps on the bytes held (the reference has none): topic records, values (each cache).
  std::size_t max_record_bytes = std::size_t{32} << 20;
  std::size_t max_value_bytes = std::size_t{64} << 20;
  // Wall-clock milliseconds since the epoch, only for announce bumps (default: system clock).
  std::function<std::uint64_t()> now_unix_ms;
  // opts.connectionKeepAlive: the secret streams' keepalive (0 = off, the reference's false).
  core::Duration connection_keep_alive = std::chrono::milliseconds(5000);
  // opts.keyPair: the node's default key pair for servers and connects (none: a random one).
  std::optional<crypto::KeyPair> key_pair;
  // opts.randomPunchInterval: at least this long between two random punches of the node.
  core::Duration random_punch_interval = std::chrono::milliseconds(20000);

  StorageLimits storage_limits() const;
  CacheLimits forward_limits() const;
};

// The reference's filterNode: a few public nodes that must never be used.
bool hyperdht_filter_node(const Ipv4Address& addr);

class Server;

// A server's relay addresses as a connect to it learned them (dht._relayAddressesCache).
struct RelayAddressList {
  std::vector<Ipv4Address> addresses;
};
inline std::size_t record_weight(const RelayAddressList& l) {
  return l.addresses.size() * sizeof(Ipv4Address);
}

class HyperDhtNode {
 public:
  HyperDhtNode(core::Runtime& runtime, HyperDhtConfig config);
  ~HyperDhtNode();
  HyperDhtNode(const HyperDhtNode&) = delete;
  HyperDhtNode& operator=(const HyperDhtNode&) = delete;

  dht::DhtNode& dht() noexcept { return *dht_; }
  const dht::DhtNode& dht() const noexcept { return *dht_; }
  Result<void> start() { return dht_->start(); }
  void destroy() { dht_->destroy(); }

  // The storing side; null until the node first answered a request while persistent.
  RecordHandlers* storage() noexcept { return storage_.get(); }
  ForwardCache& forwards() noexcept { return forwards_; }
  // PEER_HANDSHAKE / PEER_HOLEPUNCH routing; local servers register here.
  Router& router() noexcept { return router_; }

  // --- connections (hyperdht_server.hpp, peer_connect.hpp) ---
  core::Runtime& runtime() noexcept { return runtime_; }
  const HyperDhtConfig& config() const noexcept { return config_; }
  // The holepunch sockets (dht._socketPool), made on first use on the node's bind host.
  SocketPool& socket_pool();
  // The UdxSocket on one of the node's datagram sockets: a pooled one's own, else the node's
  // (a request that came in on a pooled socket must be answered with streams on that socket).
  core::UdxSocket& udx_socket_for(dht::DatagramSocket& socket);
  PunchState& punch_state() noexcept { return punch_state_; }
  PunchContext punch_context() {
    return PunchContext{runtime_, *dht_, socket_pool(), punch_state_};
  }
  // dht.defaultKeyPair.
  const crypto::KeyPair& default_key_pair() const noexcept { return default_key_pair_; }
  // Servers listening on this node (dht.listening): listen() refuses a key pair in use here.
  std::vector<Server*>& listening() noexcept { return listening_; }
  // By the server's public key: where the last connect's handshake went (the server's own
  // relayAddresses, else the nodes tried), so the next connect to it starts there. As xache
  // {maxSize: min(maxSize, 512), maxAge: 0}: two generations, no expiry by time.
  RecordCache<RelayAddressList>& relay_addresses_cache() noexcept { return relay_addresses_cache_; }

  // --- client operations (the handles start at once) ---
  std::unique_ptr<LookupStream> lookup(const Bytes32& topic, dht::QueryOptions opts = {});
  std::unique_ptr<LookupStream> announce(const Bytes32& topic, const crypto::KeyPair& key_pair,
                                         std::vector<Ipv4Address> relay_addresses,
                                         AnnounceOptions opts = {});
  // lookupAndUnannounce: unannounces from every node that shows our record (or a full page),
  // and on_done once those settled.
  std::unique_ptr<LookupStream> unannounce(const Bytes32& topic, const crypto::KeyPair& key_pair,
                                           dht::QueryOptions opts = {});
  std::unique_ptr<FindPeerStream> find_peer(const Bytes32& public_key, dht::QueryOptions opts = {});
  std::unique_ptr<ValueOperation> immutable_put(ByteView value,
                                                std::function<void(Result<ImmutablePutResult>)> cb);
  std::unique_ptr<ValueOperation> immutable_get(
      const Bytes32& hash, std::function<void(Result<std::optional<ImmutableGetResult>>)> cb);
  std::unique_ptr<ValueOperation> mutable_put(const crypto::KeyPair& key_pair, ByteView value,
                                              MutablePutOptions opts,
                                              std::function<void(Result<MutablePutResult>)> cb);
  std::unique_ptr<ValueOperation> mutable_get(
      const Bytes32& public_key, MutableGetOptions opts,
      std::function<void(Result<std::optional<MutableGetResult>>)> cb);

  // DHT.keyPair(seed) / DHT.hash(data).
  static crypto::KeyPair key_pair(const std::optional<Bytes32>& seed = std::nullopt);
  static Bytes32 hash(ByteView data) { return crypto::hash32(data); }

 private:
  bool on_request(const dht::IncomingRequest& req);
  // The LOOKUP query of lookup/announce/unannounce; `mapped` sees each mapped reply first.
  void make_lookup_query(LookupStream& s, const Bytes32& topic, dht::QueryOptions opts,
                         std::function<void(const LookupResult&)> mapped);
  // lookupAndUnannounce on s; each commit runs `then` (if any) once the unannounces settled.
  void make_unannounce_query(LookupStream& s, const Bytes32& topic, const crypto::KeyPair& key_pair,
                             dht::QueryOptions opts, std::optional<dht::CommitFn> then);

  core::Runtime& runtime_;
  HyperDhtConfig config_;
  std::unique_ptr<dht::DhtNode> dht_;
  ForwardCache forwards_;
  Router router_{forwards_};  // after forwards_, which it reads
  std::unique_ptr<RecordHandlers> storage_;
  crypto::KeyPair default_key_pair_;
  PunchState punch_state_;
  std::vector<Server*> listening_;
  RecordCache<RelayAddressList> relay_addresses_cache_;
  std::unique_ptr<SocketPool> socket_pool_;  // after what its sockets' handlers reach
};

}  // namespace hdht::hyperdht
