// RpcIo: the request/response layer of a dht-rpc node (the reference's lib/io.js; libtorrent
// would call it rpc_manager). It owns the node's two UDP sockets, matches responses to requests
// by transaction id only, retransmits on a per-transmission timeout, paces sends through the
// congestion window, mints and checks round tokens, and hands decoded requests to the node.
//
// Threading and lifetime: not thread-safe; every call and every callback happens on the
// Runtime's executor. Callbacks of a request run at most once and never after its RequestHandle
// was destroyed or cancelled, or after the RpcIo was destroyed. IncomingRequest objects may be
// kept and answered later (DELAYED_PING, asynchronous handlers); answering one after the RpcIo is
// gone is a harmless no-op.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/congestion_window.hpp"
#include "core/datagram_socket.hpp"
#include "core/rpc_errors.hpp"
#include "core/runtime.hpp"
#include "core/source_rate_limiter.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"
#include "protocol/rpc_message.hpp"
#include "protocol/rpc_token.hpp"

namespace hdht::dht {

using core::DatagramSocket;
using core::Duration;
using core::Runtime;
using core::TimePoint;

class RoutingTable;
class RpcIo;

// A remote endpoint as a packet showed it: its address, and its id only if the packet carried
// an id that matches node_id(address) (dht-rpc validateId); otherwise std::nullopt.
struct Peer {
  std::optional<Bytes32> id;
  Ipv4Address addr;
};

// A response delivered to the requester (the reference's reply object).
struct Reply {
  std::uint16_t tid = 0;
  Duration rtt{};
  Peer from;
  Ipv4Address to;  // our address as the responder saw it (a NAT sample)
  std::optional<Bytes32> token;
  bool has_closer_nodes = false;  // JS: closerNodes !== null
  std::vector<Ipv4Address> closer_nodes;
  std::uint64_t error = 0;
  std::optional<Bytes> value;
};

struct RequestSpec {
  Ipv4Address to;
  std::optional<Bytes32> to_id;  // the id we believe `to` has; a timeout then drops it (ontimeout)
  std::optional<Bytes32> token;
  bool internal = false;
  std::uint64_t command = 0;
  std::optional<Bytes32> target;
  std::optional<Bytes> value;

  int retries = 3;                   // transmissions = retries + 1
  std::optional<Duration> timeout;   // per transmission; default RpcIoConfig::request_timeout
  int ttl = 0;                       // IP TTL for every transmission (0 = OS default)
  DatagramSocket* socket = nullptr;  // default: client socket if firewalled, else server
  bool force = false;                // bypass the congestion window
};

struct RequestCallbacks {
  std::function<void(const Reply&)> on_response;
  // RpcErrc::request_timeout / request_destroyed / io_suspended, or datagram_too_large for a
  // request too large for any peer to read (never sent; see RpcIoStats::oversized_requests).
  std::function<void(std::error_code)> on_error;
  // After each transmission's timeout, before the retry decision (queries mark visits slow).
  std::function<void()> on_cycle;
};

// Owns one in-flight request. Destroying or cancel()ing it withdraws the request silently: no
// callback runs afterwards. Move-only; a default-constructed handle owns nothing.
class RequestHandle {
 public:
  RequestHandle() = default;
  RequestHandle(RequestHandle&&) noexcept;
  RequestHandle& operator=(RequestHandle&&) noexcept;
  RequestHandle(const RequestHandle&) = delete;
  RequestHandle& operator=(const RequestHandle&) = delete;
  ~RequestHandle();

  void cancel() noexcept;
  bool active() const noexcept;  // still in flight
  std::uint16_t tid() const noexcept;
  // Replace the on_cycle hook of a request in flight (the query disarms it after the first cycle).
  void set_on_cycle(std::function<void()> on_cycle);

 private:
  friend class RpcIo;
  struct Slot;  // pooled by the RpcIo; `gen_` tells this request from later users of the slot
  RequestHandle(std::weak_ptr<RpcIo*> io, Slot* slot, std::uint32_t gen, std::uint16_t tid)
      : io_(std::move(io)), slot_(slot), gen_(gen), tid_(tid) {}
  Slot* live_slot() const noexcept;  // the slot if this request is still in flight, else null
  std::weak_ptr<RpcIo*> io_;
  Slot* slot_ = nullptr;
  std::uint32_t gen_ = 0;
  std::uint16_t tid_ = 0;
};

struct ReplyOptions {
  std::optional<bool> token;      // reply(): default true; error(): default false
  bool closer_nodes = true;       // only sent if the request had a target and the list is non-empty
  std::optional<Ipv4Address> to;  // default: the requester
  DatagramSocket* socket = nullptr;  // default: the socket the request arrived on
};

// A decoded request handed to the node. Copyable; answering is idempotent-safe but each call
// sends a datagram (the reference answers retransmissions again, and so does this).
class IncomingRequest {
 public:
  const rpc::Request& message() const noexcept { return msg_; }
  const Peer& from() const noexcept { return from_; }
  // The token, only if it was present and valid (invalid tokens never reach the node).
  const std::optional<Bytes32>& token() const noexcept { return msg_.token; }
  DatagramSocket* socket() const noexcept { return socket_; }
  bool external() const noexcept { return external_; }

  void reply(std::optional<ByteView> value, ReplyOptions opts = {}) const;
  void error(std::uint64_t code, ReplyOptions opts = {}) const;
  // Re-encode this request (same tid, command, internal bit, target; no token; new value) to
  // `to`, fire-and-forget (hyperdht routing).
  void relay(std::optional<ByteView> value, const Ipv4Address& to,
             DatagramSocket* socket = nullptr) const;
  // The internal handlers' unconditional form (dht-rpc sendReply).
  void send_reply(std::uint64_t error, std::optional<ByteView> value, bool token,
                  bool closer_nodes) const;

 private:
  friend class RpcIo;
  std::weak_ptr<RpcIo*> io_;  // expires when the RpcIo is destroyed
  rpc::Request msg_;
  Peer from_;
  DatagramSocket* socket_ = nullptr;
  bool external_ = false;
};

struct RpcIoConfig {
  Ipv4Address bind_host{};  // 0.0.0.0
  std::uint16_t port = 0;   // server socket: p -> [p, p+5); 0 -> any
  std::optional<std::pair<std::uint16_t, std::uint16_t>> port_range;  // [start, end) overrides port
  bool any_port = true;  // fall back to a random port when the range is taken
  bool firewalled = true;
  std::size_t max_window = 80;
  Duration request_timeout = std::chrono::milliseconds(1000);
  Duration drain_interval = std::chrono::milliseconds(750);
  int rotate_secrets_every = 10;     // drains
  std::size_t max_inflight = 65536;  // hard cap (tids are 16 bit); further requests fail at once
  // Incoming requests per source IPv4 host (ours; dht-rpc has none): over the limit a request
  // is dropped unread and unanswered, as a reply to a possibly spoofed source is what a flood
  // wants (FIND_NODE answers ~2.5x its size). Generous, so legitimate use never meets it: a
  // query sends each node it visits one request (up to 3 retries, a commit), upkeep a few a
  // minute; even many nodes behind one NAT, or a network's nodes all starting against one
  // bootstrap node, stay far below 500/s after a burst of 1000 (60 JS nodes and a 5-node daemon
  // on 127.0.0.1, one host to the limit, ran 900 record operations within 100/s: a 5x margin,
  // docs/security.md). It bounds what one host costs (500/s is ~0.25% of a core) and gets
  // reflected to a spoofed victim, not what many hosts do. Either field 0: off.
  core::SourceRateLimit request_rate_limit{.burst = 1000, .per_second = 500};
};

struct RpcIoStats {
  std::uint64_t requests_total = 0, responses = 0, timeouts = 0, retries = 0;
  std::uint64_t active = 0;
  // Per internal command (PING, PING_NAT, FIND_NODE, DOWN_HINT): transmitted requests and
  // matched responses.
  struct Command {
    std::uint64_t tx = 0, rx = 0;
  };
  std::array<Command, 4> commands{};
  std::uint64_t dropped_malformed = 0;  // undecodable datagrams
  std::uint64_t dropped_unmatched = 0;  // responses with no request in flight
  std::uint64_t invalid_tokens = 0;     // requests answered with INVALID_TOKEN
  // Requests dropped unread by the per-host limit (RpcIoConfig::request_rate_limit).
  std::uint64_t rate_limited_requests = 0;
  // Messages longer than a receive buffer (DatagramSocket::kReceiveBufferSize), which no peer
  // could read whole: requests failed with RpcErrc::datagram_too_large instead of being sent, and
  // replies or relays not sent (a reply sheds its closer nodes first if that makes it fit).
  std::uint64_t oversized_requests = 0;
  std::uint64_t oversized_replies = 0;
};

class RpcIo {
 public:
  struct Handlers {
    // A request with a valid (or no) token. `external`: it arrived on the socket the node does
    // not currently use for requests (or on an injected pooled socket).
    std::function<void(const IncomingRequest&)> on_request;
    // Every matched response, before the request's own callback (the node adds the responder
    // to its table and takes a NAT sample).
    std::function<void(const Reply&, bool external)> on_response;
    // A request that failed with REQUEST_TIMEOUT (the node drops spec.to_id from its table).
    std::function<void(const RequestSpec&)> on_timeout;
    // Datagrams that are not dht-rpc messages (UDX packets, 1-byte probes) on either socket.
    // Return true if consumed. Called before decoding.
    std::function<bool(DatagramSocket&, ByteView, const Ipv4Address&)> on_other;
  };

  RpcIo(Runtime& runtime, RpcIoConfig config, Handlers handlers);
  // Fails nothing: in-flight requests are withdrawn silently and no handler runs, so an owner
  // may destroy its RpcIo from its own destructor. Call destroy() first (not from a destructor)
  // when the requests' owners must hear REQUEST_DESTROYED.
  ~RpcIo();
  RpcIo(const RpcIo&) = delete;
  RpcIo& operator=(const RpcIo&) = delete;

  // Binds the server socket (port range, previous port first on rebind) and the client socket,
  // and starts the drain timer. Errors: RpcErrc::bind_failed (with any_port false, or nothing
  // binds).
  Result<void> bind();
  // Fails every in-flight request with IO_SUSPENDED, closes the sockets, stops timers.
  void suspend();
  // Rebinds (previous ports first) and re-sends what was queued.
  Result<void> resume();
  // Fails every in-flight request with REQUEST_DESTROYED (their on_error runs, synchronously,
  // newest-in-list first as in the reference) and closes the sockets. Later request()s return
  // empty handles. Must not be called from an owner's destructor: the callbacks may re-enter it.
  void destroy();

  // Sends a request. Returns an empty handle (and calls nothing) if the RpcIo is destroyed.
  RequestHandle request(RequestSpec spec, RequestCallbacks callbacks);

  // The table the replies' id and closerNodes come from; swapped when the node's id changes.
  void set_table(const RoutingTable* table) noexcept { table_ = table; }
  void set_firewalled(bool v) noexcept { firewalled_ = v; }
  void set_ephemeral(bool v) noexcept { ephemeral_ = v; }
  bool firewalled() const noexcept { return firewalled_; }
  bool ephemeral() const noexcept { return ephemeral_; }

  DatagramSocket* server_socket() noexcept { return server_.get(); }
  DatagramSocket* client_socket() noexcept { return client_.get(); }
  // The socket requests go out on now (client while firewalled, server after).
  DatagramSocket* socket() noexcept { return firewalled_ ? client_.get() : server_.get(); }

  // Packet injection from sockets the RpcIo does not own (hyperdht's pooled punch sockets).
  void on_message(DatagramSocket& socket, ByteView data, const Ipv4Address& from);

  // token(addr, i) of the reference: BLAKE2b-256(host, key = secret[i]).
  Bytes32 token(const Ipv4Address& addr, int i);

  std::size_t inflight() const noexcept;
  const RpcIoStats& stats() const noexcept { return stats_; }
  const CongestionWindow& congestion() const noexcept { return congestion_; }
  // Source hosts the request limit currently tracks (at most SourceRateLimiter::kMaxHosts).
  std::size_t rate_limited_hosts() const noexcept;

 private:
  // Implementation detail; declared here so RequestHandle/IncomingRequest can reach it.
  friend class RequestHandle;
  friend class IncomingRequest;
  struct Impl;
  std::unique_ptr<Impl> impl_;

  Runtime& runtime_;
  RpcIoConfig config_;
  Handlers handlers_;
  const RoutingTable* table_ = nullptr;
  bool firewalled_;
  bool ephemeral_ = true;
  std::unique_ptr<DatagramSocket> server_;
  std::unique_ptr<DatagramSocket> client_;
  CongestionWindow congestion_;
  RpcIoStats stats_;
  std::shared_ptr<RpcIo*> alive_;  // IncomingRequest holds a weak_ptr to this
};

}  // namespace hdht::dht
