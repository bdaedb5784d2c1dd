#include "daemon/local_address.hpp"

#include <sys/un.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "protocol/ipv4.hpp"

namespace hdht::daemon {

std::optional<LocalAddress> parse_local_address(std::string_view text, std::string& why) {
  if (!text.empty() && text.front() == '/') {
    if (text.size() >= sizeof(::sockaddr_un{}.sun_path)) {
      why = "Unix socket path too long";
      return std::nullopt;
    }
    const boost::asio::local::stream_protocol::endpoint ep{std::string(text)};
    return LocalAddress{std::string(text), ep};
  }
  std::string s(text);
  if (s.starts_with("localhost:")) s = "127.0.0.1" + s.substr(9);
  const auto a = Ipv4Address::parse(s);
  if (!a || a->port == 0) {
    why = "'" + std::string(text) + "' is neither IPv4:port (or localhost:port) nor /unix/path";
    return std::nullopt;
  }
  const boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address_v4(a->host_string()),
                                          a->port);
  return LocalAddress{a->to_string(), ep};
}

}  // namespace hdht::daemon
