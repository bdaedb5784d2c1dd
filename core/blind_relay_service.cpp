#include "core/blind_relay_service.hpp"

#include <utility>

#include "core/hyperdht_errors.hpp"

namespace hdht::hyperdht {

namespace {

// dht.createRawStream(opts): a stream with a free random id on the node's UDX instance.
BlindRelayServer::CreateStream raw_streams_of(HyperDhtNode& node) {
  return [&node](core::UdxStream::Handlers h) -> Result<std::unique_ptr<core::UdxStream>> {
    core::UdxSocket* socket = node.dht().udx_socket();
    if (socket == nullptr || node.dht().destroyed())
      return make_error_code(HyperDhtErrc::node_destroyed);
    const std::uint32_t id = node.dht().udx_streams().random_free_id(node.runtime());
    return core::UdxStream::create(*socket, id, std::move(h));
  };
}

}  // namespace

BlindRelayService::BlindRelayService(HyperDhtNode& node, BlindRelayLimits limits,
                                     ServerOptions server_options)
    : relay_(node.runtime(), raw_streams_of(node), limits),
      server_(std::make_unique<Server>(node, std::move(server_options))) {
  Server::Handlers h;
  h.on_connection = [this](std::unique_ptr<core::SecretStream> stream) {
    relay_.accept(std::move(stream));
  };
  server_->set_handlers(std::move(h));
}

BlindRelayService::~BlindRelayService() {
  server_.reset();  // no connection may reach relay_ while it goes
}

void BlindRelayService::listen(const crypto::KeyPair& key_pair,
                               std::function<void(std::error_code)> done) {
  server_->listen(key_pair, std::move(done));
}

void BlindRelayService::close(std::function<void()> done) {
  relay_.close();
  server_->close(std::move(done));
}

}  // namespace hdht::hyperdht
