// The UDX side of one UDP socket: the registry of local stream ids and the demultiplexer that
// decides, per datagram, whether it belongs to a UDX stream or is raw traffic (dht-rpc, holepunch
// probes) — exactly libudx's rule (spec ../shared/spec/udx.md §1.6): at least 20 bytes, magic
// 0xFF, version 1, and a live stream with the header's id in the UDX instance; anything else is
// raw.
//
// The socket is not owned: a UdxSocket sits on the RpcIo's socket through its other-datagram
// handler (call handle() and return its result), or on a socket of its own through attach().
// Sockets that share a UdxStreamTable form one UDX instance: ids are unique across them and a
// stream's packets are taken on whichever of them they arrive.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/datagram_socket.hpp"
#include "core/runtime.hpp"
#include "core/udx_stream_table.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::core {

class UdxStream;

struct UdxSocketCounters {
  std::uint64_t udx_datagrams = 0;  // consumed by a stream
  std::uint64_t raw_datagrams = 0;  // handed back as not UDX (incl. unknown ids)
};

// Not thread-safe (the runtime's executor). Must outlive its streams' use of it: destroying it
// detaches the streams connected through it, which then send nothing.
class UdxSocket {
 public:
  using RawHandler = std::function<void(ByteView data, const Ipv4Address& from)>;

  // `table` (shared with the instance's other sockets) must outlive the socket; without one the
  // socket is an instance of its own.
  UdxSocket(Runtime& runtime, DatagramSocket& socket, UdxStreamTable* table = nullptr);
  ~UdxSocket();
  UdxSocket(const UdxSocket&) = delete;
  UdxSocket& operator=(const UdxSocket&) = delete;

  // For a socket of its own: installs the socket's receive handler; datagrams that are not UDX
  // go to raw (may be empty).
  void attach(RawHandler raw);
  // The demultiplexer: true if the datagram was consumed by a stream (even if it then dropped
  // it, as libudx does), false if it is raw traffic the caller should handle.
  bool handle(ByteView datagram, const Ipv4Address& from);

  // A plain UDP datagram (socket-level message; no UDX header).
  void send_raw(const Ipv4Address& to, ByteView data, SendOptions options = {});

  // Across the whole instance.
  bool has_stream(std::uint32_t id) const { return table_->contains(id); }
  // Registered streams sending through this socket: created on it, or moved to it by
  // change_remote() or connect(socket, ...) (which take them off their previous socket's count).
  std::size_t stream_count() const noexcept { return own_streams_; }
  // Runs whenever stream_count() drops to 0 (udx-native's 'idle'), from inside the stream call
  // that removed or moved the stream: the handler must not destroy this socket synchronously.
  void set_on_idle(std::function<void()> handler) { on_idle_ = std::move(handler); }
  UdxStreamTable& table() noexcept { return *table_; }
  Runtime& runtime() noexcept { return runtime_; }
  DatagramSocket& socket() noexcept { return socket_; }
  const UdxSocketCounters& counters() const noexcept { return counters_; }

 private:
  friend class UdxStream;
  // Ids are unique per instance; false if taken.
  bool add_stream(std::uint32_t id, UdxStream* stream);
  void remove_stream(std::uint32_t id) noexcept;
  // A registered stream now sends through this socket instead of `from` (same table).
  void adopt_stream(UdxSocket& from) noexcept;

  Runtime& runtime_;
  DatagramSocket& socket_;
  std::unique_ptr<UdxStreamTable> own_table_;
  UdxStreamTable* table_;
  void stream_left() noexcept;

  std::size_t own_streams_ = 0;
  std::function<void()> on_idle_;
  UdxSocketCounters counters_;
};

}  // namespace hdht::core
