#include "ctl/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace

Outcome call(const std::string& path, const std::string& method, const json& params,
             std::chrono::milliseconds timeout,
             const std::function<void(const json&)>& on_notification) {
  const auto deadline = Clock::now() + timeout;
  ::sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return TransportError{"socket path too long: " + path};
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);

  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
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
      return TransportError{errno_text("cannot send to " + path)};
    }
    sent += static_cast<std::size_t>(n);
  }

  std::string buffer;
  char chunk[65536];
  for (;;) {
    std::size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      const auto msg = json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (!msg.is_object()) return TransportError{"the daemon sent something that is not JSON"};
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
    ::pollfd p{fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return TransportError{errno_text("poll")};
    if (ready == 0)
      return TransportError{"no answer from the daemon within " +
                            std::to_string(timeout.count() / 1000) + " s"};
    const auto n = ::recv(fd.get(), chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return TransportError{errno_text("cannot read from " + path)};
    if (n == 0) return TransportError{"the daemon closed the connection without answering"};
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace hdht::ctl
