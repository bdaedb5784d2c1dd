// The plumbing both chat examples share: stdin goes to every open connection, what a connection
// sends goes to stdout. Not part of the library; a few lines an embedder would write anyway.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "core/dht_config.hpp"
#include "core/secret_stream.hpp"

namespace chat {

class ChatPipe {
 public:
  explicit ChatPipe(boost::asio::any_io_executor ex);
  ~ChatPipe();

  // Owns the connection from now on; `on_gone` runs (posted) once it closed.
  void add(std::unique_ptr<hdht::core::SecretStream> stream, std::function<void()> on_gone = {});
  // Starts reading stdin; at its end every connection is ended and `on_eof` runs.
  void read_stdin(std::function<void()> on_eof = {});
  std::size_t connections() const noexcept { return streams_.size(); }

 private:
  void read_more();
  void forget(hdht::core::SecretStream* s, std::function<void()> on_gone);

  boost::asio::any_io_executor ex_;
  boost::asio::posix::stream_descriptor in_;
  std::string buf_;
  std::function<void()> on_eof_;
  std::set<std::unique_ptr<hdht::core::SecretStream>> streams_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// "host:port,host:port" (or the public network when empty) as DHT bootstrap entries; exits on
// a malformed list.
std::vector<hdht::dht::BootstrapEntry> bootstrap_list(const std::string& text);

}  // namespace chat
