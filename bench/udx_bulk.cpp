// udx_bulk: the C++ side of bench/suites/udx.sh (bench/js/udx_bulk.js is the same program on
// udx-native, with the same command line and output, so the suite can pair any two).
//
//   udx_bulk --role recv [--mode raw|secret] [--id I] [--remote-id R] [--key HEX] [--timeout S]
//       (ids default to 1 for the receiver and 2 for the sender)
//       Binds 127.0.0.1:0 and prints {"ready":true,"port":P,"id":I,...}. Its stream is left
//       unconnected: the first packet from the sender connects it to (R, source address), as
//       hyperdht does (spec §2.3), so the sender's port need not be passed back. Counts the bytes
//       until the sender's END, ends its own side, and prints its result line.
//   udx_bulk --role send --connect PORT [--mode raw|secret] [--id I] [--remote-id R]
//            [--bytes N] [--seconds T] [--chunk C] [--key HEX] [--timeout S]
//       Writes C-byte chunks as fast as back-pressure allows (write() false -> on_drain) until
//       N bytes are written or T seconds have passed, whichever comes first, then ENDs, and
//       prints its result line once the stream has closed (all data acked, END/END).
//   udx_bulk --capabilities  -> {"impl":"cpp","modes":[...]}
//
// Result line (the last stdout line): {"impl":"cpp","role":..,"mode":..,"bytes":..,"seconds":..,
// "cpu_user_s":..,"cpu_sys_s":..,"mbps":..,"cpu_s_per_gib":..,"retransmits":..,...}
// "seconds" is the transfer window: sender from its first write to the close, receiver from its
// first byte to the END. CPU is getrusage(RUSAGE_SELF) over the same window (the receiver's from
// ready: it idles until the first byte), so process start-up is not counted. MB = 10^6 bytes.
// On error or timeout the line has "error" set and the exit status is 1.
//
// Modes: "raw" is the bare UDX stream. "secret" is UDX + secret stream with a handshake both
// ends derive from --key (derive_handshake below, the same derivation as udx_bulk.js); its C++
// side waits for core/secret_stream.hpp: until then --capabilities omits it and --mode secret
// exits 3 with an error line, which the suite reports.
#include <sodium.h>
#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/datagram_socket.hpp"
#include "core/secret_stream.hpp"
#include "core/timer.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"
#include "protocol/bytes.hpp"

using namespace hdht;
using namespace hdht::core;
using json = nlohmann::json;

namespace {

struct Options {
  std::string role;
  std::string mode = "raw";
  // Defaults by role (receiver 1, sender 2) so a pair needs no ids on the command line.
  std::uint32_t id = 0;
  std::uint32_t remote_id = 0;
  std::uint16_t connect_port = 0;
  std::uint64_t bytes = std::uint64_t{1} << 30;
  double seconds = 10;
  std::size_t chunk = 65536;
  std::string key_hex;
  double timeout = 0;  // 0: seconds + 120
};

struct Usage {
  double user = 0;
  double sys = 0;
};

Usage rusage_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return {s(ru.ru_utime), s(ru.ru_stime)};
}

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void print_line(const json& j) {
  std::fputs((j.dump() + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// The secret stream's handshake result, derived from one shared key instead of a Noise
// handshake, so the benchmark measures the stream and not the DHT: BLAKE2b(label, key=K) for the
// two directions' keys (32 bytes) and the handshake hash (64 bytes). The initiator (sender)
// sends with "hdht-bench-udx/initiator" and receives with ".../responder"; the receiver swaps
// them. bench/js/udx_bulk.js derives the same bytes.
struct Handshake {
  std::array<std::uint8_t, 32> tx{};
  std::array<std::uint8_t, 32> rx{};
  std::array<std::uint8_t, 64> hash{};
};

Handshake derive_handshake(ByteView key, bool initiator) {
  auto derive = [&](std::string_view label, std::uint8_t* out, std::size_t n) {
    crypto_generichash(out, n, reinterpret_cast<const unsigned char*>(label.data()), label.size(),
                       key.data(), key.size());
  };
  Handshake h;
  derive(initiator ? "hdht-bench-udx/initiator" : "hdht-bench-udx/responder", h.tx.data(), 32);
  derive(initiator ? "hdht-bench-udx/responder" : "hdht-bench-udx/initiator", h.rx.data(), 32);
  derive("hdht-bench-udx/hash", h.hash.data(), 64);
  return h;
}

// What the benchmark writes to and reads from: the bare UDX stream, or (later) a secret stream
// on top of it. The mode is one Pipe implementation; the benchmark loop does not change.
class Pipe {
 public:
  struct Handlers {
    std::function<void(ByteView)> on_data;
    std::function<void()> on_end;
    std::function<void()> on_drain;
    std::function<void(std::error_code)> on_close;
  };
  virtual ~Pipe() = default;
  // Called once the UDX stream is connected (sender: at once; receiver: on the first packet).
  virtual void on_connected() {}
  virtual Result<bool> write(ByteView data) = 0;
  virtual Result<void> end() = 0;
  // Mode-specific counters for the result line.
  virtual json stats() const { return json::object(); }
};

class RawPipe final : public Pipe {
 public:
  RawPipe(UdxStream& stream, Handlers h) : stream_(stream) {
    auto& sh = stream_.handlers();
    sh.on_data = std::move(h.on_data);
    sh.on_end = std::move(h.on_end);
    sh.on_drain = std::move(h.on_drain);
    sh.on_close = std::move(h.on_close);
  }
  Result<bool> write(ByteView data) override { return stream_.write(data); }
  Result<void> end() override { return stream_.end(); }

 private:
  UdxStream& stream_;
};

// A core::SecretStream over the UdxStream, made once the UDX stream is connected (it sends its
// header at once, and the receiver only learns its peer from the first packet). It takes
// ownership of the UdxStream; Bench keeps a plain pointer to it for the counters. Keep-alive is
// off, as on the JS side's NoiseSecretStream.
class SecretPipe final : public Pipe {
 public:
  SecretPipe(Runtime& runtime, std::unique_ptr<UdxStream>& owner, const Handshake& hs,
             bool initiator, Handlers h)
      : runtime_(runtime), owner_(owner), handlers_(std::move(h)) {
    handshake_.is_initiator = initiator;
    handshake_.tx = hs.tx;
    handshake_.rx = hs.rx;
    handshake_.hash = hs.hash;
  }

  void on_connected() override {
    SecretStreamOptions options;
    options.keep_alive = Duration{0};
    SecretStream::Handlers sh;
    sh.on_data = handlers_.on_data;
    sh.on_end = handlers_.on_end;
    sh.on_drain = handlers_.on_drain;
    sh.on_close = [cb = handlers_.on_close](const SecretStreamError& e) {
      if (cb) cb(e.code);
    };
    auto made = SecretStream::create(runtime_, std::move(owner_), handshake_, options, sh);
    if (!made) {
      if (handlers_.on_close) handlers_.on_close(made.error());
      return;
    }
    stream_ = std::move(*made);
  }
  Result<bool> write(ByteView data) override {
    if (!stream_) return std::make_error_code(std::errc::not_connected);
    return stream_->write(data);
  }
  Result<void> end() override {
    if (!stream_) return std::make_error_code(std::errc::not_connected);
    return stream_->end();
  }
  json stats() const override {
    if (!stream_) return json::object();
    const auto& c = stream_->counters();
    return {{"frames_sent", c.frames_sent},
            {"frames_received", c.frames_received},
            {"raw_bytes_written", c.raw_bytes_written},
            {"raw_bytes_read", c.raw_bytes_read}};
  }

 private:
  Runtime& runtime_;
  std::unique_ptr<UdxStream>& owner_;
  SecretStreamHandshake handshake_;
  Handlers handlers_;
  std::unique_ptr<SecretStream> stream_;
};

std::unique_ptr<Pipe> make_secret_pipe(Runtime& runtime, std::unique_ptr<UdxStream>& stream,
                                       const Options& opts, Pipe::Handlers h) {
  const auto key = from_hex(opts.key_hex);
  const Bytes k = key ? *key : Bytes{};
  const bool initiator = opts.role == "send";
  return std::make_unique<SecretPipe>(runtime, stream, derive_handshake(k, initiator), initiator,
                                      std::move(h));
}

json capabilities() {
  return {{"impl", "cpp"}, {"modes", json::array({"raw", "secret"})}};
}

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--capabilities") {
      print_line(capabilities());
      std::exit(0);
    }
    if (i + 1 >= argc) return std::nullopt;
    const char* v = argv[++i];
    if (a == "--role")
      o.role = v;
    else if (a == "--mode")
      o.mode = v;
    else if (a == "--id")
      o.id = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--remote-id")
      o.remote_id = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--connect")
      o.connect_port = static_cast<std::uint16_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--bytes")
      o.bytes = std::strtoull(v, nullptr, 10);
    else if (a == "--seconds")
      o.seconds = std::strtod(v, nullptr);
    else if (a == "--chunk")
      o.chunk = std::strtoul(v, nullptr, 10);
    else if (a == "--key")
      o.key_hex = v;
    else if (a == "--timeout")
      o.timeout = std::strtod(v, nullptr);
    else
      return std::nullopt;
  }
  if (o.role != "send" && o.role != "recv") return std::nullopt;
  if (o.mode != "raw" && o.mode != "secret") return std::nullopt;
  if (o.role == "send" && o.connect_port == 0) return std::nullopt;
  if (o.chunk == 0 || o.chunk > (1u << 24)) return std::nullopt;
  if (o.timeout <= 0) o.timeout = o.seconds + 120;
  if (o.id == 0) o.id = o.role == "recv" ? 1 : 2;
  if (o.remote_id == 0) o.remote_id = o.role == "recv" ? 2 : 1;
  return o;
}

class Bench {
 public:
  Bench(boost::asio::io_context& ctx, Options opts)
      : ctx_(ctx),
        runtime_(ctx.get_executor()),
        opts_(std::move(opts)),
        deadline_(runtime_),
        linger_(runtime_) {}

  int run() {
    auto bound = runtime_.bind_udp({{127, 0, 0, 1}, 0});
    if (!bound) return fail("bind: " + bound.error().message());
    sock_ = std::move(*bound);
    udx_ = std::make_unique<UdxSocket>(runtime_, *sock_);
    udx_->attach({});
    auto s = UdxStream::create(*udx_, opts_.id);
    if (!s) return fail("stream: " + s.error().message());
    stream_ = std::move(*s);
    udx_stream_ = stream_.get();

    Pipe::Handlers h;
    h.on_data = [this](ByteView d) {
      if (bytes_ == 0) {
        t0_ = Clock::now();
      }
      bytes_ += d.size();
    };
    h.on_end = [this] { on_peer_end(); };
    h.on_drain = [this] { pump(); };
    h.on_close = [this](std::error_code ec) { on_close(ec); };
    if (opts_.mode == "secret") {
      pipe_ = make_secret_pipe(runtime_, stream_, opts_, std::move(h));
    } else {
      pipe_ = std::make_unique<RawPipe>(*stream_, std::move(h));
    }

    deadline_.expires_after(
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(opts_.timeout)),
        [this] { finish("timeout"); });

    if (opts_.role == "recv") {
      udx_stream_->handlers().on_firewall = [this](core::UdxSocket&, const Ipv4Address& from) {
        if (udx_stream_->connect(opts_.remote_id, from)) pipe_->on_connected();
        return false;
      };
      print_ready();
      cpu0_ = rusage_now();
    } else {
      if (auto r = udx_stream_->connect(opts_.remote_id, {{127, 0, 0, 1}, opts_.connect_port}); !r)
        return fail("connect: " + r.error().message());
      pipe_->on_connected();
      print_ready();
      chunk_.resize(opts_.chunk);
      randombytes_buf(chunk_.data(), chunk_.size());
      cpu0_ = rusage_now();
      t0_ = Clock::now();
      writing_ = true;
      pump();
    }
    ctx_.run();
    return status_;
  }

 private:
  void print_ready() {
    print_line({{"ready", true},
                {"impl", "cpp"},
                {"role", opts_.role},
                {"mode", opts_.mode},
                {"port", sock_->local_address().port},
                {"id", opts_.id}});
  }

  // Writes until the stream pushes back, the byte budget is spent or the time is up.
  void pump() {
    while (writing_) {
      if (bytes_ >= opts_.bytes || since(t0_) >= opts_.seconds) {
        writing_ = false;
        if (auto r = pipe_->end(); !r) finish("end: " + r.error().message());
        return;
      }
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk_.size(), opts_.bytes - bytes_));
      auto r = pipe_->write(ByteView(chunk_.data(), n));
      if (!r) {
        finish("write: " + r.error().message());
        return;
      }
      bytes_ += n;
      if (!*r) return;  // on_drain resumes
    }
  }

  void on_peer_end() {
    if (opts_.role == "recv") {
      // The receiver's window ends with the last byte; the close that follows is bookkeeping.
      elapsed_ = since(t0_);
      cpu1_ = rusage_now();
      measured_ = true;
      linger_.expires_after(std::chrono::seconds(3), [this] { finish(""); });
    }
    (void)pipe_->end();
  }

  void on_close(std::error_code ec) {
    if (ec) {
      finish("close: " + ec.message());
      return;
    }
    finish("");
  }

  json result(const std::string& error) {
    if (!measured_) {
      elapsed_ = (bytes_ > 0 || opts_.role == "send") ? since(t0_) : 0;
      cpu1_ = rusage_now();
    }
    const double user = cpu1_.user - cpu0_.user;
    const double sys = cpu1_.sys - cpu0_.sys;
    const double gib = static_cast<double>(bytes_) / static_cast<double>(1u << 30);
    json j{{"impl", "cpp"},
           {"role", opts_.role},
           {"mode", opts_.mode},
           {"bytes", bytes_},
           {"seconds", elapsed_},
           {"cpu_user_s", user},
           {"cpu_sys_s", sys},
           {"mbps", elapsed_ > 0 ? static_cast<double>(bytes_) / elapsed_ / 1e6 : 0.0},
           {"cpu_s_per_gib", gib > 0 ? (user + sys) / gib : 0.0},
           {"cpu_util", elapsed_ > 0 ? (user + sys) / elapsed_ : 0.0}};
    if (udx_stream_) {
      const auto& c = udx_stream_->counters();
      j["retransmits"] = c.retransmits;
      j["rtos"] = c.rto_expiries;
      j["fast_recoveries"] = c.fast_recoveries;
      j["tail_loss_probes"] = c.tail_loss_probes;
      j["packets_sent"] = c.packets_sent;
      j["packets_received"] = c.packets_received;
      j["duplicates"] = c.duplicates_received;
      j["acks_sent"] = c.acks_sent;
      j["mtu"] = udx_stream_->mtu();
      j["srtt_ms"] = udx_stream_->rtt().srtt();
    }
    if (sock_) {
      const auto& c = sock_->counters();
      j["udp_sent"] = c.sent_datagrams;
      j["udp_received"] = c.received_datagrams;
      j["udp_send_dropped"] = c.send_dropped;
      j["udp_send_errors"] = c.send_errors;
    }
    if (pipe_) j["pipe"] = pipe_->stats();
    if (!error.empty()) j["error"] = error;
    return j;
  }

  // Prints the result once and stops. The receiver has measured at the END; it lingers briefly
  // for the close so its END/state packets reach the sender, then stops anyway.
  void finish(const std::string& error) {
    if (finished_) return;
    finished_ = true;
    print_line(result(error));
    status_ = error.empty() ? 0 : 1;
    deadline_.cancel();
    ctx_.stop();
  }

  int fail(const std::string& error) {
    print_line(result(error));
    return 1;
  }

  boost::asio::io_context& ctx_;
  AsioRuntime runtime_;
  Options opts_;
  std::unique_ptr<DatagramSocket> sock_;
  std::unique_ptr<UdxSocket> udx_;
  std::unique_ptr<UdxStream> stream_;  // empty once a secret pipe owns it
  std::unique_ptr<Pipe> pipe_;
  UdxStream* udx_stream_ = nullptr;  // the UDX stream, whoever owns it
  Timer deadline_;
  Timer linger_;
  Bytes chunk_;
  bool writing_ = false;
  bool measured_ = false;
  bool finished_ = false;
  int status_ = 1;
  std::uint64_t bytes_ = 0;
  double elapsed_ = 0;
  Clock::time_point t0_ = Clock::now();
  Usage cpu0_, cpu1_;
};

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  auto opts = parse(argc, argv);
  if (!opts) {
    std::fprintf(stderr,
                 "usage: udx_bulk --role recv|send [--connect PORT] [--mode raw|secret] [--id I] "
                 "[--remote-id R] [--bytes N] [--seconds T] [--chunk C] [--key HEX] "
                 "[--timeout S] | --capabilities\n");
    return 2;
  }
  boost::asio::io_context ctx;
  Bench bench(ctx, std::move(*opts));
  return bench.run();
}
