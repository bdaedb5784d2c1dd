// Errors a request can end with, named as the reference names them (dht-rpc lib/errors.js), so
// logs, the JSON-RPC socket and tests speak the same language as JS users.
#pragma once

#include <system_error>

namespace hdht::dht {

enum class RpcErrc {
  request_timeout = 1,  // REQUEST_TIMEOUT: no reply after all retries
  request_destroyed,    // REQUEST_DESTROYED: the node (or the owner of the request) went away
  io_suspended,         // IO_SUSPENDED: the node was suspended while the request was in flight
  node_destroyed,       // "Node destroyed": a request or query on a destroyed node
  too_few_nodes,        // "Too few nodes responded": a commit with no closest replies
  commit_failed,        // every commit of a query failed (the last commit's error is logged)
  no_token,             // "No token received for closest node" (automatic commit)
  bind_failed,          // no port could be bound (start-up)
  // Ours: a request that encodes to more than a datagram any peer reads whole (2048 bytes), so
  // it was never sent (RpcIoStats::oversized_requests). Not named REQUEST_TOO_LARGE: the control
  // socket already uses that name for an overlong request line.
  datagram_too_large,
};

const std::error_category& rpc_category() noexcept;
std::error_code make_error_code(RpcErrc e) noexcept;
// "REQUEST_TIMEOUT", "REQUEST_DESTROYED", ... : the reference's error code string.
const char* rpc_error_name(RpcErrc e) noexcept;

}  // namespace hdht::dht

template <>
struct std::is_error_code_enum<hdht::dht::RpcErrc> : std::true_type {};
