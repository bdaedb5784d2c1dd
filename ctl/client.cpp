#include "ctl/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <variant>

namespace hdht::ctl {

namespace {

using Clock = std::chrono::steady_clock;

// Closes the descriptor on every path out of call().
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Connects to the daemon and sends one request.
std::optional<TransportError> send_request(const std::string& path, const std::string& method,
                                           const json& params, Fd& fd) {
  ::sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return TransportError{"socket path too long: " + path};
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);

  fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return TransportError{errno_text("socket")};
  if (::connect(fd.get(), reinterpret_cast<const ::sockaddr*>(&addr), sizeof(addr)) != 0)
    return TransportError{errno_text("cannot connect to " + path) +
                          " (is hyperdhtd running? see --socket)"};

  const json request = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
  const std::string line = request.dump() + "\n";
  std::size_t sent = 0;
  while (sent < line.size()) {
    const auto n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Closed before it read the request (a refusal during a connection flood): what the daemon
      // wrote before closing is still readable, and says why.
      if (errno == EPIPE || errno == ECONNRESET) break;
      return TransportError{errno_text("cannot send to " + path)};
    }
    sent += static_cast<std::size_t>(n);
  }
  return std::nullopt;
}

// The next message from `buffer` (refilled from fd); a TransportError at the deadline or EOF.
std::variant<json, TransportError> read_message(int fd, std::string& buffer,
                                                std::optional<Clock::time_point> deadline,
                                                std::chrono::milliseconds timeout) {
  char chunk[65536];
  for (;;) {
    if (const auto nl = buffer.find('\n'); nl != std::string::npos) {
      auto msg = json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (!msg.is_object()) return TransportError{"the daemon sent something that is not JSON"};
      return msg;
    }
    ::pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, deadline ? remaining_ms(*deadline) : -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return TransportError{errno_text("poll")};
    if (ready == 0)
      return TransportError{"no answer from the daemon within " +
                            std::to_string(timeout.count() / 1000) + " s"};
    const auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return TransportError{errno_text("cannot read from the daemon")};
    if (n == 0) return TransportError{"the daemon closed the connection without answering"};
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

// Reads until the answer to request 1, handing notifications to on_notification.
Outcome read_answer(int fd, std::string& buffer, Clock::time_point deadline,
                    std::chrono::milliseconds timeout,
                    const std::function<void(const json&)>& on_notification) {
  for (;;) {
    auto m = read_message(fd, buffer, deadline, timeout);
    if (auto* t = std::get_if<TransportError>(&m)) return *t;
    const auto& msg = std::get<json>(m);
    if (msg.contains("method")) {  // a notification (progress of our request)
      if (on_notification) on_notification(msg);
      continue;
    }
    // Our answer, or an error about the connection itself (id null: too many clients, ...).
    const bool ours = msg.value("id", json()) == json(1) || msg.value("id", json()).is_null();
    if (!ours) continue;
    if (msg.contains("error") && msg["error"].is_object()) {
      const auto& e = msg["error"];
      return RemoteError{e.value("code", 0), e.value("message", std::string("error")),
                         e.value("data", json::object())};
    }
    if (msg.contains("result")) return Answer{msg["result"]};
    return TransportError{"the daemon sent an answer with neither result nor error"};
  }
}

}  // namespace

Outcome call(const std::string& path, const std::string& method, const json& params,
             std::chrono::milliseconds timeout,
             const std::function<void(const json&)>& on_notification) {
  const auto deadline = Clock::now() + timeout;
  Fd fd(-1);
  if (auto e = send_request(path, method, params, fd)) return *e;
  std::string buffer;
  return read_answer(fd.get(), buffer, deadline, timeout, on_notification);
}

OpenCall::~OpenCall() {
  close();
}

void OpenCall::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Outcome call_open(const std::string& path, const std::string& method, const json& params,
                  std::chrono::milliseconds timeout, OpenCall& out) {
  const auto deadline = Clock::now() + timeout;
  Fd fd(-1);
  if (auto e = send_request(path, method, params, fd)) return *e;
  out.close();
  out.buffer_.clear();
  auto outcome = read_answer(fd.get(), out.buffer_, deadline, timeout, {});
  out.fd_ = fd.release();
  return outcome;
}

std::optional<json> next_notification(OpenCall& c) {
  for (;;) {
    auto m = read_message(c.fd_, c.buffer_, std::nullopt, {});
    if (std::holds_alternative<TransportError>(m)) return std::nullopt;
    auto& msg = std::get<json>(m);
    if (msg.contains("method")) return std::move(msg);
  }
}

}  // namespace hdht::ctl
