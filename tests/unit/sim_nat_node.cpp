#include "sim_nat_node.hpp"

#include <catch2/catch.hpp>

namespace hdht::sim_nat {

NatMember spawn_behind_nat(hyperdht::testnet::HTestnet& t, std::uint8_t i, Mapping mapping,
                           std::uint64_t seed) {
  using namespace std::chrono_literals;
  const core::SimNetwork::Ip priv{192, 168, i, 2};
  auto gateway = add_host_behind_nat(t.net, priv, {100, 64, i, 1}, mapping, seed);
  hyperdht::testnet::HMember& m = t.spawn_on(priv, t.node_config(false));
  REQUIRE(t.net.run_until([&] { return m.node->dht().bootstrapped(); }, 60s));
  REQUIRE(m.node->dht().firewalled());
  return NatMember{m, std::move(gateway)};
}

}  // namespace hdht::sim_nat
