// A hostile peer's datagrams into a live HyperDhtNode (a persistent bootstrapper with storage) on
// a simulated network: the input is a sequence of datagrams (2-byte little-endian length, then
// the bytes), sent from one address with virtual time passing between them. A datagram that
// decodes as a dht-rpc request with a token gets a valid token spliced in, so the fuzzer reaches
// the record handlers (stores, lookups, routing) rather than stopping at INVALID_TOKEN. Beyond
// "no crash, no sanitizer report": after every input the node still answers a PING from an
// honest peer. The node lives for the whole run, so what inputs leave behind (stored records,
// timers, table entries) accumulates as in a real node.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "core/hyperdht_node.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "protocol/crypto.hpp"
#include "protocol/rpc_message.hpp"

namespace {

using namespace std::chrono_literals;
using hdht::Ipv4Address;

constexpr std::uint16_t kPort = 49737;

struct World {
  hdht::core::SimNetwork net{1};
  hdht::core::SimNetwork::Ip node_ip{10, 0, 0, 1};
  hdht::core::SimNetwork::Ip peer_ip{10, 0, 0, 2};
  std::unique_ptr<hdht::core::SimRuntime> node_rt, peer_rt;
  std::unique_ptr<hdht::hyperdht::HyperDhtNode> node;
  std::unique_ptr<hdht::core::DatagramSocket> hostile;   // raw: sends whatever the input says
  std::unique_ptr<hdht::hyperdht::HyperDhtNode> honest;  // pings the node after each input
  Ipv4Address node_addr{node_ip, kPort};
  Ipv4Address hostile_addr{peer_ip, 5000};

  World() {
    hdht::crypto::init();
    net.add_host(node_ip);
    net.add_host(peer_ip);
    node_rt = std::make_unique<hdht::core::SimRuntime>(net, node_ip);
    peer_rt = std::make_unique<hdht::core::SimRuntime>(net, peer_ip);
    hdht::hyperdht::HyperDhtConfig nc;
    nc.dht = hdht::dht::DhtConfig::bootstrapper(kPort, node_addr);
    nc.now_unix_ms = [this] {
      return 1'700'000'000'000ULL +
             static_cast<std::uint64_t>(
                 std::chrono::duration_cast<std::chrono::milliseconds>(net.now().time_since_epoch())
                     .count());
    };
    node = std::make_unique<hdht::hyperdht::HyperDhtNode>(*node_rt, nc);
    if (!node->start()) std::abort();
    auto s = peer_rt->bind_udp(hostile_addr);
    if (!s) std::abort();
    hostile = std::move(*s);
    hostile->set_receive_handler([](hdht::ByteView, const Ipv4Address&) {});
    hdht::hyperdht::HyperDhtConfig hc;
    hc.dht.bootstrap = {hdht::dht::BootstrapEntry{node_addr.host_string(), std::nullopt, kPort}};
    hc.dht.io.port = kPort;
    honest = std::make_unique<hdht::hyperdht::HyperDhtNode>(*peer_rt, hc);
    if (!honest->start()) std::abort();
    net.run_for(5s);
  }

  bool answers_ping() {
    bool pong = false;
    hdht::dht::RequestCallbacks cb;
    cb.on_response = [&](const hdht::dht::Reply&) { pong = true; };
    auto h = honest->dht().ping(node_addr, std::move(cb));
    net.run_until([&] { return pong; }, 10s);
    return pong;
  }

  void send(hdht::ByteView d) {
    auto req = hdht::rpc::decode_request(d);
    if (req && req->token) {
      req->token = node->dht().io().token(hostile_addr, 1);
      hostile->send(node_addr, hdht::rpc::encode(*req));
      return;
    }
    hostile->send(node_addr, d);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* world = new World();  // one node for the whole run, as a real one lives
  World& w = *world;
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::size_t len = std::size_t{data[at]} | std::size_t{data[at + 1]} << 8;
    at += 2;
    const std::size_t n = len < size - at ? len : size - at;
    w.send({data + at, n});
    at += n;
    w.net.run_for(20ms);
  }
  w.net.run_for(2s);  // replies, delayed pings, retries, a tick
  if (!w.answers_ping()) std::abort();
  return 0;
}
