// JSON-RPC 2.0 as the control socket speaks it: one JSON object per line each way. Parsing is
// pure (a line in, a request or the error it deserves out). Batches are not supported (answered
// with -32600), which keeps one request = one line = one answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace hdht::daemon::rpc {

using json = nlohmann::json;

// The standard codes, then ours (documented in docs/control-socket.md). Every error also carries
// data.name, an upper-case name in the reference's style (e.g. KEY_NOT_FOUND, REQUEST_TIMEOUT).
enum Code : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kBusy = -32000,          // TOO_MANY_CLIENTS, REQUEST_TOO_LARGE, OUTPUT_OVERFLOW
  kNotFound = -32001,      // KEY_NOT_FOUND, NO_SUCH_NODE
  kExists = -32002,        // KEY_EXISTS
  kStorage = -32003,       // STORAGE_ERROR
  kNotReady = -32004,      // NOT_BOOTSTRAPPED, SHUTTING_DOWN
  kForbidden = -32005,     // KEY_PROTECTED, KEY_IN_USE, LIMIT_REACHED
  kRequestFailed = -32010  // a DHT operation failed; data.name is the reference's error name
};

struct Error {
  int code = kInternalError;
  std::string message;
  std::string name;            // data.name
  json data = json::object();  // more fields merged into data
};

struct Request {
  json id;                    // string, number or null
  bool notification = false;  // no "id" member: no answer is sent
  std::string method;
  json params = json::object();  // object or array; absent -> {}
};

// What a line that is not a valid request gets: the error, and the id if one could be read.
struct BadRequest {
  json id;  // null unless the request had a usable id
  Error error;
};

// Nesting deeper than this is refused before parsing (a 1 MiB line of '[' would otherwise cost
// recursion in the JSON library's destructor).
inline constexpr int kMaxDepth = 64;

std::variant<Request, BadRequest> parse_request(std::string_view line);

std::string result_line(const json& id, const json& result);
std::string error_line(const json& id, const Error& error);
// A server -> client notification (progress of a streaming method).
std::string notification_line(std::string_view method, const json& params);

}  // namespace hdht::daemon::rpc
