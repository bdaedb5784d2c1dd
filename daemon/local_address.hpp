// Where a forward delivers inbound streams: a local TCP address ("127.0.0.1:8080",
// "localhost:8080") or a Unix socket path (absolute, "/run/app.sock"). Parsing is pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/generic/stream_protocol.hpp>

namespace hdht::daemon {

struct LocalAddress {
  std::string text;  // as the user wrote it (normalised: localhost -> 127.0.0.1)
  boost::asio::generic::stream_protocol::endpoint endpoint;
};

// Null, with `why`, for anything else (hostnames other than localhost are not resolved: a
// forward is meant for this machine).
std::optional<LocalAddress> parse_local_address(std::string_view text, std::string& why);

}  // namespace hdht::daemon
