// ServerAnnouncer: keeps a listening server findable (hyperdht lib/announcer.js). An update runs
// a FIND_PEER query toward H(publicKey), seeded with the previous update's closest nodes, and
// ANNOUNCEs the server's record (signed per storing node, as Persistent.signAnnounce) to the best
// 3 replies; those nodes become the server's relays: they keep its forward and relay handshakes
// to it. Relay addresses for the handshake reply are our own address first (when not
// firewalled), then the relays, at most 3.
//
// Relays are remembered in three generations (the reference's _serverRelays): each update cycles
// them, and relays of the previous generation that the new update did not announce to are
// unannounced. Between updates a background loop pings the current relays every 3 s, up to 100
// times, and runs the next update early when fewer than min(relays, 3) answer.
//
// Ours, beyond the reference: NAT rebinding. A firewalled server is reached only through the
// forward each relay stored at announce time, which holds the NAT mapping that relay saw then.
// When our router forgets it (reboot, timeout), our packets leave from a new public port and
// relayed handshakes go to the dead one until the next update, minutes later. Each ping reply
// says how the relay sees us now; when that differs from what it reported to our ANNOUNCE, the
// round ends in an update at once (one per change: the update records the new addresses).
//
// Not done (as the server's suspend/resume is not): suspend, resume and the online signal.
//
// Threading and lifetime: not thread-safe; runs on the node's executor. Owns its query, requests
// and timer: destroying it withdraws them and no callback runs afterwards. Its callbacks must not
// destroy it (the owner defers that).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/query.hpp"
#include "core/rpc_io.hpp"
#include "core/timer.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/noise_payload.hpp"

namespace hdht::hyperdht {

class HyperDhtNode;

struct AnnouncerStats {
  std::uint64_t updates = 0;           // FIND_PEER rounds completed
  std::uint64_t announces_sent = 0;    // ANNOUNCE requests
  std::uint64_t announces_ok = 0;      // answered with error 0
  std::uint64_t unannounces_sent = 0;  // UNANNOUNCE requests
  std::uint64_t pings_sent = 0;        // relay liveness pings
  std::uint64_t early_refreshes = 0;   // too few relays answered
  std::uint64_t rebinds_detected = 0;  // ping rounds where a relay saw us at a new address
};

class ServerAnnouncer {
 public:
  // The reference's ping rounds between updates, their spacing, and MIN_ACTIVE.
  static constexpr int kPingRounds = 100;
  static constexpr core::Duration kPingInterval = std::chrono::milliseconds(3000);
  static constexpr std::size_t kMinActive = 3;
  static constexpr std::size_t kMaxRelays = 3;

  ServerAnnouncer(HyperDhtNode& node, const crypto::KeyPair& key_pair, const Bytes32& target);
  ~ServerAnnouncer();
  ServerAnnouncer(const ServerAnnouncer&) = delete;
  ServerAnnouncer& operator=(const ServerAnnouncer&) = delete;

  // The first update; `done` once it (its commits and unannounces) settled. Then the background
  // loop runs until stop().
  void start(std::function<void()> done);
  // The next ping round ends the loop early and runs an update (the reference's refresh()).
  void refresh();
  // Stops the loop and unannounces the current relays; `done` once those settled.
  void stop(std::function<void()> done);

  // encode(peer{publicKey, relayAddresses: []}): what FIND_PEER answers with.
  const Bytes& record() const noexcept { return record_; }
  // {relayAddress: the storing node, peerAddress: us as it saw us} of the last update.
  const std::vector<msg::RelayInfo>& relays() const noexcept { return relays_; }
  const std::vector<Ipv4Address>& relay_addresses() const noexcept { return relay_addresses_; }
  // A node we announced to in one of the last three updates.
  bool is_relay(const Ipv4Address& addr) const;
  bool stopped() const noexcept { return stopped_; }
  const AnnouncerStats& stats() const noexcept { return stats_; }

 private:
  using RelayMap = std::map<Ipv4Address, Ipv4Address>;

  void run_update(std::function<void()> then);
  void on_query_done(std::function<void()> then);
  void commit(const dht::Reply& reply, std::function<void()> settled);
  void finish_update(std::function<void()> then);
  void background();
  void ping_round(int round);
  // Unannounces each address; `done` once all settled.
  void unannounce_all(std::vector<Ipv4Address> relays, std::function<void()> done);
  void unannounce(const Ipv4Address& to, std::function<void()> settled);
  void cycle();

  HyperDhtNode& node_;
  crypto::KeyPair key_pair_;
  Bytes32 target_;
  Bytes record_;
  std::vector<msg::RelayInfo> relays_;
  std::vector<Ipv4Address> relay_addresses_;
  std::vector<dht::NodeRef> closest_nodes_;
  std::array<RelayMap, 3> server_relays_;

  // The update in progress: its query, and the relays its commits found so far.
  std::unique_ptr<dht::Query> query_;
  std::vector<msg::RelayInfo> next_relays_;
  std::vector<Ipv4Address> next_relay_addresses_;
  std::size_t commits_pending_ = 0;
  std::function<void()> after_commits_;

  std::vector<dht::RequestHandle> requests_;  // commits, unannounces and pings
  core::Timer sleep_;
  bool stopped_ = false;
  bool refreshing_ = false;
  bool updating_ = false;
  AnnouncerStats stats_;
};

}  // namespace hdht::hyperdht
