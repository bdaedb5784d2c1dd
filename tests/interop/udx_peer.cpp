// The C++ side of tests/interop/udx-interop.js: UDX streams (core::UdxSocket/UdxStream) on a
// real loopback UDP socket, driven by newline-delimited JSON on stdin, reporting JSON on stdout.
//
//   stdout: {"event":"ready","port":P,"port2":P2}   P2: a second socket of the same UDX instance
//   stdin:  {"op":"stream","id":N[,"accept":R]}             -> {"event":"ok","op":"stream","id":N}
//               with accept: unconnected, its firewall hook connects it to (R, source) on the
//               first packet -> {"event":"firewall","id":N,"port":P,"ok":b}
//           {"op":"connect","id":N,"remoteId":R,"port":P}   -> {"event":"ok","op":"connect",...}
//           {"op":"send","id":N,"bytes":B,"seed":S,"chunk":C,"end":b}
//               writes B pseudo-random bytes in C-byte writes with back-pressure (then END if
//               asked) -> {"event":"sent","id":N,"bytes":B,"sha256":hex} once all are queued
//           {"op":"write","id":N,"hex":H} / {"op":"end","id":N} / {"op":"destroy","id":N}
//           {"op":"message","id":N,"hex":H}
//           {"op":"stats","id":N}  -> {"event":"stats","id":N,"retransmits":..,"rtos":..,...}
//           {"op":"change_remote","id":N,"remoteId":R,"port":P,"socket":1|2}
//               -> {"event":"ok","op":"change_remote","id":N,"immediate":b}, and when deferred
//               later {"event":"remote-changed","id":N}
//           {"op":"exit"}
//   events: {"event":"end","id":N,"bytes":B,"sha256":hex}   the peer's END, over all bytes read
//           {"event":"close","id":N,"error":""|"ECONNRESET"|"ETIMEDOUT"|..., "bytes":B}
//           {"event":"message","id":N,"hex":H}
//           {"event":"progress","id":N,"bytes":B}           every 1 MiB received
#include <sodium.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/datagram_socket.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::core;
using json = nlohmann::json;
using interop::emit;

namespace {

std::string hex_of(const unsigned char* p, std::size_t n) {
  return to_hex(ByteView(p, n));
}

std::string error_name(std::error_code ec) {
  if (!ec) return "";
  if (ec == std::errc::connection_reset) return "ECONNRESET";
  if (ec == std::errc::timed_out) return "ETIMEDOUT";
  return ec.message();
}

struct Peer {
  std::unique_ptr<UdxStream> stream;
  crypto_hash_sha256_state rx_hash{};
  crypto_hash_sha256_state tx_hash{};
  std::uint64_t rx_bytes = 0;
  std::uint64_t next_progress = 1 << 20;
  // The current "send" job.
  std::uint64_t to_send = 0;
  std::uint64_t sent = 0;
  std::size_t chunk = 65536;
  std::uint32_t rng = 1;
  bool end_after = false;
  bool sending = false;
  Bytes buf;
};

}  // namespace

int main() {
  if (sodium_init() < 0) return 1;
  boost::asio::io_context ctx;
  AsioRuntime runtime(ctx.get_executor());
  auto bound = runtime.bind_udp({{127, 0, 0, 1}, 0});
  if (!bound) {
    emit({{"event", "error"}, {"error", bound.error().message()}});
    return 1;
  }
  std::unique_ptr<DatagramSocket> sock = std::move(*bound);
  UdxSocket udx(runtime, *sock);
  udx.attach({});
  // For change_remote: hyperdht moves a stream from one socket of its instance to another.
  auto bound2 = runtime.bind_udp({{127, 0, 0, 1}, 0});
  if (!bound2) {
    emit({{"event", "error"}, {"error", bound2.error().message()}});
    return 1;
  }
  std::unique_ptr<DatagramSocket> sock2 = std::move(*bound2);
  UdxSocket udx2(runtime, *sock2, &udx.table());
  udx2.attach({});
  std::map<std::uint32_t, Peer> peers;
  bool done = false;

  // Generates and writes until the stream pushes back or the job is done.
  std::function<void(std::uint32_t)> pump = [&](std::uint32_t id) {
    auto it = peers.find(id);
    if (it == peers.end() || !it->second.stream || !it->second.sending) return;
    Peer& p = it->second;
    while (p.sent < p.to_send) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(p.chunk, p.to_send - p.sent));
      p.buf.resize(n);
      for (auto& b : p.buf) {
        p.rng ^= p.rng << 13;
        p.rng ^= p.rng >> 17;
        p.rng ^= p.rng << 5;
        b = static_cast<std::uint8_t>(p.rng);
      }
      crypto_hash_sha256_update(&p.tx_hash, p.buf.data(), n);
      auto r = p.stream->write(p.buf);
      if (!r) {
        emit({{"event", "error"}, {"id", id}, {"error", r.error().message()}});
        p.sending = false;
        return;
      }
      p.sent += n;
      if (!*r) return;  // on_drain resumes
    }
    p.sending = false;
    if (p.end_after) (void)p.stream->end();
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&p.tx_hash, h);
    emit({{"event", "sent"}, {"id", id}, {"bytes", p.sent}, {"sha256", hex_of(h, sizeof h)}});
  };

  auto on_line = [&](const std::string& line) {
    json cmd;
    try {
      cmd = json::parse(line);
    } catch (...) {
      return;
    }
    const std::string op = cmd.value("op", "");
    const std::uint32_t id = cmd.value("id", 0u);
    if (op == "exit") {
      done = true;
      peers.clear();
      ctx.stop();
      return;
    }
    if (op == "stream") {
      auto s = UdxStream::create(udx, id);
      if (!s) {
        emit({{"event", "error"}, {"op", op}, {"id", id}, {"error", s.error().message()}});
        return;
      }
      Peer& p = peers[id];
      p.stream = std::move(*s);
      crypto_hash_sha256_init(&p.rx_hash);
      auto& h = p.stream->handlers();
      h.on_data = [&, id](ByteView d) {
        Peer& q = peers[id];
        crypto_hash_sha256_update(&q.rx_hash, d.data(), d.size());
        q.rx_bytes += d.size();
        if (q.rx_bytes >= q.next_progress) {
          q.next_progress += 1 << 20;
          emit({{"event", "progress"}, {"id", id}, {"bytes", q.rx_bytes}});
        }
      };
      h.on_end = [&, id] {
        Peer& q = peers[id];
        unsigned char digest[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&q.rx_hash, digest);
        emit({{"event", "end"},
              {"id", id},
              {"bytes", q.rx_bytes},
              {"sha256", hex_of(digest, sizeof digest)}});
      };
      h.on_drain = [&, id] { pump(id); };
      if (cmd.contains("accept")) {
        // hyperdht's way: the first packet from the peer connects the stream (spec §2.3).
        const std::uint32_t remote_id = cmd.value("accept", 0u);
        h.on_firewall = [&, id, remote_id](core::UdxSocket&, const Ipv4Address& from) {
          auto r = peers[id].stream->connect(remote_id, from);
          emit({{"event", "firewall"}, {"id", id}, {"port", from.port}, {"ok", r.has_value()}});
          return false;
        };
      }
      h.on_message = [id](ByteView d) {
        emit({{"event", "message"}, {"id", id}, {"hex", to_hex(d)}});
      };
      h.on_close = [&, id](std::error_code ec) {
        const auto& c = peers[id].stream->counters();
        emit({{"event", "close"},
              {"id", id},
              {"error", error_name(ec)},
              {"bytes", peers[id].rx_bytes},
              {"retransmits", c.retransmits},
              {"rtos", c.rto_expiries},
              {"duplicates", c.duplicates_received},
              {"acks", c.acks_sent},
              {"sendDropped", sock->counters().send_dropped},
              {"sendErrors", sock->counters().send_errors},
              {"received", sock->counters().received_datagrams},
              {"received2", sock2->counters().received_datagrams}});
      };
      emit({{"event", "ok"}, {"op", op}, {"id", id}});
      return;
    }
    auto it = peers.find(id);
    if (it == peers.end() || !it->second.stream) {
      emit({{"event", "error"}, {"op", op}, {"id", id}, {"error", "no such stream"}});
      return;
    }
    Peer& p = it->second;
    if (op == "connect") {
      auto r = p.stream->connect(cmd.value("remoteId", 0u),
                                 {{127, 0, 0, 1}, cmd.value("port", std::uint16_t{0})});
      if (!r)
        emit({{"event", "error"}, {"op", op}, {"id", id}, {"error", r.error().message()}});
      else
        emit({{"event", "ok"}, {"op", op}, {"id", id}});
    } else if (op == "send") {
      p.to_send = cmd.value("bytes", std::uint64_t{0});
      p.sent = 0;
      p.chunk = cmd.value("chunk", std::size_t{65536});
      p.rng = cmd.value("seed", 1u) | 1u;
      p.end_after = cmd.value("end", false);
      p.sending = true;
      crypto_hash_sha256_init(&p.tx_hash);
      pump(id);
    } else if (op == "write") {
      const auto bytes = from_hex(cmd.value("hex", ""));
      if (bytes) (void)p.stream->write(*bytes);
    } else if (op == "end") {
      (void)p.stream->end();
    } else if (op == "destroy") {
      p.stream->destroy();
    } else if (op == "message") {
      const auto bytes = from_hex(cmd.value("hex", ""));
      if (bytes) (void)p.stream->send_message(*bytes);
    } else if (op == "change_remote") {
      UdxSocket& to = cmd.value("socket", 1) == 2 ? udx2 : udx;
      auto r = p.stream->change_remote(to, cmd.value("remoteId", 0u),
                                       {{127, 0, 0, 1}, cmd.value("port", std::uint16_t{0})}, [id] {
                                         emit({{"event", "remote-changed"}, {"id", id}});
                                       });
      if (!r)
        emit({{"event", "error"}, {"op", op}, {"id", id}, {"error", r.error().message()}});
      else
        emit({{"event", "ok"}, {"op", op}, {"id", id}, {"immediate", *r}});
    } else if (op == "stats") {
      // For udx-impaired.js: a stream's recovery counters without closing it.
      const auto& c = p.stream->counters();
      emit({{"event", "stats"},
            {"id", id},
            {"retransmits", c.retransmits},
            {"rtos", c.rto_expiries},
            {"fastRecoveries", c.fast_recoveries},
            {"tailLossProbes", c.tail_loss_probes},
            {"packetsSent", c.packets_sent},
            {"packetsReceived", c.packets_received},
            {"duplicates", c.duplicates_received},
            {"acks", c.acks_sent},
            {"srtt", p.stream->rtt().srtt()},
            {"cwnd", p.stream->cwnd()}});
    }
  };

  emit({{"event", "ready"},
        {"port", sock->local_address().port},
        {"port2", sock2->local_address().port}});

  // stdin is read on its own thread and handed to the executor line by line.
  auto work = boost::asio::make_work_guard(ctx);
  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line))
      boost::asio::post(ctx, [&on_line, line] { on_line(line); });
    boost::asio::post(ctx, [&] {
      if (!done) ctx.stop();
    });
  });
  ctx.run();
  reader.join();
  return 0;
}
