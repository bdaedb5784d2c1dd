// The C++ side of tests/interop/records-interop.js: HyperDhtNodes on one io_context, driven by
// newline-delimited JSON commands on stdin, answering with JSON events on stdout. Every command
// may carry "seq", echoed in its answer. Keys, values and hashes are hex.
//
//   {"op":"start","nodes":N,"bootstrap":"h:p[,h:p]","host":"127.0.0.1","ephemeral":b|null,
//    "firewalled":b,"max_size":n,"max_age_ms":n}
//        -> {"event":"started","nodes":[i..]} once all are bootstrapped (started one by one)
//        "bootstrapper":port starts one bootstrapper (DHT.bootstrapper) on host:port instead
//   {"op":"status"} -> {"event":"status","nodes":[{node,id,host,port,records,forwards,
//                       mutables,immutables,router:{handshake_from_client,...,dropped}}]}
//   {"op":"stored","node":i,"kind":"immutable"|"mutable"|"forward"|"record","key":hex,
//    "publicKey":hex}   -> {"event":"stored","present":b,"value":hex|null}
//   {"op":"immutable_put","node":i,"value":hex} -> {"event":"immutable_put",error,hash,closest}
//   {"op":"immutable_get","node":i,"hash":hex}  -> {"event":"immutable_get",error,found,value,from}
//   {"op":"mutable_put","node":i,"seed":hex,"value":hex,"mseq":n}
//        -> {"event":"mutable_put",error,publicKey,mseq,signature,closest}
//   {"op":"mutable_get","node":i,"publicKey":hex,"mseq":n,"latest":b}
//        -> {"event":"mutable_get",error,found,mseq,value,signature,from}
//   {"op":"announce"|"unannounce"|"lookup","node":i,"topic":hex,"seed":hex,"relays":[{host,port}],
//    "clear":b}
//        -> {"event":op,error,replies:[{from:{host,port},peers:[{publicKey,relayAddresses}]}],
//            closest}
//   {"op":"find_peer","node":i,"publicKey":hex} ->
//   {"event":"find_peer",error,replies:[{from,peer}]}
//   {"op":"quit"}
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
#include "core/hyperdht_node.hpp"
#include "protocol/crypto.hpp"
#include "tests/interop/hyperdht_nodes.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;
using interop::bad_command;
using interop::emit;
using interop::hex_or_null;
using interop::router_json;

namespace {

json addr(const Ipv4Address& a) {
  return {{"host", a.host_string()}, {"port", a.port}};
}

json peers_json(const std::vector<dht::Peer>& peers) {
  json out = json::array();
  for (const auto& p : peers)
    out.push_back(
        {{"host", p.addr.host_string()}, {"port", p.addr.port}, {"id", hex_or_null(p.id)}});
  return out;
}

json record_json(const msg::Peer& p) {
  json relays = json::array();
  for (const auto& r : p.relay_addresses)
    relays.push_back(addr(r));
  return {{"publicKey", to_hex(p.public_key)}, {"relayAddresses", relays}};
}

json error_json(std::error_code ec) {
  return ec ? json(ec.message()) : json(nullptr);
}

std::optional<Bytes32> hex32(const json& cmd, const char* key) {
  return fixed_from_hex<32>(cmd.value(key, std::string()));
}

class Driver {
 public:
  explicit Driver(core::Runtime& runtime) : runtime_(runtime) {}

  bool handle(const json& cmd) {
    const std::string op = cmd.value("op", "");
    const json seq = cmd.value("seq", json(nullptr));
    if (op == "quit") {
      ops_.clear();
      for (auto& n : nodes_)
        n->destroy();
      return false;
    }
    if (op == "start") return start(cmd), true;
    if (op == "status") return emit({{"event", "status"}, {"seq", seq}, {"nodes", status()}}), true;
    const auto i = cmd.value("node", std::size_t{0});
    if (i >= nodes_.size()) return bad_command(cmd, "no such node"), true;
    HyperDhtNode& n = *nodes_[i];
    if (op == "stored") {
      stored(n, cmd, seq);
    } else if (op == "immutable_put") {
      auto v = from_hex(cmd.value("value", std::string()));
      if (!v) return bad_command(cmd, "value"), true;
      const auto key = next_++;
      ops_[key] = n.immutable_put(*v, [this, key, seq](Result<ImmutablePutResult> r) {
        json ev = {{"event", "immutable_put"}, {"seq", seq}};
        ev["error"] = r ? json(nullptr) : json(r.error().message());
        if (r) ev["hash"] = to_hex(r->hash), ev["closest"] = peers_json(r->closest_nodes);
        finish(key, ev);
      });
    } else if (op == "immutable_get") {
      auto h = hex32(cmd, "hash");
      if (!h) return bad_command(cmd, "hash"), true;
      const auto key = next_++;
      ops_[key] = n.immutable_get(*h, [this, key, seq](auto r) {
        json ev = {{"event", "immutable_get"}, {"seq", seq}};
        ev["error"] = r ? json(nullptr) : json(r.error().message());
        ev["found"] = r && r->has_value();
        if (r && r->has_value())
          ev["value"] = to_hex((*r)->value), ev["from"] = addr((*r)->from.addr);
        finish(key, ev);
      });
    } else if (op == "mutable_put") {
      auto s = hex32(cmd, "seed");
      auto v = from_hex(cmd.value("value", std::string()));
      if (!s || !v) return bad_command(cmd, "seed/value"), true;
      MutablePutOptions o;
      o.seq = cmd.value("mseq", std::uint64_t{0});
      const auto key = next_++;
      ops_[key] = n.mutable_put(HyperDhtNode::key_pair(*s), *v, o,
                                [this, key, seq](Result<MutablePutResult> r) {
                                  json ev = {{"event", "mutable_put"}, {"seq", seq}};
                                  ev["error"] = r ? json(nullptr) : json(r.error().message());
                                  if (r) {
                                    ev["publicKey"] = to_hex(r->public_key);
                                    ev["mseq"] = r->seq;
                                    ev["signature"] = to_hex(r->signature);
                                    ev["closest"] = peers_json(r->closest_nodes);
                                  }
                                  finish(key, ev);
                                });
    } else if (op == "mutable_get") {
      auto pk = hex32(cmd, "publicKey");
      if (!pk) return bad_command(cmd, "publicKey"), true;
      MutableGetOptions o;
      o.seq = cmd.value("mseq", std::uint64_t{0});
      o.latest = cmd.value("latest", true);
      const auto key = next_++;
      ops_[key] = n.mutable_get(*pk, o, [this, key, seq](auto r) {
        json ev = {{"event", "mutable_get"}, {"seq", seq}};
        ev["error"] = r ? json(nullptr) : json(r.error().message());
        ev["found"] = r && r->has_value();
        if (r && r->has_value()) {
          ev["mseq"] = (*r)->seq;
          ev["value"] = to_hex((*r)->value);
          ev["signature"] = to_hex((*r)->signature);
          ev["from"] = addr((*r)->from.addr);
        }
        finish(key, ev);
      });
    } else if (op == "announce" || op == "unannounce" || op == "lookup") {
      lookup_like(n, op, cmd, seq);
    } else if (op == "find_peer") {
      auto pk = hex32(cmd, "publicKey");
      if (!pk) return bad_command(cmd, "publicKey"), true;
      const auto key = next_++;
      auto s = n.find_peer(*pk);
      FindPeerStream* raw = s.get();
      auto replies = std::make_shared<json>(json::array());
      s->on_reply([replies](const FindPeerResult& r) {
        replies->push_back({{"from", addr(r.from.addr)}, {"peer", record_json(r.peer)}});
      });
      s->on_done([this, key, seq, replies](std::error_code ec) {
        finish(key, {{"event", "find_peer"},
                     {"seq", seq},
                     {"error", error_json(ec)},
                     {"replies", *replies}});
      });
      ops_[key] = std::move(s);
      raw->start();
    } else {
      bad_command(cmd, "unknown op");
    }
    return true;
  }

 private:
  void finish(std::uint64_t key, const json& ev) {
    emit(ev);
    // Never free an operation on its own stack.
    boost::asio::post(runtime_.executor(), [this, key] { ops_.erase(key); });
  }

  void lookup_like(HyperDhtNode& n, const std::string& op, const json& cmd, const json& seq) {
    auto topic = hex32(cmd, "topic");
    if (!topic) return bad_command(cmd, "topic");
    std::unique_ptr<LookupStream> s;
    if (op == "lookup") {
      s = n.lookup(*topic);
    } else {
      auto seed = hex32(cmd, "seed");
      if (!seed) return bad_command(cmd, "seed");
      const auto kp = HyperDhtNode::key_pair(*seed);
      if (op == "announce") {
        std::vector<Ipv4Address> relays;
        for (const auto& r : cmd.value("relays", json::array())) {
          auto h = Ipv4Address::parse_host(r.value("host", std::string()));
          if (!h) return bad_command(cmd, "relay");
          relays.push_back({*h, r.value<std::uint16_t>("port", 0)});
        }
        AnnounceOptions o;
        o.clear = cmd.value("clear", false);
        s = n.announce(*topic, kp, std::move(relays), o);
      } else {
        s = n.unannounce(*topic, kp);
      }
    }
    const auto key = next_++;
    LookupStream* raw = s.get();
    auto replies = std::make_shared<json>(json::array());
    s->on_reply([replies](const LookupResult& r) {
      json peers = json::array();
      for (const auto& p : r.peers)
        peers.push_back(record_json(p));
      replies->push_back({{"from", addr(r.from.addr)}, {"peers", peers}, {"bump", r.bump}});
    });
    s->on_done([this, key, seq, op, raw, replies](std::error_code ec) {
      finish(key, {{"event", op},
                   {"seq", seq},
                   {"error", error_json(ec)},
                   {"replies", *replies},
                   {"closest", peers_json(raw->closest_nodes())}});
    });
    ops_[key] = std::move(s);
    raw->start();
  }

  void stored(HyperDhtNode& n, const json& cmd, const json& seq) {
    auto key = hex32(cmd, "key");
    if (!key) return bad_command(cmd, "key");
    const std::string kind = cmd.value("kind", "");
    json ev = {{"event", "stored"}, {"seq", seq}, {"present", false}, {"value", nullptr}};
    RecordHandlers* s = n.storage();
    if (kind == "forward") {
      if (const Forward* f = n.forwards().get(*key))
        ev["present"] = true, ev["value"] = to_hex(f->record);
    } else if (s && kind == "immutable") {
      if (const Bytes* v = s->immutables().get(*key))
        ev["present"] = true, ev["value"] = to_hex(*v);
    } else if (s && kind == "mutable") {
      if (const Bytes* v = s->mutables().get(*key)) ev["present"] = true, ev["value"] = to_hex(*v);
    } else if (s && kind == "record") {
      auto pk = hex32(cmd, "publicKey");
      if (!pk) return bad_command(cmd, "publicKey");
      for (const Bytes& r : s->records().get(*key, 0)) {
        if (r.size() >= 32 && std::equal(pk->begin(), pk->end(), r.begin()))
          ev["present"] = true, ev["value"] = to_hex(r);
      }
    }
    emit(ev);
  }

  void start(const json& cmd) {
    interop::start_nodes(runtime_, nodes_, cmd, [](std::size_t i, HyperDhtNode& n) {
      n.dht().events().persistent = [i, &n] {
        emit({{"event", "persistent"}, {"node", i}, {"id", hex_or_null(n.dht().id())}});
      };
    });
  }

  json status() const {
    json out = json::array();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      HyperDhtNode& n = *nodes_[i];
      const auto a = n.dht().address();
      RecordHandlers* s = n.storage();
      out.push_back(
          {{"node", i},
           {"id", hex_or_null(n.dht().id())},
           {"host", a ? a->host_string() : ""},
           {"port",
            n.dht().io().server_socket() ? n.dht().io().server_socket()->local_address().port : 0},
           {"bootstrapped", n.dht().bootstrapped()},
           {"records", s ? s->records().size() : 0},
           {"forwards", n.forwards().size()},
           {"mutables", s ? s->mutables().size() : 0},
           {"immutables", s ? s->immutables().size() : 0},
           {"router", router_json(n.router().stats())}});
    }
    return out;
  }

  core::Runtime& runtime_;
  std::vector<std::unique_ptr<HyperDhtNode>> nodes_;
  std::map<std::uint64_t, std::unique_ptr<OperationBase>> ops_;
  std::uint64_t next_ = 0;
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
