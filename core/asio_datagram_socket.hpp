// The real DatagramSocket: a non-blocking IPv4 UDP socket read and written with the native
// calls and waited on with Asio. Datagrams are read in batches (recvmmsg); plain sends made while
// a batch is being delivered leave together in one sendmmsg when the batch ends, so a busy
// server pays one system call per batch instead of two per request. Sends made anywhere else
// go out at once (sendto), as before.
#pragma once

#include <memory>

#include <boost/asio/any_io_executor.hpp>

#include "core/datagram_socket.hpp"
#include "protocol/result.hpp"

namespace hdht::core {

// Binds without SO_REUSEADDR, so a busy port is an error (EADDRINUSE) the caller can react to.
// The executor's context must be an io_context and outlive the socket.
Result<std::unique_ptr<DatagramSocket>> bind_asio_udp(const boost::asio::any_io_executor& executor,
                                                      const Ipv4Address& local);

}  // namespace hdht::core
