#include "daemon/servers.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/record_json.hpp"

namespace hdht::daemon {

using rpc::json;

namespace {

rpc::Error server_closed() {
  return {rpc::kRequestFailed, "the server was closed", "SERVER_CLOSED", {}};
}

}  // namespace

Servers::Servers(boost::asio::any_io_executor executor,
                 std::function<hyperdht::HyperDhtNode*()> node, Connections& connections,
                 std::size_t max, std::optional<Bytes32> default_relay_through,
                 std::size_t max_handshakes)
    : executor_(std::move(executor)),
      node_(std::move(node)),
      connections_(connections),
      max_(max),
      default_relay_through_(default_relay_through),
      max_handshakes_(max_handshakes) {}

namespace {

void add_handshakes(Servers::HandshakeTotals& t, const hyperdht::Server& s, bool live) {
  if (live) t.held += s.handshakes_held();
  t.slots_full += s.stats().handshake_slots_full;
  t.rate_limited += s.stats().rate_limited;
  t.invalid += s.stats().invalid;
}

}  // namespace

Servers::~Servers() {
  stop();
}

void Servers::listen(ServerSpec spec, std::weak_ptr<LineSink> listener, Done done) {
  if (stopped_)
    return done(rpc::Error{rpc::kNotReady, "shutting down", "SHUTTING_DOWN", {}}, false);
  const auto pk = spec.key.public_key;
  if (auto it = entries_.find(pk); it != entries_.end()) {
    auto& e = it->second;
    if (e.spec.forward || spec.forward ||
        (spec.relay_through && spec.relay_through != e.spec.relay_through))
      return done(
          rpc::Error{rpc::kExists,
                     "a server already listens on " + to_hex(pk) +
                         (spec.forward || e.spec.forward ? "" : " with another relayThrough") +
                         " (unlisten it first)",
                     "SERVER_EXISTS",
                     {}},
          false);
    e.spec.keep = e.spec.keep || spec.keep;
    add_listener(pk, e, listener);
    if (e.state == State::listening) return done(std::nullopt, true);
    e.waiting.push_back([done](std::optional<rpc::Error> err, bool) { done(err, true); });
    return;
  }
  if (entries_.size() >= max_)
    return done(rpc::Error{rpc::kForbidden,
                           "no room for more servers (limit " + std::to_string(max_) + ")",
                           "LIMIT_REACHED",
                           {{"limit", max_}}},
                false);
  if (spec.forward) spec.keep = true;
  auto& e = entries_[pk];
  e.spec = std::move(spec);
  e.since = std::chrono::steady_clock::now();
  e.waiting.push_back(std::move(done));
  add_listener(pk, e, listener);
  start(pk, e);
}

void Servers::add_listener(const Bytes32& pk, Entry& e, const std::weak_ptr<LineSink>& listener) {
  auto sink = listener.lock();
  if (!sink) return;
  e.listeners.push_back(listener);
  sink->on_close([this, pk, alive = std::weak_ptr(alive_)] {
    if (!alive.expired()) on_listener_gone(pk);
  });
}

void Servers::on_listener_gone(const Bytes32& pk) {
  const auto it = entries_.find(pk);
  if (it == entries_.end()) return;
  auto& e = it->second;
  std::erase_if(e.listeners, [](const std::weak_ptr<LineSink>& w) {
    const auto s = w.lock();
    return !s || !s->open();
  });
  if (!e.listeners.empty() || e.spec.keep) return;
  spdlog::info("server {}: its last listener left; closing it", to_hex(pk));
  unlisten(pk);
}

void Servers::start(const Bytes32& pk, Entry& e) {
  auto* node = node_();
  if (!node) {
    e.state = State::waiting_for_node;
    return;
  }
  hyperdht::ServerOptions o;
  o.max_handshakes = max_handshakes_;
  o.firewall = [this, allow = e.spec.allow, pk](const Bytes32& remote, const msg::NoisePayload&,
                                                const Ipv4Address&) {
    const bool allowed =
        allow.empty() || std::find(allow.begin(), allow.end(), remote) != allow.end();
    if (allowed && !connections_.full()) return false;
    if (allowed) {
      connections_.count_rejected();
      if (auto it = entries_.find(pk); it != entries_.end()) ++it->second.rejected_full;
    }
    spdlog::info("server {}: refused {} ({})", to_hex(pk), to_hex(remote),
                 allowed ? "connection limit" : "not on the allow-list");
    return true;
  };
  if (const auto relay = relay_through(e.spec)) o.relay_through = [relay] { return relay; };
  hyperdht::Server::Handlers h;
  h.on_connection = [this, pk](std::unique_ptr<core::SecretStream> s) {
    on_connection(pk, std::move(s));
  };
  e.state = State::starting;
  e.server = std::make_unique<hyperdht::Server>(*node, std::move(o), std::move(h));
  e.server->listen(e.spec.key, [this, pk, alive = std::weak_ptr(alive_)](std::error_code ec) {
    if (!alive.expired()) on_listening(pk, ec);
  });
}

void Servers::on_listening(const Bytes32& pk, std::error_code ec) {
  const auto it = entries_.find(pk);
  if (it == entries_.end()) return;
  auto waiting = std::move(it->second.waiting);
  it->second.waiting.clear();
  if (ec) {
    spdlog::warn("server {}: {}", to_hex(pk), ec.message());
    // The completion is posted, so the Server may go here.
    entries_.erase(it);
    for (auto& d : waiting)
      d(operation_error(ec, "listen"), false);
    return;
  }
  it->second.state = State::listening;
  const auto& f = it->second.spec.forward;
  spdlog::info("server {}: listening{}", to_hex(pk), f ? ", forwarding to " + f->text : "");
  for (auto& d : waiting)
    d(std::nullopt, false);
}

void Servers::on_connection(const Bytes32& pk, std::unique_ptr<core::SecretStream> stream) {
  const auto it = entries_.find(pk);
  if (it == entries_.end()) return;
  auto& e = it->second;
  ++e.connections;
  ConnectionInfo info;
  info.inbound = true;
  info.remote_public_key = stream->remote_public_key();
  info.local_public_key = pk;
  info.local = e.spec.forward ? e.spec.forward->text : "socket";
  info.since = std::chrono::steady_clock::now();
  const bool over = connections_.full();
  const auto id =
      connections_.add_waiting(info, std::make_unique<core::SecretAsyncStream>(std::move(stream)));
  if (over) {
    // The firewall checks the cap too; this is a race with outbound connects. Closed on the
    // next turn: the stream is still being set up inside this callback.
    connections_.count_rejected();
    boost::asio::post(executor_, [this, id, alive = std::weak_ptr(alive_)] {
      if (!alive.expired()) connections_.close(id);
    });
    return;
  }
  spdlog::info("connection {}: from {} to server {}", id, to_hex(info.remote_public_key),
               to_hex(pk));
  if (e.spec.forward) return forward(id, *e.spec.forward);
  const auto note =
      rpc::notification_line("connection", {{"connection", id},
                                            {"server", to_hex(pk)},
                                            {"remotePublicKey", to_hex(info.remote_public_key)}});
  for (const auto& w : e.listeners)
    if (auto s = w.lock(); s && s->open()) s->send_line(note);
}

void Servers::forward(std::uint64_t id, const LocalAddress& to) {
  auto socket = std::make_shared<Pipe::Local>(executor_);
  socket->async_connect(
      to.endpoint, [this, id, socket, text = to.text,
                    alive = std::weak_ptr(alive_)](const boost::system::error_code& ec) {
        if (alive.expired()) return;
        if (ec) {
          spdlog::warn("connection {}: cannot reach {}: {}", id, text, ec.message());
          connections_.close(id);
          return;
        }
        ConnectionInfo info;
        auto s = connections_.take_waiting(id, &info);
        if (!s) return;  // closed or timed out meanwhile
        connections_.pipe(id, info, std::move(s), std::move(*socket), {});
      });
}

bool Servers::unlisten(const Bytes32& pk) {
  const auto it = entries_.find(pk);
  if (it == entries_.end()) return false;
  auto waiting = std::move(it->second.waiting);
  auto server = std::move(it->second.server);
  entries_.erase(it);
  if (server) {
    auto* raw = server.get();
    closing_.push_back(std::move(server));
    raw->close([this, raw, alive = std::weak_ptr(alive_)] {
      if (alive.expired()) return;
      add_handshakes(retired_, *raw, false);
      std::erase_if(closing_, [raw](const auto& s) { return s.get() == raw; });
    });
  }
  for (auto& d : waiting)
    d(server_closed(), false);
  return true;
}

void Servers::restore(ServerSpec spec) {
  const auto pk = spec.key.public_key;
  if (entries_.contains(pk) || entries_.size() >= max_) return;
  auto& e = entries_[pk];
  e.spec = std::move(spec);
  e.spec.keep = true;
  e.since = std::chrono::steady_clock::now();
}

void Servers::start_restored() {
  for (auto& [pk, e] : entries_)
    if (e.state == State::waiting_for_node) start(pk, e);
}

std::vector<Servers::Listed> Servers::list() const {
  std::vector<Listed> out;
  for (const auto& [pk, e] : entries_) {
    Listed l{e.spec, e.state, e.since, 0, e.connections, e.rejected_full, std::nullopt, {}};
    for (const auto& w : e.listeners)
      if (auto s = w.lock(); s && s->open()) ++l.listeners;
    if (e.server) {
      l.rejected += e.server->stats().firewall_rejected;
      l.address = e.server->address();
      l.relay_addresses = e.server->relay_addresses();
    }
    out.push_back(std::move(l));
  }
  return out;
}

Servers::HandshakeTotals Servers::handshake_totals() const {
  HandshakeTotals t = retired_;
  for (const auto& [pk, e] : entries_)
    if (e.server) add_handshakes(t, *e.server, true);
  for (const auto& s : closing_)
    add_handshakes(t, *s, true);
  return t;
}

bool Servers::refresh(const Bytes32& public_key) {
  const auto it = entries_.find(public_key);
  if (it == entries_.end() || !it->second.server || it->second.state != State::listening)
    return false;
  it->second.server->refresh();
  return true;
}

std::vector<ServerSpec> Servers::standing() const {
  std::vector<ServerSpec> out;
  for (const auto& [pk, e] : entries_)
    if (e.spec.keep) out.push_back(e.spec);
  return out;
}

std::size_t Servers::uses_key(const std::string& key_name) const {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(),
                    [&](const auto& kv) { return kv.second.spec.key_name == key_name; }));
}

void Servers::close_all() {
  for (auto& [pk, e] : entries_)
    if (e.server) e.server->close();
}

void Servers::stop() {
  if (stopped_) return;
  stopped_ = true;
  entries_.clear();
  closing_.clear();
}

const char* server_state_name(Servers::State s) noexcept {
  switch (s) {
    case Servers::State::waiting_for_node:
      return "waiting-for-node";
    case Servers::State::starting:
      return "starting";
    case Servers::State::listening:
      return "listening";
  }
  return "?";
}

}  // namespace hdht::daemon
