// UdxAsyncStream: a UDX stream through Asio's composed operations and coroutines, on the
// simulated network.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "core/udx_async_stream.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"

using namespace hdht;
using namespace hdht::core;
using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST_CASE("udx async stream: async_write / async_read until eof, both ways", "[unit][udx]") {
  SimNetwork net(21);
  const SimNetwork::Ip ip_a{10, 0, 0, 1}, ip_b{10, 0, 0, 2};
  net.add_host(ip_a);
  net.add_host(ip_b);
  SimRuntime ra(net, ip_a), rb(net, ip_b);
  auto sa = ra.bind_udp({ip_a, 5000});
  auto sb = rb.bind_udp({ip_b, 5000});
  REQUIRE(sa.has_value());
  REQUIRE(sb.has_value());
  UdxSocket ua(ra, **sa), ub(rb, **sb);
  ua.attach({});
  ub.attach({});
  auto a = UdxStream::create(ua, 1);
  auto b = UdxStream::create(ub, 2);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  REQUIRE((*a)->connect(2, {ip_b, 5000}).has_value());
  REQUIRE((*b)->connect(1, {ip_a, 5000}).has_value());
  // A small read limit so the adapter pauses the stream and flow control is exercised.
  UdxAsyncStream as(**a, 64 * 1024), bs(**b, 64 * 1024);

  Bytes data(1 << 20);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::uint8_t>(i * 7 + i / 9);
  Bytes got;
  std::optional<boost::system::error_code> read_end, write_end;

  auto writer = [&]() -> asio::awaitable<void> {
    std::size_t n = co_await asio::async_write(as, asio::buffer(data), asio::use_awaitable);
    CHECK(n == data.size());
    REQUIRE(as.shutdown_send().has_value());
    write_end = boost::system::error_code{};
  };
  auto reader = [&]() -> asio::awaitable<void> {
    std::array<std::uint8_t, 3000> buf{};
    for (;;) {
      try {
        const std::size_t n = co_await bs.async_read_some(asio::buffer(buf), asio::use_awaitable);
        got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      } catch (const boost::system::system_error& e) {
        read_end = e.code();
        co_return;
      }
    }
  };
  asio::co_spawn(net.executor(), writer(), asio::detached);
  asio::co_spawn(net.executor(), reader(), asio::detached);
  CHECK(net.run_until([&] { return read_end.has_value() && write_end.has_value(); }, 60s));
  REQUIRE(read_end);
  CHECK(*read_end == asio::error::eof);
  CHECK(got == data);
  CHECK((*b)->counters().bytes_delivered == data.size());

  // A DESTROY from B fails A's pending read with connection_reset.
  std::optional<boost::system::error_code> a_read;
  std::array<std::uint8_t, 16> small{};
  as.async_read_some(asio::buffer(small),
                     [&](boost::system::error_code ec, std::size_t) { a_read = ec; });
  (*b)->destroy();
  CHECK(net.run_until([&] { return a_read.has_value(); }, 5s));
  REQUIRE(a_read);
  CHECK(*a_read == asio::error::connection_reset);
}
