// Test helpers for streams on the simulated network: a host with one UDX socket, and a pair of
// connected SecretStreams between two hosts started from a made-up handshake (the relay tests
// need many of both).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <utility>

#include "core/datagram_socket.hpp"
#include "core/secret_stream.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"

namespace hdht::test {

inline constexpr std::uint16_t kSimUdxPort = 4000;

struct SimUdxHost {
  SimUdxHost(core::SimNetwork& net, const core::SimNetwork::Ip& ip) : ip_(ip), rt(net, ip) {
    auto s = rt.bind_udp({ip, kSimUdxPort});
    REQUIRE(s.has_value());
    sock = std::move(*s);
    udx = std::make_unique<core::UdxSocket>(rt, *sock);
    udx->attach({});
  }
  std::unique_ptr<core::UdxStream> stream(std::uint32_t id, core::UdxStream::Handlers h = {}) {
    auto st = core::UdxStream::create(*udx, id, std::move(h));
    REQUIRE(st.has_value());
    return std::move(*st);
  }
  Ipv4Address address() const { return {ip_, kSimUdxPort}; }

  core::SimNetwork::Ip ip_;
  core::SimRuntime rt;
  std::unique_ptr<core::DatagramSocket> sock;
  std::unique_ptr<core::UdxSocket> udx;
};

template <std::size_t N>
FixedBytes<N> filled(std::uint8_t v) {
  FixedBytes<N> f{};
  f.fill(v);
  return f;
}

// An initiator stream on `a` and a responder stream on `b`, connected, with public keys
// filled with `key_a` / `key_b` and stream ids derived from both (unique per key pair).
inline std::pair<std::unique_ptr<core::SecretStream>, std::unique_ptr<core::SecretStream>>
secret_pair(SimUdxHost& a, SimUdxHost& b, std::uint8_t key_a, std::uint8_t key_b) {
  const std::uint32_t id_a = 0x10000u + (std::uint32_t{key_a} << 8 | key_b);
  const std::uint32_t id_b = 0x20000u + (std::uint32_t{key_b} << 8 | key_a);
  auto ra = a.stream(id_a), rb = b.stream(id_b);
  REQUIRE(ra->connect(id_b, b.address()).has_value());
  REQUIRE(rb->connect(id_a, a.address()).has_value());
  core::SecretStreamHandshake ha, hb;
  ha.is_initiator = true;
  ha.tx = hb.rx = filled<32>(static_cast<std::uint8_t>(key_a + 1));
  ha.rx = hb.tx = filled<32>(static_cast<std::uint8_t>(key_b + 2));
  ha.hash = hb.hash = filled<64>(key_a ^ key_b);
  ha.public_key = hb.remote_public_key = filled<32>(key_a);
  ha.remote_public_key = hb.public_key = filled<32>(key_b);
  auto sa = core::SecretStream::create(a.rt, std::move(ra), ha);
  auto sb = core::SecretStream::create(b.rt, std::move(rb), hb);
  REQUIRE(sa.has_value());
  REQUIRE(sb.has_value());
  return {std::move(*sa), std::move(*sb)};
}

}  // namespace hdht::test
