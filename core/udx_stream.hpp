// One UDX reliable stream (libudx udx_stream_t; spec ../shared/spec/udx.md §2, §3, §5): ordered
// bytes both ways over a UdxSocket, packet sequence numbers with cumulative ack + SACK, RTO as
// libudx computes it (UdxRtt), RACK loss detection and RTO retransmission, the peer's receive
// window with zero-window HEARTBEAT probes, END half-close, DESTROY, unordered messages.
//
// Also tail loss probes, keepalive, BBR v1 congestion control (UdxCongestion: UdxRateSampler +
// UdxBbr), token-bucket pacing (UdxPacer) and MTU probing from 1200 up to 1500 bytes
// (UdxMtuProber), changing the remote (change_remote, for hyperdht's relay → direct upgrade),
// relaying (relay_to, libudx udx_stream_relay_to: the blind relay's forwarding).
//
// Lifetime: the owner may destroy the stream at any time, including from inside any of its
// handlers; after that no handler runs. Destroying a connected, open stream sends a DESTROY
// (abortive close) without calling on_close. All calls on the runtime's executor.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/timer.hpp"
#include "core/udx_byte_ring.hpp"
#include "core/udx_congestion.hpp"
#include "core/udx_mtu.hpp"
#include "core/udx_pacer.hpp"
#include "core/udx_rtt.hpp"
#include "core/udx_seq_bitmap.hpp"
#include "core/udx_socket.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"
#include "protocol/udx_packet.hpp"

namespace hdht::core {

inline constexpr std::uint32_t kUdxDefaultRwnd = 4194304;  // UDX_DEFAULT_RWND_MAX
inline constexpr std::size_t kUdxHighWatermark = 262144;   // UDX_HIGH_WATERMARK
inline constexpr std::uint32_t kUdxMaxRtoTimeouts = 6;     // UDX_MAX_RTO_TIMEOUTS
// Out-of-order packets further ahead than this are dropped (libudx has no bound; a JS sender
// never has more than rwnd / payload ~ 3700 packets in flight).
inline constexpr std::uint32_t kUdxMaxReorder = 65536;
// Bytes held for the application (paused reader) or out of order beyond which incoming DATA is
// dropped unacked. A peer that honours our window never gets near it; one that does not cannot
// make us buffer without limit (libudx has no such bound).
inline constexpr std::size_t kUdxMaxHeldBytes = 2 * std::size_t{4194304};

enum class UdxStreamState {
  unconnected,  // created; packets reach it only through its firewall hook
  connected,    // remote known; data flows
  closed,       // ended both ways, destroyed, reset or timed out; sends nothing
};

struct UdxStreamCounters {
  std::uint64_t packets_sent = 0;  // DATA/END first transmissions
  std::uint64_t retransmits = 0;
  std::uint64_t acks_sent = 0;  // state and SACK packets
  std::uint64_t packets_received = 0;
  std::uint64_t duplicates_received = 0;
  std::uint64_t dropped_over_limit = 0;  // DATA dropped by kUdxMaxReorder / kUdxMaxHeldBytes
  std::uint64_t rto_expiries = 0;
  std::uint64_t fast_recoveries = 0;
  std::uint64_t sack_blocks_received = 0;
  std::uint64_t invalid_sack_blocks = 0;
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t tail_loss_probes = 0;
  std::uint64_t recovery_probes = 0;  // ours: a resent hole that nothing else could show lost
  std::uint64_t bytes_delivered = 0;
  std::uint64_t bytes_acked = 0;
  std::uint64_t pacing_waits = 0;  // the pacing budget ran out and the 1 ms timer was armed
  std::uint64_t mtu_probes_sent = 0;
  std::uint64_t mtu_probes_acked = 0;
  std::uint64_t mtu_probes_lost = 0;
  std::uint64_t packets_relayed = 0;  // forwarded by relay_to (sent on to the destination)
  std::uint64_t bytes_relayed = 0;    // their UDX sizes
};

class UdxStream {
 public:
  struct Handlers {
    // In-order stream bytes; the view is valid only during the call.
    std::function<void(ByteView)> on_data;
    // The peer's END: no more data will arrive.
    std::function<void()> on_end;
    // write() returned false earlier and the send buffer has drained below the high-water mark.
    std::function<void()> on_drain;
    // An unordered MESSAGE packet (may be empty).
    std::function<void(ByteView)> on_message;
    // Exactly once when the stream closes: empty on a clean END/END close or a local destroy(),
    // connection_reset for a DESTROY from the peer, timed_out after the RTO limit.
    std::function<void(std::error_code)> on_close;
    // A packet for this stream arrived while it is unconnected, or on another socket of the
    // instance than the one it is connected through (libudx's `stream->socket != socket`):
    // return true to drop it. Without a hook an unconnected stream drops (udx-native's
    // firewallAll) and a connected one processes. The hook may connect() the stream, which is
    // how hyperdht learns the peer's address (spec §2.3), or change_remote() it (a punched path
    // under a relayed stream). `socket` is the instance's socket the packet arrived on
    // (udx-native's firewall(socket, port, host)).
    std::function<bool(UdxSocket& socket, const Ipv4Address& from)> on_firewall;
  };

  // Registers `id` on the socket: address_in_use if taken.
  static Result<std::unique_ptr<UdxStream>> create(UdxSocket& socket, std::uint32_t id,
                                                   Handlers handlers = {});
  ~UdxStream();
  UdxStream(const UdxStream&) = delete;
  UdxStream& operator=(const UdxStream&) = delete;

  void set_handlers(Handlers handlers) { handlers_ = std::move(handlers); }
  Handlers& handlers() noexcept { return handlers_; }
  // Runs `hook` when the stream closes, before on_close and whoever set it, the most recently
  // added first. For what a stream must tell or keep alive besides its owner (a relay
  // connection, a connect session, a socket route); the hooks go with the stream object if it
  // never closes, and survive set_handlers().
  void add_close_hook(std::function<void(std::error_code)> hook);

  // Local only, nothing is sent (spec §2.2); sends an ack owed to data that came before.
  // Errors: already_connected, not_connected if closed.
  Result<void> connect(std::uint32_t remote_id, const Ipv4Address& remote);
  // udx-native's stream.connect(socket, remoteId, port, host): as above, but the stream moves to
  // `socket` first (another socket of the same UDX instance, i.e. the same UdxStreamTable) and
  // sends through it from now on. Errors: as above, invalid_argument for a socket of another
  // instance.
  Result<void> connect(UdxSocket& socket, std::uint32_t remote_id, const Ipv4Address& remote);
  // Queues bytes (copied). The value is false when the send buffer is above the high-water
  // mark: write no more until on_drain. Errors: not_connected, broken_pipe after end().
  Result<bool> write(ByteView data);
  // Half close: END follows the queued bytes. Errors as write().
  Result<void> end();
  // Abortive close: one DESTROY if connected, then closed with on_close({}).
  void destroy();
  // One unordered MESSAGE datagram (at most 2028 bytes reach a udx-native peer whole).
  Result<void> send_message(ByteView data);
  // libudx udx_stream_change_remote / udx-native changeRemote (spec §2.8): from now on the
  // stream sends through `socket` (same UDX instance: same UdxStreamTable) to `remote_id` at
  // `remote`; new packets carry the new id to the new address, while every packet already sent
  // keeps the id and address it first went to, so its retransmissions take the old path (they
  // leave through the new socket, as libudx's do). The MTU drops back to 1200, not searching.
  // True: nothing was unacked, the change is complete and on_changed is NOT called (udx-native's
  // null return; no re-entrant callback). False: deferred until an ack covers everything sent
  // before the change; then on_changed runs once (it may destroy the stream), with MTU probes
  // suppressed meanwhile. If the stream closes first, on_changed never runs (on_close does).
  // A callback per call rather than a handler, as libudx's and udx-native's promise are.
  // Errors: not_connected unless connected, invalid_argument for a socket of another instance
  // or port 0, operation_in_progress while a change is pending (udx-native throws too).
  Result<bool> change_remote(UdxSocket& socket, std::uint32_t remote_id, const Ipv4Address& remote,
                             std::function<void()> on_changed = {});

  // libudx udx_stream_relay_to: from now on every packet for this stream (after its firewall
  // hook, while unconnected) is forwarded unprocessed to `destination`'s remote with the header's
  // id rewritten to destination's remote id, through destination's socket; dropped while the
  // destination is not connected. A forwarded DESTROY closes this stream (connection_reset).
  // When either stream closes or is destroyed, every stream relaying to it is closed silently
  // (destroy() of a relaying stream sends no DESTROY: the peer's own DESTROY went through).
  // Errors: invalid_argument if this stream already relays or `destination` is closed.
  Result<void> relay_to(UdxStream& destination);
  bool relaying() const noexcept { return relay_to_ != nullptr; }

  // Flow control: while paused, in-order bytes are kept and the advertised window shrinks by
  // their size, which stops the peer at zero; resume delivers them (and then END, if it came).
  void pause_reading();
  void resume_reading();
  // libudx's keepalive (spec §2.7): while connected with nothing in flight, a HEARTBEAT every
  // `interval` (0 = off). The peer answers with a state packet (udx-native >= 1.20.1).
  void set_keepalive(Duration interval);

  std::uint32_t id() const noexcept { return id_; }
  // The socket it sends through (null once closed): where a stream relayed by the same relay
  // connects (spec hyperdht.md §6 step 5).
  UdxSocket* socket() const noexcept { return socket_; }
  std::uint32_t remote_id() const noexcept { return remote_id_; }
  const Ipv4Address& remote() const noexcept { return remote_; }
  UdxStreamState state() const noexcept { return state_; }
  // A change_remote() is waiting for the old path's packets to be acked.
  bool remote_changing() const noexcept { return remote_changing_; }
  bool write_ended() const noexcept { return write_ended_; }
  bool read_ended() const noexcept { return read_ended_; }
  const UdxRtt& rtt() const noexcept { return rtt_; }
  std::uint32_t cwnd() const noexcept { return cc_.cwnd(); }
  std::uint32_t packets_in_flight() const noexcept { return inflight_; }
  std::size_t send_buffered() const noexcept { return send_buf_.size(); }
  std::uint32_t local_rwnd() const noexcept;
  std::uint32_t peer_rwnd() const noexcept { return send_rwnd_; }
  // Stream bytes per packet at the current MTU (1152 at 1200, 1452 at 1500).
  std::uint32_t max_payload() const noexcept { return mtu_.max_payload(); }
  std::uint32_t mtu() const noexcept { return mtu_.mtu(); }
  const UdxMtuProber& mtu_prober() const noexcept { return mtu_; }
  const UdxCongestion& congestion() const noexcept { return cc_; }
  std::uint64_t pacing_bytes_per_ms() const noexcept { return cc_.pacing_bytes_per_ms(); }
  const UdxStreamCounters& counters() const noexcept { return counters_; }
  asio::any_io_executor runtime_executor() { return runtime_.executor(); }

 private:
  friend class UdxSocket;

  struct SentPacket {
    std::uint64_t offset = 0;  // of its first byte in the send buffer
    std::uint32_t len = 0;
    std::uint32_t seq = 0;
    std::int64_t sent_us = 0;
    std::uint64_t xmit = 0;  // order of its last transmission among all of this stream's
    bool end = false;
    bool retransmitted = false;
    bool sacked = false;
    bool lost = false;  // waiting in retransmit_
    bool in_flight = false;
    bool mtu_probe = false;    // sent padded to the size being probed
    std::uint8_t padding = 0;  // data offset of the next transmission (0 once a probe is lost)
    std::uint8_t rto_count = 0;
    UdxRatePacket rate;  // delivery state at the last transmission
    // Where it first went: a retransmission after change_remote() must reach the peer by the
    // path the original took (libudx pins pkt->remote_addr and the header's id).
    Ipv4Address to;
    std::uint32_t remote_id = 0;
  };

  struct OutOfOrder {
    Bytes data;
    bool end = false;
  };

  UdxStream(UdxSocket& socket, std::uint32_t id, Handlers handlers);

  // From UdxSocket.
  void on_datagram(UdxSocket& via, ByteView datagram, const Ipv4Address& from);
  // The firewall step (unconnected, or on another socket): false to drop (rejected, or the
  // stream closed or was destroyed inside the hook).
  bool admit(UdxSocket& via, const Ipv4Address& from);
  // The relay path of on_datagram (libudx relay_packet).
  void relay_datagram(ByteView datagram);
  // Unlinks this stream from relaying both ways and closes the streams relaying to it (libudx
  // close_stream); false if that destroyed this stream.
  bool unlink_relays();
  void detach_socket() noexcept;

  // Receiving. Each returns false if the stream was destroyed or closed inside a handler.
  bool accept_data(std::uint32_t seq, ByteView payload, bool end);
  bool deliver(ByteView payload);
  void drop_out_of_order() noexcept;
  bool process_ack(const udx::Packet& packet);
  void on_packet_delivered(SentPacket& p, std::int64_t now_us);
  void detect_losses(std::int64_t now_us, bool on_rto);
  // True if p was an MTU probe (whose loss is no sign of congestion).
  bool mark_lost(SentPacket& p);
  bool after_write_side_acked();

  // Sending.
  void schedule_flush();
  void flush();
  void send_new_packet(std::int64_t now_us, std::uint32_t len, bool end, bool tlp = false);
  void resend(SentPacket& p, std::int64_t now_us);
  // Stamps p for rate sampling and informs BBR; before/after the datagram leaves.
  void before_transmit(SentPacket& p, std::int64_t now_us, bool retransmit);
  void transmit(const SentPacket& p);
  bool pacing_allows(std::int64_t now_us);
  UdxBbrContext bbr_context(std::int64_t now_us) const noexcept;
  void send_state();
  void send_heartbeat();
  udx::Header header(std::uint8_t type, std::uint32_t seq) const;
  std::size_t high_watermark() const noexcept;
  std::uint32_t send_window_packets() const noexcept;

  // Timers.
  void arm_rto(std::uint32_t ms);
  void on_rto();
  void arm_tlp();
  void on_tlp();
  bool recovery_probe_wanted() const;
  void send_recovery_probe(std::int64_t now_us);
  void on_zero_window_probe();
  void arm_keepalive();

  // Returns false if the stream no longer exists after calling fn.
  template <class Fn>
  bool call(Fn&& fn);
  void close(std::error_code ec);
  std::int64_t now_us() const;
  std::int64_t min_rtt_ms() const noexcept;

  UdxSocket* socket_;
  Runtime& runtime_;
  std::uint32_t id_;
  Handlers handlers_;
  std::vector<std::function<void(std::error_code)>> close_hooks_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);

  UdxStreamState state_ = UdxStreamState::unconnected;
  std::uint32_t remote_id_ = 0;
  Ipv4Address remote_;
  bool remote_changing_ = false;
  std::uint32_t seq_on_remote_changed_ = 0;  // an ack at or past it completes the change
  std::function<void()> on_remote_changed_;

  // Send side.
  UdxByteRing send_buf_;           // written, not yet acked
  std::uint64_t next_offset_ = 0;  // first byte not yet packetised
  bool end_queued_ = false;
  bool end_sent_ = false;
  bool write_ended_ = false;
  bool flush_scheduled_ = false;
  bool above_hwm_ = false;
  std::uint32_t seq_ = 0;           // next seq to send (SND.NXT)
  std::uint32_t remote_acked_ = 0;  // SND.UNA
  std::deque<SentPacket> sent_;     // seq remote_acked_ + i
  std::deque<std::uint32_t> retransmit_;
  std::uint32_t inflight_ = 0;
  std::uint32_t sacked_ = 0;
  std::uint32_t send_rwnd_ = kUdxDefaultRwnd;
  std::uint32_t wl1_ = 0, wl2_ = 0;
  UdxCaState loss_state_ = UdxCaState::open;
  std::uint32_t high_seq_ = 0;
  std::uint64_t lost_total_ = 0;  // packets ever marked lost (per-ack deltas feed BBR)
  UdxRtt rtt_;
  UdxMtuProber mtu_;
  UdxCongestion cc_;
  UdxPacer pacer_;
  Timer pacing_timer_;
  std::int64_t min_rtt_us_ = -1;
  std::int64_t rack_sent_us_ = -1;
  std::uint64_t rack_xmit_ = 0;
  std::uint64_t xmit_count_ = 0;  // transmissions so far: SentPacket::xmit
  std::int64_t rack_rtt_us_ = 0;
  bool reordering_seen_ = false;
  std::uint32_t zwp_backoff_ms_ = 0;
  bool tlp_outstanding_ = false;  // a probe was sent and no RTT sample has come since
  // The cumulative ack at the last recovery probe and how many were sent at that value.
  static constexpr std::uint32_t kMaxRecoveryProbes = 2;
  std::optional<std::uint32_t> recovery_probe_at_;
  std::uint32_t recovery_probes_here_ = 0;
  Timer rto_timer_;
  Timer rack_timer_;
  Timer tlp_timer_;
  Timer zwp_timer_;
  Duration keepalive_{0};
  Timer keepalive_timer_;

  // Receive side.
  std::uint32_t ack_ = 0;  // RCV.NXT
  std::unordered_map<std::uint32_t, OutOfOrder> ooo_;
  UdxSeqBitmap ooo_bits_;  // the keys of ooo_, for SACK generation
  std::size_t ooo_bytes_ = 0;
  bool remote_end_seen_ = false;  // END delivered in order
  bool read_ended_ = false;       // on_end emitted
  bool ack_owed_ = false;
  bool paused_ = false;
  UdxByteRing recv_buf_;  // in-order bytes held while paused

  // Relaying: the stream we forward to, and the streams forwarding to us (not owned; each
  // unlinks itself when it closes or is destroyed).
  UdxStream* relay_to_ = nullptr;
  bool relayed_ = false;  // relay_to() was called once (libudx's `relayed`: no DESTROY on close)
  std::vector<UdxStream*> relaying_from_;

  std::array<std::uint8_t, udx::kReceiveBufferSize> out_{};
  UdxStreamCounters counters_;
};

}  // namespace hdht::core
