#include "core/udx_socket.hpp"

#include <stdexcept>

#include "core/udx_stream.hpp"
#include "protocol/udx_packet.hpp"

namespace hdht::core {

UdxSocket::UdxSocket(Runtime& runtime, DatagramSocket& socket)
    : runtime_(runtime), socket_(socket) {}

UdxSocket::~UdxSocket() {
  auto streams = std::move(streams_);
  for (auto& [id, stream] : streams)
    stream->detach_socket();
}

void UdxSocket::attach(RawHandler raw) {
  socket_.set_receive_handler([this, raw = std::move(raw)](ByteView d, const Ipv4Address& from) {
    if (!handle(d, from) && raw) raw(d, from);
  });
}

bool UdxSocket::handle(ByteView datagram, const Ipv4Address& from) {
  if (streams_.empty() || !udx::is_udx_packet(datagram)) {
    ++counters_.raw_datagrams;
    return false;
  }
  const std::uint32_t id = std::uint32_t{datagram[4]} | std::uint32_t{datagram[5]} << 8 |
                           std::uint32_t{datagram[6]} << 16 | std::uint32_t{datagram[7]} << 24;
  const auto it = streams_.find(id);
  if (it == streams_.end()) {
    ++counters_.raw_datagrams;
    return false;
  }
  ++counters_.udx_datagrams;
  // The stream may close and its owner destroy it inside; nothing here touches it afterwards.
  it->second->on_datagram(datagram, from);
  return true;
}

void UdxSocket::send_raw(const Ipv4Address& to, ByteView data, SendOptions options) {
  socket_.send(to, data, options);
}

bool UdxSocket::add_stream(std::uint32_t id, UdxStream* stream) {
  return streams_.emplace(id, stream).second;
}

void UdxSocket::remove_stream(std::uint32_t id) noexcept {
  streams_.erase(id);
}

}  // namespace hdht::core
