#include "connect_fixtures.hpp"

#include <catch2/catch.hpp>

#include <utility>

namespace hdht::hyperdht::testnet {

std::unique_ptr<PeerConnect> start_connect(HyperDhtNode& node, const Bytes32& pk,
                                           std::shared_ptr<Connected> out, ConnectOptions o) {
  return PeerConnect::start(node, pk, std::move(o),
                            [out](Result<std::unique_ptr<core::SecretStream>> r) {
                              out->settled = true;
                              if (r)
                                out->stream = std::move(*r);
                              else
                                out->error = r.error();
                            });
}

EchoServer::EchoServer(HyperDhtNode& node, const crypto::KeyPair& kp, ServerOptions options) {
  server = std::make_unique<Server>(node, std::move(options));
  Server::Handlers sh;
  sh.on_connection = [this](std::unique_ptr<core::SecretStream> s) {
    core::SecretStream* raw = s.get();
    core::SecretStream::Handlers h;
    h.on_data = [this, raw](ByteView d) {
      got.append(d.begin(), d.end());
      (void)raw->write(d);
    };
    s->set_handlers(std::move(h));
    inbound.push_back(std::move(s));
  };
  server->set_handlers(std::move(sh));
  server->listen(kp, [this](std::error_code ec) {
    CHECK(!ec);
    listening = true;
  });
}

}  // namespace hdht::hyperdht::testnet
