#include "core/asio_datagram_socket.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>

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

  std::uint32_t path_mtu(const Ipv4Address& to) const override {
#if defined(IP_MTU)
    // As libudx: connect a throw-away socket (no packet is sent) and ask for its route's MTU.
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    const sockaddr_in sa = to_sockaddr(to);
    int mtu = 0;
    socklen_t len = sizeof mtu;
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 &&
                    ::getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &len) == 0 && mtu > 0;
    ::close(fd);
    return ok ? static_cast<std::uint32_t>(mtu) : 0;
#else
    (void)to;
    return 0;
#endif
  }

  void close() override {
    if (!socket_.is_open()) return;
    // Replies deferred by the current receive batch were accepted by send(): they still go.
    flush_deferred();
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
    // While a receive batch is being delivered, plain sends are collected and leave together in
    // one sendmmsg at the end of the batch (or when the batch buffer fills).
    if (delivering_ && queue_.empty() && options.ttl == 0 && data.size() <= kDeferMaxSize) {
      defer(to, data);
      return;
    }
    flush_deferred();
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
  // Datagrams read per recvmmsg.
  static constexpr std::size_t kReceiveBatch = 32;
  static constexpr int kMaxBatches = 4;
  // Sends made while a batch is delivered are deferred up to this many, then sent in one
  // sendmmsg. Larger datagrams (and per-send TTLs) go out at once, behind the deferred ones.
  static constexpr std::size_t kDeferBatch = 64;
  static constexpr std::size_t kDeferMaxSize = 1500;

  enum class Outcome { sent, failed, would_block };
  struct Queued {
    Ipv4Address to;
    Bytes data;
    int ttl;
  };
  struct Deferred {
    sockaddr_in to;
    std::size_t offset;  // into deferred_bytes_
    std::size_t size;
  };

  void defer(const Ipv4Address& to, ByteView data) {
    if (deferred_.size() == kDeferBatch) flush_deferred();
    deferred_.push_back({to_sockaddr(to), deferred_bytes_.size(), data.size()});
    deferred_bytes_.insert(deferred_bytes_.end(), data.begin(), data.end());
  }

  // Sends the deferred datagrams with sendmmsg, in order. Whatever the kernel cannot take now
  // joins the send queue (kept in order, flushed when writable), as single sends would.
  void flush_deferred() {
    if (deferred_.empty()) return;
    std::array<mmsghdr, kDeferBatch> msgs{};
    std::array<iovec, kDeferBatch> iov{};
    const std::size_t n = deferred_.size();
    for (std::size_t i = 0; i < n; ++i) {
      Deferred& d = deferred_[i];
      iov[i] = {deferred_bytes_.data() + d.offset, d.size};
      msgs[i].msg_hdr.msg_name = &d.to;
      msgs[i].msg_hdr.msg_namelen = sizeof d.to;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int fd = socket_.native_handle();
    std::size_t i = 0;
    while (i < n) {
      const int r = ::sendmmsg(fd, msgs.data() + i, static_cast<unsigned>(n - i), MSG_DONTWAIT);
      if (r > 0) {
        for (std::size_t k = i; k < i + static_cast<std::size_t>(r); ++k) {
          ++counters_.sent_datagrams;
          counters_.sent_bytes += msgs[k].msg_len;
        }
        i += static_cast<std::size_t>(r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) break;
      ++counters_.send_errors;  // the first remaining datagram failed; the rest still go
      ++i;
    }
    for (; i < n; ++i) {
      const Deferred& d = deferred_[i];
      if (queue_.size() >= kMaxQueued) {
        ++counters_.send_dropped;
        continue;
      }
      const std::uint8_t* p = deferred_bytes_.data() + d.offset;
      queue_.push_back({from_sockaddr(d.to), Bytes(p, p + d.size), 0});
      if (queue_.size() == 1) wait_writable();
    }
    deferred_.clear();
    deferred_bytes_.clear();
  }

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

  // Reads and delivers batches until the socket is drained, then waits for readiness again.
  // After kMaxBatches full batches it yields to other handlers instead (a socket under flood
  // must not starve timers), and carries on from a posted handler: the reactor is
  // edge-triggered and would not report datagrams already queued until another one arrives.
  void read_batch(const std::weak_ptr<int>& alive) {
    if (!buffers_) buffers_ = std::make_unique<ReceiveBuffers>();
    for (int round = 0; round < kMaxBatches; ++round) {
      const int n = receive_some();
      if (n > 0 && !deliver_batch(static_cast<std::size_t>(n), alive)) return;
      if (n < static_cast<int>(kReceiveBatch)) {
        wait_readable();
        return;
      }
    }
    boost::asio::post(socket_.get_executor(), [this, alive] {
      if (!alive.expired()) read_batch(alive);
    });
  }

  // One recvmmsg into the batch buffers: the number of datagrams, 0 if none is queued.
  int receive_some() {
    ReceiveBuffers& b = *buffers_;
    for (std::size_t i = 0; i < kReceiveBatch; ++i) {
      b.iov[i] = {b.data[i].data(), b.data[i].size()};
      b.msgs[i] = {};
      b.msgs[i].msg_hdr.msg_name = &b.from[i];
      b.msgs[i].msg_hdr.msg_namelen = sizeof b.from[i];
      b.msgs[i].msg_hdr.msg_iov = &b.iov[i];
      b.msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int fd = socket_.native_handle();
    for (std::size_t attempt = 0; attempt < kReceiveBatch; ++attempt) {
      const int n = ::recvmmsg(fd, b.msgs.data(), kReceiveBatch, MSG_DONTWAIT, nullptr);
      if (n >= 0) return n;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno != EINTR) ++counters_.receive_errors;  // e.g. a queued ICMP error
    }
    return 0;
  }

  // Hands n datagrams to the handler, deferring its sends to one sendmmsg at the end. False if
  // the handler closed or destroyed the socket (close() sent what was deferred).
  bool deliver_batch(std::size_t n, const std::weak_ptr<int>& alive) {
    ReceiveBuffers& b = *buffers_;
    delivering_ = true;
    for (std::size_t i = 0; i < n; ++i) {
      const mmsghdr& m = b.msgs[i];
      const bool truncated = (m.msg_hdr.msg_flags & MSG_TRUNC) != 0;
      deliver(ByteView(b.data[i].data(), m.msg_len), from_sockaddr(b.from[i]), truncated);
      if (alive.expired()) return false;
    }
    delivering_ = false;
    flush_deferred();
    return true;
  }

  asio::ip::udp::socket socket_;
  Ipv4Address local_;
  int default_ttl_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::deque<Queued> queue_;
  // Allocated on the first read: a socket that never receives does not pay for it.
  struct ReceiveBuffers {
    std::array<std::array<std::uint8_t, kReceiveBufferSize>, kReceiveBatch> data;
    std::array<sockaddr_in, kReceiveBatch> from;
    std::array<iovec, kReceiveBatch> iov;
    std::array<mmsghdr, kReceiveBatch> msgs;
  };
  std::unique_ptr<ReceiveBuffers> buffers_;
  bool delivering_ = false;  // inside read_batch's delivery loop: sends are deferred
  std::vector<Deferred> deferred_;
  Bytes deferred_bytes_;
};

// libudx's buffer sizes at bind (spec udx.md 6.2): a 212992-byte send buffer and the first
// receive buffer of 1 MiB, 512, 256 or 208 KiB the OS accepts. Bulk UDX receivers need the
// larger receive buffer: with the default one, bursts from a udx-native sender overflow it
// before the reactor drains it. Best effort, as in libudx: a refusal leaves the OS default.
void set_udx_buffer_sizes(int fd) {
  const int sndbuf = 212992;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  for (const int rcvbuf : {1 << 20, 512 << 10, 256 << 10, 208 << 10}) {
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0) break;
  }
}

// Don't fragment, and ignore the kernel's path-MTU cache (libudx at bind, spec udx.md 3.7, 6.2):
// UDX finds the path MTU itself by probing, and an oversized probe must be dropped on the way,
// not fragmented (it would then look like success), nor refused locally because of an ICMP
// "fragmentation needed" someone else's traffic caused. Best effort, as in libudx.
void set_dont_fragment(int fd) {
#if defined(IP_MTU_DISCOVER) && defined(IP_PMTUDISC_PROBE)
  const int probe = IP_PMTUDISC_PROBE;
  ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
#elif defined(IP_DONTFRAG)
  const int on = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_DONTFRAG, &on, sizeof on);
#else
  (void)fd;
#endif
}

}  // namespace

Result<std::unique_ptr<DatagramSocket>> bind_asio_udp(const asio::any_io_executor& executor,
                                                      const Ipv4Address& local) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return last_errno();
  set_udx_buffer_sizes(fd);
  set_dont_fragment(fd);
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
