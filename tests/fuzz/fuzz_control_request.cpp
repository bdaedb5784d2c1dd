// Arbitrary bytes as what a control-socket client writes: framed into lines the way
// ControlSession does (split on '\n', one trailing '\r' dropped, blank lines skipped), each line
// through rpc::parse_request (depth cap, JSON parse, JSON-RPC validation), then through the
// Dispatcher and ParamReader as every method validates its params. Beyond "no crash, no
// exception escaping": every request gets exactly one answer (none for a notification), and
// every line the daemon would write is one JSON-RPC object on one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/dispatcher.hpp"
#include "daemon/jsonrpc.hpp"
#include "daemon/value_codec.hpp"

#include <spdlog/spdlog.h>

namespace {

using hdht::daemon::rpc::json;
namespace rpc = hdht::daemon::rpc;

void require(bool ok) {
  if (!ok) std::abort();
}

// One line out: '\n'-terminated, no other newline, valid JSON, a JSON-RPC 2.0 object.
json check_line(const std::string& line) {
  require(!line.empty() && line.back() == '\n');
  require(line.find('\n') == line.size() - 1);
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  require(!j.is_discarded() && j.is_object());
  require(j.value("jsonrpc", "") == "2.0");
  return j;
}

void check_answer(const std::string& line, const json& id) {
  const json j = check_line(line);
  require(j.contains("id") && j["id"] == id);
  require(j.contains("result") != j.contains("error"));
  if (j.contains("error")) {
    const json& e = j["error"];
    require(e.is_object() && e["code"].is_number_integer() && e["message"].is_string());
    require(e["data"].is_object() && e["data"]["name"].is_string());
  }
}

class Sink final : public hdht::daemon::LineSink {
 public:
  void send_line(std::string line) override { lines.push_back(std::move(line)); }
  bool open() const override { return true; }
  void hold(std::function<void()>) override {}
  void upgrade(std::string line, hdht::daemon::UpgradeTarget) override {
    lines.push_back(std::move(line));
  }
  void end_hold() override {}
  void on_close(std::function<void()>) override {}

  std::vector<std::string> lines;
};

// Every param name and shape the methods read (daemon/methods_*.cpp), read the way they do.
void validate_params(const json& params, const hdht::daemon::Responder& r) {
  hdht::daemon::ParamReader p(
      params,
      {"allow", "connection", "encoding", "forward", "hash", "keep", "key", "latest", "limit",
       "name", "node", "probe", "publicKey", "relays", "seed", "seq", "target", "topic", "value"});
  (void)p.string("name");
  (void)p.hex32("seed");
  (void)p.hex32("hash");
  (void)p.hex32("publicKey");
  (void)p.hex32("target");
  (void)p.topic("topic");
  (void)p.uint("node", 1000);
  (void)p.uint("limit", 1u << 20);
  (void)p.uint("seq", UINT64_MAX);
  (void)p.uint("connection", UINT64_MAX);
  (void)p.boolean("keep");
  (void)p.boolean("latest");
  (void)p.boolean("probe");
  (void)p.addresses("relays", 3);
  auto encoding = p.string("encoding");
  if (encoding) (void)hdht::daemon::parse_encoding(*encoding);
  (void)p.string("forward");
  (void)p.string("key");
  auto value = p.value("value");
  if (p.error()) return r.error(*p.error());
  json out = params;  // echoed: the answer must survive whatever strings the client sent
  if (value) out["decoded"] = hdht::daemon::encode_value(*value, hdht::daemon::ValueEncoding::hex);
  r.result(std::move(out));
}

void one_line(std::string_view line, const hdht::daemon::Dispatcher& dispatcher) {
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;
  auto parsed = rpc::parse_request(line);
  if (auto* bad = std::get_if<rpc::BadRequest>(&parsed)) {
    require(bad->error.code < 0 && !bad->error.name.empty());
    check_answer(rpc::error_line(bad->id, bad->error), bad->id);
    return;
  }
  const auto& request = std::get<rpc::Request>(parsed);
  require(request.params.is_object() || request.params.is_array());
  auto sink = std::make_shared<Sink>();
  {
    hdht::daemon::Responder responder(sink, request.id, request.notification);
    dispatcher.dispatch(request, responder);
  }
  if (request.notification) {
    require(sink->lines.empty());
    return;
  }
  // Notifications tied to the request, then exactly one answer.
  require(!sink->lines.empty());
  for (std::size_t i = 0; i + 1 < sink->lines.size(); ++i) {
    const json n = check_line(sink->lines[i]);
    require(n["method"].is_string() && n["params"].is_object() && n["params"]["id"] == request.id);
  }
  check_answer(sink->lines.back(), request.id);
}

hdht::daemon::Dispatcher make_dispatcher() {
  spdlog::set_level(spdlog::level::off);  // the "throws" handler would log every run
  hdht::daemon::Dispatcher d;
  // The daemon's method names (so the seeds from docs/control-socket.md reach a handler), all
  // validated the same way: the handlers themselves need a running node.
  for (const char* name :
       {"accept",        "announce",      "announces",   "connect",   "connections",
        "disconnect",    "find-peer",     "forget",      "health",    "immutable.get",
        "immutable.put", "keys.generate", "keys.import", "keys.list", "keys.remove",
        "listen",        "lookup",        "methods",     "metrics",   "mutable.get",
        "mutable.put",   "nodes",         "records",     "servers",   "status",
        "unannounce",    "unlisten"})
    d.add(name, validate_params);
  // A streaming method: notifications first, then the answer.
  d.add("stream", [](const json& params, hdht::daemon::Responder r) {
    r.notify("stream.data", params);
    check_line(rpc::notification_line("stream.data", params));
    r.result(json::array());
  });
  d.add("throws", [](const json& params, hdht::daemon::Responder) {
    (void)params.at("missing");  // nlohmann throws; the dispatcher must answer -32603
  });
  d.add("silent", [](const json&, hdht::daemon::Responder) {});
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const hdht::daemon::Dispatcher dispatcher = make_dispatcher();
  std::string_view all(reinterpret_cast<const char*>(data), size);
  while (!all.empty()) {
    const std::size_t nl = all.find('\n');
    std::string_view line = all.substr(0, nl);
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    one_line(line, dispatcher);
  }
  return 0;
}
