// core::SecretStream and SecretAsyncStream on the simulated network: transfers, keepalives and
// the timeout, the reference's errors for bad headers, tampered frames and wrong keys, END and
// DESTROY, unordered messages, back-pressure against a paused reader. Large buffers are compared
// in CHECK((a == b)) so that a failure does not make Catch print megabytes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/datagram_socket.hpp"
#include "core/secret_async_stream.hpp"
#include "core/secret_stream.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "core/timer.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"
#include "protocol/errors.hpp"
#include "protocol/secret_stream.hpp"

using namespace hdht;
using namespace hdht::core;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr SimNetwork::Ip kIpA{10, 0, 0, 1};
constexpr SimNetwork::Ip kIpB{10, 0, 0, 2};
constexpr std::uint16_t kPort = 4000;
constexpr std::uint32_t kIdA = 0x01020304, kIdB = 0x0a0b0c0d;

Bytes pattern(std::size_t n, std::uint32_t seed) {
  Bytes b(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& v : b) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = static_cast<std::uint8_t>(x);
  }
  return b;
}

template <std::size_t N>
FixedBytes<N> fixed(std::uint32_t seed) {
  FixedBytes<N> f{};
  const Bytes b = pattern(N, seed);
  std::copy(b.begin(), b.end(), f.begin());
  return f;
}

// Both roles of one handshake result, as NoiseWrap.final() gives them.
struct Keys {
  SecretStreamHandshake initiator, responder;
};

Keys make_keys(std::uint32_t seed = 1) {
  Keys k;
  k.initiator.is_initiator = true;
  k.initiator.tx = fixed<32>(seed);
  k.initiator.rx = fixed<32>(seed + 1);
  k.initiator.hash = fixed<64>(seed + 2);
  k.initiator.public_key = fixed<32>(seed + 3);
  k.initiator.remote_public_key = fixed<32>(seed + 4);
  k.responder.is_initiator = false;
  k.responder.tx = k.initiator.rx;
  k.responder.rx = k.initiator.tx;
  k.responder.hash = k.initiator.hash;
  k.responder.public_key = k.initiator.remote_public_key;
  k.responder.remote_public_key = k.initiator.public_key;
  return k;
}

// One end: a connected UdxStream, then (after start()) a SecretStream on it, and what it saw.
struct End {
  End(SimNetwork& net, const SimNetwork::Ip& ip, std::uint32_t id) : rt(net, ip) {
    auto s = rt.bind_udp({ip, kPort});
    REQUIRE(s.has_value());
    sock = std::move(*s);
    udx = std::make_unique<UdxSocket>(rt, *sock);
    udx->attach({});
    auto st = UdxStream::create(*udx, id);
    REQUIRE(st.has_value());
    raw = std::move(*st);
    // Until start(): a bare UDX end (used to play a misbehaving peer).
    auto& h = raw->handlers();
    h.on_data = [this](ByteView d) { received.insert(received.end(), d.begin(), d.end()); };
    h.on_close = [this](std::error_code ec) { raw_closed = ec; };
  }

  void start(const SecretStreamHandshake& hs, SecretStreamOptions opt = {}) {
    auto r = SecretStream::create(rt, std::move(raw), hs, opt);
    REQUIRE(r.has_value());
    ss = std::move(*r);
    auto& h = ss->handlers();
    h.on_data = [this](ByteView d) {
      received.insert(received.end(), d.begin(), d.end());
      ++messages_in;
      sizes.push_back(d.size());
      if (on_message_hook) on_message_hook();
    };
    h.on_end = [this] { ended = true; };
    h.on_close = [this](const SecretStreamError& e) { closed = e; };
    h.on_message = [this](ByteView d) { unordered.emplace_back(d.begin(), d.end()); };
  }

  // Writes `data` in `chunk`-byte messages with back-pressure, the rest on each drain.
  void send_all(const Bytes& data, bool end_after, std::size_t chunk = 64 * 1024) {
    to_send = &data;
    end_when_done = end_after;
    chunk_ = chunk;
    ss->handlers().on_drain = [this] { pump(); };
    pump();
  }
  void pump() {
    while (sent < to_send->size()) {
      const std::size_t n = std::min(chunk_, to_send->size() - sent);
      auto r = ss->write(ByteView(to_send->data() + sent, n));
      REQUIRE(r.has_value());
      sent += n;
      if (!*r) return;
    }
    if (end_when_done && !end_called) {
      end_called = true;
      REQUIRE(ss->end().has_value());
    }
  }

  SimRuntime rt;
  std::unique_ptr<DatagramSocket> sock;
  std::unique_ptr<UdxSocket> udx;
  std::unique_ptr<UdxStream> raw;
  std::unique_ptr<SecretStream> ss;
  Bytes received;
  std::size_t messages_in = 0;
  std::vector<std::size_t> sizes;
  std::vector<Bytes> unordered;
  std::function<void()> on_message_hook;
  bool ended = false;
  std::optional<SecretStreamError> closed;
  std::optional<std::error_code> raw_closed;
  const Bytes* to_send = nullptr;
  std::size_t sent = 0;
  std::size_t chunk_ = 64 * 1024;
  bool end_when_done = false;
  bool end_called = false;
};

struct Pair {
  explicit Pair(std::uint64_t seed = 7) : net(seed) {
    net.add_host(kIpA);
    net.add_host(kIpB);
    a = std::make_unique<End>(net, kIpA, kIdA);
    b = std::make_unique<End>(net, kIpB, kIdB);
    REQUIRE(a->raw->connect(kIdB, {kIpB, kPort}).has_value());
    REQUIRE(b->raw->connect(kIdA, {kIpA, kPort}).has_value());
  }
  void start(SecretStreamOptions oa = {}, SecretStreamOptions ob = {}) {
    a->start(keys.initiator, oa);
    b->start(keys.responder, ob);
  }
  SimNetwork net;
  Keys keys = make_keys();
  std::unique_ptr<End> a, b;
};

Bytes as_vec(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

}  // namespace

TEST_CASE("secret stream: bulk both ways intact, clean close", "[unit][secret-stream]") {
  Pair p;
  p.start();
  const Bytes ab = pattern(4 << 20, 1), ba = pattern(2 << 20, 2);
  p.a->send_all(ab, true);
  p.b->send_all(ba, true, 1000);
  CHECK(p.net.run_until([&] { return p.a->closed && p.b->closed; }, 120s));
  CHECK((p.b->received == ab));
  CHECK((p.a->received == ba));
  CHECK(p.b->messages_in == ab.size() / (64 * 1024));
  CHECK(p.a->messages_in == ba.size() / 1000 + 1);
  CHECK(p.a->ended);
  CHECK(p.b->ended);
  REQUIRE(p.a->closed);
  REQUIRE(p.b->closed);
  CHECK_FALSE(*p.a->closed);
  CHECK_FALSE(*p.b->closed);
  CHECK(p.a->ss->header_received());
  // Every frame costs 3 + 17 bytes on the wire, the header message 59.
  CHECK(p.a->ss->counters().raw_bytes_written == 59 + ab.size() + 20 * (ab.size() / 65536));
  CHECK(p.b->ss->counters().raw_bytes_read == p.a->ss->counters().raw_bytes_written);
}

TEST_CASE("secret stream: keepalives every 5 s of write idleness, filtered",
          "[unit][secret-stream]") {
  Pair p;
  p.start();
  p.net.run_for(12s);
  CHECK(p.a->ss->counters().keepalives_sent == 2);  // at 5 s and 10 s
  CHECK(p.b->ss->counters().keepalives_received == 2);
  CHECK(p.b->messages_in == 0);
  CHECK(p.a->messages_in == 0);
  // A write at 12 s pushes the next keepalive to 17 s.
  REQUIRE(p.a->ss->write(as_vec("x")).has_value());
  p.net.run_for(4s);
  CHECK(p.a->ss->counters().keepalives_sent == 2);
  p.net.run_for(2s);
  CHECK(p.a->ss->counters().keepalives_sent == 3);
  CHECK(p.b->received == as_vec("x"));
  CHECK(p.b->messages_in == 1);
  // END stops them (the reference's _final clears the timer).
  REQUIRE(p.a->ss->end().has_value());
  p.net.run_for(11s);
  CHECK(p.a->ss->counters().keepalives_sent == 3);
  CHECK(p.b->ended);
  CHECK_FALSE(p.a->closed);
}

TEST_CASE("secret stream: without keepalive, empty messages are delivered",
          "[unit][secret-stream]") {
  Pair p;
  SecretStreamOptions off;
  off.keep_alive = 0s;
  p.start(off, off);
  REQUIRE(p.a->ss->write({}).has_value());
  REQUIRE(p.a->ss->write(as_vec("y")).has_value());
  p.net.run_for(20s);
  CHECK(p.a->ss->counters().keepalives_sent == 0);
  REQUIRE(p.b->sizes.size() == 2);
  CHECK(p.b->sizes[0] == 0);
  CHECK(p.b->sizes[1] == 1);
}

TEST_CASE("secret stream: timeout destroys an idle stream, keepalives keep it",
          "[unit][secret-stream]") {
  SECTION("idle peer") {
    Pair p;
    SecretStreamOptions quiet, timed;
    quiet.keep_alive = 0s;
    timed.keep_alive = 0s;
    timed.timeout = 3s;
    p.start(quiet, timed);
    CHECK(p.net.run_until([&] { return p.b->closed && p.a->closed; }, 10s));
    REQUIRE(p.b->closed);
    CHECK(p.b->closed->code == std::errc::timed_out);
    CHECK(p.b->closed->message == "Stream timed out");
    REQUIRE(p.a->closed);
    CHECK(p.a->closed->message == "ECONNRESET");
  }
  SECTION("peer with keepalive") {
    Pair p;
    SecretStreamOptions ka, timed;
    ka.keep_alive = 1s;
    timed.timeout = 3s;
    p.start(ka, timed);
    p.net.run_for(10s);
    CHECK_FALSE(p.b->closed);
    CHECK(p.b->ss->counters().keepalives_received >= 9);
  }
}

TEST_CASE("secret stream: a tampered frame destroys with the reference's error",
          "[unit][secret-stream]") {
  Pair p;
  p.a->start(p.keys.initiator);
  // B plays the peer by hand on its bare UDX stream.
  sstream::Encryptor enc(p.keys.responder.tx);
  const auto header =
      sstream::header_message(sstream::stream_id(p.keys.responder.hash, false), enc.header());
  REQUIRE(p.b->raw->write(header).has_value());
  Bytes frames;
  REQUIRE(enc.append_frame(as_vec("hello"), frames).has_value());
  Bytes bad;
  REQUIRE(enc.append_frame(as_vec("world"), bad).has_value());
  bad[8] ^= 0x40;
  frames.insert(frames.end(), bad.begin(), bad.end());
  REQUIRE(p.b->raw->write(frames).has_value());
  CHECK(p.net.run_until([&] { return p.a->closed && p.b->raw_closed; }, 5s));
  CHECK(p.a->received == as_vec("hello"));
  REQUIRE(p.a->closed);
  CHECK(p.a->closed->code == WireErrc::decrypt_failed);
  CHECK(p.a->closed->message == "pull failed");
  REQUIRE(p.b->raw_closed);
  CHECK(*p.b->raw_closed == std::errc::connection_reset);  // A's UDX DESTROY
  // Nothing more is accepted after the close.
  CHECK(p.a->ss->write(as_vec("z")).error() == std::errc::broken_pipe);
}

TEST_CASE("secret stream: bad header messages and wrong keys", "[unit][secret-stream]") {
  SECTION("wrong size") {
    Pair p;
    p.a->start(p.keys.initiator);
    const Bytes short_header = {10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    REQUIRE(p.b->raw->write(short_header).has_value());
    CHECK(p.net.run_until([&] { return p.a->closed.has_value(); }, 5s));
    REQUIRE(p.a->closed);
    CHECK(p.a->closed->message == "Invalid header message received");
    CHECK(p.a->closed->code == WireErrc::bad_length);
  }
  SECTION("wrong stream id (the initiator's own id echoed)") {
    Pair p;
    p.a->start(p.keys.initiator);
    sstream::Encryptor enc(p.keys.responder.tx);
    const auto header =
        sstream::header_message(sstream::stream_id(p.keys.responder.hash, true), enc.header());
    REQUIRE(p.b->raw->write(header).has_value());
    CHECK(p.net.run_until([&] { return p.a->closed && p.b->raw_closed; }, 5s));
    REQUIRE(p.a->closed);
    CHECK(p.a->closed->message == "Invalid header received");
    CHECK(p.a->closed->code == WireErrc::invalid_value);
  }
  SECTION("wrong rx key: the first frame fails, the peer sees the DESTROY") {
    Pair p;
    SecretStreamHandshake wrong = p.keys.responder;
    wrong.rx[0] ^= 1;
    p.a->start(p.keys.initiator);
    p.b->start(wrong);
    // The header is accepted (ids come from the hash); the first data frame is not.
    p.net.run_for(1s);
    CHECK(p.b->ss->header_received());
    CHECK_FALSE(p.b->closed);
    REQUIRE(p.a->ss->write(as_vec("secret")).has_value());
    CHECK(p.net.run_until([&] { return p.a->closed && p.b->closed; }, 5s));
    REQUIRE(p.b->closed);
    CHECK(p.b->closed->message == "pull failed");
    REQUIRE(p.a->closed);
    CHECK(p.a->closed->code == std::errc::connection_reset);
    CHECK(p.b->received.empty());
  }
}

TEST_CASE("secret stream: END both ways with half close", "[unit][secret-stream]") {
  Pair p;
  p.start();
  REQUIRE(p.a->ss->write(as_vec("a1")).has_value());
  REQUIRE(p.a->ss->end().has_value());
  CHECK(p.a->ss->write(as_vec("late")).error() == std::errc::broken_pipe);
  CHECK(p.a->ss->end().error() == std::errc::broken_pipe);
  CHECK(p.net.run_until([&] { return p.b->ended; }, 5s));
  CHECK(p.b->received == as_vec("a1"));
  // B still writes after A's END.
  REQUIRE(p.b->ss->write(as_vec("b1")).has_value());
  REQUIRE(p.b->ss->write(as_vec("b2")).has_value());
  p.net.run_for(1s);
  CHECK(p.a->received == as_vec("b1b2"));
  CHECK_FALSE(p.a->closed);
  REQUIRE(p.b->ss->end().has_value());
  CHECK(p.net.run_until([&] { return p.a->closed && p.b->closed; }, 5s));
  CHECK(p.a->ended);
  REQUIRE(p.a->closed);
  REQUIRE(p.b->closed);
  CHECK_FALSE(*p.a->closed);
  CHECK_FALSE(*p.b->closed);
}

TEST_CASE("secret stream: destroy", "[unit][secret-stream]") {
  SECTION("mid-transfer: the peer gets ECONNRESET") {
    Pair p;
    p.start();
    const Bytes big = pattern(8 << 20, 3);
    p.a->send_all(big, true);
    CHECK(p.net.run_until([&] { return p.b->received.size() >= (1u << 20); }, 30s));
    p.a->ss->destroy();
    REQUIRE(p.a->closed);  // at once
    CHECK_FALSE(*p.a->closed);
    CHECK(p.net.run_until([&] { return p.b->closed.has_value(); }, 5s));
    REQUIRE(p.b->closed);
    CHECK(p.b->closed->code == std::errc::connection_reset);
    CHECK(p.b->closed->message == "ECONNRESET");
    CHECK(p.b->received.size() < big.size());
    CHECK(std::equal(p.b->received.begin(), p.b->received.end(), big.begin()));
  }
  SECTION("with an error: on_close gets it, once") {
    Pair p;
    p.start();
    int closes = 0;
    p.a->ss->handlers().on_close = [&](const SecretStreamError& e) {
      ++closes;
      CHECK(e.message == "boom");
    };
    p.a->ss->destroy({std::make_error_code(std::errc::io_error), "boom"});
    p.a->ss->destroy();
    CHECK(closes == 1);
    CHECK(p.a->ss->error().message == "boom");
    CHECK(p.net.run_until([&] { return p.b->closed.has_value(); }, 5s));
  }
  SECTION("the owner deletes the stream inside on_data") {
    Pair p;
    p.start();
    p.b->on_message_hook = [&] { p.b->ss.reset(); };
    REQUIRE(p.a->ss->write(as_vec("one")).has_value());
    REQUIRE(p.a->ss->write(as_vec("two")).has_value());
    CHECK(p.net.run_until([&] { return p.a->closed.has_value(); }, 5s));
    CHECK(p.b->received == as_vec("one"));
    REQUIRE(p.a->closed);
    CHECK(p.a->closed->code == std::errc::connection_reset);
  }
}

TEST_CASE("secret stream: unordered messages both ways", "[unit][secret-stream]") {
  Pair p;
  p.start();
  p.net.run_for(100ms);
  REQUIRE(p.a->ss->send(as_vec("ping")).has_value());
  REQUIRE(p.a->ss->send({}).has_value());
  const Bytes big = pattern(2000, 9);
  REQUIRE(p.b->ss->send(big).has_value());
  // Garbage on the same MESSAGE channel is dropped, as the reference ignores it.
  REQUIRE(p.a->ss->raw().send_message(pattern(40, 4)).has_value());
  REQUIRE(p.a->ss->raw().send_message(pattern(5, 4)).has_value());
  p.net.run_for(1s);
  REQUIRE(p.b->unordered.size() == 2);
  CHECK(p.b->unordered[0] == as_vec("ping"));
  CHECK(p.b->unordered[1].empty());
  REQUIRE(p.a->unordered.size() == 1);
  CHECK(p.a->unordered[0] == big);
  CHECK(p.b->ss->counters().messages_dropped == 2);
  CHECK(p.a->ss->send(pattern(4000, 1)).error() == std::errc::message_size);
  // Ordered data is untouched by them.
  CHECK(p.a->received.empty());
  CHECK(p.b->received.empty());
}

TEST_CASE("secret stream: a paused reader bounds the writer's memory", "[unit][secret-stream]") {
  Pair p;
  p.start();
  p.b->ss->pause_reading();
  const Bytes data = pattern(24 << 20, 5);
  p.a->send_all(data, true);
  p.net.run_for(10s);
  const std::size_t accepted = p.a->sent;
  INFO("accepted " << accepted << " bytes, A buffered " << p.a->ss->raw().send_buffered());
  // The paused side holds at most its 4 MiB window; the writer's UDX buffer stops at its
  // high-water mark (262144 + send window) plus one message.
  CHECK(accepted < data.size());
  CHECK(accepted <= (4u << 20) + 262144 + (4u << 20) + 65536);
  CHECK(p.b->received.empty());
  p.net.run_for(10s);
  CHECK(p.a->sent == accepted);  // still stopped: no unbounded queue anywhere
  p.b->ss->resume_reading();
  CHECK(p.net.run_until([&] { return p.b->ended; }, 120s));
  CHECK((p.b->received == data));
  CHECK(p.a->sent == data.size());
}

TEST_CASE("secret stream: pausing inside on_data keeps order and message boundaries",
          "[unit][secret-stream]") {
  Pair p;
  p.start();
  // B pauses after every message and resumes 1 ms later, so the rest of each UDX chunk (many
  // 1000-byte frames) waits in the stream.
  Timer resume(p.b->rt);
  p.b->on_message_hook = [&] {
    p.b->ss->pause_reading();
    resume.expires_after(1ms, [&] { p.b->ss->resume_reading(); });
  };
  const Bytes data = pattern(300 * 1000, 6);
  p.a->send_all(data, true, 1000);
  CHECK(p.net.run_until([&] { return p.b->ended; }, 60s));
  CHECK((p.b->received == data));
  CHECK(p.b->messages_in == 300);
  CHECK(std::all_of(p.b->sizes.begin(), p.b->sizes.end(), [](auto n) { return n == 1000; }));
}

TEST_CASE("secret async stream: async_write / async_read until eof, then errors",
          "[unit][secret-stream]") {
  Pair p;
  p.start();
  SecretAsyncStream as(std::move(p.a->ss), 64 * 1024, 16 * 1024);
  SecretAsyncStream bs(std::move(p.b->ss), 64 * 1024);
  const Bytes data = pattern(1 << 20, 8);
  Bytes got;
  std::optional<boost::system::error_code> read_end, write_end;

  auto writer = [&]() -> asio::awaitable<void> {
    const std::size_t n = co_await asio::async_write(as, asio::buffer(data), asio::use_awaitable);
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
  asio::co_spawn(p.net.executor(), writer(), asio::detached);
  asio::co_spawn(p.net.executor(), reader(), asio::detached);
  CHECK(p.net.run_until([&] { return read_end.has_value() && write_end.has_value(); }, 60s));
  REQUIRE(read_end);
  CHECK(*read_end == asio::error::eof);
  CHECK((got == data));
  // 16 KiB frames.
  CHECK(bs.stream().counters().frames_received == data.size() / (16 * 1024));

  // B's close() sends a DESTROY: A's pending read fails with connection_reset. After close()
  // everything on B fails with operation_aborted, even reads after its eof.
  std::optional<boost::system::error_code> a_read, b_read, b_write, a_write;
  std::array<std::uint8_t, 16> small{};
  as.async_read_some(asio::buffer(small),
                     [&](boost::system::error_code ec, std::size_t) { a_read = ec; });
  bs.close();
  bs.async_read_some(asio::buffer(small),
                     [&](boost::system::error_code ec, std::size_t) { b_read = ec; });
  bs.async_write_some(asio::buffer(data.data(), 10),
                      [&](boost::system::error_code ec, std::size_t) { b_write = ec; });
  CHECK(p.net.run_until([&] { return a_read && b_read && b_write; }, 5s));
  REQUIRE(a_read);
  CHECK(*a_read == asio::error::connection_reset);
  REQUIRE(b_read);
  CHECK(*b_read == asio::error::operation_aborted);
  REQUIRE(b_write);
  CHECK(*b_write == asio::error::operation_aborted);
  as.async_write_some(asio::buffer(data.data(), 10),
                      [&](boost::system::error_code ec, std::size_t) { a_write = ec; });
  p.net.run_for(10ms);
  REQUIRE(a_write);
  CHECK(*a_write == asio::error::connection_reset);
}

TEST_CASE("secret async stream: close() aborts pending operations", "[unit][secret-stream]") {
  Pair p;
  p.start();
  SecretAsyncStream as(std::move(p.a->ss));
  SecretAsyncStream bs(std::move(p.b->ss));
  std::optional<boost::system::error_code> a_read, b_read;
  std::array<std::uint8_t, 16> small{};
  as.async_read_some(asio::buffer(small),
                     [&](boost::system::error_code ec, std::size_t) { a_read = ec; });
  bs.async_read_some(asio::buffer(small),
                     [&](boost::system::error_code ec, std::size_t) { b_read = ec; });
  p.net.run_for(100ms);
  CHECK_FALSE(a_read);
  as.close();
  CHECK(as.stream().closed());
  CHECK(p.net.run_until([&] { return a_read && b_read; }, 5s));
  REQUIRE(a_read);
  CHECK(*a_read == asio::error::operation_aborted);
  REQUIRE(b_read);
  CHECK(*b_read == asio::error::connection_reset);
  CHECK(bs.stream().error().message == "ECONNRESET");
}

TEST_CASE("secret async stream: a protocol error is protocol_error, text in the stream",
          "[unit][secret-stream]") {
  Pair p;
  p.a->start(p.keys.initiator);
  SecretAsyncStream as(std::move(p.a->ss));
  std::optional<boost::system::error_code> a_read;
  std::array<std::uint8_t, 16> small{};
  as.async_read_some(asio::buffer(small),
                     [&](boost::system::error_code ec, std::size_t) { a_read = ec; });
  const Bytes junk = {3, 0, 0, 1, 2, 3};
  REQUIRE(p.b->raw->write(junk).has_value());
  CHECK(p.net.run_until([&] { return a_read.has_value(); }, 5s));
  REQUIRE(a_read);
  CHECK(*a_read == boost::system::errc::protocol_error);
  CHECK(as.stream().error().message == "Invalid header message received");
}
