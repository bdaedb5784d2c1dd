// A hyperdht node behind its own sim NAT (sim_nat.hpp) in an HTestnet: the setup the connect,
// server and relay tests share. Host i gets the private address 192.168.i.2 behind a gateway
// owning 100.64.i.1.
//
// Lifetime: the gateway is shared with the network's routes; the member lives in the testnet.
#pragma once

#include <cstdint>
#include <memory>

#include "hyperdht_testnet.hpp"
#include "sim_nat.hpp"

namespace hdht::sim_nat {

struct NatMember {
  hyperdht::testnet::HMember& member;
  std::shared_ptr<NatGateway> gateway;
};

// Adds the gateway and a non-persistent node behind it, and runs until the node bootstrapped and
// knows it is firewalled (a test failure otherwise).
NatMember spawn_behind_nat(hyperdht::testnet::HTestnet& t, std::uint8_t i, Mapping mapping,
                           std::uint64_t seed);

}  // namespace hdht::sim_nat
