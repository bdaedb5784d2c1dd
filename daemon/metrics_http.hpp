// --metrics host:port: a minimal HTTP/1.0-style server for Prometheus scrapes. GET /metrics gets
// the text format, anything else 404; one request per connection, 8 KiB of headers and 5 s at
// most. It is unauthenticated, which is why the documentation tells you to keep it on loopback.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::daemon {

class MetricsHttpServer {
 public:
  MetricsHttpServer(boost::asio::any_io_executor executor, std::function<std::string()> render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  Result<void> start(const Ipv4Address& at);
  // Closes the listener and every connection; render is never called afterwards.
  void stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace hdht::daemon
