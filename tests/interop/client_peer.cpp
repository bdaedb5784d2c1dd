// The C++ side of tests/interop/client-interop.js: HyperDhtNodes on one io_context that connect
// to servers by public key (core/peer_connect.hpp), driven by JSON lines on stdin; answers and
// events on stdout. Every command may carry "seq", echoed in its answer. Keys are hex.
//
//   {"op":"start","nodes":N,"bootstrap":"h:p","host":"127.0.0.1","ephemeral":b,"firewalled":b}
//        -> {"event":"started","nodes":[i..]} once all are bootstrapped (one after another)
//        "bootstrapper":port starts one bootstrapper on host:port instead
//   {"op":"status"} -> {"event":"status","nodes":[{node,id,port,publicKey,router:{...}}]}
//   {"op":"connect","node":i,"conn":c,"publicKey":hex,"opts":{"relayAddresses":[{host,port}],
//    "localConnection":b,"fastOpen":b,"reusableSocket":b,"relayThrough":hex,"holepunch":b}}
//        -> {"event":"connected","conn":c,"remotePublicKey","publicKey","handshakeHash","path",
//            "relayed","relayAttempted","attempts","handshakes","rounds","handshakeMs","openMs",
//            "routeRetried","routeUsed","routeAdded"} (reusable-socket routes)
//         | {"event":"connect-error","conn":c,"code":"PEER_NOT_FOUND",...,"cause","ms"}
//   {"op":"send","conn":c,"bytes":B,"seed":S}: B pseudo-random bytes in 64 KiB messages with
//        back-pressure -> {"event":"sent","conn":c,"bytes":B,"sha256":hex}; every byte that
//        comes back is hashed: {"event":"received","conn":c,"bytes":B,"sha256":hex,"ms":t,
//        "retransmits":n} once B bytes arrived (n: the UDX stream's retransmissions so far)
//   {"op":"end","conn":c} / {"op":"destroy","conn":c}
//   {"op":"quit"}
//   events: {"event":"closed","conn":c,"error":""|text,"received":B} when a stream closes; the
//   peer's END is answered with ours (a JS socket's allowHalfOpen false)
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/peer_connect.hpp"
#include "core/rpc_errors.hpp"
#include "protocol/crypto.hpp"
#include "tests/interop/hyperdht_nodes.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;
using interop::bad_command;
using interop::emit;
using interop::hex_or_null;

namespace {

// The reference's error `code` for our error codes; the message otherwise.
std::string code_name(std::error_code ec) {
  if (ec.category() == hyperdht_category())
    return hyperdht_error_name(static_cast<HyperDhtErrc>(ec.value()));
  if (ec.category() == dht::rpc_category())
    return dht::rpc_error_name(static_cast<dht::RpcErrc>(ec.value()));
  return ec.message();
}

double ms(core::Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

struct Conn {
  std::unique_ptr<PeerConnect> connect;
  std::unique_ptr<core::SecretStream> stream;
  core::TimePoint started;
  crypto_hash_sha256_state rx_hash{};
  std::uint64_t rx_bytes = 0;
  std::uint64_t expect = 0;  // report "received" once this many bytes came back
  core::TimePoint send_started;
  crypto_hash_sha256_state tx_hash{};
  std::uint64_t to_send = 0;
  std::uint64_t sent = 0;
  std::uint32_t rng = 1;
  json send_seq;
  bool sending = false;
};

class Driver {
 public:
  explicit Driver(core::Runtime& runtime) : runtime_(runtime) {}

  bool handle(const json& cmd) {
    const std::string op = cmd.value("op", "");
    const json seq = cmd.value("seq", json(nullptr));
    if (op == "quit") {
      conns_.clear();
      for (auto& n : nodes_)
        n->destroy();
      return false;
    }
    if (op == "start") return interop::start_nodes(runtime_, nodes_, cmd), true;
    if (op == "status") return emit({{"event", "status"}, {"seq", seq}, {"nodes", status()}}), true;
    if (op == "connect") return connect(cmd, seq), true;
    const auto c = cmd.value("conn", std::uint64_t{0});
    auto it = conns_.find(c);
    if (it == conns_.end() || !it->second.stream) {
      emit({{"event", "error"}, {"seq", seq}, {"conn", c}, {"error", "no such stream"}});
      return true;
    }
    Conn& k = it->second;
    if (op == "send") {
      k.to_send = cmd.value("bytes", std::uint64_t{0});
      k.expect = k.rx_bytes + k.to_send;
      k.sent = 0;
      k.rng = cmd.value("seed", 1u) | 1u;
      k.sending = true;
      k.send_seq = seq;
      k.send_started = runtime_.now();
      crypto_hash_sha256_init(&k.tx_hash);
      pump(c);
    } else if (op == "end") {
      auto r = k.stream->end();
      emit({{"event", r ? "ok" : "error"}, {"seq", seq}, {"conn", c}});
    } else if (op == "destroy") {
      k.stream->destroy();
      emit({{"event", "ok"}, {"seq", seq}, {"conn", c}});
    } else {
      bad_command(cmd, "unknown op");
    }
    return true;
  }

 private:
  void connect(const json& cmd, const json& seq) {
    const auto i = cmd.value("node", std::size_t{0});
    const auto c = cmd.value("conn", std::uint64_t{0});
    auto pk = fixed_from_hex<32>(cmd.value("publicKey", std::string()));
    if (i >= nodes_.size() || !pk || conns_.contains(c))
      return bad_command(cmd, "node/publicKey/conn");
    ConnectOptions o;
    const json opts = cmd.value("opts", json::object());
    for (const auto& r : opts.value("relayAddresses", json::array())) {
      auto h = Ipv4Address::parse_host(r.value("host", std::string()));
      if (!h) return bad_command(cmd, "relayAddresses");
      o.relay_addresses.push_back({*h, r.value<std::uint16_t>("port", 0)});
    }
    o.local_connection = opts.value("localConnection", true);
    o.fast_open = opts.value("fastOpen", true);
    o.reusable_socket = opts.value("reusableSocket", false);
    if (opts.contains("relayThrough")) {
      auto relay = fixed_from_hex<32>(opts.value("relayThrough", std::string()));
      if (!relay) return bad_command(cmd, "relayThrough");
      o.relay_through = [key = *relay] { return std::optional<Bytes32>(key); };
    }
    // "holepunch": false vetoes the punch (the relay is then the only path).
    if (!opts.value("holepunch", true))
      o.holepunch = [](Firewall, Firewall, const auto&, const auto&) { return false; };
    HyperDhtNode& n = *nodes_[i];
    Conn& k = conns_[c];
    k.started = runtime_.now();
    crypto_hash_sha256_init(&k.rx_hash);
    k.connect = PeerConnect::start(
        n, *pk, std::move(o), [this, c, seq, &n](Result<std::unique_ptr<core::SecretStream>> r) {
          on_connect(c, seq, n, std::move(r));
        });
  }

  void on_connect(std::uint64_t c, const json& seq, HyperDhtNode& n,
                  Result<std::unique_ptr<core::SecretStream>> r) {
    Conn& k = conns_[c];
    const ConnectStats& st = k.connect->stats();
    if (!r) {
      emit({{"event", "connect-error"},
            {"seq", seq},
            {"conn", c},
            {"code", code_name(r.error())},
            {"message", r.error().message()},
            {"cause", st.holepunch_cause ? code_name(st.holepunch_cause) : ""},
            {"attempts", st.attempts},
            {"handshakes", st.handshakes_sent},
            {"ms", ms(runtime_.now() - k.started)}});
      release(c);
      return;
    }
    k.stream = std::move(*r);
    core::SecretStream::Handlers h;
    h.on_data = [this, c](ByteView d) { on_data(c, d); };
    h.on_drain = [this, c] { pump(c); };
    // As a JS socket without allowHalfOpen: the peer's END is answered with ours.
    h.on_end = [this, c] {
      if (auto& s = conns_[c].stream) (void)s->end();
    };
    h.on_close = [this, c](const core::SecretStreamError& e) {
      emit({{"event", "closed"},
            {"conn", c},
            {"error", e ? e.message : ""},
            {"received", conns_[c].rx_bytes}});
      release(c);
    };
    k.stream->set_handlers(std::move(h));
    emit({{"event", "connected"},
          {"seq", seq},
          {"conn", c},
          {"publicKey", to_hex(k.stream->public_key())},
          {"remotePublicKey", to_hex(k.stream->remote_public_key())},
          {"handshakeHash", to_hex(k.stream->handshake_hash())},
          {"nodePublicKey", to_hex(n.default_key_pair().public_key)},
          {"path", connect_path_name(st.path)},
          {"relayed", st.relayed},
          {"relayAttempted", st.relay_attempted},
          {"attempts", st.attempts},
          {"handshakes", st.handshakes_sent},
          {"rounds", st.punch_rounds},
          {"handshakeMs", ms(st.handshake_time)},
          {"openMs", ms(st.open_time)},
          {"routeRetried", st.route_retried},
          {"routeUsed", st.route_used},
          {"routeAdded", st.route_added}});
  }

  void on_data(std::uint64_t c, ByteView d) {
    Conn& k = conns_[c];
    crypto_hash_sha256_update(&k.rx_hash, d.data(), d.size());
    k.rx_bytes += d.size();
    if (k.expect && k.rx_bytes >= k.expect) {
      emit({{"event", "received"},
            {"conn", c},
            {"bytes", k.rx_bytes},
            {"sha256", interop::sha256_hex(k.rx_hash)},
            {"ms", ms(runtime_.now() - k.send_started)},
            {"retransmits", k.stream->raw().counters().retransmits}});
      k.expect = 0;
    }
  }

  void pump(std::uint64_t c) {
    Conn& k = conns_[c];
    if (!k.sending || !k.stream) return;
    Bytes buf;
    while (k.sent < k.to_send) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(65536, k.to_send - k.sent));
      buf.resize(n);
      for (auto& b : buf) {  // xorshift32: the same bytes for the same seed
        k.rng ^= k.rng << 13;
        k.rng ^= k.rng >> 17;
        k.rng ^= k.rng << 5;
        b = static_cast<std::uint8_t>(k.rng);
      }
      crypto_hash_sha256_update(&k.tx_hash, buf.data(), buf.size());
      k.sent += n;
      auto w = k.stream->write(buf);
      if (!w) {
        k.sending = false;
        emit(
            {{"event", "error"}, {"seq", k.send_seq}, {"conn", c}, {"error", w.error().message()}});
        return;
      }
      if (!*w) return;  // on_drain continues
    }
    k.sending = false;
    emit({{"event", "sent"},
          {"seq", k.send_seq},
          {"conn", c},
          {"bytes", k.sent},
          {"sha256", interop::sha256_hex(k.tx_hash)}});
  }

  // Never free a connection on its own stack.
  void release(std::uint64_t c) {
    boost::asio::post(runtime_.executor(), [this, c] { conns_.erase(c); });
  }

  json status() const {
    json out = json::array();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      HyperDhtNode& n = *nodes_[i];
      const RouterStats& r = n.router().stats();
      out.push_back(
          {{"node", i},
           {"id", hex_or_null(n.dht().id())},
           {"port",
            n.dht().io().server_socket() ? n.dht().io().server_socket()->local_address().port : 0},
           {"firewalled", n.dht().firewalled()},
           {"publicKey", to_hex(n.default_key_pair().public_key)},
           {"router",
            {{"handshake_from_client", r.handshake_from_client},
             {"handshake_from_server", r.handshake_from_server},
             {"holepunch_from_client", r.holepunch_from_client},
             {"holepunch_from_server", r.holepunch_from_server}}}});
    }
    return out;
  }

  core::Runtime& runtime_;
  std::vector<std::unique_ptr<HyperDhtNode>> nodes_;
  std::map<std::uint64_t, Conn> conns_;
};

}  // namespace

int main() {
  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  Driver driver(runtime);
  interop::run_json_lines(
      ctx, [&](const json& cmd) { return driver.handle(cmd); },
      [&] {
        driver.handle({{"op", "quit"}});
      });
}
