#include "core/hyperdht_node.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "protocol/hyperdht_constants.hpp"

namespace hdht::hyperdht {

namespace {

constexpr core::Duration kRecordMaxAge = std::chrono::minutes(20);
constexpr core::Duration kValueMaxAge = std::chrono::hours(48);

std::uint64_t system_unix_ms() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

}  // namespace

StorageLimits HyperDhtConfig::storage_limits() const {
  const core::Duration records_age = max_age.value_or(kRecordMaxAge);
  const core::Duration values_age = max_age.value_or(kValueMaxAge);
  const CacheLimits records{max_size, records_age, max_record_bytes};
  const CacheLimits values{max_size / 2, values_age, max_value_bytes};
  return StorageLimits{records, records, records, values, values};
}

CacheLimits HyperDhtConfig::forward_limits() const {
  return CacheLimits{max_size, max_age.value_or(kRecordMaxAge), max_record_bytes};
}

bool hyperdht_filter_node(const Ipv4Address& addr) {
  using Ip = std::array<std::uint8_t, 4>;
  if (addr.port == 49738 && (addr.ip == Ip{134, 209, 28, 98} || addr.ip == Ip{167, 99, 142, 185}))
    return false;
  if (addr.port == 9400 && addr.ip == Ip{35, 233, 47, 252}) return false;
  return addr.ip != Ip{150, 136, 142, 116};
}

namespace {

HyperDhtConfig prepared(HyperDhtConfig config) {
  // hyperdht always passes its own filterNode to dht-rpc.
  config.dht.filter_node = hyperdht_filter_node;
  if (!config.now_unix_ms) config.now_unix_ms = system_unix_ms;
  return config;
}

}  // namespace

HyperDhtNode::HyperDhtNode(core::Runtime& runtime, HyperDhtConfig config)
    : runtime_(runtime),
      config_(prepared(std::move(config))),
      dht_(std::make_unique<dht::DhtNode>(runtime, config_.dht)),
      forwards_(runtime, config_.forward_limits()),
      relay_addresses_cache_(runtime, CacheLimits{std::min<std::size_t>(config_.max_size, 512),
                                                  core::Duration::zero()}) {
  dht_->set_request_handler([this](const dht::IncomingRequest& req) { return on_request(req); });
  punch_state_.random_punch_interval = config_.random_punch_interval;
  default_key_pair_ = config_.key_pair ? *config_.key_pair : key_pair();
}

HyperDhtNode::~HyperDhtNode() = default;

SocketPool& HyperDhtNode::socket_pool() {
  if (!socket_pool_) {
    socket_pool_ = std::make_unique<SocketPool>(runtime_, *dht_, config_.dht.io.bind_host);
  }
  return *socket_pool_;
}

core::UdxSocket& HyperDhtNode::udx_socket_for(dht::DatagramSocket& socket) {
  if (socket_pool_) {
    if (core::UdxSocket* pooled = socket_pool_->find_udx(&socket)) return *pooled;
  }
  return dht_->udx_socket(socket);
}

bool HyperDhtNode::on_request(const dht::IncomingRequest& req) {
  const std::uint64_t command = req.message().command;
  // Routed by every node, whatever its state (the reference claims them before any check).
  if (command == msg::command::PEER_HANDSHAKE) {
    router_.on_handshake(req);
    return true;
  }
  if (command == msg::command::PEER_HOLEPUNCH) {
    router_.on_holepunch(req);
    return true;
  }
  const auto id = dht_->id();
  if (!id) return false;
  // The reference creates its storage on the first 'persistent' event; a node only has an id
  // once that happened, so creating it here on first use is the same.
  if (!storage_) {
    storage_ = std::make_unique<RecordHandlers>(runtime_, config_.storage_limits(), forwards_,
                                                config_.now_unix_ms);
    storage_->set_local_records(
        [this](const Bytes32& target) { return router_.local_record(target); });
  }
  // PLUGIN has no plugins registered here: claimed and dropped, as the reference does.
  if (command == msg::command::PLUGIN) return true;
  return storage_->handle(req, *id);
}

crypto::KeyPair HyperDhtNode::key_pair(const std::optional<Bytes32>& seed) {
  return seed ? crypto::key_pair_from_seed(*seed) : crypto::random_key_pair();
}

}  // namespace hdht::hyperdht
