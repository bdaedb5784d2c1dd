#include "daemon/connections.hpp"

#include <spdlog/spdlog.h>

namespace hdht::daemon {

Connections::Connections(boost::asio::any_io_executor executor, std::size_t max,
                         std::chrono::milliseconds accept_timeout)
    : executor_(std::move(executor)), max_(max), accept_timeout_(accept_timeout) {}

Connections::~Connections() {
  stop();
}

std::size_t Connections::count(State s) const {
  std::size_t n = 0;
  for (const auto& [id, e] : entries_)
    n += e.state == s ? 1 : 0;
  return n;
}

std::uint64_t Connections::add_connecting(ConnectionInfo info,
                                          std::unique_ptr<hyperdht::PeerConnect> c,
                                          std::function<void()> cancelled) {
  const auto id = next_id();
  auto& e = entries_[id];
  e.state = State::connecting;
  e.info = std::move(info);
  e.connect = std::move(c);
  e.cancelled = std::move(cancelled);
  return id;
}

const hyperdht::ConnectStats* Connections::connect_stats(std::uint64_t id) const {
  const auto it = entries_.find(id);
  return it != entries_.end() && it->second.connect ? &it->second.connect->stats() : nullptr;
}

bool Connections::finish_connecting(std::uint64_t id, bool ok) {
  const auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != State::connecting) return false;
  // Usually called from the PeerConnect's own `done`, where destroying it is allowed.
  entries_.erase(it);
  if (!ok) ++counters_.connect_failed;
  return true;
}

std::uint64_t Connections::add_waiting(ConnectionInfo info,
                                       std::unique_ptr<core::SecretAsyncStream> s) {
  const auto id = next_id();
  auto& e = entries_[id];
  e.state = State::waiting;
  e.info = std::move(info);
  e.waiting = std::move(s);
  e.expiry = std::make_unique<boost::asio::steady_timer>(executor_, accept_timeout_);
  e.expiry->async_wait([this, id,
                        alive = std::weak_ptr(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    const auto it = entries_.find(id);
    if (it == entries_.end() || it->second.state != State::waiting) return;
    spdlog::info("connection {}: nobody took it within {} ms; closed", id, accept_timeout_.count());
    ++counters_.accept_expired;
    entries_.erase(it);
  });
  return id;
}

std::unique_ptr<core::SecretAsyncStream> Connections::take_waiting(std::uint64_t id,
                                                                   ConnectionInfo* info) {
  const auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != State::waiting) return nullptr;
  auto s = std::move(it->second.waiting);
  if (info) *info = it->second.info;
  entries_.erase(it);
  return s;
}

std::uint64_t Connections::pipe(std::uint64_t id, ConnectionInfo info,
                                std::unique_ptr<core::SecretAsyncStream> stream, Pipe::Local local,
                                std::string early) {
  if (id == 0) id = next_id();
  ++(info.inbound ? counters_.inbound : counters_.outbound);
  auto& e = entries_[id];
  e.state = State::piping;
  e.info = std::move(info);
  e.pipe = Pipe::start(std::move(stream), std::move(local), std::move(early),
                       [this, id, alive = std::weak_ptr(alive_)](const std::string& error) {
                         if (!alive.expired()) on_pipe_done(id, error);
                       });
  return id;
}

void Connections::on_pipe_done(std::uint64_t id, const std::string& error) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  ++counters_.closed;
  if (!error.empty()) ++counters_.errors;
  const auto& p = *it->second.pipe;
  counters_.bytes_to_peers += p.bytes_to_peer();
  counters_.bytes_from_peers += p.bytes_from_peer();
  if (error.empty())
    spdlog::info("connection {}: closed ({} bytes out, {} in)", id, p.bytes_to_peer(),
                 p.bytes_from_peer());
  else
    spdlog::info("connection {}: closed: {}", id, error);
  entries_.erase(it);
}

bool Connections::close(std::uint64_t id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  if (auto p = it->second.pipe) {
    p->close("closed by request");  // erases the entry through on_pipe_done
    return true;
  }
  auto cancelled = std::move(it->second.cancelled);
  if (it->second.connect) ++counters_.connect_failed;
  entries_.erase(it);
  if (cancelled) cancelled();
  return true;
}

std::vector<Connections::Listed> Connections::list() const {
  std::vector<Listed> out;
  for (const auto& [id, e] : entries_)
    out.push_back({id, e.state, e.info, e.pipe ? e.pipe->bytes_to_peer() : 0,
                   e.pipe ? e.pipe->bytes_from_peer() : 0});
  return out;
}

void Connections::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<std::uint64_t> ids;
  for (const auto& [id, e] : entries_)
    ids.push_back(id);
  for (const auto id : ids)
    close(id);
  entries_.clear();
}

const char* connection_state_name(Connections::State s) noexcept {
  switch (s) {
    case Connections::State::connecting:
      return "connecting";
    case Connections::State::waiting:
      return "waiting";
    case Connections::State::piping:
      return "piping";
  }
  return "?";
}

}  // namespace hdht::daemon
