#include "daemon/jsonrpc.hpp"

namespace hdht::daemon::rpc {

namespace {

// Depth of [ and { outside strings; stops counting once over the limit.
bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

BadRequest bad(json id, int code, std::string message, std::string name) {
  return {std::move(id), Error{code, std::move(message), std::move(name), json::object()}};
}

}  // namespace

std::variant<Request, BadRequest> parse_request(std::string_view line) {
  if (too_deep(line))
    return bad(nullptr, kParseError, "JSON nested deeper than " + std::to_string(kMaxDepth),
               "PARSE_ERROR");
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(nullptr, kParseError, "invalid JSON", "PARSE_ERROR");
  if (j.is_array())
    return bad(nullptr, kInvalidRequest, "batch requests are not supported", "INVALID_REQUEST");
  if (!j.is_object())
    return bad(nullptr, kInvalidRequest, "a request is a JSON object", "INVALID_REQUEST");

  Request r;
  auto id = j.find("id");
  if (id == j.end()) {
    r.notification = true;
  } else if (id->is_string() || id->is_number() || id->is_null()) {
    r.id = *id;
  } else {
    return bad(nullptr, kInvalidRequest, "id must be a string, a number or null",
               "INVALID_REQUEST");
  }
  auto version = j.find("jsonrpc");
  if (version == j.end() || *version != "2.0")
    return bad(r.id, kInvalidRequest, "jsonrpc must be \"2.0\"", "INVALID_REQUEST");
  auto method = j.find("method");
  if (method == j.end() || !method->is_string())
    return bad(r.id, kInvalidRequest, "method must be a string", "INVALID_REQUEST");
  r.method = method->get<std::string>();
  auto params = j.find("params");
  if (params != j.end()) {
    if (!params->is_object() && !params->is_array())
      return bad(r.id, kInvalidRequest, "params must be an object or an array", "INVALID_REQUEST");
    r.params = std::move(*params);
  }
  return r;
}

std::string result_line(const json& id, const json& result) {
  json j = {{"jsonrpc", "2.0"}, {"id", id}, {"result", result}};
  // Invalid UTF-8 in a string is replaced rather than thrown: answers must always go out.
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string error_line(const json& id, const Error& error) {
  json data = error.data.is_object() ? error.data : json::object();
  data["name"] = error.name;
  json j = {{"jsonrpc", "2.0"},
            {"id", id},
            {"error", {{"code", error.code}, {"message", error.message}, {"data", data}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string notification_line(std::string_view method, const json& params) {
  json j = {{"jsonrpc", "2.0"}, {"method", method}, {"params", params}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace hdht::daemon::rpc
