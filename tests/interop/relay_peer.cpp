// The C++ side of tests/interop/relay-interop.js: HyperDhtNodes, BlindRelayServices (the node as
// a blind relay) and BlindRelayClients pairing raw UDX streams, driven by newline-delimited JSON
// commands on stdin, answering with JSON events on stdout. Every command may carry "seq",
// echoed in its answer. Keys and tokens are hex.
//
//   {"op":"start",...} -> {"event":"started","nodes":[i..]} (tests/interop/hyperdht_nodes.hpp)
//   {"op":"status"} -> {"event":"status","nodes":[{node,id}]}
//   {"op":"relay","node":i,"seed":hex} -> {"event":"relay","relay":r,"error":null|str,
//                                          "publicKey":hex,"port":the node's port}
//   {"op":"relay-stats","relay":r} -> {"event":"relay-stats",...BlindRelayStats,"sessions":n}
//   {"op":"client","node":i,"client":k,"publicKey":hex} -> connects to the relay server by key
//        and opens a BlindRelayClient on it: {"event":"client","client":k,"error":null|str}
//   {"op":"pair","client":k,"stream":s,"initiator":b,"token":hex} -> a new raw UDX stream s on
//        the client's node pairs through it: {"event":"paired","stream":s,"relayId":n} (s is then
//        connected to the relay) or {"event":"pair-error","stream":s,"error":str}
//   {"op":"unpair","client":k,"token":hex} -> {"event":"unpaired"}
//   {"op":"client-end","client":k} -> {"event":"client-ended"} (BlindRelayClient::end)
//   {"op":"client-destroy","client":k} -> {"event":"client-destroyed"}
//   {"op":"transfer","from":s,"to":t,"bytes":n} -> s writes n pseudo-random bytes with
//        back-pressure; {"event":"transferred","ok":b,"bytes":n,"ms":t} once t received them
//        all with the same SHA-256 (or "ok":false with what arrived, after 60 s)
//   {"op":"quit"}
#include <sodium.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/blind_relay_client.hpp"
#include "core/blind_relay_service.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/peer_connect.hpp"
#include "core/timer.hpp"
#include "protocol/crypto.hpp"
#include "tests/interop/hyperdht_nodes.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;
using interop::bad_command;
using interop::emit;

namespace {

struct Client {
  std::unique_ptr<PeerConnect> connect;
  std::unique_ptr<BlindRelayClient> relay;
};

// A raw stream paired through a relay; it hashes what it receives.
struct Stream {
  std::unique_ptr<core::UdxStream> udx;
  crypto_hash_sha256_state rx{};
  std::uint64_t received = 0;
  std::function<void()> on_progress;
};

// One transfer's sending side: writes with back-pressure.
struct Transfer {
  Bytes data;
  std::size_t sent = 0;
  std::string sha;
  core::TimePoint started{};
  std::unique_ptr<core::Timer> deadline;
  bool done = false;
};

class Driver {
 public:
  explicit Driver(core::Runtime& runtime) : runtime_(runtime) {}

  bool handle(const json& cmd) {
    const std::string op = cmd.value("op", "");
    const json seq = cmd.value("seq", json(nullptr));
    if (op == "quit") {
      transfers_.clear();
      streams_.clear();
      clients_.clear();
      relays_.clear();
      for (auto& n : nodes_)
        n->destroy();
      return false;
    }
    if (op == "start") return interop::start_nodes(runtime_, nodes_, cmd), true;
    if (op == "status") return emit({{"event", "status"}, {"seq", seq}, {"nodes", status()}}), true;
    if (op == "relay") return interop::start_relay(nodes_, relays_, cmd), true;
    if (op == "relay-stats") return relay_stats(cmd, seq), true;
    if (op == "client") return client(cmd, seq), true;
    if (op == "pair") return pair(cmd, seq), true;
    if (op == "unpair" || op == "client-destroy" || op == "client-end") {
      auto it = clients_.find(cmd.value("client", std::uint64_t{0}));
      if (it == clients_.end() || !it->second.relay)
        return bad_command(cmd, "no such client"), true;
      if (op == "client-end") {
        it->second.relay->end();
        return emit({{"event", "client-ended"}, {"seq", seq}}), true;
      }
      if (op == "client-destroy") {
        clients_.erase(it);
        return emit({{"event", "client-destroyed"}, {"seq", seq}}), true;
      }
      auto token = fixed_from_hex<32>(cmd.value("token", std::string()));
      if (!token) return bad_command(cmd, "token"), true;
      it->second.relay->unpair(*token);
      return emit({{"event", "unpaired"}, {"seq", seq}}), true;
    }
    if (op == "transfer") return transfer(cmd, seq), true;
    bad_command(cmd, "unknown op");
    return true;
  }

 private:
  void relay_stats(const json& cmd, const json& seq) const {
    const auto r = cmd.value("relay", std::size_t{0});
    if (r >= relays_.size()) return bad_command(cmd, "no such relay");
    const BlindRelayStats s = relays_[r]->stats();
    emit({{"event", "relay-stats"},
          {"seq", seq},
          {"sessions", relays_[r]->relay().session_count()},
          {"sessions_accepted", s.sessions_accepted},
          {"sessions_opened", s.sessions_opened},
          {"sessions_closed", s.sessions_closed},
          {"pairings_requested", s.pairings_requested},
          {"pairings_matched", s.pairings_matched},
          {"pairings_cancelled", s.pairings_cancelled},
          {"pairings_pending", s.pairings_pending},
          {"pairings_active", s.pairings_active},
          {"streams_opened", s.streams_opened},
          {"streams_closed", s.streams_closed},
          {"packets_relayed", s.packets_relayed},
          {"bytes_relayed", s.bytes_relayed}});
  }

  void client(const json& cmd, const json& seq) {
    const auto i = cmd.value("node", std::size_t{0});
    const auto k = cmd.value("client", std::uint64_t{0});
    auto pk = fixed_from_hex<32>(cmd.value("publicKey", std::string()));
    if (i >= nodes_.size() || !pk || clients_.contains(k))
      return bad_command(cmd, "node/publicKey/client");
    clients_[k].connect = PeerConnect::start(
        *nodes_[i], *pk, {}, [this, k, seq](Result<std::unique_ptr<core::SecretStream>> r) {
          Client& c = clients_[k];
          if (r) c.relay = std::make_unique<BlindRelayClient>(std::move(*r));
          emit({{"event", "client"},
                {"seq", seq},
                {"client", k},
                {"error", r ? json(nullptr) : interop::error_json(r.error())}});
        });
  }

  void pair(const json& cmd, const json& seq) {
    const auto k = cmd.value("client", std::uint64_t{0});
    const auto s = cmd.value("stream", std::uint64_t{0});
    auto token = fixed_from_hex<32>(cmd.value("token", std::string()));
    auto it = clients_.find(k);
    if (it == clients_.end() || !it->second.relay || !token || streams_.contains(s))
      return bad_command(cmd, "client/token/stream");
    BlindRelayClient& relay = *it->second.relay;
    core::UdxSocket* socket = relay.stream().raw().socket();
    if (socket == nullptr) return bad_command(cmd, "relay stream closed");
    auto made = core::UdxStream::create(*socket, socket->table().random_free_id(runtime_));
    if (!made) return bad_command(cmd, "stream");
    Stream& st = streams_[s];
    st.udx = std::move(*made);
    crypto_hash_sha256_init(&st.rx);
    st.udx->handlers().on_data = [&st](ByteView d) {
      crypto_hash_sha256_update(&st.rx, d.data(), d.size());
      st.received += d.size();
      if (st.on_progress) st.on_progress();
    };
    relay.pair(cmd.value("initiator", false), *token, st.udx->id(),
               [this, k, s, seq](Result<std::uint32_t> r) { on_paired(k, s, seq, r); });
  }

  void on_paired(std::uint64_t k, std::uint64_t s, const json& seq, Result<std::uint32_t> r) {
    auto it = clients_.find(k);
    auto st = streams_.find(s);
    if (r && it != clients_.end() && st != streams_.end()) {
      // The relayed stream shares the relay connection's socket and address (spec §6 step 5).
      core::UdxStream& relay_raw = it->second.relay->stream().raw();
      auto c = relay_raw.socket() == nullptr
                   ? Result<void>(std::make_error_code(std::errc::not_connected))
                   : st->second.udx->connect(*relay_raw.socket(), *r, relay_raw.remote());
      if (!c)
        return emit(
            {{"event", "pair-error"}, {"seq", seq}, {"stream", s}, {"error", c.error().message()}});
      return emit({{"event", "paired"}, {"seq", seq}, {"stream", s}, {"relayId", *r}});
    }
    emit({{"event", "pair-error"},
          {"seq", seq},
          {"stream", s},
          {"error", r ? json("gone") : interop::error_json(r.error())}});
  }

  void transfer(const json& cmd, const json& seq) {
    const auto from = cmd.value("from", std::uint64_t{0}), to = cmd.value("to", std::uint64_t{0});
    const auto n = cmd.value("bytes", std::size_t{0});
    if (!streams_.contains(from) || !streams_.contains(to) || from == to)
      return bad_command(cmd, "from/to");
    auto t = std::make_shared<Transfer>();
    t->data.resize(n);
    randombytes_buf(t->data.data(), n);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, t->data.data(), n);
    t->sha = interop::sha256_hex(h);
    t->started = runtime_.now();
    Stream& dst = streams_[to];
    Stream& src = streams_[from];
    const std::uint64_t base = dst.received;
    auto finish = [this, t, &dst, base, n, seq](bool timed_out) {
      if (t->done) return;
      t->done = true;
      const bool ok = !timed_out && interop::sha256_hex(dst.rx) == t->sha;
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(runtime_.now() - t->started);
      emit({{"event", "transferred"},
            {"seq", seq},
            {"ok", ok},
            {"bytes", dst.received - base},
            {"expected", n},
            {"ms", ms.count()}});
      if (!timed_out) t->deadline->cancel();
    };
    dst.on_progress = [&dst, base, n, finish] {
      if (dst.received - base >= n) finish(false);  // later bytes: finish() ignores them
    };
    t->deadline = std::make_unique<core::Timer>(runtime_);
    t->deadline->expires_after(std::chrono::seconds(60), [finish] { finish(true); });
    src.udx->handlers().on_drain = [this, t, &src] { pump(*t, src); };
    transfers_.push_back(t);
    pump(*t, src);
  }

  static void pump(Transfer& t, Stream& src) {
    while (t.sent < t.data.size()) {
      const std::size_t n = std::min<std::size_t>(65536, t.data.size() - t.sent);
      auto r = src.udx->write(ByteView(t.data.data() + t.sent, n));
      if (!r) return;
      t.sent += n;
      if (!*r) return;
    }
  }

  // What the shared testnet start (lib/mixed-testnet.js) waits for: every node has its id.
  json status() const {
    json out = json::array();
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      out.push_back({{"node", i}, {"id", interop::hex_or_null(nodes_[i]->dht().id())}});
    return out;
  }

  core::Runtime& runtime_;
  std::vector<std::unique_ptr<HyperDhtNode>> nodes_;
  std::vector<std::unique_ptr<BlindRelayService>> relays_;
  std::map<std::uint64_t, Client> clients_;
  std::map<std::uint64_t, Stream> streams_;
  std::vector<std::shared_ptr<Transfer>> transfers_;
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
