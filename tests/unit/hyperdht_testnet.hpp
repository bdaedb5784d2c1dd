// A simulated hyperdht testnet for the record tests: a bootstrapper and persistent HyperDhtNodes
// on one SimNetwork, on virtual time, all with the same cache settings.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/hyperdht_node.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "dht_testnet.hpp"

namespace hdht::hyperdht::testnet {

using namespace std::chrono_literals;
using dht::testnet::host_ip;
using dht::testnet::kPort;

struct HMember {
  std::unique_ptr<core::SimRuntime> rt;
  std::unique_ptr<HyperDhtNode> node;
  Ipv4Address addr;
};

class HTestnet {
 public:
  // `base` gives the cache settings; its dht part is replaced per node.
  HTestnet(std::uint64_t seed, HyperDhtConfig base) : net(seed), base_(std::move(base)) {
    const auto ip = host_ip(1);
    net.add_host(ip);
    bootstrap_addr = {ip, kPort};
    dht::DhtConfig c = dht::DhtConfig::bootstrapper(kPort, bootstrap_addr);
    c.tick_interval = 1000ms;
    c.sleeping_interval = 3000ms;
    spawn_on(ip, std::move(c));
  }

  dht::DhtConfig node_config(bool persistent) const {
    dht::DhtConfig c = dht::testnet::fast_config();
    c.bootstrap = {dht::BootstrapEntry{bootstrap_addr.host_string(), std::nullopt, kPort}};
    if (persistent) {
      c.ephemeral = false;
      c.io.firewalled = false;
    }
    return c;
  }

  HMember& spawn(dht::DhtConfig c) {
    const auto ip = host_ip(next_host_++);
    net.add_host(ip);
    return spawn_on(ip, std::move(c));
  }

  HMember& spawn_on(const core::SimNetwork::Ip& ip, dht::DhtConfig c) {
    auto m = std::make_unique<HMember>();
    m->rt = std::make_unique<core::SimRuntime>(net, ip);
    HyperDhtConfig hc = base_;
    hc.dht = std::move(c);
    hc.now_unix_ms = [this] { return unix_ms(); };
    m->node = std::make_unique<HyperDhtNode>(*m->rt, std::move(hc));
    m->addr = {ip, kPort};
    auto r = m->node->start();
    (void)r;
    members.push_back(std::move(m));
    return *members.back();
  }

  // Spawns n persistent nodes and runs until every node is bootstrapped and persistent.
  bool grow(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      spawn(node_config(true));
    return net.run_until(
        [&] {
          for (const auto& m : members)
            if (!m->node->dht().bootstrapped() || !m->node->dht().id()) return false;
          return true;
        },
        300s);
  }

  // A wall clock for bumps that advances with virtual time.
  std::uint64_t unix_ms() const {
    return 1'700'000'000'000ULL +
           static_cast<std::uint64_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(net.now().time_since_epoch())
                   .count());
  }

  core::SimNetwork net;
  Ipv4Address bootstrap_addr;
  std::vector<std::unique_ptr<HMember>> members;

 private:
  HyperDhtConfig base_;
  std::uint32_t next_host_ = 2;
};

}  // namespace hdht::hyperdht::testnet
