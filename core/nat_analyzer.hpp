// NatAnalyzer: one holepunch socket's NAT classification (hyperdht lib/nat.js), distinct from
// dht-rpc's NatSampler (which watches the node's own socket): it pings up to 4 DHT nodes from the
// given socket (skipping the 5 newest when the node knows >= 8), records what address each reply
// says we came from, and classifies: OPEN when the node is not firewalled, CONSISTENT when one
// address:port got >= 3 hits (or 2 hits on two different hosts), RANDOM when every sample differs
// (or the host is stable but the ports are not), UNKNOWN until then. addresses(): CONSISTENT ->
// the addresses with >= 2 hits (at least the top 2), RANDOM -> the top host with port 0... as the
// reference (its host sample, port 0). freeze() stops updates while the result is being told to
// the peer.
//
// on_analyzed callbacks run once the reference's `analyzing` promise would resolve: CONSISTENT or
// OPEN reached, or >= 4 samples, or the sampling round (with one retry) ran out of nodes, or
// destroy(). Not thread-safe; runs on the node's executor. Destroying it cancels its pings.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/datagram_socket.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::dht {
class DhtNode;
}

namespace hdht::hyperdht {

// The reference's FIREWALL constants (msg::firewall), as an enum.
enum class Firewall : std::uint32_t { unknown = 0, open = 1, consistent = 2, random = 3 };
const char* firewall_name(Firewall f) noexcept;  // "UNKNOWN", "OPEN", ...

class NatAnalyzer {
 public:
  NatAnalyzer(dht::DhtNode& node, core::DatagramSocket& socket);
  ~NatAnalyzer();
  NatAnalyzer(const NatAnalyzer&) = delete;
  NatAnalyzer& operator=(const NatAnalyzer&) = delete;

  // Pings nodes from the socket (retrying once with other nodes if too few answered).
  void auto_sample();
  // One observation: `to` is our address as `from` saw it; a `from` counts once.
  void add(const Ipv4Address& to, const Ipv4Address& from);
  void freeze() noexcept { frozen_ = true; }
  void unfreeze();
  // Stops sampling and resolves the analysis (as the reference's destroy()).
  void destroy();

  Firewall firewall() const noexcept { return firewall_; }
  // nullopt while UNKNOWN (the reference's null).
  const std::optional<std::vector<Ipv4Address>>& addresses() const noexcept { return addresses_; }
  int sampled() const noexcept { return sampled_; }
  bool analyzed() const noexcept { return analyzed_; }
  // Runs fn now if analyzed, else once the analysis resolves.
  void on_analyzed(std::function<void()> fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Firewall firewall_ = Firewall::unknown;
  std::optional<std::vector<Ipv4Address>> addresses_;
  int sampled_ = 0;
  bool frozen_ = false;
  bool analyzed_ = false;
};

}  // namespace hdht::hyperdht
