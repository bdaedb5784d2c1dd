#include "core/udx_stream.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include <boost/asio/post.hpp>

namespace hdht::core {

namespace {

std::uint32_t ms_of(std::int64_t us) {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(us / 1000, 0, std::numeric_limits<std::uint32_t>::max()));
}

// Congestion control runs on a 1 ms clock, as libudx's does on libuv's loop time: its
// constants (1 ms minimum RTT, once-per-ms pacing refill) assume that resolution.
std::int64_t clock_ms(std::int64_t us) {
  return us / 1000;
}

std::int64_t now_us_of(Runtime& rt) {
  return std::chrono::duration_cast<std::chrono::microseconds>(rt.now().time_since_epoch()).count();
}

}  // namespace

template <class Fn>
bool UdxStream::call(Fn&& fn) {
  const std::weak_ptr<int> alive = alive_;
  fn();
  return !alive.expired() && state_ != UdxStreamState::closed;
}

Result<std::unique_ptr<UdxStream>> UdxStream::create(UdxSocket& socket, std::uint32_t id,
                                                     Handlers handlers) {
  if (socket.has_stream(id)) return std::make_error_code(std::errc::address_in_use);
  std::unique_ptr<UdxStream> s(new UdxStream(socket, id, std::move(handlers)));
  socket.add_stream(id, s.get());
  return s;
}

UdxStream::UdxStream(UdxSocket& socket, std::uint32_t id, Handlers handlers)
    : socket_(&socket),
      runtime_(socket.runtime()),
      id_(id),
      handlers_(std::move(handlers)),
      cc_(clock_ms(now_us_of(runtime_)), kUdxMtuBase - kUdxIpv4Overhead),
      pacer_(clock_ms(now_us_of(runtime_))),
      pacing_timer_(runtime_),
      rto_timer_(runtime_),
      rack_timer_(runtime_),
      tlp_timer_(runtime_),
      zwp_timer_(runtime_),
      keepalive_timer_(runtime_) {}

UdxStream::~UdxStream() {
  // The streams relaying to this one close (their on_close may run here, as in libudx, where
  // destroying a stream destroys its relayers).
  if (state_ != UdxStreamState::closed) unlink_relays();
  if (state_ == UdxStreamState::connected && socket_ != nullptr && !relayed_) {
    // Abortive close so the peer does not wait 13 s of RTOs for us.
    const std::size_t n = udx::encode_destroy(out_, header(udx::kDestroy, seq_));
    socket_->socket().send(remote_, ByteView(out_.data(), n));
  }
  if (socket_ != nullptr) socket_->remove_stream(id_);
}

void UdxStream::detach_socket() noexcept {
  // Without a socket nothing is forwarded either way; unlink without closing anyone (no
  // callbacks from a socket's destructor).
  if (relay_to_ != nullptr) std::erase(relay_to_->relaying_from_, this);
  relay_to_ = nullptr;
  for (UdxStream* s : relaying_from_)
    s->relay_to_ = nullptr;
  relaying_from_.clear();
  socket_ = nullptr;
  state_ = UdxStreamState::closed;
  rto_timer_.cancel();
  rack_timer_.cancel();
  tlp_timer_.cancel();
  zwp_timer_.cancel();
  keepalive_timer_.cancel();
  pacing_timer_.cancel();
}

std::int64_t UdxStream::now_us() const {
  return now_us_of(runtime_);
}

std::int64_t UdxStream::min_rtt_ms() const noexcept {
  return min_rtt_us_ < 0 ? kUdxNoMinRtt : clock_ms(min_rtt_us_);
}

UdxBbrContext UdxStream::bbr_context(std::int64_t now) const noexcept {
  UdxBbrContext ctx;
  ctx.now_ms = clock_ms(now);
  ctx.inflight = inflight_;
  ctx.max_payload = max_payload();
  ctx.srtt_ms = rtt_.srtt();
  ctx.ca_state = loss_state_;
  return ctx;
}

std::uint32_t UdxStream::local_rwnd() const noexcept {
  const std::size_t held = recv_buf_.size();
  return held >= kUdxDefaultRwnd ? 0 : kUdxDefaultRwnd - static_cast<std::uint32_t>(held);
}

// ---- public API ----------------------------------------------------------------------------

Result<void> UdxStream::connect(std::uint32_t remote_id, const Ipv4Address& remote) {
  if (state_ == UdxStreamState::closed) return std::make_error_code(std::errc::not_connected);
  if (state_ == UdxStreamState::connected)
    return std::make_error_code(std::errc::already_connected);
  remote_id_ = remote_id;
  remote_ = remote;
  state_ = UdxStreamState::connected;
  if (socket_ != nullptr) mtu_.set_path_limit(socket_->socket().path_mtu(remote));
  if (ack_owed_) {
    ack_owed_ = false;
    send_state();
  }
  arm_keepalive();
  return {};
}

Result<void> UdxStream::connect(UdxSocket& socket, std::uint32_t remote_id,
                                const Ipv4Address& remote) {
  if (state_ == UdxStreamState::closed || socket_ == nullptr)
    return std::make_error_code(std::errc::not_connected);
  if (state_ == UdxStreamState::connected)
    return std::make_error_code(std::errc::already_connected);
  // Ids are only unique within an instance: on another table ours could collide.
  if (&socket.table() != &socket_->table())
    return std::make_error_code(std::errc::invalid_argument);
  if (&socket != socket_) {
    UdxSocket& previous = *socket_;
    socket_ = &socket;  // before the previous socket's idle handler can look at us
    socket.adopt_stream(previous);
  }
  return connect(remote_id, remote);
}

Result<bool> UdxStream::write(ByteView data) {
  if (state_ != UdxStreamState::connected) return std::make_error_code(std::errc::not_connected);
  if (end_queued_) return std::make_error_code(std::errc::broken_pipe);
  send_buf_.append(data);
  schedule_flush();
  if (send_buf_.size() >= high_watermark()) {
    above_hwm_ = true;
    return false;
  }
  return true;
}

Result<void> UdxStream::end() {
  if (state_ != UdxStreamState::connected) return std::make_error_code(std::errc::not_connected);
  if (end_queued_) return std::make_error_code(std::errc::broken_pipe);
  end_queued_ = true;
  schedule_flush();
  return {};
}

void UdxStream::destroy() {
  if (state_ == UdxStreamState::closed) return;
  // A relaying stream never speaks for itself: its peer's DESTROY, if any, went through.
  if (state_ == UdxStreamState::connected && socket_ != nullptr && !relayed_) {
    const std::size_t n = udx::encode_destroy(out_, header(udx::kDestroy, seq_));
    ++seq_;  // DESTROY consumes a seq (spec §2.5)
    socket_->socket().send(remote_, ByteView(out_.data(), n));
  }
  close({});
}

Result<void> UdxStream::send_message(ByteView data) {
  if (state_ != UdxStreamState::connected || socket_ == nullptr)
    return std::make_error_code(std::errc::not_connected);
  if (data.size() > out_.size() - udx::kHeaderSize)
    return std::make_error_code(std::errc::message_size);
  const std::size_t n = udx::encode_message(out_, header(udx::kMessage, seq_), data);
  socket_->socket().send(remote_, ByteView(out_.data(), n));
  return {};
}

Result<bool> UdxStream::change_remote(UdxSocket& socket, std::uint32_t remote_id,
                                      const Ipv4Address& remote, std::function<void()> on_changed) {
  if (state_ != UdxStreamState::connected || socket_ == nullptr)
    return std::make_error_code(std::errc::not_connected);
  // Ids are only unique within an instance: on another table ours could collide.
  if (&socket.table() != &socket_->table() || remote.port == 0)
    return std::make_error_code(std::errc::invalid_argument);
  if (remote_changing_) return std::make_error_code(std::errc::operation_in_progress);
  remote_id_ = remote_id;
  remote_ = remote;
  if (&socket != socket_) {
    UdxSocket& previous = *socket_;
    socket_ = &socket;  // before the previous socket's idle handler can look at us
    socket.adopt_stream(previous);
  }
  // libudx counts the DATA packet being assembled as sent to the old path; our equivalent is
  // bytes written but not yet packetised (they go out to the new path all the same).
  const bool assembling = send_buf_.end_offset() > next_offset_;
  const std::uint32_t seq_of_change = seq_ + (assembling ? 1 : 0);
  // The new path's MTU is unknown. libudx also forgets the OS limit here; asking the socket
  // for it, as connect() does, only keeps us from probing beyond what the OS will send.
  mtu_.reset();
  mtu_.set_path_limit(socket_->socket().path_mtu(remote));
  if (seq_of_change == remote_acked_) return true;
  remote_changing_ = true;
  seq_on_remote_changed_ = seq_of_change;
  on_remote_changed_ = std::move(on_changed);
  return false;
}

Result<void> UdxStream::relay_to(UdxStream& destination) {
  if (relayed_ || &destination == this || state_ == UdxStreamState::closed ||
      destination.state_ == UdxStreamState::closed)
    return std::make_error_code(std::errc::invalid_argument);
  relayed_ = true;
  relay_to_ = &destination;
  destination.relaying_from_.push_back(this);
  return {};
}

void UdxStream::pause_reading() {
  paused_ = true;
}

void UdxStream::resume_reading() {
  if (!paused_) return;
  paused_ = false;
  const bool was_closed_window = local_rwnd() < max_payload();
  while (!recv_buf_.empty() && !paused_) {
    const ByteView chunk = recv_buf_.front_contiguous();
    const std::uint64_t upto = recv_buf_.begin_offset() + chunk.size();
    // Release before the call: the handler may pause again or destroy us.
    Bytes copy(chunk.begin(), chunk.end());
    recv_buf_.release_until(upto);
    counters_.bytes_delivered += copy.size();
    if (handlers_.on_data && !call([&] { handlers_.on_data(copy); })) return;
  }
  if (paused_) return;
  if (remote_end_seen_ && !read_ended_) {
    read_ended_ = true;
    if (handlers_.on_end && !call([&] { handlers_.on_end(); })) return;
    if (write_ended_) {
      close({});
      return;
    }
  }
  // Tell a sender stopped by our zero window at once instead of waiting for its probe.
  if (was_closed_window && state_ == UdxStreamState::connected) send_state();
}

// ---- receiving -----------------------------------------------------------------------------

bool UdxStream::admit(UdxSocket& via, const Ipv4Address& from) {
  // libudx asks the hook about every packet that arrives on a socket other than the stream's
  // own, connected or not (how hyperdht sees a punched path appear under a relayed stream).
  if (state_ == UdxStreamState::connected && (&via == socket_ || !handlers_.on_firewall))
    return true;
  bool reject = true;
  if (handlers_.on_firewall && !call([&] { reject = handlers_.on_firewall(via, from); }))
    return false;
  return !reject;
}

void UdxStream::on_datagram(UdxSocket& via, ByteView datagram, const Ipv4Address& from) {
  if (state_ == UdxStreamState::closed) return;
  if (relay_to_ != nullptr) {
    // libudx forwards whatever passed the socket's header check, without decoding it.
    ++counters_.packets_received;
    if (admit(via, from) && relay_to_ != nullptr) relay_datagram(datagram);
    return;
  }
  auto decoded = udx::decode_packet(datagram);
  if (!decoded) return;
  const udx::Packet& pkt = *decoded;
  const udx::Header& h = pkt.header;
  ++counters_.packets_received;

  if (!admit(via, from)) return;

  if (h.has(udx::kHeartbeat)) {
    if (state_ == UdxStreamState::connected) send_state();
    return;
  }

  const bool data_like = h.has(udx::kData) || h.has(udx::kEnd);
  if (udx::seq_compare(h.seq, ack_) >= 0) {
    if (data_like && !remote_end_seen_) {
      if (!accept_data(h.seq, pkt.payload, h.has(udx::kEnd))) return;
    }
    if (h.has(udx::kDestroy)) {
      close(std::make_error_code(std::errc::connection_reset));
      return;
    }
  } else if (data_like) {
    ++counters_.duplicates_received;
  }

  if (h.has(udx::kMessage) && handlers_.on_message) {
    if (!call([&] { handlers_.on_message(pkt.payload); })) return;
  }

  // Acks for data we never sent: libudx stops here and does not even ack the packet.
  if (udx::seq_compare(h.ack, seq_) > 0) return;
  if (!process_ack(pkt)) return;

  if (data_like) {
    if (state_ == UdxStreamState::connected)
      send_state();
    else
      ack_owed_ = true;
  }

  // EOF is reported right after the ack of the END (spec §2.4).
  if (remote_end_seen_ && !read_ended_ && !paused_ && recv_buf_.empty()) {
    read_ended_ = true;
    if (handlers_.on_end && !call([&] { handlers_.on_end(); })) return;
    if (write_ended_) {
      close({});
      return;
    }
  }
  flush();
}

void UdxStream::relay_datagram(ByteView datagram) {
  const bool destroy = (datagram[2] & udx::kDestroy) != 0;
  UdxStream& to = *relay_to_;
  if (to.state_ == UdxStreamState::connected && to.socket_ != nullptr &&
      datagram.size() <= out_.size()) {
    std::copy(datagram.begin(), datagram.end(), out_.begin());
    for (int i = 0; i < 4; ++i)
      out_[4 + i] = static_cast<std::uint8_t>(to.remote_id_ >> (8 * i));
    to.socket_->socket().send(to.remote_, ByteView(out_.data(), datagram.size()));
    ++counters_.packets_relayed;
    counters_.bytes_relayed += datagram.size();
  }
  if (destroy) close(std::make_error_code(std::errc::connection_reset));
}

bool UdxStream::unlink_relays() {
  if (relay_to_ != nullptr) std::erase(relay_to_->relaying_from_, this);
  relay_to_ = nullptr;
  std::vector<std::pair<UdxStream*, std::weak_ptr<int>>> relayers;
  for (UdxStream* s : relaying_from_) {
    s->relay_to_ = nullptr;
    relayers.emplace_back(s, s->alive_);
  }
  relaying_from_.clear();
  const std::weak_ptr<int> alive = alive_;
  // Each close may run an owner's handler that destroys other streams, this one included.
  for (auto& [s, s_alive] : relayers) {
    if (!s_alive.expired()) s->destroy();
    if (alive.expired()) return false;
  }
  return true;
}

bool UdxStream::accept_data(std::uint32_t seq, ByteView payload, bool end) {
  if (seq != ack_) {
    if (ooo_.contains(seq)) {
      ++counters_.duplicates_received;
      return true;
    }
    if (static_cast<std::uint32_t>(seq - ack_) >= kUdxMaxReorder ||
        ooo_bytes_ + payload.size() > kUdxMaxHeldBytes) {
      ++counters_.dropped_over_limit;
      return true;
    }
    ooo_.emplace(seq, OutOfOrder{Bytes(payload.begin(), payload.end()), end});
    ooo_bits_.set(seq);
    ooo_bytes_ += payload.size();
    return true;
  }
  if (recv_buf_.size() + payload.size() > kUdxMaxHeldBytes) {
    // Not taken, so not acked: the sender retransmits it once the reader catches up.
    ++counters_.dropped_over_limit;
    return true;
  }
  ++ack_;
  if (!deliver(payload)) return false;
  if (end) {
    remote_end_seen_ = true;
    drop_out_of_order();
    return true;
  }
  // Drain what the gap was holding back.
  for (auto it = ooo_.find(ack_); it != ooo_.end(); it = ooo_.find(ack_)) {
    OutOfOrder next = std::move(it->second);
    ooo_.erase(it);
    ooo_bits_.clear(ack_);
    ooo_bytes_ -= next.data.size();
    ++ack_;
    if (!deliver(next.data)) return false;
    if (next.end) {
      remote_end_seen_ = true;
      drop_out_of_order();
      break;
    }
  }
  return true;
}

void UdxStream::drop_out_of_order() noexcept {
  for (const auto& [seq, pkt] : ooo_)
    ooo_bits_.clear(seq);
  ooo_.clear();
  ooo_bytes_ = 0;
}

bool UdxStream::deliver(ByteView payload) {
  if (payload.empty()) return true;
  if (paused_ || !recv_buf_.empty()) {
    recv_buf_.append(payload);
    return true;
  }
  counters_.bytes_delivered += payload.size();
  if (!handlers_.on_data) return true;
  return call([&] { handlers_.on_data(payload); });
}

bool UdxStream::process_ack(const udx::Packet& packet) {
  const udx::Header& h = packet.header;
  // RFC 793 window update: only from packets at least as new as the last one used.
  if (udx::seq_compare(h.ack, remote_acked_) >= 0 &&
      (udx::seq_compare(h.seq, wl1_) > 0 ||
       (h.seq == wl1_ && udx::seq_compare(h.ack, wl2_) >= 0))) {
    send_rwnd_ = h.rwnd;
    wl1_ = h.seq;
    wl2_ = h.ack;
    if (send_rwnd_ > 0) zwp_timer_.cancel();
  }

  // Where libudx completes a deferred change: before the ack is processed, once the old path's
  // packets are all acked (any packet whose ack reaches the seq of the change).
  if (remote_changing_ && udx::seq_compare(h.ack, seq_on_remote_changed_) >= 0) {
    remote_changing_ = false;
    if (auto cb = std::exchange(on_remote_changed_, nullptr); cb && !call(cb)) return false;
  }

  const std::int64_t now = now_us();
  const bool data_in_flight = !sent_.empty();
  const std::uint64_t lost_before = lost_total_;
  std::uint32_t delivered = 0;
  bool advanced = false;
  bool end_acked = false;
  while (udx::seq_compare(remote_acked_, h.ack) < 0 && !sent_.empty()) {
    SentPacket& p = sent_.front();
    if (p.sacked) {
      --sacked_;
    } else {
      ++delivered;
      on_packet_delivered(p, now);
    }
    if (p.in_flight) --inflight_;
    if (p.end) end_acked = true;
    counters_.bytes_acked += p.len;
    ++remote_acked_;
    sent_.pop_front();
    advanced = true;
  }
  if (advanced) send_buf_.release_until(sent_.empty() ? next_offset_ : sent_.front().offset);

  if (h.has(udx::kSack)) {
    for (std::size_t i = 0; i < packet.sacks.size(); ++i) {
      const udx::SackBlock b = packet.sacks[i];
      ++counters_.sack_blocks_received;
      // udx_sack_is_valid: remote_acked <= start < end <= seq.
      if (udx::seq_compare(b.start, remote_acked_) < 0 || udx::seq_compare(b.start, b.end) >= 0 ||
          udx::seq_compare(b.end, seq_) > 0) {
        ++counters_.invalid_sack_blocks;
        continue;
      }
      for (std::uint32_t s = b.start; s != b.end; ++s) {
        SentPacket& p = sent_[s - remote_acked_];
        if (p.sacked) continue;
        p.sacked = true;
        ++sacked_;
        if (p.in_flight) {
          p.in_flight = false;
          --inflight_;
        }
        p.lost = false;  // a queued retransmission of it is skipped
        ++delivered;
        on_packet_delivered(p, now);
      }
    }
  }

  if (loss_state_ != UdxCaState::open && udx::seq_compare(remote_acked_, high_seq_) >= 0)
    loss_state_ = UdxCaState::open;
  if (delivered > 0) detect_losses(now, false);
  // Congestion control sees every ack that found data in flight, even one delivering nothing.
  if (data_in_flight)
    cc_.on_ack(delivered, static_cast<std::uint32_t>(lost_total_ - lost_before), min_rtt_ms(),
               bbr_context(now));

  if (advanced) {
    if (sent_.empty()) {
      rto_timer_.cancel();
      rack_timer_.cancel();
      tlp_timer_.cancel();
    } else {
      arm_rto(rtt_.rto());
      arm_tlp();
    }
  }
  if (above_hwm_ && send_buf_.size() < high_watermark()) {
    above_hwm_ = false;
    if (handlers_.on_drain && !call([&] { handlers_.on_drain(); })) return false;
  }
  if (end_acked || (end_sent_ && !write_ended_ && sent_.empty())) return after_write_side_acked();
  return true;
}

bool UdxStream::after_write_side_acked() {
  if (write_ended_ || !end_sent_ || !sent_.empty()) return true;
  write_ended_ = true;
  if (read_ended_) {
    close({});
    return false;
  }
  // The "final state packet" of libudx (spec §2.4 step 3).
  send_state();
  return true;
}

void UdxStream::on_packet_delivered(SentPacket& p, std::int64_t now_us) {
  const std::int64_t rtt_us = std::max<std::int64_t>(now_us - p.sent_us, 0);
  if (!p.retransmitted) {
    rtt_.sample(ms_of(rtt_us));
    tlp_outstanding_ = false;
    if (min_rtt_us_ < 0 || rtt_us < min_rtt_us_) min_rtt_us_ = rtt_us;
  }
  if (p.mtu_probe) ++counters_.mtu_probes_acked;
  mtu_.on_acked(p.mtu_probe);
  p.mtu_probe = false;
  // BBR's RTT is on its 1 ms clock; a retransmission's counts only if it cannot be the
  // original's ack (not faster than the minimum RTT).
  const std::int64_t rtt_ms = clock_ms(now_us) - clock_ms(p.sent_us);
  const bool trusted = !p.retransmitted || rtt_ms >= min_rtt_ms();
  cc_.on_delivered(p.rate, clock_ms(p.sent_us), p.seq, p.retransmitted, trusted ? rtt_ms : -1);
  // RFC 8985 §6.2 step 2: an ack faster than min_rtt for a retransmitted packet is most likely
  // for the original transmission, and would make every older packet look lost at once.
  if (p.retransmitted && min_rtt_us_ >= 0 && rtt_us < min_rtt_us_) return;
  // RACK: remember the most recently *sent* packet that has been delivered.
  // Send order is the transmission counter, not (time, seq): a retransmission sent in the same
  // clock tick as higher seqs went out after them (RFC 8985's tie-break by seq would call it
  // older, and declare it lost one RTT later although its ack is just behind theirs).
  const bool newer = p.xmit > rack_xmit_;
  if (newer) {
    rack_sent_us_ = p.sent_us;
    rack_xmit_ = p.xmit;
    rack_rtt_us_ = rtt_us;
  } else if (!p.retransmitted) {
    reordering_seen_ = true;
  }
}

void UdxStream::detect_losses(std::int64_t now, bool on_rto) {
  if (rack_sent_us_ < 0 && !on_rto) return;
  std::int64_t reo_wnd = 0;
  const bool tight = !reordering_seen_ && (loss_state_ != UdxCaState::open || sacked_ >= 3);
  if (!tight && min_rtt_us_ >= 0)
    reo_wnd = std::min<std::int64_t>(min_rtt_us_ / 4, std::int64_t{rtt_.srtt()} * 1000);
  std::int64_t next_due = -1;
  bool lost_any = false;
  for (SentPacket& p : sent_) {
    if (p.sacked || !p.in_flight) continue;
    const bool before = p.xmit < rack_xmit_;
    if (!before && !on_rto) {
      // First transmissions are in send order, so none after this one can be "before" either.
      if (!p.retransmitted) break;
      continue;
    }
    const std::int64_t due = p.sent_us + rack_rtt_us_ + reo_wnd;
    if (now >= due) {
      // A lost MTU probe says the path is too small for it, not that it is congested.
      if (!mark_lost(p)) lost_any = true;
    } else if (!on_rto && (next_due < 0 || due < next_due)) {
      next_due = due;
    }
  }
  if (lost_any && loss_state_ == UdxCaState::open) {
    loss_state_ = UdxCaState::recovery;
    high_seq_ = seq_;
    ++counters_.fast_recoveries;
    cc_.on_enter_recovery();
  }
  if (next_due >= 0) {
    rack_timer_.expires_after(std::chrono::microseconds(next_due - now), [this] {
      detect_losses(now_us(), false);
      flush();
    });
  }
}

bool UdxStream::mark_lost(SentPacket& p) {
  if (p.lost || p.sacked) return false;
  p.lost = true;
  ++lost_total_;
  if (p.in_flight) {
    p.in_flight = false;
    --inflight_;
  }
  retransmit_.push_back(p.seq);
  if (!p.mtu_probe) return false;
  // Resent unpadded; the prober decides whether to try that size again.
  p.mtu_probe = false;
  p.padding = 0;
  ++counters_.mtu_probes_lost;
  mtu_.on_probe_lost();
  return true;
}

// ---- sending -------------------------------------------------------------------------------

udx::Header UdxStream::header(std::uint8_t type, std::uint32_t seq) const {
  udx::Header h;
  h.type = type;
  h.id = remote_id_;
  h.rwnd = local_rwnd();
  h.seq = seq;
  h.ack = ack_;
  return h;
}

std::size_t UdxStream::high_watermark() const noexcept {
  // UDX_HIGH_WATERMARK plus the send window in bytes (the peer's window counts: a closed
  // window stops the writer after 256 KiB).
  return kUdxHighWatermark + std::size_t{send_window_packets()} * max_payload();
}

std::uint32_t UdxStream::send_window_packets() const noexcept {
  if (send_rwnd_ == 0) return 0;
  return std::min(cc_.cwnd(), std::max<std::uint32_t>(1, send_rwnd_ / max_payload()));
}

void UdxStream::schedule_flush() {
  // Everything written in one executor turn shares packets, as libudx sends partly filled
  // packets only from its prepare phase (spec §3.3).
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  boost::asio::post(runtime_.executor(), [this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) return;
    flush_scheduled_ = false;
    flush();
  });
}

void UdxStream::flush() {
  if (state_ != UdxStreamState::connected || socket_ == nullptr) return;
  const std::int64_t now = now_us();
  bool sent_any = false;
  // Retransmissions first; they ignore the peer's window (spec §3.3).
  while (!retransmit_.empty() && inflight_ < cc_.cwnd() && pacing_allows(now)) {
    const std::uint32_t seq = retransmit_.front();
    retransmit_.pop_front();
    const std::uint32_t idx = seq - remote_acked_;
    if (udx::seq_compare(seq, remote_acked_) < 0 || idx >= sent_.size()) continue;
    SentPacket& p = sent_[idx];
    if (!p.lost || p.sacked) continue;
    resend(p, now);
    sent_any = true;
  }
  while (retransmit_.empty() && inflight_ < send_window_packets()) {
    const std::uint64_t unsent = send_buf_.end_offset() - next_offset_;
    const bool end_now = end_queued_ && !end_sent_ && unsent <= max_payload();
    if (unsent == 0 && !end_now) break;
    if (!pacing_allows(now)) break;
    send_new_packet(now, static_cast<std::uint32_t>(std::min<std::uint64_t>(unsent, max_payload())),
                    end_now);
    sent_any = true;
  }
  if (sent_any && !rto_timer_.pending()) arm_rto(rtt_.rto());
  if (sent_any && !tlp_timer_.pending()) arm_tlp();
  if (sent_.empty() != keepalive_timer_.pending()) arm_keepalive();

  // Zero window with data waiting and nothing in flight to bring an ack: probe (spec §3.6).
  const bool waiting = send_buf_.end_offset() > next_offset_ || (end_queued_ && !end_sent_);
  if (send_rwnd_ == 0 && waiting && inflight_ == 0 && !zwp_timer_.pending()) {
    send_heartbeat();
    zwp_backoff_ms_ = rtt_.rto();
    zwp_timer_.expires_after(std::chrono::milliseconds(zwp_backoff_ms_),
                             [this] { on_zero_window_probe(); });
  }
}

bool UdxStream::pacing_allows(std::int64_t now) {
  if (pacer_.may_send(clock_ms(now), cc_.pacing_bytes_per_ms())) return true;
  // The budget only empties on a send, which armed the timer; re-arm in case it has run since.
  if (!pacing_timer_.pending()) {
    pacing_timer_.expires_after(std::chrono::milliseconds(kUdxPacingResumeMs), [this] { flush(); });
  }
  return false;
}

void UdxStream::send_new_packet(std::int64_t now, std::uint32_t len, bool end, bool tlp) {
  SentPacket p;
  p.offset = next_offset_;
  p.len = len;
  p.seq = seq_;
  p.sent_us = now;
  p.end = end;
  p.to = remote_;
  p.remote_id = remote_id_;
  // The next new DATA packet that padding can bring to the size being probed (never a TLP).
  // Not while the remote is changing: an ack could come from either path (libudx likewise).
  if (!tlp && !remote_changing_) {
    if (const auto pad = mtu_.probe_padding(len)) {
      p.mtu_probe = true;
      p.padding = *pad;
      mtu_.on_probe_sent();
      ++counters_.mtu_probes_sent;
    }
  }
  before_transmit(p, now, false);
  ++seq_;
  p.in_flight = true;
  next_offset_ += len;
  if (end) end_sent_ = true;
  const bool was_idle = inflight_ == 0;
  sent_.push_back(p);
  ++inflight_;
  ++counters_.packets_sent;
  transmit(sent_.back());
  if (was_idle) cc_.on_transmit_start(bbr_context(now));
}

void UdxStream::resend(SentPacket& p, std::int64_t now) {
  before_transmit(p, now, true);
  const bool was_idle = inflight_ == 0;
  p.lost = false;
  p.in_flight = true;
  p.retransmitted = true;
  p.sent_us = now;
  ++inflight_;
  ++counters_.retransmits;
  transmit(p);
  if (was_idle) cc_.on_transmit_start(bbr_context(now));
}

void UdxStream::before_transmit(SentPacket& p, std::int64_t now, bool retransmit) {
  cc_.before_send(send_buf_.size(), max_payload(), inflight_, retransmit || !retransmit_.empty());
  // A new flight starts when nothing at all is unacked (libudx: seq == remote_acked).
  p.rate = cc_.on_sent(!retransmit && sent_.empty(), clock_ms(now));
  p.xmit = ++xmit_count_;
}

void UdxStream::transmit(const SentPacket& p) {
  // Retransmissions carry the current ack and window, as libudx a9af5de does.
  udx::Header h = header(0, p.seq);
  h.id = p.remote_id;
  h.type = static_cast<std::uint8_t>((p.len > 0 ? udx::kData : 0) | (p.end ? udx::kEnd : 0));
  h.data_offset = p.padding;
  // Header, then `padding` zero bytes (an MTU probe), then the payload copied from the ring.
  const std::size_t n = udx::encode_packet(out_, h, {}, {});
  if (p.len > 0) send_buf_.copy_out(p.offset, std::span<std::uint8_t>(out_.data() + n, p.len));
  socket_->socket().send(p.to, ByteView(out_.data(), n + p.len));
  // Pacing charges the UDX size, padding excepted, as libudx does; every transmission counts,
  // tail loss probes included, though those may leave with the budget spent.
  if (pacer_.charge(udx::kHeaderSize + p.len)) {
    ++counters_.pacing_waits;
    pacing_timer_.expires_after(std::chrono::milliseconds(kUdxPacingResumeMs), [this] { flush(); });
  }
}

void UdxStream::send_state() {
  if (socket_ == nullptr || state_ != UdxStreamState::connected) return;
  std::array<udx::SackBlock, udx::kMaxSackBlocks> blocks{};
  std::size_t nblocks = 0;
  if (!ooo_.empty()) {
    // The runs of held seqs above ack, ascending, at most 50, as libudx's send_ack — except
    // that libudx gives up once its scan has passed as many missing seqs as it holds packets,
    // hiding runs behind a long gap. We report every run (still valid blocks for any libudx
    // sender): after a burst loss at our socket that took udx-native's sender from 2-6 MB/s to
    // 18-33 MB/s on the loaded 2-core machine. Found word by word in the bitmap.
    std::size_t found = 0;
    std::uint32_t pos = 1;
    while (nblocks < blocks.size() && found < ooo_.size() && pos < kUdxMaxReorder) {
      const std::uint32_t start = pos + ooo_bits_.find(ack_ + pos, kUdxMaxReorder - pos, true);
      if (start >= kUdxMaxReorder) break;
      const std::uint32_t stop =
          start + ooo_bits_.find(ack_ + start, kUdxMaxReorder - start, false);
      blocks[nblocks++] = {ack_ + start, ack_ + stop};
      found += stop - start;
      pos = stop;
    }
  }
  udx::Header h = header(nblocks > 0 ? udx::kSack : udx::kState, seq_);
  const std::size_t n =
      udx::encode_state(out_, h, std::span<const udx::SackBlock>(blocks.data(), nblocks));
  ++counters_.acks_sent;
  socket_->socket().send(remote_, ByteView(out_.data(), n));
}

void UdxStream::send_heartbeat() {
  const std::size_t n = udx::encode_heartbeat(out_, header(udx::kHeartbeat, seq_));
  ++counters_.heartbeats_sent;
  socket_->socket().send(remote_, ByteView(out_.data(), n));
}

// ---- timers --------------------------------------------------------------------------------

void UdxStream::arm_rto(std::uint32_t ms) {
  rto_timer_.expires_after(std::chrono::milliseconds(ms), [this] { on_rto(); });
}

void UdxStream::on_rto() {
  if (sent_.empty() || state_ != UdxStreamState::connected) return;
  ++counters_.rto_expiries;
  SentPacket& front = sent_.front();
  if (++front.rto_count > kUdxMaxRtoTimeouts) {
    close(std::make_error_code(std::errc::timed_out));
    return;
  }
  loss_state_ = UdxCaState::loss;
  high_seq_ = seq_;
  cc_.on_rto();
  // The timer runs at 2·rto from now on without doubling rto itself (spec §3.5: 1, 3, 5 … s).
  arm_rto(2 * rtt_.rto());
  mark_lost(front);
  detect_losses(now_us(), true);
  flush();
}

void UdxStream::arm_tlp() {
  // RFC 8985 §7 as libudx arms it: only while open with nothing SACKed; beyond libudx, the
  // recovery probe (on_tlp) in the cases where RACK has nothing left to go by.
  const bool tlp = loss_state_ == UdxCaState::open && sacked_ == 0;
  if (sent_.empty() || (!tlp && !recovery_probe_wanted())) {
    tlp_timer_.cancel();
    return;
  }
  // schedule_loss_probe: 2·srtt (+2 ms, UDX_TLP_MAX_ACK_DELAY, with a single packet out); 1 s
  // while srtt is 0, which is also what libudx's ms clock gives on loopback.
  std::chrono::milliseconds pto(1000);
  if (rtt_.srtt() > 0) pto = std::chrono::milliseconds(2 * rtt_.srtt() + (inflight_ == 1 ? 2 : 0));
  const TimePoint at = runtime_.now() + pto;
  // Never later than the pending RTO.
  if (rto_timer_.pending() && rto_timer_.expiry() <= at) {
    tlp_timer_.cancel();
    return;
  }
  tlp_timer_.expires_at(at, [this] { on_tlp(); });
}

void UdxStream::on_tlp() {
  if (state_ != UdxStreamState::connected || sent_.empty()) return;
  const std::int64_t now = now_us();
  if (loss_state_ != UdxCaState::open || sacked_ > 0) {
    if (recovery_probe_wanted()) send_recovery_probe(now);
    return;
  }
  if (tlp_outstanding_) return;
  const std::uint64_t unsent = send_buf_.end_offset() - next_offset_;
  if (unsent > 0 || (end_queued_ && !end_sent_)) {
    // One new packet, ignoring cwnd and the peer's window.
    send_new_packet(now, static_cast<std::uint32_t>(std::min<std::uint64_t>(unsent, max_payload())),
                    end_queued_ && !end_sent_ && unsent <= max_payload(), true);
  } else {
    SentPacket& last = sent_.back();
    if (last.sacked) return;
    if (last.lost) return;  // already queued for retransmission
    if (last.in_flight) {
      last.in_flight = false;
      --inflight_;
    }
    resend(last, now);
  }
  ++counters_.tail_loss_probes;
  tlp_outstanding_ = true;
  arm_rto(rtt_.rto());
}

// A retransmission is shown lost by RACK only when something sent after it is delivered. Once
// everything new has been sent, a lost retransmission of a hole is therefore left to the RTO
// (1 s at least), and the TLP that covers the tail of a clean flight is off in recovery and
// with SACKed data (RFC 8985 §7.2, libudx). Under 5 % loss that cost a 1 s RTO in about one
// 1 MiB transfer in fifteen (docs/udx.md). The recovery probe resends the oldest hole, at most
// twice per cumulative ack value, 2·srtt and then 4·srtt after its last transmission, when
// nothing else is on its way that could bring the news; receivers take a duplicate as any
// other. Not in RTO recovery (`loss`): there the RTO's own timeline is the reference's.
bool UdxStream::recovery_probe_wanted() const {
  if (loss_state_ == UdxCaState::loss || !retransmit_.empty()) return false;
  if (recovery_probe_at_ == remote_acked_ && recovery_probes_here_ >= kMaxRecoveryProbes)
    return false;
  const bool unsent = send_buf_.end_offset() > next_offset_ || (end_queued_ && !end_sent_);
  if (unsent && send_rwnd_ > 0) return false;  // new data will follow and show RACK the way
  for (const SentPacket& p : sent_)
    if (p.in_flight && !p.sacked) return p.retransmitted;
  return false;
}

void UdxStream::send_recovery_probe(std::int64_t now) {
  const std::uint32_t sent_here = recovery_probe_at_ == remote_acked_ ? recovery_probes_here_ : 0;
  for (SentPacket& p : sent_) {
    if (!p.in_flight || p.sacked) continue;
    // The timer may have been armed for an earlier transmission: wait until this one is as old.
    // As the TLP's: 1 s while there is no RTT sample (then the RTO comes first).
    const std::int64_t pto_us = rtt_.srtt() > 0 ? std::int64_t{2 * rtt_.srtt()} * 1000 : 1000000;
    const std::int64_t due = p.sent_us + (pto_us << sent_here);
    if (now < due) {
      tlp_timer_.expires_after(std::chrono::microseconds(due - now), [this] { on_tlp(); });
      return;
    }
    p.in_flight = false;
    --inflight_;
    resend(p, now);
    recovery_probe_at_ = remote_acked_;
    recovery_probes_here_ = sent_here + 1;
    ++counters_.recovery_probes;
    arm_tlp();  // for the second probe, if this one is lost too
    return;
  }
}

void UdxStream::set_keepalive(Duration interval) {
  keepalive_ = interval;
  keepalive_timer_.cancel();
  arm_keepalive();
}

void UdxStream::arm_keepalive() {
  if (keepalive_ <= Duration::zero() || state_ != UdxStreamState::connected || !sent_.empty()) {
    keepalive_timer_.cancel();
    return;
  }
  keepalive_timer_.expires_after(keepalive_, [this] {
    send_heartbeat();
    arm_keepalive();
  });
}

void UdxStream::on_zero_window_probe() {
  const bool waiting = send_buf_.end_offset() > next_offset_ || (end_queued_ && !end_sent_);
  if (send_rwnd_ != 0 || !waiting || state_ != UdxStreamState::connected) return;
  send_heartbeat();
  zwp_timer_.expires_after(std::chrono::milliseconds(2 * rtt_.rto()),
                           [this] { on_zero_window_probe(); });
}

void UdxStream::close(std::error_code ec) {
  if (state_ == UdxStreamState::closed) return;
  state_ = UdxStreamState::closed;
  rto_timer_.cancel();
  rack_timer_.cancel();
  tlp_timer_.cancel();
  zwp_timer_.cancel();
  keepalive_timer_.cancel();
  pacing_timer_.cancel();
  if (socket_ != nullptr) socket_->remove_stream(id_);
  socket_ = nullptr;
  if (!unlink_relays()) return;
  remote_changing_ = false;
  on_remote_changed_ = nullptr;
  sent_.clear();
  retransmit_.clear();
  drop_out_of_order();
  inflight_ = 0;
  // Last, from locals: a hook or on_close may destroy us.
  auto hooks = std::move(close_hooks_);
  close_hooks_.clear();
  auto cb = std::move(handlers_.on_close);
  for (auto it = hooks.rbegin(); it != hooks.rend(); ++it)
    (*it)(ec);
  if (cb) cb(ec);
}

void UdxStream::add_close_hook(std::function<void(std::error_code)> hook) {
  close_hooks_.push_back(std::move(hook));
}

}  // namespace hdht::core
