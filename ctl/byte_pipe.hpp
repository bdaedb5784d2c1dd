// hdhtctl's side of a stream: copies bytes between a local pair of descriptors (stdin/stdout, or
// one TCP connection for both) and an upgraded control-socket connection, with half-close both
// ways: the input's EOF shuts the socket's write side (the daemon ends the P2P stream), the
// socket's EOF (the peer ended) closes the output (or shuts a socket's write side). Blocking
// I/O with poll(): a slow side slows the other (back-pressure).
#pragma once

#include <string>

namespace hdht::ctl {

// `early`: stream bytes already read from the socket (they go to out_fd first). Returns true if
// both ways ended cleanly; false (with `error`) on a read/write error or a reset.
bool pipe_stream(int in_fd, int out_fd, int socket_fd, const std::string& early,
                 std::string& error);

}  // namespace hdht::ctl
