// The C++ side of tests/interop/server-interop.js: HyperDhtNodes and hyperdht Servers on one
// io_context, driven by newline-delimited JSON commands on stdin, answering with JSON events on
// stdout. Every command may carry "seq", echoed in its answer. Keys are hex. Every connection a
// server accepts echoes what it receives (with back-pressure) until the peer ends it.
//
//   {"op":"start","nodes":N,"bootstrap":"h:p","host":"127.0.0.1","ephemeral":b,"firewalled":b,
//    "quick_firewall":b}
//        -> {"event":"started","nodes":[i..]}; "bootstrapper":port starts a bootstrapper
//   {"op":"listen","node":i,"seed":hex,"reject":b,"never_punch":b,"rate_burst":n,
//    "relayThrough":hex,"reusableSocket":b}
//        -> {"event":"listen","server":s,"error":null|"CODE","publicKey":hex,"relayAddresses":[..]}
//   {"op":"relay","node":i,"seed":hex} -> a C++ blind relay (BlindRelayService) on node i:
//        interop::start_relay (hyperdht_nodes.hpp) and its "relay" event
//   {"op":"close","server":s} -> {"event":"closed","server":s,"on_close":b}
//   {"op":"stats","server":s} -> {"event":"stats",...ServerStats,"open":n,"held":n,
//                                 "relayAddresses":[..],"announcer":{...}}
//   {"op":"status"} -> {"event":"status","nodes":[{node,id,port,router:{...},
//                       routes:[{publicKey,host,port}]}]} (reusable-socket routes)
//   {"op":"quit"}
// Events: {"event":"connection","server":s,"conn":c,"remotePublicKey","publicKey",
//          "handshakeHash"} and {"event":"conn-closed","conn":c,"bytes":n,"sha256":hex (of the
//          bytes received),"retransmits":n (the UDX stream's),"error":str|null}.
#include <sodium.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/blind_relay_service.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "protocol/crypto.hpp"
#include "tests/interop/hyperdht_nodes.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;
using interop::bad_command;
using interop::emit;
using interop::router_json;

namespace {

json addr(const Ipv4Address& a) {
  return {{"host", a.host_string()}, {"port", a.port}};
}

json addrs(const std::vector<Ipv4Address>& list) {
  json out = json::array();
  for (const auto& a : list)
    out.push_back(addr(a));
  return out;
}

// One accepted connection, echoing.
struct Echo {
  std::unique_ptr<core::SecretStream> stream;
  std::uint64_t bytes = 0;
  crypto_hash_sha256_state hash{};
};

class Driver {
 public:
  explicit Driver(core::Runtime& runtime) : runtime_(runtime) {}

  bool handle(const json& cmd) {
    const std::string op = cmd.value("op", "");
    const json seq = cmd.value("seq", json(nullptr));
    if (op == "quit") {
      conns_.clear();
      servers_.clear();
      relays_.clear();
      for (auto& n : nodes_)
        n->destroy();
      return false;
    }
    if (op == "start") return interop::start_nodes(runtime_, nodes_, cmd), true;
    if (op == "status") return emit({{"event", "status"}, {"seq", seq}, {"nodes", status()}}), true;
    if (op == "listen") return listen(cmd, seq), true;
    if (op == "relay") return interop::start_relay(nodes_, relays_, cmd), true;
    if (op == "close" || op == "stats") {
      const auto s = cmd.value("server", std::size_t{0});
      if (s >= servers_.size() || !servers_[s]) return bad_command(cmd, "no such server"), true;
      Server& srv = *servers_[s];
      if (op == "stats") return emit(stats(srv, s, seq)), true;
      auto on_close_seen = std::make_shared<bool>(false);
      srv.set_handlers({nullptr, on_connection_of(s), [on_close_seen] { *on_close_seen = true; }});
      srv.close([s, seq, on_close_seen] {
        emit({{"event", "closed"}, {"seq", seq}, {"server", s}, {"on_close", *on_close_seen}});
      });
      return true;
    }
    bad_command(cmd, "unknown op");
    return true;
  }

 private:
  std::function<void(std::unique_ptr<core::SecretStream>)> on_connection_of(std::size_t s) {
    return [this, s](std::unique_ptr<core::SecretStream> stream) { accept(s, std::move(stream)); };
  }

  void listen(const json& cmd, const json& seq) {
    const auto i = cmd.value("node", std::size_t{0});
    if (i >= nodes_.size()) return bad_command(cmd, "no such node");
    auto seed = fixed_from_hex<32>(cmd.value("seed", std::string()));
    if (!seed) return bad_command(cmd, "seed");
    ServerOptions o;
    if (cmd.value("reject", false)) {
      o.firewall = [](const Bytes32&, const msg::NoisePayload&, const Ipv4Address&) {
        return true;
      };
    }
    o.never_punch = cmd.value("never_punch", false);
    o.reusable_socket = cmd.value("reusableSocket", false);
    if (cmd.contains("relayThrough")) {
      auto relay = fixed_from_hex<32>(cmd.value("relayThrough", std::string()));
      if (!relay) return bad_command(cmd, "relayThrough");
      o.relay_through = [key = *relay] { return std::optional<Bytes32>(key); };
    }
    if (cmd.contains("rate_burst")) o.rate_limit.burst = cmd["rate_burst"].get<double>();
    const std::size_t s = servers_.size();
    servers_.push_back(std::make_unique<Server>(*nodes_[i], o));
    Server& srv = *servers_.back();
    srv.set_handlers({nullptr, on_connection_of(s), nullptr});
    const auto kp = HyperDhtNode::key_pair(*seed);
    srv.listen(kp, [this, s, seq, kp](std::error_code ec) {
      Server* sv = servers_[s].get();
      emit({{"event", "listen"},
            {"seq", seq},
            {"server", s},
            {"error", interop::error_json(ec)},
            {"publicKey", to_hex(kp.public_key)},
            {"relayAddresses", addrs(sv ? sv->relay_addresses() : std::vector<Ipv4Address>{})}});
    });
  }

  // A C++ blind relay (BlindRelayService) on node i, listening on the seed's key pair.
  void accept(std::size_t server, std::unique_ptr<core::SecretStream> stream) {
    const std::uint64_t c = next_conn_++;
    emit({{"event", "connection"},
          {"server", server},
          {"conn", c},
          {"remotePublicKey", to_hex(stream->remote_public_key())},
          {"publicKey", to_hex(stream->public_key())},
          {"handshakeHash", to_hex(stream->handshake_hash())}});
    auto e = std::make_unique<Echo>();
    Echo* raw = e.get();
    crypto_hash_sha256_init(&raw->hash);
    core::SecretStream* ss = stream.get();
    e->stream = std::move(stream);
    core::SecretStream::Handlers h;
    h.on_data = [raw, ss](ByteView d) {
      raw->bytes += d.size();
      crypto_hash_sha256_update(&raw->hash, d.data(), d.size());
      auto r = ss->write(d);
      if (r && !*r) ss->pause_reading();
    };
    h.on_drain = [ss] { ss->resume_reading(); };
    h.on_end = [ss] { (void)ss->end(); };
    h.on_close = [this, c, raw, ss](const core::SecretStreamError& err) {
      emit({{"event", "conn-closed"},
            {"conn", c},
            {"bytes", raw->bytes},
            {"sha256", interop::sha256_hex(raw->hash)},
            {"retransmits", ss->raw().counters().retransmits},
            {"error", err ? json(err.message) : json(nullptr)}});
      boost::asio::post(runtime_.executor(), [this, c] { conns_.erase(c); });
    };
    ss->set_handlers(std::move(h));
    conns_[c] = std::move(e);
  }

  json stats(const Server& srv, std::size_t s, const json& seq) const {
    const ServerStats& st = srv.stats();
    json ann = nullptr;
    if (const auto* a = srv.announcer()) {
      ann = {{"updates", a->stats().updates},
             {"announces_ok", a->stats().announces_ok},
             {"unannounces_sent", a->stats().unannounces_sent},
             {"pings_sent", a->stats().pings_sent}};
    }
    return {{"event", "stats"},
            {"seq", seq},
            {"server", s},
            {"handshakes", st.handshakes},
            {"deduped", st.deduped},
            {"invalid", st.invalid},
            {"firewall_rejected", st.firewall_rejected},
            {"rate_limited", st.rate_limited},
            {"error_replies", st.error_replies},
            {"connections", st.connections},
            {"holepunches", st.holepunches},
            {"holepunch_replies", st.holepunch_replies},
            {"aborts", st.aborts},
            {"relay_attempts", st.relay_attempts},
            {"relay_successes", st.relay_successes},
            {"relay_aborts", st.relay_aborts},
            {"upgrades", st.upgrades},
            {"routes_added", st.routes_added},
            {"direct_handshakes", st.direct_handshakes},
            {"open", conns_.size()},
            {"held", srv.handshakes_held()},
            {"listening", srv.listening()},
            {"relayAddresses", addrs(srv.relay_addresses())},
            {"announcer", ann}};
  }

  json status() const {
    json out = json::array();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      HyperDhtNode& n = *nodes_[i];
      const auto id = n.dht().id();
      json routes = json::array();
      for (const auto& [pk, r] : n.socket_pool().routes().entries())
        routes.push_back({{"publicKey", to_hex(pk)},
                          {"host", r.address.host_string()},
                          {"port", r.address.port}});
      out.push_back(
          {{"node", i},
           {"id", id ? json(to_hex(*id)) : json(nullptr)},
           {"port",
            n.dht().io().server_socket() ? n.dht().io().server_socket()->local_address().port : 0},
           {"firewalled", n.dht().firewalled()},
           {"router", router_json(n.router().stats())},
           {"routes", routes}});
    }
    return out;
  }

  core::Runtime& runtime_;
  std::vector<std::unique_ptr<HyperDhtNode>> nodes_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<std::unique_ptr<BlindRelayService>> relays_;
  std::map<std::uint64_t, std::unique_ptr<Echo>> conns_;
  std::uint64_t next_conn_ = 0;
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
