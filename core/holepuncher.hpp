// Holepuncher: one side of one holepunch attempt (hyperdht lib/holepuncher.js). It owns a pooled
// socket (and, for the birthday strategy, up to 256 of them), a NatAnalyzer on that socket, and
// the remote's state as the holepunch rounds report it. punch() picks the strategy by the two
// NATs (OPEN counts as CONSISTENT):
//   consistent + consistent: probe every remote address once a second, 10 times (unverified
//     addresses every 4th tick; the responder waits 1 s first, the server's "fast open" ping
//     having just gone out);
//   consistent local + random remote: probes to random ports (1000..65535) of the remote's
//     verified host every 20 ms, 1750 times (~35 s);
//   random local + consistent remote: open up to 256 sockets, each probing the verified address
//     with TTL 5, then keep them alive round-robin every 20 ms (~35 s);
//   anything else, or no verified address where one is needed: false.
// A probe is one zero byte. The initiator (client) is connected by the first probe that reaches
// one of its sockets: on_connect(socket, from) runs once and the other sockets are released; the
// responder (server) answers each probe with a probe. Random punches are rationed per node by
// PunchState (the reference's dht._randomPunches / _lastRandomPunch).
//
// destroy() stops everything; if not connected, on_abort runs (once). Destroying the object
// destroys it without calling on_abort. Handlers may destroy the Holepuncher. analyze() and
// punch() may answer synchronously (the analysis may already be done). Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/nat_analyzer.hpp"
#include "core/runtime.hpp"
#include "core/socket_pool.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::dht {
class DhtNode;
}

namespace hdht::hyperdht {

using namespace std::chrono_literals;

// dht.stats.punches in the reference.
struct PunchStats {
  std::uint64_t consistent = 0;
  std::uint64_t random = 0;
  std::uint64_t open = 0;
  std::uint64_t try_later = 0;
  std::uint64_t try_later_relayed_handshakes_at_least_once = 0;
};

// Per node: the reference's _randomPunches, _randomPunchLimit (1), _randomPunchInterval (20 s),
// _lastRandomPunch, and stats.punches.
struct PunchState {
  int random_punches = 0;
  int random_punch_limit = 1;
  core::Duration random_punch_interval = 20s;
  std::optional<core::TimePoint> last_random_punch;
  PunchStats stats;
  // The reference's test before a random punch: under the limit and the interval passed.
  bool random_punch_allowed(core::TimePoint now) const;
};

// What a Holepuncher needs from its node.
struct PunchContext {
  core::Runtime& runtime;
  dht::DhtNode& node;
  SocketPool& pool;
  PunchState& state;
};

struct RemoteAddress {
  Ipv4Address address;
  bool verified = false;
};

class Holepuncher {
 public:
  struct Handlers {
    // The punch succeeded (initiator only): `socket` is the pooled socket the probe came in on,
    // kept alive for the caller by `ref`.
    std::function<void(std::shared_ptr<PooledSocket> ref, const Ipv4Address& from)> on_connect;
    std::function<void()> on_abort;
  };

  // Null if no socket could be bound. Starts NAT sampling on its socket at once.
  static std::unique_ptr<Holepuncher> create(PunchContext ctx, bool is_initiator,
                                             Firewall remote_firewall, Handlers handlers);
  ~Holepuncher();
  Holepuncher(const Holepuncher&) = delete;
  Holepuncher& operator=(const Holepuncher&) = delete;

  // The current main socket (after a connect: the one the probe came in on). Stays valid after
  // destroy(), as a closed socket once nobody else holds a reference.
  PooledSocket& socket() noexcept;
  NatAnalyzer& nat() noexcept;

  // From a holepunch payload: the remote's punching flag, firewall and addresses; addresses
  // whose host is `verified` (or was verified before) are marked verified.
  void update_remote(bool punching, Firewall firewall,
                     const std::optional<std::vector<Ipv4Address>>& addresses,
                     const std::optional<Ipv4Address>& verified);
  // A probe with the default TTL / with TTL 5 (opens a NAT session without reaching the peer's).
  void ping(const Ipv4Address& to);
  void open_session(const Ipv4Address& to);
  // Waits for the NAT analysis; unstable (both RANDOM, or ours UNKNOWN) -> false, unless
  // allow_reopen, which retries on fresh sockets up to 3 times and reports whether we ended
  // CONSISTENT. `done` does not run if the puncher is destroyed first.
  void analyze(bool allow_reopen, std::function<void(bool stable)> done);
  // Starts the strategy (once; later calls get the first call's answer). `done(started)`.
  void punch(std::function<void(bool started)> done);
  void destroy();

  bool punching() const noexcept { return punching_; }
  bool connected() const noexcept { return connected_; }
  bool destroyed() const noexcept { return destroyed_; }
  bool is_initiator() const noexcept { return is_initiator_; }
  Firewall remote_firewall() const noexcept { return remote_firewall_; }
  const std::vector<RemoteAddress>& remote_addresses() const noexcept { return remote_addresses_; }
  bool remote_holepunching() const noexcept { return remote_holepunching_; }

  // The reference's Holepuncher.localAddresses(serverSocket): 127.0.0.1:port if the socket is
  // bound there, else each non-internal IPv4 interface with the socket's port (127.0.0.1 if none).
  static std::vector<Ipv4Address> local_addresses(core::Runtime& runtime,
                                                  const core::DatagramSocket& server_socket);
  // The reference's matchAddress: the remote local address sharing the most leading octets
  // (at least one) with one of ours; a 3-octet match wins at once.
  static std::optional<Ipv4Address> match_address(const std::vector<Ipv4Address>& mine,
                                                  const std::vector<Ipv4Address>& theirs);

 private:
  struct Impl;
  Holepuncher(PunchContext ctx, bool is_initiator, Firewall remote_firewall, Handlers handlers);

  std::unique_ptr<Impl> impl_;
  bool is_initiator_;
  bool punching_ = false;
  bool connected_ = false;
  bool destroyed_ = false;
  Firewall remote_firewall_;
  std::vector<RemoteAddress> remote_addresses_;
  bool remote_holepunching_ = false;
};

}  // namespace hdht::hyperdht
