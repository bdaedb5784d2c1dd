#include "daemon/metrics_http.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace hdht::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxHeader = 8192;
constexpr auto kTimeout = std::chrono::seconds(5);

std::string http_response(const char* status, const std::string& type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

}  // namespace

struct MetricsHttpServer::Core : std::enable_shared_from_this<Core> {
  explicit Core(asio::any_io_executor ex) : acceptor(ex) {}

  tcp::acceptor acceptor;
  std::function<std::string()> render;  // emptied by stop()
  std::vector<std::weak_ptr<tcp::socket>> connections;
  bool stopped = false;

  void accept_next() {
    acceptor.async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          if (self->stopped || ec == asio::error::operation_aborted) return;
          if (!ec) {
            std::erase_if(self->connections, [](const auto& w) { return w.expired(); });
            auto s = std::make_shared<tcp::socket>(std::move(socket));
            self->connections.push_back(s);
            asio::co_spawn(self->acceptor.get_executor(), serve(self, s), asio::detached);
          }
          self->accept_next();
        });
  }

  static asio::awaitable<void> serve(std::shared_ptr<Core> self, std::shared_ptr<tcp::socket> s) {
    asio::steady_timer deadline(s->get_executor());
    deadline.expires_after(kTimeout);
    deadline.async_wait([w = std::weak_ptr<tcp::socket>(s)](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto sock = w.lock()) {
        boost::system::error_code ignored;
        sock->close(ignored);
      }
    });
    std::string buffer;
    boost::system::error_code ec;
    co_await asio::async_read_until(*s, asio::dynamic_buffer(buffer, kMaxHeader), "\r\n\r\n",
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !self->render) co_return;
    const bool scrape = buffer.starts_with("GET /metrics ") || buffer.starts_with("GET /metrics?");
    const std::string reply =
        scrape ? http_response("200 OK", "text/plain; version=0.0.4; charset=utf-8", self->render())
               : http_response("404 Not Found", "text/plain", "try GET /metrics\n");
    co_await asio::async_write(*s, asio::buffer(reply),
                               asio::redirect_error(asio::use_awaitable, ec));
    deadline.cancel();
    boost::system::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);
    s->close(ignored);
  }
};

MetricsHttpServer::MetricsHttpServer(asio::any_io_executor executor,
                                     std::function<std::string()> render)
    : core_(std::make_shared<Core>(std::move(executor))) {
  core_->render = std::move(render);
}

MetricsHttpServer::~MetricsHttpServer() {
  stop();
}

Result<void> MetricsHttpServer::start(const Ipv4Address& at) {
  const auto& h = at.ip;
  const tcp::endpoint ep(asio::ip::address_v4({h[0], h[1], h[2], h[3]}), at.port);
  boost::system::error_code ec;
  core_->acceptor.open(ep.protocol(), ec);
  if (!ec) core_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) core_->acceptor.bind(ep, ec);
  if (!ec) core_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::error_code(ec.value(), std::generic_category());
  core_->accept_next();
  return {};
}

void MetricsHttpServer::stop() {
  auto& c = *core_;
  if (c.stopped) return;
  c.stopped = true;
  c.render = nullptr;
  boost::system::error_code ignored;
  c.acceptor.close(ignored);
  for (auto& w : c.connections)
    if (auto s = w.lock()) s->close(ignored);
}

}  // namespace hdht::daemon
