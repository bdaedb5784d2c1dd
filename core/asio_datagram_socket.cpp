#include "core/asio_datagram_socket.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>

namespace hdht::core {

namespace asio = boost::asio;

namespace {

std::error_code last_errno() {
  return {errno, std::system_category()};
}

sockaddr_in to_sockaddr(const Ipv4Address& a) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a.port);
  std::memcpy(&sa.sin_addr.s_addr, a.ip.data(), 4);  // ip is already in network order
  return sa;
}

Ipv4Address from_sockaddr(const sockaddr_in& sa) {
  Ipv4Address a;
  std::memcpy(a.ip.data(), &sa.sin_addr.s_addr, 4);
  a.port = ntohs(sa.sin_port);
  return a;
}

class AsioDatagramSocket final : public DatagramSocket {
 public:
  AsioDatagramSocket(const asio::any_io_executor& ex, Ipv4Address local, int default_ttl)
      : socket_(ex), local_(local), default_ttl_(default_ttl) {}

  ~AsioDatagramSocket() override { close(); }

  // Takes ownership of fd (closing it on failure).
  std::error_code adopt(int fd) {
    boost::system::error_code ec;
    socket_.assign(asio::ip::udp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return {ec.value(), std::system_category()};
    }
    wait_readable();
    return {};
  }

  Ipv4Address local_address() const override { return local_; }
  bool is_open() const override { return socket_.is_open(); }

  void close() override {
    if (!socket_.is_open()) return;
    alive_.reset();  // queued completions see an expired token and do nothing
    counters_.send_dropped += queue_.size();
    queue_.clear();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 protected:
  void do_send(const Ipv4Address& to, ByteView data, SendOptions options) override {
    if (!socket_.is_open() || data.size() > kMaxDatagramSize || options.ttl < 0 ||
        options.ttl > 255) {
      ++counters_.send_errors;
      return;
    }
    // Order is preserved: while anything waits, new datagrams queue behind it.
    if (queue_.empty() && try_send(to, data, options.ttl) != Outcome::would_block) return;
    if (queue_.size() >= kMaxQueued) {
      ++counters_.send_dropped;
      return;
    }
    queue_.push_back({to, to_bytes(data), options.ttl});
    if (queue_.size() == 1) wait_writable();
  }

 private:
  // Bounds memory when the kernel buffer stays full; UDP loses datagrams anyway.
  static constexpr std::size_t kMaxQueued = 1024;
  // Datagrams read per readiness event before yielding to other handlers. The loop is the
  // seam where recvmmsg would read them in one call.
  static constexpr int kReceiveBatch = 32;

  enum class Outcome { sent, failed, would_block };
  struct Queued {
    Ipv4Address to;
    Bytes data;
    int ttl;
  };

  Outcome try_send(const Ipv4Address& to, ByteView data, int ttl) {
    const int fd = socket_.native_handle();
    // libudx does the same: set IP_TTL around the one send and put the default back.
    const bool custom_ttl = ttl != 0 && ttl != default_ttl_;
    if (custom_ttl && ::setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0) {
      ++counters_.send_errors;
      return Outcome::failed;
    }
    const sockaddr_in sa = to_sockaddr(to);
    ssize_t n;
    do {
      n = ::sendto(fd, data.data(), data.size(), MSG_DONTWAIT,
                   reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    } while (n < 0 && errno == EINTR);
    const int err = errno;
    if (custom_ttl) ::setsockopt(fd, IPPROTO_IP, IP_TTL, &default_ttl_, sizeof default_ttl_);
    if (n >= 0) {
      ++counters_.sent_datagrams;
      counters_.sent_bytes += static_cast<std::uint64_t>(n);
      return Outcome::sent;
    }
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return Outcome::would_block;
    ++counters_.send_errors;
    return Outcome::failed;
  }

  void wait_writable() {
    socket_.async_wait(asio::ip::udp::socket::wait_write,
                       [this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
                         if (alive.expired() || ec) return;
                         flush();
                       });
  }

  void flush() {
    while (!queue_.empty()) {
      Queued& q = queue_.front();
      if (try_send(q.to, q.data, q.ttl) == Outcome::would_block) {
        wait_writable();
        return;
      }
      queue_.pop_front();
    }
  }

  void wait_readable() {
    socket_.async_wait(asio::ip::udp::socket::wait_read,
                       [this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
                         if (alive.expired() || ec) return;
                         read_batch(alive);
                       });
  }

  void read_batch(const std::weak_ptr<int>& alive) {
    const int fd = socket_.native_handle();
    for (int i = 0; i < kReceiveBatch; ++i) {
      sockaddr_in from{};
      iovec iov{buffer_.data(), buffer_.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno != EINTR) ++counters_.receive_errors;  // e.g. a queued ICMP error
        continue;
      }
      const bool truncated = (msg.msg_flags & MSG_TRUNC) != 0;
      deliver(ByteView(buffer_.data(), static_cast<std::size_t>(n)), from_sockaddr(from),
              truncated);
      if (alive.expired()) return;  // closed or destroyed by the handler
    }
    wait_readable();
  }

  asio::ip::udp::socket socket_;
  Ipv4Address local_;
  int default_ttl_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::deque<Queued> queue_;
  std::array<std::uint8_t, kReceiveBufferSize> buffer_{};
};

}  // namespace

Result<std::unique_ptr<DatagramSocket>> bind_asio_udp(const asio::any_io_executor& executor,
                                                      const Ipv4Address& local) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return last_errno();
  const sockaddr_in sa = to_sockaddr(local);
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  int ttl = 0;
  socklen_t ttl_len = sizeof ttl;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0 ||
      ::getsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, &ttl_len) != 0) {
    const auto ec = last_errno();
    ::close(fd);
    return ec;
  }
  auto socket = std::make_unique<AsioDatagramSocket>(executor, from_sockaddr(bound), ttl);
  if (auto ec = socket->adopt(fd)) return ec;
  return std::unique_ptr<DatagramSocket>(std::move(socket));
}

}  // namespace hdht::core
