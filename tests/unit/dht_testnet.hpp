// A simulated dht-rpc testnet for the node tests: one bootstrapper and any number of DhtNodes,
// each on its own host of one SimNetwork, on virtual time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/dht_config.hpp"
#include "core/dht_node.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "protocol/node_id.hpp"

namespace hdht::dht::testnet {

using namespace std::chrono_literals;

inline constexpr std::uint16_t kPort = 49737;

inline core::SimNetwork::Ip host_ip(std::uint32_t i) {  // 10.x.y.z, distinct for i < 2^24
  return {10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
          static_cast<std::uint8_t>(i)};
}

// Reference behaviour on 1 s ticks, so minutes of protocol time pass in a few virtual minutes.
inline DhtConfig fast_config() {
  DhtConfig c;
  c.io.port = kPort;
  c.tick_interval = 1000ms;
  c.sleeping_interval = 3000ms;
  c.stable_ticks = 10;
  c.more_stable_ticks = 30;
  return c;
}

struct Member {
  std::unique_ptr<core::SimRuntime> rt;
  std::unique_ptr<DhtNode> node;
  Ipv4Address addr;  // host : server port
  int ready = 0, persistent = 0, wakeups = 0;
};

class Testnet {
 public:
  explicit Testnet(std::uint64_t seed, core::SimLink link = {}) : net(seed, link) {
    // Member 0: the bootstrapper on 10.0.0.1.
    const auto ip = host_ip(1);
    net.add_host(ip);
    bootstrap_addr = {ip, kPort};
    DhtConfig c = DhtConfig::bootstrapper(kPort, bootstrap_addr);
    c.tick_interval = 1000ms;
    c.sleeping_interval = 3000ms;
    spawn_on(ip, std::move(c));
  }

  DhtConfig node_config(bool persistent) const {
    DhtConfig c = fast_config();
    c.bootstrap = {BootstrapEntry{bootstrap_addr.host_string(), std::nullopt, kPort}};
    if (persistent) {
      c.ephemeral = false;
      c.io.firewalled = false;
    }
    return c;
  }

  // A node on the next free host.
  Member& spawn(DhtConfig c) {
    const auto ip = host_ip(next_host_++);
    net.add_host(ip);
    return spawn_on(ip, std::move(c));
  }

  Member& spawn_on(const core::SimNetwork::Ip& ip, DhtConfig c) {
    auto m = std::make_unique<Member>();
    m->rt = std::make_unique<core::SimRuntime>(net, ip);
    m->node = std::make_unique<DhtNode>(*m->rt, std::move(c));
    m->addr = {ip, kPort};
    Member* raw = m.get();
    m->node->events().ready = [raw] { ++raw->ready; };
    m->node->events().persistent = [raw] { ++raw->persistent; };
    m->node->events().wakeup = [raw] { ++raw->wakeups; };
    auto r = m->node->start();
    (void)r;
    members.push_back(std::move(m));
    return *members.back();
  }

  bool all_ready() const {
    for (const auto& m : members)
      if (m->node && !m->node->bootstrapped()) return false;
    return true;
  }

  core::SimNetwork net;
  Ipv4Address bootstrap_addr;
  std::vector<std::unique_ptr<Member>> members;

 private:
  std::uint32_t next_host_ = 2;
};

}  // namespace hdht::dht::testnet
