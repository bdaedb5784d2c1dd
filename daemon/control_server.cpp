#include "daemon/control_server.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded

#include <cerrno>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/control_session.hpp"

namespace hdht::daemon {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

namespace {
// After a failed accept (EMFILE, ENFILE, ENOBUFS): the connection stays in the backlog and the
// listener stays readable, so accepting again at once would spin until a descriptor frees up.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
}  // namespace

struct ControlServer::Core : std::enable_shared_from_this<Core> {
  explicit Core(asio::any_io_executor ex) : acceptor(ex), retry(ex) {}

  stream::acceptor acceptor;
  asio::steady_timer retry;
  bool accept_failing = false;  // logged once per run of failures
  std::shared_ptr<ControlShared> shared = std::make_shared<ControlShared>();
  std::vector<std::weak_ptr<ControlSession>> sessions;
  dev_t dev = 0;
  ino_t ino = 0;
  bool stopped = false;

  void accept_next() {
    acceptor.async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, stream::socket socket) {
          if (self->stopped) return;
          if (ec == asio::error::operation_aborted) return;
          if (!ec) {
            self->accept_failing = false;
            self->on_accept(std::move(socket));
            return self->accept_next();
          }
          // Keep listening, after a pause (see kAcceptRetry).
          if (!self->accept_failing)
            spdlog::warn("control: cannot accept a client: {}; retrying every {} ms", ec.message(),
                         kAcceptRetry.count());
          self->accept_failing = true;
          self->retry.expires_after(kAcceptRetry);
          self->retry.async_wait([self](const boost::system::error_code& e) {
            if (!e && !self->stopped) self->accept_next();
          });
        });
  }

  void on_accept(stream::socket socket) {
    std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    auto session = std::make_shared<ControlSession>(std::move(socket), shared);
    if (shared->stats.clients > shared->config.max_clients) {
      ++shared->stats.rejected_busy;
      session->refuse(rpc::error_line(
          nullptr, {rpc::kBusy,
                    "too many clients (" + std::to_string(shared->config.max_clients) + ")",
                    "TOO_MANY_CLIENTS",
                    {}}));
      return;
    }
    ++shared->stats.accepted;
    sessions.push_back(session);
    asio::co_spawn(acceptor.get_executor(), session->run(session), asio::detached);
  }
};

ControlServer::ControlServer(asio::any_io_executor executor, ControlServerConfig config,
                             const Dispatcher& dispatcher)
    : core_(std::make_shared<Core>(std::move(executor))) {
  core_->shared->config = std::move(config);
  core_->shared->dispatcher = &dispatcher;
}

ControlServer::~ControlServer() {
  stop();
}

namespace {

// True if a daemon accepts connections on `path` now.
bool someone_answers(const std::string& path) {
  ::sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::connect(fd, reinterpret_cast<const ::sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Result<void> ControlServer::start(std::string& what) {
  auto& c = *core_;
  const auto& cfg = c.shared->config;
  const auto fail = [&](std::string msg, int err) -> Result<void> {
    what = std::move(msg);
    return std::error_code(err, std::generic_category());
  };

  struct stat st {};
  if (::lstat(cfg.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("control socket " + cfg.path + " exists and is not a socket", EEXIST);
    if (someone_answers(cfg.path))
      return fail("another daemon is answering on " + cfg.path + " (use --socket)", EADDRINUSE);
    spdlog::info("control: removing stale socket {}", cfg.path);
    if (::unlink(cfg.path.c_str()) != 0) return fail("cannot remove stale " + cfg.path, errno);
  }

  boost::system::error_code ec;
  c.acceptor.open(stream(), ec);
  if (ec) return fail("cannot open a Unix socket", ec.value());
  // Created 0660 from the start (umask), so there is no moment where others could connect.
  const mode_t old_mask = ::umask(0117);
  c.acceptor.bind(stream::endpoint(cfg.path), ec);
  ::umask(old_mask);
  if (ec) return fail("cannot bind " + cfg.path + ": " + ec.message(), ec.value());
  if (::chmod(cfg.path.c_str(), 0660) != 0) return fail("cannot chmod " + cfg.path, errno);
  if (!cfg.group.empty()) {
    const ::group* g = ::getgrnam(cfg.group.c_str());
    if (!g) return fail("--socket-group: no group named '" + cfg.group + "'", ENOENT);
    if (::chown(cfg.path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
      return fail("cannot give " + cfg.path + " to group " + cfg.group, errno);
  }
  if (::stat(cfg.path.c_str(), &st) == 0) {
    c.dev = st.st_dev;
    c.ino = st.st_ino;
  }
  c.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on " + cfg.path, ec.value());
  c.accept_next();
  return {};
}

void ControlServer::stop() {
  auto& c = *core_;
  if (c.stopped) return;
  c.stopped = true;
  c.shared->dispatcher = nullptr;
  const bool listening = c.acceptor.is_open();
  boost::system::error_code ignored;
  c.acceptor.close(ignored);
  c.retry.cancel();
  for (auto& w : c.sessions)
    if (auto s = w.lock()) s->close();
  c.sessions.clear();
  // Only our own socket file is removed: a newer daemon may have replaced it.
  struct stat st {};
  if (listening && ::stat(c.shared->config.path.c_str(), &st) == 0 && st.st_dev == c.dev &&
      st.st_ino == c.ino)
    ::unlink(c.shared->config.path.c_str());
}

const ControlServerStats& ControlServer::stats() const {
  return core_->shared->stats;
}

}  // namespace hdht::daemon
