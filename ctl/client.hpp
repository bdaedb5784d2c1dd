// hdhtctl's side of the control socket: connect, send one JSON-RPC request, hand every
// notification for it to a callback, and return the answer. Plain blocking POSIX I/O with
// poll() deadlines: a CLI does one thing at a time and must never hang.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace hdht::ctl {

using nlohmann::json;

// The daemon could not be reached or stopped answering: exit code 3.
struct TransportError {
  std::string message;
};
// The daemon answered with a JSON-RPC error: exit code 1.
struct RemoteError {
  int code = 0;
  std::string message;
  json data;
};
struct Answer {
  json result;
};

using Outcome = std::variant<Answer, RemoteError, TransportError>;

Outcome call(const std::string& socket_path, const std::string& method, const json& params,
             std::chrono::milliseconds timeout,
             const std::function<void(const json& notification)>& on_notification = {});

}  // namespace hdht::ctl
