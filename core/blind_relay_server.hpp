// BlindRelayServer: the relay side of blind-relay 1.6.1 (spec ../shared/spec/hyperdht.md §6).
// Each accepted secret stream is a session: protomux channel "blind-relay" with id = the peer's
// public key. Sessions send pair{isInitiator, token, id}; once one initiator and one
// non-initiator sent the same token (from any sessions), the server creates two UDX streams
// (through CreateStream, on the node's UDX socket), makes each relay to the other, lets each
// connect to whoever sends it the first packet (with the remote id its session gave), and
// answers each side with pair{isInitiator, token, id: its relay stream's id, seq 0}. unpair
// cancels a pending pairing or tears down an active one; a session closing cancels its pending
// pairings and destroys its links, as the reference does.
//
// Beyond the reference (which bounds nothing): at most max_pending_per_session pending pairings
// per session and max_pending_total in all (further pairs are ignored and counted as refused),
// a pending pairing is dropped after pairing_timeout (the clients give up after 15 s anyway),
// and at most max_sessions sessions (further streams are destroyed). A session whose channel
// closes has its stream ended (the reference leaves it open, unused).
//
// Lifetime: owns the sessions (and their streams) and the relay streams. Destroying the server
// drops everything without callbacks (relayed peers are not told; their streams time out). Not
// thread-safe: the runtime's executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>

#include "core/protomux_session.hpp"
#include "core/runtime.hpp"
#include "core/secret_stream.hpp"
#include "core/timer.hpp"
#include "core/udx_stream.hpp"
#include "protocol/bytes.hpp"
#include "protocol/protomux.hpp"
#include "protocol/result.hpp"

namespace hdht::hyperdht {

struct BlindRelayLimits {
  std::size_t max_sessions = 1024;
  std::size_t max_pending_per_session = 64;
  std::size_t max_pending_total = 4096;
  core::Duration pairing_timeout = std::chrono::seconds(30);
};

// The reference's stats, plus our caps and the forwarding counters.
struct BlindRelayStats {
  std::uint64_t sessions_accepted = 0;
  std::uint64_t sessions_opened = 0;  // the peer opened the channel too
  std::uint64_t sessions_closed = 0;
  std::uint64_t sessions_refused = 0;  // over max_sessions
  std::uint64_t pairings_requested = 0;
  std::uint64_t pairings_matched = 0;
  std::uint64_t pairings_cancelled = 0;
  std::uint64_t pairings_pending = 0;
  std::uint64_t pairings_active = 0;
  std::uint64_t pairings_refused = 0;    // over the pending caps
  std::uint64_t pairings_timed_out = 0;  // pending longer than pairing_timeout
  std::uint64_t streams_opened = 0;
  std::uint64_t streams_closed = 0;
  std::uint64_t packets_relayed = 0;  // UDX packets forwarded, both directions
  std::uint64_t bytes_relayed = 0;
};

class BlindRelayServer {
 public:
  // dht.createRawStream({firewall}): a new UDX stream with a free id on the node's socket.
  using CreateStream =
      std::function<Result<std::unique_ptr<core::UdxStream>>(core::UdxStream::Handlers)>;

  BlindRelayServer(core::Runtime& runtime, CreateStream create_stream,
                   BlindRelayLimits limits = {});
  ~BlindRelayServer();
  BlindRelayServer(const BlindRelayServer&) = delete;
  BlindRelayServer& operator=(const BlindRelayServer&) = delete;

  // relay.accept(stream, {id: stream.remotePublicKey}).
  void accept(std::unique_ptr<core::SecretStream> stream);
  // Destroys every session and relay link.
  void close();

  BlindRelayStats stats() const;
  std::size_t session_count() const noexcept { return sessions_.size(); }
  std::size_t pending_count() const noexcept { return pending_.size(); }
  std::size_t link_count() const noexcept { return links_.size(); }

 private:
  struct Session;
  struct PendingEnd {
    Session* session = nullptr;
    std::uint64_t remote_id = 0;
  };
  struct Pending {
    std::optional<PendingEnd> ends[2];  // [isInitiator]
    std::unique_ptr<core::Timer> timeout;
  };
  struct LinkEnd {
    Session* session = nullptr;
    std::uint64_t remote_id = 0;
    std::unique_ptr<core::UdxStream> stream;
    bool closed = false;
  };
  // Two relay streams forwarding to each other (the reference's pair of BlindRelayLinks).
  struct Link {
    Bytes32 token{};
    std::uint64_t serial = 0;  // names the link in posted work (iterators may be gone by then)
    LinkEnd ends[2];           // [isInitiator]
  };
  using LinkIt = std::list<Link>::iterator;

  void on_pair(Session& s, const protomux::RelayPair& m);
  void on_unpair(Session& s, const Bytes32& token);
  void match(const Bytes32& token, Pending pending);
  bool activate(Link& link, bool is_initiator);
  void on_link_stream_close(LinkIt link, bool is_initiator);
  void destroy_link(LinkIt link);
  void drop_pending(const Bytes32& token);
  void on_session_channel_close(Session& s);
  void remove_session(Session& s);

  core::Runtime& runtime_;
  CreateStream create_stream_;
  BlindRelayLimits limits_;
  std::list<std::unique_ptr<Session>> sessions_;
  std::map<Bytes32, Pending> pending_;
  std::list<Link> links_;
  std::uint64_t link_serial_ = 0;
  BlindRelayStats stats_;  // packets/bytes of links already gone
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::hyperdht
