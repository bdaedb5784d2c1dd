// hdhtctl's side of the control socket: connect, send one JSON-RPC request, hand every
// notification for it to a callback, and return the answer. Plain blocking POSIX I/O with
// poll() deadlines: a CLI does one thing at a time and must never hang.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
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

// A control connection that stays open after its answer: it then carries notifications (a
// `listen`), or is the raw byte stream (`connect`, `accept`). Closes the descriptor when
// destroyed.
class OpenCall {
 public:
  OpenCall() = default;
  ~OpenCall();
  OpenCall(const OpenCall&) = delete;
  OpenCall& operator=(const OpenCall&) = delete;

  int fd() const noexcept { return fd_; }
  // Bytes read after the answer line: the start of the stream (or of the next lines).
  std::string& leftover() noexcept { return buffer_; }
  void close();

 private:
  friend Outcome call_open(const std::string&, const std::string&, const json&,
                           std::chrono::milliseconds, OpenCall&);
  friend std::optional<json> next_notification(OpenCall&);
  int fd_ = -1;
  std::string buffer_;
};

// As call(), keeping the connection in `out` (notifications before the answer are skipped).
Outcome call_open(const std::string& socket_path, const std::string& method, const json& params,
                  std::chrono::milliseconds timeout, OpenCall& out);
// Blocks until the next notification ({"method", "params"}); null once the daemon closes.
std::optional<json> next_notification(OpenCall& c);

}  // namespace hdht::ctl
