// Our public address as the network reports it: an exact port of nat-sampler 1.0.1 (spec
// dht-rpc.md §8.3). The result decides the node id, so every counter behaves as in the JS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocol/ipv4.hpp"

namespace hdht::dht {

using Ipv4Host = std::array<std::uint8_t, 4>;

class NatSampler {
 public:
  // Records one observation of our address; returns the full address's hit count, like the JS.
  int add(const Ipv4Address& observed);

  // nullopt until enough samples agree (the JS null).
  const std::optional<Ipv4Host>& host() const { return host_; }
  // 0 when the host is unknown or only the host is consistent.
  std::uint16_t port() const { return port_; }
  // A consistent host behind a port-randomising NAT (dht-rpc's `randomized` getter).
  bool randomized() const { return host_.has_value() && port_ == 0; }

  int size() const { return size_; }
  int threshold() const { return threshold_; }

 private:
  static constexpr int kRing = 32;
  // The ring holds 32 slots plus the best-A/best-B references, and one add creates at most two
  // entries before it evicts, so 36 entries always suffice.
  static constexpr int kPool = kRing + 4;
  static constexpr int kNone = -1;

  // The JS shares one {host, port, hits} object between every ring slot that saw it, and hits
  // counts those slots. Entries live in a pool; slots and best_a/best_b refer to them by index.
  struct Entry {
    Ipv4Host host{};
    std::uint16_t port = 0;
    int hits = 0;
  };

  int bump(const Ipv4Host& host, std::uint16_t port, int inc);
  int make_entry(const Ipv4Host& host, std::uint16_t port);

  std::array<Entry, kPool> pool_{};
  std::array<int, kRing> slots_{};
  int length_ = 0;  // slots in use (the JS _samples.length)
  int top_ = 0;
  int best_a_ = kNone;
  int best_b_ = kNone;
  int size_ = 0;
  int threshold_ = 0;
  std::optional<Ipv4Host> host_;
  std::uint16_t port_ = 0;
};

}  // namespace hdht::dht
