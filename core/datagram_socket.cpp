#include "core/datagram_socket.hpp"

namespace hdht::core {

void DatagramSocket::set_receive_handler(ReceiveHandler handler) {
  handler_ = handler ? std::make_shared<ReceiveHandler>(std::move(handler)) : nullptr;
}

void DatagramSocket::deliver(ByteView data, const Ipv4Address& from, bool truncated) {
  if (truncated) ++counters_.received_truncated;
  if (!handler_) {
    ++counters_.received_dropped;
    return;
  }
  ++counters_.received_datagrams;
  counters_.received_bytes += data.size();
  auto handler = handler_;  // keeps the callable alive even if the socket dies inside it
  (*handler)(data, from);
}

}  // namespace hdht::core
