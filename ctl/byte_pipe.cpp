#include "ctl/byte_pipe.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hdht::ctl {

namespace {

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) {
      const auto w = ::write(fd, data, size);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data += w;
      size -= static_cast<std::size_t>(w);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A socket's write side is shut (its reader sees EOF, our reads go on); anything else closes.
void end_output(int fd) {
  if (::shutdown(fd, SHUT_WR) != 0 && errno == ENOTSOCK) ::close(fd);
}

}  // namespace

bool pipe_stream(int in_fd, int out_fd, int socket_fd, const std::string& early,
                 std::string& error) {
  if (!early.empty() && !write_all(out_fd, early.data(), early.size())) {
    error = std::string("cannot write the output: ") + std::strerror(errno);
    return false;
  }
  bool in_open = true, sock_open = true;
  char buf[65536];
  while (in_open || sock_open) {
    ::pollfd p[2] = {{in_open ? in_fd : -1, POLLIN, 0}, {sock_open ? socket_fd : -1, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      error = std::string("poll: ") + std::strerror(errno);
      return false;
    }
    if (in_open && p[0].revents) {
      const auto n = ::read(in_fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        in_open = false;
        ::shutdown(socket_fd, SHUT_WR);
      } else if (!write_all(socket_fd, buf, static_cast<std::size_t>(n))) {
        error = "the stream closed while sending";
        return false;
      }
    }
    if (sock_open && p[1].revents) {
      const auto n = ::recv(socket_fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = "the stream was reset";
        return false;
      }
      if (n == 0) {
        sock_open = false;
        end_output(out_fd);
      } else if (!write_all(out_fd, buf, static_cast<std::size_t>(n))) {
        error = std::string("cannot write the output: ") + std::strerror(errno);
        return false;
      }
    }
  }
  return true;
}

}  // namespace hdht::ctl
