// The path phase of a connect, once the handshake is done (the reference's holepunch(),
// probeRound, roundPunch, updateHolepunch and abort in lib/connect.js). It finds a socket and an
// address to connect the raw stream to, in the reference's order:
//   open      the server is OPEN, or relayed without relays to punch through: its first public
//             address (else its address as the relay saw it), from the node's socket;
//   passive   we are OPEN: wait 10 s for the server to reach us (the raw stream's firewall hook
//             ends the wait), else HOLEPUNCH_ABORTED;
//   lan       relayed and the same public host on both sides: PING the server's best matching
//             local address and, on a reply, connect from the node's server socket; raced with
//   holepunch a Holepuncher (initiator): a probe round through the server's relay (sessions,
//             NAT samples, a second round when the server's firewall or token is still unknown),
//             then the punch round through our handshake relay, then punch().
// No relays from the server and no LAN path: CANNOT_HOLEPUNCH.
//
// Errors: as the reference, an error once the puncher exists destroys the puncher first, whose
// abort handler ends the connect with HOLEPUNCH_ABORTED; the error the round raised
// (HOLEPUNCH_PROBE_TIMEOUT, REMOTE_NOT_HOLEPUNCHING, ...) is kept in cause(). A random punch over
// the node's budget, or the server's TRY_LATER, is waited out (10-20 s, then the punch goes
// through the server's relay) only with a relay pairing alongside (options.relay_token), as the
// reference; without one it is HOLEPUNCH_ABORTED.
//
// Lifetime: the owner may destroy it at any time, also from inside its handlers; nothing runs
// afterwards. Not thread-safe: the node's executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/connect_handshake.hpp"
#include "core/holepuncher.hpp"
#include "core/hyperdht_node.hpp"
#include "core/nat_analyzer.hpp"
#include "core/timer.hpp"
#include "core/udx_socket.hpp"
#include "protocol/bytes.hpp"
#include "protocol/noise_payload.hpp"

namespace hdht::hyperdht {

// How a connect reached the server.
enum class ConnectPath {
  none,
  direct,        // the handshake went to the server itself (not relayed)
  server_first,  // the server's first UDX packet reached us before the handshake reply
  open,          // the server is OPEN (or relayed but not holepunchable)
  passive,       // we are OPEN and the server reached us
  lan,           // the LAN shortcut
  holepunch,     // a punched socket
  relay,         // through a blind relay (relayThrough)
};
const char* connect_path_name(ConnectPath p) noexcept;

// opts.holepunch(remoteFirewall, localFirewall, remoteAddresses, localAddresses): false aborts.
using HolepunchVeto = std::function<bool(
    Firewall remote, Firewall local, const std::vector<RemoteAddress>& remote_addresses,
    const std::optional<std::vector<Ipv4Address>>& local_addresses)>;

struct HolepunchOptions {
  bool local_connection = true;
  bool fast_open = true;
  HolepunchVeto holepunch;
  // A blind relay pairing runs alongside (the reference's c.relayToken): a random punch over the
  // node's budget, or the server's TRY_LATER, is waited out (10-20 s) instead of aborting.
  bool relay_token = false;
};

class ConnectHolepunch {
 public:
  struct Handlers {
    // Connect the raw stream through `socket` to `address`. Runs at most once.
    std::function<void(core::UdxSocket& socket, const Ipv4Address& address, ConnectPath path)>
        on_socket;
    std::function<void(std::error_code)> on_failed;
  };

  ConnectHolepunch(HyperDhtNode& node, const Bytes32& target, const HandshakeOutcome& handshake,
                   Firewall local_firewall, HolepunchOptions options, Handlers handlers);
  ~ConnectHolepunch();
  ConnectHolepunch(const ConnectHolepunch&) = delete;
  ConnectHolepunch& operator=(const ConnectHolepunch&) = delete;

  void start();

  // Holepunch payloads sent (the reference's c.round).
  std::uint64_t rounds() const noexcept { return round_; }
  // The error a round raised before the puncher's abort ended the connect.
  std::error_code cause() const noexcept { return cause_; }
  const Holepuncher* puncher() const noexcept { return puncher_.get(); }

 private:
  struct Probe {
    std::optional<Bytes32> token;
    Ipv4Address peer_address;
  };
  struct Update {
    PeerHolepunchReply reply;
    msg::HolepunchPayload payload;
    bool try_later = false;  // the server said TRY_LATER to our punch (only with relay_token)
  };
  using ProbeDone = std::function<void(Result<std::optional<Probe>>)>;

  bool holepunchable() const noexcept;
  void start_lan(const Ipv4Address& addr);
  void start_puncher();
  void probe_round(std::optional<Ipv4Address> server_address, bool retry, ProbeDone done);
  void after_probe_reply(std::optional<Ipv4Address> server_address, bool retry, Update u,
                         ProbeDone done);
  void probe_analyze(std::optional<Ipv4Address> server_address, bool retry, Probe probe,
                     ProbeDone done);
  void probe_check(std::optional<Ipv4Address> server_address, bool retry, Probe probe,
                   ProbeDone done);
  void after_probe(Probe probe);
  void round_punch(const Ipv4Address& server_address, const std::optional<Bytes32>& remote_token,
                   bool delayed);
  void send_punch(const Ipv4Address& server_address, const std::optional<Bytes32>& remote_token,
                  bool delayed);
  void try_later(std::function<void()> then);
  void update_holepunch(const std::optional<Ipv4Address>& peer_address, const Ipv4Address& relay,
                        msg::HolepunchPayload payload, std::function<void(Result<Update>)> done);
  void abort(std::error_code ec);
  void destroy_puncher();
  void punch_failed(std::error_code ec);
  void maybe_fail(std::error_code ec);
  void connect(core::UdxSocket& socket, const Ipv4Address& address, ConnectPath path);

  HyperDhtNode& node_;
  Bytes32 target_;
  HandshakeOutcome hs_;
  Firewall local_firewall_;
  HolepunchOptions options_;
  Handlers handlers_;
  Bytes32 secret_{};        // the holepunch secret (secure payload key)
  Bytes32 local_secret_{};  // for address tokens
  std::uint64_t round_ = 0;
  std::optional<msg::RelayInfo> server_relay_;
  Ipv4Address server_address_;

  std::unique_ptr<Holepuncher> puncher_;
  bool holding_random_punch_ = false;
  std::vector<dht::RequestHandle> requests_;
  core::Timer passive_timer_;
  core::Timer sleep_timer_;
  std::error_code cause_;
  bool finished_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::hyperdht
