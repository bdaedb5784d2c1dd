// What a hyperdht Server is configured with and what it counts (lib/server.js constructor
// options and the server's share of dht.stats).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/holepuncher.hpp"
#include "core/nat_analyzer.hpp"
#include "core/runtime.hpp"
#include "core/server_rate_limit.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/noise_payload.hpp"

namespace hdht::hyperdht {

struct ServerOptions {
  // opts.firewall: true rejects the client (no reply at all). Default: accept.
  std::function<bool(const Bytes32& remote_public_key, const msg::NoisePayload& remote_payload,
                     const Ipv4Address& client_address)>
      firewall;
  // opts.holepunch as a function: false refuses to punch with this remote. Default: punch.
  std::function<bool(Firewall remote, Firewall local,
                     const std::vector<RemoteAddress>& remote_addresses,
                     const std::optional<std::vector<Ipv4Address>>& local_addresses)>
      holepunch;
  bool share_local_address = true;  // opts.shareLocalAddress
  // opts.reusableSocket: advertised in msg2; with the client's too, a route to the client is
  // kept on the socket the connection was made on (node.socket_pool().routes()).
  bool reusable_socket = false;
  bool never_punch = false;  // opts.holepunch === false
  core::Duration handshake_clear_wait = std::chrono::milliseconds(10000);  // handshakeClearWait
  // Ours: new handshakes per client host (burst 0 disables).
  HandshakeRateLimit rate_limit;
  // Ours (the reference bounds neither): handshakes held at once, in progress or finished and
  // kept for handshake_clear_wait to answer retransmissions (handshakes_held()). A new msg1 that
  // finds them all taken is dropped before any crypto, like a lost datagram: the client's
  // request retries, then its connect fails. A valid msg1 nobody follows up holds ~16 KiB (its
  // UDX stream; ~20 KiB with a holepuncher) for 20 s (10 s waiting, 10 s kept), so 1024 bound a
  // flood of them to ~20 MiB per server, while a connected handshake's slot is held 10 s: ~100
  // new connects/s per server sustained, more in bursts (the connect benchmark's 260 connects at
  // ~250/s fit). 0: no limit.
  std::size_t max_handshakes = 1024;
  // Ours: rejected msg1s remembered (RejectedHandshakes, ~60 bytes each: ~1 MiB) so a copy is
  // not decrypted again; beyond it the oldest are forgotten early. 0: none remembered.
  std::size_t max_rejected_remembered = 16384;
  // opts.relayThrough: a blind relay's public key, asked per handshake (nullopt: none). Ours
  // wins over the client's (spec §6).
  std::function<std::optional<Bytes32>()> relay_through;
  // opts.relayKeepAlive: the keep-alive of the connection to the relay.
  core::Duration relay_keep_alive = std::chrono::milliseconds(5000);
};

struct ServerStats {
  std::uint64_t handshakes = 0;            // PEER_HANDSHAKE messages given to the server
  std::uint64_t deduped = 0;               // a msg1 seen before (held or rejected): same reply
  std::uint64_t invalid = 0;               // msg1 that did not decrypt or decode
  std::uint64_t firewall_rejected = 0;     // the firewall callback said no
  std::uint64_t rate_limited = 0;          // dropped by the per-host limit
  std::uint64_t handshake_slots_full = 0;  // dropped: max_handshakes were held
  std::uint64_t error_replies = 0;         // replied with VERSION_MISMATCH / ABORTED
  std::uint64_t connections = 0;           // secret streams handed to on_connection
  std::uint64_t holepunches = 0;           // PEER_HOLEPUNCH messages given to the server
  std::uint64_t holepunch_replies = 0;     // answered (including aborts)
  std::uint64_t aborts = 0;                // handshakes given up (timeout, abort, punch failure)
  // dht.stats.relaying: blind relay pairings started, paired (connections through the relay),
  // aborted; relayed streams moved to a direct path later.
  std::uint64_t relay_attempts = 0;
  std::uint64_t relay_successes = 0;
  std::uint64_t relay_aborts = 0;
  std::uint64_t upgrades = 0;
  std::uint64_t routes_added = 0;       // connections both sides made reusable (a route kept)
  std::uint64_t direct_handshakes = 0;  // msg1 sent to us directly (a client's route retry)
};

// server.address(): the key and the node's address as the NAT sampler saw it (host empty and
// port 0 while unknown, the reference's null host).
struct ServerAddress {
  Bytes32 public_key{};
  std::string host;
  std::uint16_t port = 0;
};

}  // namespace hdht::hyperdht
