// One bound UDP socket as the node sees it: shared by dht-rpc, the holepuncher (1-byte probes,
// per-send TTL) and UDX streams. Implemented on real sockets (AsioRuntime) and on the simulated
// network (SimRuntime).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::core {

struct SendOptions {
  // IP TTL for this datagram only: 0 = the socket's default (the OS's, usually 64); 1..255
  // otherwise. Holepunching sends its low-TTL probes with 5.
  int ttl = 0;
};

// Monotonic counters, for tests and metrics. Every datagram handed to send() ends up in exactly
// one of sent / send_errors / send_dropped (a datagram still queued is in none yet).
struct DatagramCounters {
  std::uint64_t sent_datagrams = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t send_errors = 0;   // refused: socket closed, too large, bad TTL, kernel error
  std::uint64_t send_dropped = 0;  // the socket could not take it (send queue full)
  std::uint64_t received_datagrams = 0;
  std::uint64_t received_bytes = 0;      // bytes delivered (after truncation)
  std::uint64_t received_truncated = 0;  // longer than kReceiveBufferSize, cut (and delivered)
  std::uint64_t received_dropped = 0;    // arrived while no receive handler was set
  std::uint64_t receive_errors = 0;      // kernel receive errors (not datagrams)
};

// Not thread-safe: all calls on the runtime's executor, where the receive handler runs too. The
// owner may destroy the socket from inside its own receive handler. The runtime must outlive it.
class DatagramSocket {
 public:
  // libudx reads into a 2048-byte buffer and silently cuts longer datagrams to that size; both
  // our implementations do the same (and count it in received_truncated), to stay faithful.
  static constexpr std::size_t kReceiveBufferSize = 2048;
  // The largest UDP payload over IPv4; larger sends are send_errors.
  static constexpr std::size_t kMaxDatagramSize = 65507;

  // The view is valid only during the call.
  using ReceiveHandler = std::function<void(ByteView data, const Ipv4Address& from)>;

  DatagramSocket() = default;
  DatagramSocket(const DatagramSocket&) = delete;
  DatagramSocket& operator=(const DatagramSocket&) = delete;
  virtual ~DatagramSocket() = default;

  // Fire and forget: never blocks, never throws for network conditions; outcomes are counted.
  // The bytes are copied (or sent) before it returns.
  void send(const Ipv4Address& to, ByteView data, SendOptions options = {}) {
    do_send(to, data, options);
  }
  // Replaces the handler (takes effect for the next datagram, even from inside a handler).
  // Datagrams arriving while none is set are counted as received_dropped.
  void set_receive_handler(ReceiveHandler handler);
  // The bound address, as bound: host 0.0.0.0 if bound to any, the actual port if bound to 0.
  virtual Ipv4Address local_address() const = 0;
  // Stops sending and receiving; idempotent. Queued sends are dropped (send_dropped).
  virtual void close() = 0;
  virtual bool is_open() const = 0;
  // What the OS knows of the path MTU towards `to`, in IP bytes (libudx udx__get_link_mtu: the
  // local interface's MTU, or a cached smaller path MTU); 0 if unknown. Every socket sends with
  // "don't fragment" (as libudx sets at bind), so UDX's MTU probing must stay within it.
  virtual std::uint32_t path_mtu(const Ipv4Address& to) const {
    (void)to;
    return 0;
  }

  const DatagramCounters& counters() const noexcept { return counters_; }

 protected:
  virtual void do_send(const Ipv4Address& to, ByteView data, SendOptions options) = 0;
  // Counts one datagram and hands it to the handler. The handler may destroy this socket, so a
  // caller must not touch `this` afterwards unless it holds an aliveness token.
  void deliver(ByteView data, const Ipv4Address& from, bool truncated);

  DatagramCounters counters_;

 private:
  std::shared_ptr<ReceiveHandler> handler_;  // shared so a running handler survives replacement
};

}  // namespace hdht::core
