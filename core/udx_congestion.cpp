#include "core/udx_congestion.hpp"

namespace hdht::core {

void UdxCongestion::on_delivered(const UdxRatePacket& stamp, std::int64_t sent_ms,
                                 std::uint32_t seq, bool retransmitted, std::int64_t rtt_ms) {
  rate_.on_delivered(stamp, sent_ms, seq, retransmitted, sample_);
  // As libudx: the RTT of the last trustworthy packet of the ack is the sample's.
  if (rtt_ms >= 0) sample_.rtt_ms = rtt_ms;
}

void UdxCongestion::on_ack(std::uint32_t acked, std::uint32_t lost, std::int64_t min_rtt_ms,
                           const UdxBbrContext& ctx) {
  rate_.generate(acked, lost, ctx.now_ms, min_rtt_ms, sample_);
  bbr_.on_ack(sample_, ctx, rate_);
  last_ = sample_;
  sample_ = {};
}

}  // namespace hdht::core
