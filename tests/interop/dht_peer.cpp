// The C++ side of tests/interop/dht-interop.js: any number of DhtNodes on one io_context,
// driven by newline-delimited JSON commands on stdin, reporting JSON events on stdout. Every
// command may carry "seq", echoed in its answer.
//
//   {"op":"start","nodes":N,"bootstrap":"h:p[,h:p]"|null,"host":"127.0.0.1","port":0,
//    "ephemeral":true|false|null,"firewalled":b,"bootstrapper":"h:p"|null,"sequential":b,
//    "send_down_hints":b,"timers":{"tick_ms":..,"stable_ticks":..,"refresh_ticks":..,
//    "request_timeout_ms":..}}
//        -> {"event":"listening","node":i,"port":P} per node, then
//        {"event":"started","nodes":[i..]}
//           once all of them are bootstrapped (nodes start one after another when sequential,
//           as the JS testnet does)
//   {"op":"status"}            -> {"event":"status","nodes":[{node,id,host,port,...}]}
//   {"op":"find_node","node":i,"target":hex}
//        -> {"event":"find_node","node":i,"error":null|msg,"closest":[{id,host,port}]}
//   {"op":"destroy","node":i}  -> {"event":"destroyed","node":i}
//   {"op":"restart","node":i}  -> a new node with the same config on the same server port
//                                 (so the same persistent id), then {"event":"restarted",...}
//   {"op":"udx","node":i,"remoteId":R,"port":P,"send":B}
//        a UDX stream on node i's own DHT socket (the one its RPC uses), connected to stream R at
//        127.0.0.1:P: with send 0 it echoes what it reads and ends after the peer's END; with
//        send B it writes B pseudo-random bytes and ends.
//        -> {"event":"udx","id":N,"port":P} at once, then {"event":"udx-closed","id":N,
//           "error":"",...,"received":n,"receivedSha256":hex,"sentSha256":hex} when it closes
//   {"op":"quit"}
//   user command 99 from anyone: echoed with reply(value), which carries a round token
//   unsolicited: {"event":"ready"|"persistent"|"ephemeral"|"nat-update","node":i,...}
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/dht_node.hpp"
#include "core/udx_stream.hpp"
#include "protocol/node_id.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::dht;
using json = nlohmann::json;
using interop::bad_command;
using interop::emit;

namespace {

constexpr std::uint64_t kEchoCommand = 99;

json hex_or_null(const std::optional<Bytes32>& b) {
  return b ? json(to_hex(*b)) : json(nullptr);
}

json addr_json(const std::optional<Ipv4Address>& a) {
  if (!a) return nullptr;
  return {{"host", a->host_string()}, {"port", a->port}};
}

std::optional<DhtConfig> config_from(const json& cmd, std::string& why) {
  DhtConfig c;
  if (auto b = cmd.value("bootstrapper", json(nullptr)); b.is_string()) {
    auto a = Ipv4Address::parse(b.get<std::string>());
    if (!a) return why = "bootstrapper", std::nullopt;
    c = DhtConfig::bootstrapper(a->port, *a);
  }
  if (auto b = cmd.value("bootstrap", json(nullptr)); b.is_string()) {
    auto list = BootstrapEntry::parse_list(b.get<std::string>());
    if (!list) return why = "bootstrap", std::nullopt;
    c.bootstrap = std::move(*list);
  }
  auto host = Ipv4Address::parse_host(cmd.value("host", std::string("127.0.0.1")));
  if (!host) return why = "host", std::nullopt;
  c.io.bind_host = {*host, 0};
  if (cmd.contains("port")) c.io.port = cmd.value<std::uint16_t>("port", 0);
  if (auto e = cmd.value("ephemeral", json(nullptr)); e.is_boolean()) c.ephemeral = e.get<bool>();
  if (auto f = cmd.value("firewalled", json(nullptr)); f.is_boolean())
    c.io.firewalled = f.get<bool>();
  if (auto d = cmd.value("send_down_hints", json(nullptr)); d.is_boolean())
    c.send_down_hints = d.get<bool>();
  if (auto t = cmd.value("timers", json(nullptr)); t.is_object()) {
    if (t.contains("tick_ms")) c.tick_interval = std::chrono::milliseconds(t["tick_ms"].get<int>());
    if (t.contains("sleeping_ms"))
      c.sleeping_interval = std::chrono::milliseconds(t["sleeping_ms"].get<int>());
    if (t.contains("stable_ticks")) c.stable_ticks = t["stable_ticks"].get<int>();
    if (t.contains("more_stable_ticks")) c.more_stable_ticks = t["more_stable_ticks"].get<int>();
    if (t.contains("refresh_ticks")) c.refresh_ticks = t["refresh_ticks"].get<int>();
    if (t.contains("request_timeout_ms"))
      c.io.request_timeout = std::chrono::milliseconds(t["request_timeout_ms"].get<int>());
  }
  return c;
}

class Driver {
 public:
  explicit Driver(core::Runtime& runtime) : runtime_(runtime) {}

  // Returns false on quit.
  bool handle(const json& cmd) {
    const std::string op = cmd.value("op", "");
    const json seq = cmd.value("seq", json(nullptr));
    if (op == "quit") {
      udx_.clear();
      for (auto& s : slots_)
        if (s.node) s.node->destroy();
      return false;
    }
    if (op == "start") return start(cmd, seq), true;
    if (op == "status") return emit({{"event", "status"}, {"seq", seq}, {"nodes", status()}}), true;
    const auto i = cmd.value("node", std::size_t{0});
    if (i >= slots_.size() || !slots_[i].node) return bad_command(cmd, "no such node"), true;
    if (op == "find_node") {
      auto target = fixed_from_hex<32>(cmd.value("target", std::string()));
      if (!target) return bad_command(cmd, "target"), true;
      find_node(i, *target, seq);
    } else if (op == "destroy") {
      slots_[i].node->destroy();
      emit({{"event", "destroyed"}, {"seq", seq}, {"node", i}});
    } else if (op == "restart") {
      restart(i, seq);
    } else if (op == "udx") {
      udx(i, cmd, seq);
    } else {
      bad_command(cmd, "unknown op");
    }
    return true;
  }

 private:
  struct Slot {
    DhtConfig config;
    std::unique_ptr<DhtNode> node;
    std::uint16_t server_port = 0;
  };
  struct Batch {
    json seq;
    std::vector<std::size_t> nodes;
    std::size_t next = 0;  // sequential: the next node to start
    std::size_t ready = 0;
    bool sequential = true;
  };

  void start(const json& cmd, const json& seq) {
    std::string why;
    auto config = config_from(cmd, why);
    if (!config) return bad_command(cmd, why);
    auto batch = std::make_shared<Batch>();
    batch->seq = seq;
    batch->sequential = cmd.value("sequential", true);
    const auto count = cmd.value("nodes", std::size_t{1});
    for (std::size_t k = 0; k < count; ++k) {
      batch->nodes.push_back(slots_.size());
      slots_.push_back(Slot{*config, nullptr, 0});
    }
    if (batch->sequential) {
      launch_next(batch);
    } else {
      while (batch->next < batch->nodes.size())
        launch(batch->nodes[batch->next++], batch);
    }
  }

  void launch_next(const std::shared_ptr<Batch>& batch) {
    if (batch->next < batch->nodes.size()) launch(batch->nodes[batch->next++], batch);
  }

  void launch(std::size_t i, std::shared_ptr<Batch> batch) {
    auto& slot = slots_[i];
    slot.node = std::make_unique<DhtNode>(runtime_, slot.config);
    DhtNode* n = slot.node.get();
    auto& ev = n->events();
    ev.ready = [this, i, n, batch] {
      emit({{"event", "ready"}, {"node", i}, {"state", node_status(i, *n)}});
      if (!batch) return;
      if (++batch->ready == batch->nodes.size())
        emit({{"event", "started"}, {"seq", batch->seq}, {"nodes", batch->nodes}});
      else if (batch->sequential)
        launch_next(batch);
    };
    ev.persistent = [i, n] {
      emit({{"event", "persistent"}, {"node", i}, {"id", hex_or_null(n->id())}});
    };
    ev.ephemeral = [i] { emit({{"event", "ephemeral"}, {"node", i}}); };
    ev.nat_update = [i](std::optional<Ipv4Address> nat) {
      emit({{"event", "nat-update"}, {"node", i}, {"address", addr_json(nat)}});
    };
    // User command 99 is an echo that hands out round tokens (reply() sends one), so the JS can
    // test token checks; every other user command gets UNKNOWN_COMMAND, as in a bare JS node.
    n->set_request_handler([](const IncomingRequest& req) {
      if (req.message().command != kEchoCommand) return false;
      std::optional<ByteView> v;
      if (req.message().value) v = ByteView(*req.message().value);
      req.reply(v);
      return true;
    });
    if (auto r = n->start(); !r) {
      emit({{"event", "start-error"}, {"node", i}, {"error", r.error().message()}});
      return;
    }
    slot.server_port = n->io().server_socket()->local_address().port;
    emit({{"event", "listening"}, {"node", i}, {"port", slot.server_port}});
  }

  void restart(std::size_t i, const json& seq) {
    auto& slot = slots_[i];
    slot.node->destroy();
    slot.node.reset();
    // The same server port keeps the same persistent id, as a restarted JS node on a fixed port.
    slot.config.io.port = slot.server_port;
    slot.config.io.any_port = false;
    launch(i, nullptr);
    emit({{"event", "restarted"}, {"seq", seq}, {"node", i}});
  }

  void find_node(std::size_t i, const Bytes32& target, const json& seq) {
    const auto key = next_query_++;
    auto q = slots_[i].node->find_node(target);
    Query* raw = q.get();
    queries_[key] = std::move(q);
    raw->on_done([this, key, i, raw, seq](std::error_code ec) {
      json closest = json::array();
      for (const auto& r : raw->closest_replies())
        closest.push_back({{"id", hex_or_null(r.from.id)},
                           {"host", r.from.addr.host_string()},
                           {"port", r.from.addr.port}});
      emit({{"event", "find_node"},
            {"seq", seq},
            {"node", i},
            {"error", ec ? json(ec.message()) : json(nullptr)},
            {"successes", raw->successes()},
            {"closest", closest}});
      // The query may be destroyed from inside on_done; defer anyway so it never frees itself
      // while still on its own stack.
      boost::asio::post(runtime_.executor(), [this, key] { queries_.erase(key); });
    });
    raw->start();
  }

  // One UDX stream on a node's DHT socket, hashing both directions.
  struct UdxPipe {
    std::unique_ptr<core::UdxStream> stream;
    crypto_hash_sha256_state rx{}, tx{};
    std::uint64_t received = 0, to_send = 0, sent = 0;
    std::uint32_t rng = 1;
    bool echo = false;
  };

  static std::string finish(crypto_hash_sha256_state& st) {
    Bytes32 out;
    crypto_hash_sha256_final(&st, out.data());
    return to_hex(out);
  }

  // Writes the next pseudo-random chunks until back-pressure or done, then ENDs.
  static void pump(UdxPipe& p) {
    std::uint8_t buf[16384];
    while (p.sent < p.to_send) {
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(sizeof buf, p.to_send - p.sent));
      for (std::size_t k = 0; k < n; ++k) {
        p.rng ^= p.rng << 13;
        p.rng ^= p.rng >> 17;
        p.rng ^= p.rng << 5;
        buf[k] = static_cast<std::uint8_t>(p.rng);
      }
      crypto_hash_sha256_update(&p.tx, buf, n);
      p.sent += n;
      auto r = p.stream->write(ByteView(buf, n));
      if (!r) return;
      if (!*r && p.sent < p.to_send) return;  // on_drain resumes
    }
    (void)p.stream->end();
  }

  void udx(std::size_t i, const json& cmd, const json& seq) {
    DhtNode& node = *slots_[i].node;
    core::UdxSocket* socket = node.udx_socket();
    if (socket == nullptr) return bad_command(cmd, "node not bound");
    const auto id = node.udx_streams().random_free_id(runtime_);
    auto made = core::UdxStream::create(*socket, id);
    if (!made) return bad_command(cmd, made.error().message());
    auto pipe = std::make_shared<UdxPipe>();
    pipe->stream = std::move(*made);
    pipe->to_send = cmd.value("send", std::uint64_t{0});
    pipe->echo = pipe->to_send == 0;
    crypto_hash_sha256_init(&pipe->rx);
    crypto_hash_sha256_init(&pipe->tx);
    UdxPipe* p = pipe.get();
    auto& h = p->stream->handlers();
    h.on_data = [p](ByteView d) {
      p->received += d.size();
      crypto_hash_sha256_update(&p->rx, d.data(), d.size());
      if (p->echo) {
        crypto_hash_sha256_update(&p->tx, d.data(), d.size());
        (void)p->stream->write(d);
      }
    };
    h.on_end = [p] {
      if (p->echo) (void)p->stream->end();
    };
    h.on_drain = [p] {
      if (!p->echo) pump(*p);
    };
    h.on_close = [this, id, p](std::error_code ec) {
      emit({{"event", "udx-closed"},
            {"id", id},
            {"error", ec ? ec.message() : ""},
            {"received", p->received},
            {"receivedSha256", finish(p->rx)},
            {"sentSha256", finish(p->tx)}});
      boost::asio::post(runtime_.executor(), [this, id] { udx_.erase(id); });
    };
    const auto remote_port = cmd.value<std::uint16_t>("port", 0);
    const auto remote_id = cmd.value<std::uint32_t>("remoteId", 0);
    auto host = Ipv4Address::parse_host("127.0.0.1");
    if (auto r = p->stream->connect(remote_id, {*host, remote_port}); !r)
      return bad_command(cmd, r.error().message());
    udx_[id] = pipe;
    emit({{"event", "udx"},
          {"seq", seq},
          {"node", i},
          {"id", id},
          {"port", socket->socket().local_address().port}});
    if (!p->echo) pump(*p);
  }

  json node_status(std::size_t i, const DhtNode& n) const {
    json table = json::array();
    for (const Node* t : n.table().to_array())
      table.push_back(
          {{"id", to_hex(t->id)}, {"host", t->addr.host_string()}, {"port", t->addr.port}});
    return {{"node", i},
            {"destroyed", n.destroyed()},
            {"id", hex_or_null(n.id())},
            {"address", addr_json(n.address())},
            {"nat", addr_json(n.nat_address())},
            {"remote", addr_json(n.remote_address())},
            {"serverPort", slots_[i].server_port},
            {"ephemeral", n.ephemeral()},
            {"firewalled", n.firewalled()},
            {"bootstrapped", n.bootstrapped()},
            {"tableSize", n.table().size()},
            {"table", table}};
  }

  json status() const {
    json out = json::array();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].node)
        out.push_back(node_status(i, *slots_[i].node));
      else
        out.push_back({{"node", i}, {"destroyed", true}});
    }
    return out;
  }

  core::Runtime& runtime_;
  std::vector<Slot> slots_;
  std::map<std::uint64_t, std::unique_ptr<Query>> queries_;
  std::uint64_t next_query_ = 0;
  std::map<std::uint32_t, std::shared_ptr<UdxPipe>> udx_;
};

}  // namespace

int main() {
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  Driver driver(runtime);
  interop::run_json_lines(
      ctx, [&](const json& cmd) { return driver.handle(cmd); },
      [&] {
        driver.handle({{"op", "quit"}});
      });
}
