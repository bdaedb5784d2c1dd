#include "daemon/dispatcher.hpp"

#include "daemon/value_codec.hpp"
#include "protocol/crypto.hpp"

#include <exception>

#include <spdlog/spdlog.h>

namespace hdht::daemon {

using rpc::json;

struct Responder::State {
  std::shared_ptr<LineSink> sink;  // released once answered
  json id;
  bool notification = false;
  bool answered = false;
  bool held = false;  // hold(): the connection closes after a non-upgrade answer

  void send(std::string line) {
    if (sink) sink->send_line(std::move(line));
  }
  void release() {
    if (sink && held) sink->end_hold();
    drop();
  }
  void drop() {
    if (sink) sink->request_finished();
    sink.reset();
  }
  ~State() {
    if (!answered && !notification)
      send(rpc::error_line(id, {rpc::kInternalError, "the method gave no answer", "INTERNAL_ERROR",
                                json::object()}));
    if (!answered) release();
  }
};

Responder::Responder(std::shared_ptr<LineSink> sink, json id, bool notification)
    : state_(std::make_shared<State>()) {
  state_->sink = std::move(sink);
  if (state_->sink) state_->sink->request_started();
  state_->id = std::move(id);
  state_->notification = notification;
}

void Responder::result(json result) const {
  if (state_->answered) return;
  state_->answered = true;
  if (!state_->notification) state_->send(rpc::result_line(state_->id, result));
  state_->release();
}

void Responder::error(rpc::Error error) const {
  if (state_->answered) return;
  state_->answered = true;
  if (!state_->notification) state_->send(rpc::error_line(state_->id, error));
  state_->release();
}

void Responder::hold(std::function<void()> on_gone) const {
  if (state_->answered || !state_->sink) return;
  state_->held = true;
  state_->sink->hold(std::move(on_gone));
}

void Responder::upgrade(json result, UpgradeTarget target) const {
  if (state_->answered) return;
  state_->answered = true;
  if (state_->sink)
    state_->sink->upgrade(
        state_->notification ? std::string() : rpc::result_line(state_->id, result),
        std::move(target));
  state_->drop();
}

std::weak_ptr<LineSink> Responder::sink() const {
  return state_->sink;
}

void Responder::notify(const std::string& method, json params) const {
  if (state_->answered || state_->notification) return;
  if (!params.is_object()) params = json{{"value", std::move(params)}};
  params["id"] = state_->id;
  state_->send(rpc::notification_line(method, params));
}

bool Responder::answered() const {
  return state_->answered;
}

bool Responder::connected() const {
  return state_->sink && state_->sink->open();
}

void Dispatcher::add(std::string name, Handler handler) {
  handlers_[std::move(name)] = std::move(handler);
}

void Dispatcher::dispatch(const rpc::Request& request, const Responder& responder) const {
  ++calls_;
  auto it = handlers_.find(request.method);
  if (it == handlers_.end())
    return responder.error({rpc::kMethodNotFound, "unknown method '" + request.method + "'",
                            "METHOD_NOT_FOUND", json::object()});
  try {
    it->second(request.params, responder);
  } catch (const std::exception& e) {
    // A handler bug must cost one request, not the daemon.
    spdlog::error("control: method {} threw: {}", request.method, e.what());
    responder.error({rpc::kInternalError, "internal error", "INTERNAL_ERROR", json::object()});
  }
}

std::vector<std::string> Dispatcher::methods() const {
  std::vector<std::string> out;
  for (const auto& [name, h] : handlers_)
    out.push_back(name);
  return out;
}

ParamReader::ParamReader(const json& params, std::initializer_list<const char*> allowed)
    : params_(params) {
  if (params.is_array() && params.empty()) return;  // [] = no params
  if (!params.is_object()) {
    fail("params must be an object of named parameters");
    return;
  }
  for (const auto& [key, value] : params.items()) {
    bool known = false;
    for (const char* a : allowed)
      known = known || key == a;
    if (!known) {
      fail("unknown parameter '" + key + "'");
      return;
    }
  }
}

void ParamReader::fail(std::string message, std::string name) {
  if (!error_) error_ = rpc::Error{rpc::kInvalidParams, std::move(message), std::move(name), {}};
}

const json* ParamReader::find(const char* key, bool required) {
  if (error_) return nullptr;
  // [] (no params at all) reads as an empty object.
  const bool present = params_.is_object() && params_.contains(key) && !params_[key].is_null();
  if (!present) {
    if (required) fail(std::string("missing parameter '") + key + "'");
    return nullptr;
  }
  return &params_[key];
}

std::optional<std::string> ParamReader::string(const char* key, bool required) {
  const json* v = find(key, required);
  if (!v) return std::nullopt;
  if (!v->is_string()) return fail(std::string("'") + key + "' must be a string"), std::nullopt;
  return v->get<std::string>();
}

std::optional<Bytes32> ParamReader::hex32(const char* key, bool required) {
  const json* v = find(key, required);
  if (!v) return std::nullopt;
  std::optional<Bytes32> out;
  if (v->is_string()) out = fixed_from_hex<32>(v->get<std::string>());
  if (!out) fail(std::string("'") + key + "' must be 64 hex characters", "BAD_HEX");
  return out;
}

std::optional<std::uint64_t> ParamReader::uint(const char* key, std::uint64_t max, bool required) {
  const json* v = find(key, required);
  if (!v) return std::nullopt;
  if (!v->is_number_unsigned() || v->get<std::uint64_t>() > max)
    return fail(std::string("'") + key + "' must be an integer 0.." + std::to_string(max)),
           std::nullopt;
  return v->get<std::uint64_t>();
}

std::optional<Bytes> ParamReader::value(const char* key, bool required) {
  const json* v = find(key, required);
  if (!v) return std::nullopt;
  std::string why;
  auto out = decode_value(*v, why);
  if (!out) fail(std::string("'") + key + "': " + why, "BAD_VALUE");
  return out;
}

std::optional<bool> ParamReader::boolean(const char* key) {
  const json* v = find(key, false);
  if (!v) return std::nullopt;
  if (!v->is_boolean())
    return fail(std::string("'") + key + "' must be true or false"), std::nullopt;
  return v->get<bool>();
}

std::optional<Bytes32> ParamReader::topic(const char* key, bool required) {
  const json* v = find(key, required);
  if (!v) return std::nullopt;
  if (!v->is_string() || v->get_ref<const std::string&>().empty() ||
      v->get_ref<const std::string&>().size() > 1024)
    return fail(std::string("'") + key + "' must be a non-empty string (up to 1024 bytes)"),
           std::nullopt;
  const auto& s = v->get_ref<const std::string&>();
  if (auto raw = fixed_from_hex<32>(s)) return raw;
  return crypto::hash32(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

std::optional<std::vector<Ipv4Address>> ParamReader::addresses(const char* key, std::size_t max) {
  const json* v = find(key, false);
  if (!v) return std::nullopt;
  if (!v->is_array() || v->size() > max)
    return fail(std::string("'") + key + "' must be an array of at most " + std::to_string(max) +
                " \"host:port\" strings"),
           std::nullopt;
  std::vector<Ipv4Address> out;
  for (const auto& a : *v) {
    std::optional<Ipv4Address> addr;
    if (a.is_string()) addr = Ipv4Address::parse(a.get<std::string>());
    if (!addr)
      return fail(std::string("'") + key + "': " + a.dump() + " is not an IPv4 \"host:port\"",
                  "BAD_ADDRESS"),
             std::nullopt;
    out.push_back(*addr);
  }
  return out;
}

}  // namespace hdht::daemon
