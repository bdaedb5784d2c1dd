#include "core/rpc_errors.hpp"

#include <string>

namespace hdht::dht {

namespace {

// Messages as dht-rpc lib/errors.js and index.js word them, so logs read like the reference's.
const char* rpc_error_message(RpcErrc e) noexcept {
  switch (e) {
    case RpcErrc::request_timeout:
      return "Request timed out";
    case RpcErrc::request_destroyed:
      return "Request destroyed";
    case RpcErrc::io_suspended:
      return "I/O suspended";
    case RpcErrc::node_destroyed:
      return "Node destroyed";
    case RpcErrc::too_few_nodes:
      return "Too few nodes responded";
    case RpcErrc::commit_failed:
      return "Commit failed";
    case RpcErrc::no_token:
      return "No token received for closest node";
    case RpcErrc::bind_failed:
      return "Could not bind a socket";
    case RpcErrc::datagram_too_large:
      return "Request too large for a datagram (2048 bytes)";
  }
  return "Unknown error";
}

class RpcCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dht-rpc"; }
  std::string message(int ev) const override {
    const auto e = static_cast<RpcErrc>(ev);
    return std::string(rpc_error_name(e)) + ": " + rpc_error_message(e);
  }
};

}  // namespace

const std::error_category& rpc_category() noexcept {
  static const RpcCategory category;
  return category;
}

std::error_code make_error_code(RpcErrc e) noexcept {
  return {static_cast<int>(e), rpc_category()};
}

const char* rpc_error_name(RpcErrc e) noexcept {
  switch (e) {
    case RpcErrc::request_timeout:
      return "REQUEST_TIMEOUT";
    case RpcErrc::request_destroyed:
      return "REQUEST_DESTROYED";
    case RpcErrc::io_suspended:
      return "IO_SUSPENDED";
    case RpcErrc::node_destroyed:
      return "NODE_DESTROYED";
    case RpcErrc::too_few_nodes:
      return "TOO_FEW_NODES";
    case RpcErrc::commit_failed:
      return "COMMIT_FAILED";
    case RpcErrc::no_token:
      return "NO_TOKEN";
    case RpcErrc::bind_failed:
      return "BIND_FAILED";
    case RpcErrc::datagram_too_large:
      return "DATAGRAM_TOO_LARGE";
  }
  return "UNKNOWN";
}

}  // namespace hdht::dht
