// NAT gateways for sim tests (holepunching, NAT analysis): one private host behind one public
// address. Mappings follow the two behaviours hyperdht tells apart:
//   consistent: endpoint-independent mapping, port-preserving when it can (one external port per
//     internal socket, whoever it talks to) — what NatAnalyzer calls CONSISTENT;
//   random: a fresh random external port per (internal socket, destination) — RANDOM.
// Filtering is stateful (address- and port-dependent, as most home routers): an inbound packet
// passes only from an endpoint the internal socket has sent to; unsolicited ones are dropped,
// so a node behind it stays firewalled and peers must holepunch. A probe sent with a low TTL
// (1..kLowTtl) opens the mapping and dies on the way, as hyperdht's TTL-5 probes are meant to.
// Packets addressed to the private host itself are dropped (no LAN between the test's hosts).
//
// rebind() drops every mapping and never hands an old external port out again (NAT rebinding).
//
// Use: add the private host with the gateway and route the public address to it:
//   auto nat = sim_nat::add_host_behind_nat(net, {192,168,1,2}, {100,64,1,1}, Mapping::random, 7);
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <utility>

#include "core/sim_network.hpp"
#include "core/sim_random.hpp"

namespace hdht::sim_nat {

enum class Mapping { consistent, random };

class NatGateway final : public core::SimGateway {
 public:
  static constexpr int kLowTtl = 5;

  NatGateway(core::SimNetwork::Ip public_ip, core::SimNetwork::Ip private_ip, Mapping mapping,
             std::uint64_t seed, bool filter = true)
      : public_ip_(public_ip),
        private_ip_(private_ip),
        mapping_(mapping),
        filter_(filter),
        rng_(seed) {}

  bool outbound(core::SimPacket& p, core::TimePoint) override {
    const std::uint16_t ext = external_port(p.from.port, p.to);
    Port& port = ports_[ext];
    port.internal = p.from.port;
    port.allowed.insert(p.to);
    ++stats.outbound;
    p.from = {public_ip_, ext};
    if (p.ttl > 0 && p.ttl <= kLowTtl) {
      ++stats.ttl_expired;
      return false;
    }
    return true;
  }

  bool inbound(core::SimPacket& p, core::TimePoint) override {
    if (p.to.ip != public_ip_) {
      ++stats.dropped;
      return false;
    }
    auto it = ports_.find(p.to.port);
    if (it == ports_.end() || (filter_ && !it->second.allowed.contains(p.from))) {
      ++stats.dropped;
      return false;
    }
    ++stats.inbound;
    p.to = {private_ip_, it->second.internal};
    return true;
  }

  // A NAT rebinding (a router that reboots or times its mappings out): every mapping goes, and
  // no later one reuses an external port handed out before, so every socket's public port
  // changes (a preserved port would hide the rebinding from the tests).
  void rebind() {
    for (const auto& [ext, _] : ports_)
      retired_.insert(ext);
    ports_.clear();
    consistent_.clear();
    random_.clear();
  }

  const core::SimNetwork::Ip& public_ip() const noexcept { return public_ip_; }
  const core::SimNetwork::Ip& private_ip() const noexcept { return private_ip_; }
  std::size_t mappings() const noexcept { return ports_.size(); }

  struct Stats {
    std::uint64_t outbound = 0;
    std::uint64_t inbound = 0;
    std::uint64_t dropped = 0;      // unsolicited or unmapped
    std::uint64_t ttl_expired = 0;  // low-TTL probes (mapping made, packet gone)
  } stats;

 private:
  struct Port {
    std::uint16_t internal = 0;
    std::set<Ipv4Address> allowed;  // remote endpoints this mapping has sent to
  };

  std::uint16_t external_port(std::uint16_t internal, const Ipv4Address& to) {
    if (mapping_ == Mapping::consistent) {
      auto [it, added] = consistent_.try_emplace(internal, 0);
      if (added) it->second = free_port(internal);
      return it->second;
    }
    const auto key = std::make_tuple(internal, to.ip_u32(), to.port);
    auto [it, added] = random_.try_emplace(key, 0);
    if (added) it->second = free_port(0);
    return it->second;
  }

  // `wanted` if free (port preservation), else a random free port in 1024..65535.
  std::uint16_t free_port(std::uint16_t wanted) {
    if (wanted >= 1024 && !ports_.contains(wanted) && !retired_.contains(wanted)) return wanted;
    for (;;) {
      const auto p = static_cast<std::uint16_t>(1024 + rng_.below(65536 - 1024));
      if (!ports_.contains(p) && !retired_.contains(p)) return p;
    }
  }

  core::SimNetwork::Ip public_ip_;
  core::SimNetwork::Ip private_ip_;
  Mapping mapping_;
  bool filter_;
  core::SimRandom rng_;
  std::map<std::uint16_t, Port> ports_;  // by external port
  std::set<std::uint16_t> retired_;      // handed out before a rebind()
  std::map<std::uint16_t, std::uint16_t> consistent_;
  std::map<std::tuple<std::uint16_t, std::uint32_t, std::uint16_t>, std::uint16_t> random_;
};

// Adds `private_ip` as a host behind a new gateway owning `public_ip`.
inline std::shared_ptr<NatGateway> add_host_behind_nat(core::SimNetwork& net,
                                                       core::SimNetwork::Ip private_ip,
                                                       core::SimNetwork::Ip public_ip,
                                                       Mapping mapping, std::uint64_t seed,
                                                       bool filter = true) {
  auto gw = std::make_shared<NatGateway>(public_ip, private_ip, mapping, seed, filter);
  core::SimHostOptions opts;
  opts.gateway = gw;
  net.add_host(private_ip, opts);
  net.route(public_ip, gw);
  return gw;
}

}  // namespace hdht::sim_nat
