#include "core/udx_socket.hpp"

#include <utility>
#include <vector>

#include "core/udx_stream.hpp"
#include "protocol/udx_packet.hpp"

namespace hdht::core {

UdxSocket::UdxSocket(Runtime& runtime, DatagramSocket& socket, UdxStreamTable* table)
    : runtime_(runtime),
      socket_(socket),
      own_table_(table == nullptr ? std::make_unique<UdxStreamTable>() : nullptr),
      table_(table == nullptr ? own_table_.get() : table) {}

UdxSocket::~UdxSocket() {
  std::vector<std::pair<std::uint32_t, UdxStream*>> mine;
  table_->for_each([&](std::uint32_t id, UdxStream* s) {
    if (s->socket_ == this) mine.emplace_back(id, s);
  });
  // A detached stream no longer reaches its socket, so it leaves the shared table here.
  for (auto [id, s] : mine) {
    table_->remove(id);
    s->detach_socket();
  }
}

void UdxSocket::attach(RawHandler raw) {
  socket_.set_receive_handler([this, raw = std::move(raw)](ByteView d, const Ipv4Address& from) {
    if (!handle(d, from) && raw) raw(d, from);
  });
}

bool UdxSocket::handle(ByteView datagram, const Ipv4Address& from) {
  if (!table_->ever_used() || !udx::is_udx_packet(datagram)) {
    ++counters_.raw_datagrams;
    return false;
  }
  const std::uint32_t id = std::uint32_t{datagram[4]} | std::uint32_t{datagram[5]} << 8 |
                           std::uint32_t{datagram[6]} << 16 | std::uint32_t{datagram[7]} << 24;
  UdxStream* stream = table_->find(id);
  if (stream == nullptr) {
    ++counters_.raw_datagrams;
    return false;
  }
  ++counters_.udx_datagrams;
  // The stream may close and its owner destroy it inside; nothing here touches it afterwards.
  stream->on_datagram(*this, datagram, from);
  return true;
}

void UdxSocket::send_raw(const Ipv4Address& to, ByteView data, SendOptions options) {
  socket_.send(to, data, options);
}

bool UdxSocket::add_stream(std::uint32_t id, UdxStream* stream) {
  if (!table_->add(id, stream)) return false;
  table_->mark_used();
  ++own_streams_;
  return true;
}

void UdxSocket::remove_stream(std::uint32_t id) noexcept {
  table_->remove(id);
  stream_left();
}

void UdxSocket::adopt_stream(UdxSocket& from) noexcept {
  ++own_streams_;
  from.stream_left();
}

void UdxSocket::stream_left() noexcept {
  --own_streams_;
  if (own_streams_ == 0 && on_idle_) on_idle_();
}

}  // namespace hdht::core
