// udp_reflector: the floor for bench/suites/rpc.sh. It answers every dht-rpc request with a
// canned reply of the size a real node sends (PING: id; FIND_NODE: id + 20 closer nodes), tid
// and `to` patched in, using the same batched socket calls as the C++ node (recvmmsg, then one
// sendmmsg per batch) and no other work. Its CPU time per request is what the kernel's loopback
// UDP path costs any server on this machine; a node cannot go below it.
//
//   udp_reflector --port P
//
// Prints {"ready":true,"pid":..,"port":..,"table_size":0}, then serves until SIGINT/SIGTERM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"

using namespace hdht;

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

constexpr std::size_t kBatch = 32;

Bytes canned_reply(const Ipv4Address& self, bool closer) {
  rpc::Response r;
  r.to = self;
  r.id = rpc::node_id(self);
  if (closer) {
    for (std::uint8_t i = 0; i < 20; ++i)
      r.closer_nodes.push_back({{10, 0, 0, i}, static_cast<std::uint16_t>(1024 + i)});
  }
  return rpc::encode(r);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string_view(argv[i]) == "--port")
      port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
  }
  if (port == 0) {
    std::fprintf(stderr, "usage: udp_reflector --port P\n");
    return 2;
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    std::fprintf(stderr, "udp_reflector: cannot bind port %u\n", static_cast<unsigned>(port));
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const Ipv4Address self{{127, 0, 0, 1}, port};
  const Bytes ping_reply = canned_reply(self, false);
  const Bytes find_reply = canned_reply(self, true);
  std::printf("{\"ready\":true,\"pid\":%ld,\"port\":%u,\"table_size\":0}\n",
              static_cast<long>(::getpid()), static_cast<unsigned>(port));
  std::fflush(stdout);

  std::vector<std::array<std::uint8_t, 2048>> in(kBatch);
  std::vector<std::array<std::uint8_t, 256>> out(kBatch);
  std::array<sockaddr_in, kBatch> from{};
  std::array<iovec, kBatch> in_iov{};
  std::array<iovec, kBatch> out_iov{};
  std::array<mmsghdr, kBatch> in_msgs{};
  std::array<mmsghdr, kBatch> out_msgs{};
  while (g_stop == 0) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;  // blocks like an event loop; wakes to see signals
    for (;;) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        in_iov[i] = {in[i].data(), in[i].size()};
        in_msgs[i] = {};
        in_msgs[i].msg_hdr.msg_name = &from[i];
        in_msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
        in_msgs[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::recvmmsg(fd, in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      std::size_t m = 0;
      for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
        const std::uint8_t* req = in[i].data();
        if (in_msgs[i].msg_len < rpc::kHeaderSize || req[0] != rpc::kRequestType) continue;
        const Bytes& canned = (req[1] & rpc::request_flag::kTarget) != 0 ? find_reply : ping_reply;
        std::uint8_t* rep = out[m].data();
        std::memcpy(rep, canned.data(), canned.size());
        rep[2] = req[2];  // tid
        rep[3] = req[3];
        std::memcpy(rep + 4, &from[i].sin_addr.s_addr, 4);  // to: the requester as seen
        rep[8] = static_cast<std::uint8_t>(ntohs(from[i].sin_port));
        rep[9] = static_cast<std::uint8_t>(ntohs(from[i].sin_port) >> 8);
        out_iov[m] = {rep, canned.size()};
        out_msgs[m] = {};
        out_msgs[m].msg_hdr.msg_name = &from[i];
        out_msgs[m].msg_hdr.msg_namelen = sizeof from[i];
        out_msgs[m].msg_hdr.msg_iov = &out_iov[m];
        out_msgs[m].msg_hdr.msg_iovlen = 1;
        ++m;
      }
      for (std::size_t done = 0; done < m;) {
        const int r = ::sendmmsg(fd, out_msgs.data() + done, static_cast<unsigned>(m - done), 0);
        if (r <= 0) break;
        done += static_cast<std::size_t>(r);
      }
      if (static_cast<std::size_t>(n) < kBatch) break;
    }
  }
  ::close(fd);
  return 0;
}
