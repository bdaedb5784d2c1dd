// What the load generators share (rpc_load, flood_rpc, flood_handshake, flood_records): a fast
// non-cryptographic RNG, UDP sockets bound to one of many 127.x.y.z source addresses, and the
// kernel's drop counter of the server's socket.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::bench {

// xorshift64*: load patterns, topics and values; nothing here needs to be unpredictable.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
  void fill(std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; i += 8) {
      const std::uint64_t r = next();
      std::memcpy(p + i, &r, std::min<std::size_t>(8, n - i));
    }
  }
  Bytes32 bytes32() {
    Bytes32 b;
    fill(b.data(), b.size());
    return b;
  }
  Bytes bytes(std::size_t n) {
    Bytes b(n);
    fill(b.data(), n);
    return b;
  }
};

inline sockaddr_in to_sockaddr(const Ipv4Address& a) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a.port);
  std::memcpy(&sa.sin_addr.s_addr, a.ip.data(), 4);
  return sa;
}

// A UDP socket bound to local_ip:0 with 1 MiB buffers and connected to `server`; -1 with `why`
// set on failure.
inline int open_udp_socket(const Ipv4Address& local_ip, const sockaddr_in& server, bool nonblock,
                           const char*& why) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) {
    why = "socket() failed";
    return -1;
  }
  const int big = 1 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const sockaddr_in local = to_sockaddr({local_ip.ip, 0});
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    why = "bind() failed (is 127.0.0.0/8 local?)";
  } else if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
    why = "connect() failed";
  } else {
    return fd;
  }
  ::close(fd);
  return -1;
}

// The kernel's drop counter of the UDP socket bound to ip:port (/proc/net/udp, last column).
inline std::optional<double> udp_socket_drops(const Ipv4Address& a) {
  char want[32];
  // /proc/net/udp prints the address as the in-memory u32 in host order (little endian here).
  std::snprintf(want, sizeof want, "%02X%02X%02X%02X:%04X", a.ip[3], a.ip[2], a.ip[1], a.ip[0],
                a.port);
  std::ifstream f("/proc/net/udp");
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string sl, local, field, last;
    in >> sl >> local;
    if (local != want) continue;
    while (in >> field)
      last = field;
    return std::strtod(last.c_str(), nullptr);
  }
  return std::nullopt;
}

}  // namespace hdht::bench
