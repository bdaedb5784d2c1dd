// Packetization-layer path MTU discovery of a UDX stream (libudx UDX_MTU_*, mtu_probeify_packet,
// mtu_unprobeify_packet, ack_packet; spec ../shared/spec/udx.md §3.7). Sizes are whole IP
// packets. A stream starts at 1200; the first ack starts the search; a probe is an ordinary new
// DATA packet padded (through the header's data offset, 0..255 zero bytes) to the size being
// tried. An acked probe raises the MTU and tries 32 bytes more, up to the path limit (1500 or
// what the OS knows); three lost probes at one size end the search where it is. The sockets
// send with "don't fragment", so a probe over the path MTU is dropped, not fragmented.
#pragma once

#include <cstdint>
#include <optional>

namespace hdht::core {

inline constexpr std::uint32_t kUdxMtuBase = 1200;
inline constexpr std::uint32_t kUdxMtuMax = 1500;
inline constexpr std::uint32_t kUdxMtuStep = 32;
inline constexpr std::uint32_t kUdxMtuMaxProbes = 3;
// IPv4 20 + UDP 8 + UDX header 20: what an IPv4 packet carries besides stream payload.
inline constexpr std::uint32_t kUdxIpv4Overhead = 48;

enum class UdxMtuState {
  base,      // at 1200, nothing acked yet
  search,    // probing the next size
  complete,  // at the path limit, or three probes of the next size were lost
};

class UdxMtuProber {
 public:
  // Back to 1200, not searching (a new stream, or a new path).
  void reset() noexcept;
  // The OS's MTU towards the remote (0: unknown). libudx caps the search there, and does not
  // search at all when the OS says 1200 or less.
  void set_path_limit(std::uint32_t os_mtu) noexcept;

  // The padding that makes a new DATA packet with `payload` bytes a probe of the size being
  // tried, or nullopt if no probe is wanted or this packet cannot become one.
  std::optional<std::uint8_t> probe_padding(std::uint32_t payload) const noexcept;
  // The packet given probe_padding() was sent as a probe.
  void on_probe_sent() noexcept;
  // A packet was delivered (acked or SACKed); `was_probe` if it went out as a probe.
  void on_acked(bool was_probe) noexcept;
  // A probe was declared lost (it is resent without padding).
  void on_probe_lost() noexcept;

  std::uint32_t mtu() const noexcept { return mtu_; }
  std::uint32_t max_payload() const noexcept { return mtu_ - kUdxIpv4Overhead; }
  std::uint32_t probe_size() const noexcept { return probe_size_; }
  std::uint32_t limit() const noexcept { return limit_; }
  UdxMtuState state() const noexcept { return state_; }
  bool probe_wanted() const noexcept { return probe_wanted_; }
  std::uint32_t probes_outstanding() const noexcept { return probe_count_; }

 private:
  UdxMtuState state_ = UdxMtuState::base;
  std::uint32_t mtu_ = kUdxMtuBase;
  // The first "probe" is at the base size itself: its ack confirms 1200.
  std::uint32_t probe_size_ = kUdxMtuBase;
  std::uint32_t probe_count_ = 0;  // probes sent at probe_size_ without an ack
  std::uint32_t limit_ = kUdxMtuMax;
  bool probe_wanted_ = false;
};

}  // namespace hdht::core
