// The C++ side of tests/interop/sstream-interop.js: core::SecretStream on core::UdxStream on a
// real loopback UDP socket, driven by JSON lines (tests/interop/json_lines.hpp). Every command
// may carry "seq", echoed in its answer.
//
//   stdout: {"event":"ready","port":P}
//   stdin:  {"op":"stream","id":N,"remoteId":R,"port":P,"initiator":b,"tx":hex,"rx":hex,
//            "hash":hex,"publicKey":hex,"remotePublicKey":hex[,"keepAlive":ms][,"timeout":ms]}
//               creates UDX stream N, connects it to (R, 127.0.0.1:P) and starts the secret
//               stream on it (header sent at once)                 -> {"event":"ok","id":N}
//           {"op":"send","id":N,"bytes":B,"seed":S,"chunk":C,"end":b}
//               writes B pseudo-random bytes as C-byte messages with back-pressure (then END
//               if asked)                 -> {"event":"sent","id":N,"bytes":B,"sha256":hex}
//           {"op":"write","id":N,"hex":H} / {"op":"end","id":N} / {"op":"destroy","id":N}
//           {"op":"message","id":N,"hex":H}           an unordered message (trySend)
//           {"op":"stats","id":N}                     -> {"event":"stats",...counters}
//           {"op":"quit"}
//   events: {"event":"end","id":N,"bytes":B,"messages":M,"sha256":hex}   the peer's END
//           {"event":"close","id":N,"error":"", "message":text,"bytes":B,...}
//           {"event":"message","id":N,"hex":H}
//           {"event":"progress","id":N,"bytes":B}            every 1 MiB received
#include <sodium.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/datagram_socket.hpp"
#include "core/secret_stream.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::core;
using json = nlohmann::json;
using interop::bad_command;
using interop::emit;

namespace {

std::string sha_hex(crypto_hash_sha256_state& st) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  return to_hex(ByteView(h, sizeof h));
}

template <std::size_t N>
bool key_from(const json& cmd, const char* field, FixedBytes<N>& out) {
  auto v = fixed_from_hex<N>(cmd.value(field, ""));
  if (!v) return false;
  out = *v;
  return true;
}

json counters_json(const SecretStreamCounters& c) {
  return {{"framesSent", c.frames_sent},          {"keepalivesSent", c.keepalives_sent},
          {"framesReceived", c.frames_received},  {"keepalivesReceived", c.keepalives_received},
          {"messagesSent", c.messages_sent},      {"messagesReceived", c.messages_received},
          {"messagesDropped", c.messages_dropped}};
}

struct Peer {
  std::unique_ptr<SecretStream> stream;
  crypto_hash_sha256_state rx_hash{};
  crypto_hash_sha256_state tx_hash{};
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_messages = 0;
  std::uint64_t next_progress = 1 << 20;
  // The current "send" job.
  std::uint64_t to_send = 0;
  std::uint64_t sent = 0;
  std::size_t chunk = 65536;
  std::uint32_t rng = 1;
  bool end_after = false;
  bool sending = false;
  json seq;
  Bytes buf;
};

class SstreamPeer {
 public:
  SstreamPeer(Runtime& runtime, DatagramSocket& sock) : runtime_(runtime), udx_(runtime, sock) {
    udx_.attach({});
  }

  bool handle(const json& cmd) {
    const std::string op = cmd.value("op", "");
    const json seq = cmd.value("seq", json(nullptr));
    if (op == "quit") {
      peers_.clear();
      return false;
    }
    if (!cmd.contains("id") || !cmd["id"].is_number_unsigned()) {
      bad_command(cmd, "no id");
      return true;
    }
    const std::uint32_t id = cmd["id"].get<std::uint32_t>();
    if (op == "stream") {
      start(cmd, id, seq);
      return true;
    }
    auto it = peers_.find(id);
    if (it == peers_.end() || !it->second.stream) {
      emit({{"event", "error"}, {"seq", seq}, {"id", id}, {"error", "no such stream"}});
      return true;
    }
    Peer& p = it->second;
    if (op == "send") {
      p.to_send = cmd.value("bytes", std::uint64_t{0});
      p.sent = 0;
      p.chunk = std::max<std::size_t>(1, cmd.value("chunk", std::size_t{65536}));
      p.rng = cmd.value("seed", 1u) | 1u;
      p.end_after = cmd.value("end", false);
      p.sending = true;
      p.seq = seq;
      crypto_hash_sha256_init(&p.tx_hash);
      pump(id);
    } else if (op == "write") {
      const auto bytes = from_hex(cmd.value("hex", ""));
      if (!bytes) return bad_command(cmd, "hex"), true;
      report(p.stream->write(*bytes), id, seq);
    } else if (op == "end") {
      report(p.stream->end(), id, seq);
    } else if (op == "destroy") {
      p.stream->destroy();
    } else if (op == "message") {
      const auto bytes = from_hex(cmd.value("hex", ""));
      if (!bytes) return bad_command(cmd, "hex"), true;
      report(p.stream->send(*bytes), id, seq);
    } else if (op == "stats") {
      json ev = counters_json(p.stream->counters());
      ev["event"] = "stats";
      ev["seq"] = seq;
      ev["id"] = id;
      ev["headerReceived"] = p.stream->header_received();
      emit(ev);
    } else {
      bad_command(cmd, "unknown op");
    }
    return true;
  }

 private:
  template <class R>
  void report(const R& r, std::uint32_t id, const json& seq) {
    if (r)
      emit({{"event", "ok"}, {"seq", seq}, {"id", id}});
    else
      emit({{"event", "error"}, {"seq", seq}, {"id", id}, {"error", r.error().message()}});
  }

  void start(const json& cmd, std::uint32_t id, const json& seq) {
    SecretStreamHandshake hs;
    hs.is_initiator = cmd.value("initiator", false);
    if (!key_from(cmd, "tx", hs.tx) || !key_from(cmd, "rx", hs.rx) ||
        !key_from(cmd, "hash", hs.hash) || !key_from(cmd, "publicKey", hs.public_key) ||
        !key_from(cmd, "remotePublicKey", hs.remote_public_key)) {
      bad_command(cmd, "keys");
      return;
    }
    SecretStreamOptions opt;
    opt.keep_alive = std::chrono::milliseconds(cmd.value("keepAlive", 5000));
    opt.timeout = std::chrono::milliseconds(cmd.value("timeout", 0));
    auto raw = UdxStream::create(udx_, id);
    if (!raw) {
      emit({{"event", "error"}, {"seq", seq}, {"id", id}, {"error", raw.error().message()}});
      return;
    }
    auto c = (*raw)->connect(cmd.value("remoteId", 0u),
                             {{127, 0, 0, 1}, cmd.value("port", std::uint16_t{0})});
    if (!c) {
      emit({{"event", "error"}, {"seq", seq}, {"id", id}, {"error", c.error().message()}});
      return;
    }
    Peer& p = peers_[id];
    crypto_hash_sha256_init(&p.rx_hash);
    SecretStream::Handlers h;
    h.on_data = [this, id](ByteView d) {
      Peer& q = peers_[id];
      crypto_hash_sha256_update(&q.rx_hash, d.data(), d.size());
      q.rx_bytes += d.size();
      ++q.rx_messages;
      if (q.rx_bytes >= q.next_progress) {
        q.next_progress += 1 << 20;
        emit({{"event", "progress"}, {"id", id}, {"bytes", q.rx_bytes}});
      }
    };
    h.on_end = [this, id] {
      Peer& q = peers_[id];
      emit({{"event", "end"},
            {"id", id},
            {"bytes", q.rx_bytes},
            {"messages", q.rx_messages},
            {"sha256", sha_hex(q.rx_hash)}});
    };
    h.on_drain = [this, id] { pump(id); };
    h.on_message = [id](ByteView d) {
      emit({{"event", "message"}, {"id", id}, {"hex", to_hex(d)}});
    };
    h.on_close = [this, id](const SecretStreamError& e) {
      Peer& q = peers_[id];
      const auto& raw_counters = q.stream->raw().counters();
      json ev = counters_json(q.stream->counters());
      ev["event"] = "close";
      ev["id"] = id;
      ev["error"] = e ? e.message : "";
      ev["bytes"] = q.rx_bytes;
      ev["retransmits"] = raw_counters.retransmits;
      emit(ev);
    };
    auto s = SecretStream::create(runtime_, std::move(*raw), hs, opt, std::move(h));
    if (!s) {
      peers_.erase(id);
      emit({{"event", "error"}, {"seq", seq}, {"id", id}, {"error", s.error().message()}});
      return;
    }
    p.stream = std::move(*s);
    emit({{"event", "ok"}, {"seq", seq}, {"id", id}});
  }

  // Generates and writes until the stream pushes back or the job is done.
  void pump(std::uint32_t id) {
    auto it = peers_.find(id);
    if (it == peers_.end() || !it->second.stream || !it->second.sending) return;
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
        emit({{"event", "error"}, {"seq", p.seq}, {"id", id}, {"error", r.error().message()}});
        p.sending = false;
        return;
      }
      p.sent += n;
      if (!*r) return;  // on_drain resumes
    }
    p.sending = false;
    if (p.end_after) (void)p.stream->end();
    emit({{"event", "sent"},
          {"seq", p.seq},
          {"id", id},
          {"bytes", p.sent},
          {"sha256", sha_hex(p.tx_hash)}});
  }

  Runtime& runtime_;
  UdxSocket udx_;
  std::map<std::uint32_t, Peer> peers_;
};

}  // namespace

int main() {
  if (sodium_init() < 0) return 1;
  boost::asio::io_context ctx;
  AsioRuntime runtime(ctx.get_executor());
  auto bound = runtime.bind_udp({{127, 0, 0, 1}, 0});
  if (!bound) {
    emit({{"event", "start-error"}, {"error", bound.error().message()}});
    return 1;
  }
  std::unique_ptr<DatagramSocket> sock = std::move(*bound);
  SstreamPeer peer(runtime, *sock);
  emit({{"event", "ready"}, {"port", sock->local_address().port}});
  interop::run_json_lines(ctx, [&](const json& cmd) { return peer.handle(cmd); }, {});
}
