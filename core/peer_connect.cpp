#include "core/peer_connect.hpp"

#include <utility>

#include <boost/asio/post.hpp>

#include "core/hyperdht_errors.hpp"
#include "protocol/hyperdht_constants.hpp"

namespace hdht::hyperdht {

const char* connect_state_name(ConnectState s) noexcept {
  switch (s) {
    case ConnectState::finding:
      return "finding";
    case ConnectState::holepunching:
      return "holepunching";
    case ConnectState::connected:
      return "connected";
    case ConnectState::failed:
      return "failed";
  }
  return "?";
}

std::unique_ptr<PeerConnect> PeerConnect::start(HyperDhtNode& node,
                                                const Bytes32& remote_public_key,
                                                ConnectOptions options, Done done) {
  std::shared_ptr<ConnectSession> c(
      new ConnectSession(node, remote_public_key, std::move(options), std::move(done)));
  // As the reference's connect() returns its socket before anything happens, `done` never runs
  // before the caller holds the handle.
  boost::asio::post(node.runtime().executor(),
                    [alive = std::weak_ptr<int>(c->alive_), raw = c.get()] {
                      if (!alive.expired()) raw->run();
                    });
  return std::unique_ptr<PeerConnect>(new PeerConnect(std::move(c)));
}

PeerConnect::PeerConnect(std::shared_ptr<ConnectSession> session) : session_(std::move(session)) {}
// Before the handover this is the only owner: the connect aborts silently. A relayed stream
// keeps the session (keep_with) and with it the relay connection and the upgrade.
PeerConnect::~PeerConnect() = default;
ConnectState PeerConnect::state() const noexcept {
  return session_->state();
}
const ConnectStats& PeerConnect::stats() const noexcept {
  return session_->stats();
}
const Bytes32& PeerConnect::remote_public_key() const noexcept {
  return session_->remote_public_key();
}
std::uint32_t PeerConnect::stream_id() const noexcept {
  return session_->stream_id();
}
core::UdxSocket* PeerConnect::path_socket() const noexcept {
  return session_->path_socket();
}
const Ipv4Address& PeerConnect::path_address() const noexcept {
  return session_->path_address();
}
const RelayConnection* PeerConnect::relay() const noexcept {
  return session_->relay();
}

ConnectSession::ConnectSession(HyperDhtNode& node, const Bytes32& remote_public_key,
                               ConnectOptions options, Done done)
    : node_(node),
      remote_public_key_(remote_public_key),
      options_(std::move(options)),
      key_pair_(options_.key_pair ? *options_.key_pair : node.default_key_pair()),
      done_(std::move(done)),
      started_(node.runtime().now()) {}

ConnectSession::~ConnectSession() = default;

void ConnectSession::run() {
  core::UdxSocket* socket = node_.dht().udx_socket();
  if (!socket || node_.dht().destroyed())
    return fail(make_error_code(HyperDhtErrc::node_destroyed));
  stream_id_ = node_.dht().udx_streams().random_free_id(node_.runtime());
  relay_through_ = make_relay_through(options_.relay_through);
  core::UdxStream::Handlers h;
  h.on_firewall = [this](core::UdxSocket& s, const Ipv4Address& from) {
    return on_raw_firewall(s, from);
  };
  auto raw = core::UdxStream::create(*socket, stream_id_, std::move(h));
  if (!raw) return fail(raw.error());
  raw_ = std::move(*raw);

  ConnectHandshake::Handlers hh;
  hh.make_payload = [this] { return handshake_payload(); };
  hh.on_connected = [this](HandshakeOutcome o) { on_handshake(std::move(o)); };
  hh.on_failed = [this](std::error_code ec) { fail(ec); };
  handshake_ = std::make_unique<ConnectHandshake>(node_, remote_public_key_, key_pair_,
                                                  options_.relay_addresses, std::move(hh));
  if (options_.reusable_socket) {
    if (auto route = node_.socket_pool().routes().get(remote_public_key_))
      handshake_->retry_route(*route);
  }
  handshake_->start();
}

msg::NoisePayload ConnectSession::handshake_payload() {
  // A stable public address (not firewalled, sampled port == our port) is sent right away.
  const auto addr = node_.dht().remote_address();
  msg::NoisePayload p;
  p.error = msg::payload_error::NONE;
  firewall_ = addr ? Firewall::open : Firewall::unknown;
  p.firewall = static_cast<std::uint64_t>(firewall_);
  if (addr) p.addresses4.push_back(*addr);
  if (options_.local_connection) {
    if (dht::DatagramSocket* s = node_.dht().io().server_socket()) {
      for (const auto& a : Holepuncher::local_addresses(node_.runtime(), *s))
        p.addresses4.push_back(a);
    }
  }
  p.udx = msg::UdxInfo{1, options_.reusable_socket, stream_id_, 0};
  p.secret_stream = msg::SecretStreamInfo{};
  p.relay_through = relay_through_;
  return p;
}

// The reference's firewall(socket, port, host): the server's first packet tells us its path.
bool ConnectSession::on_raw_firewall(core::UdxSocket& socket, const Ipv4Address& from) {
  if (relay_ && relay_->is_relay(socket, from)) return false;
  if (outcome_) {
    on_socket(socket, from,
              firewall_ == Firewall::open ? ConnectPath::passive : ConnectPath::server_first);
    return false;
  }
  server_socket_ = &socket;
  server_address_ = from;
  // Dropped: no reader is attached yet, so its bytes (the server's secret-stream header) would
  // be lost; the server retransmits once we are connected. udx-native instead buffers them in
  // the stream until the secret stream reads.
  return true;
}

void ConnectSession::on_handshake(HandshakeOutcome outcome) {
  stats_.handshake_time = node_.runtime().now() - started_;
  stats_.relayed = outcome.relayed;
  stats_.route_used = outcome.via_route;
  outcome_ = std::move(outcome);
  state_ = ConnectState::holepunching;
  sync_stats();
  old_handshake_ = std::move(handshake_);
  retire_phases();

  if (auto pairing = relay_pairing(false, relay_through_, outcome_->payload.relay_through))
    start_relay(*pairing);
  if (server_socket_) return on_socket(*server_socket_, server_address_, ConnectPath::server_first);
  if (!outcome_->relayed) {
    // We talked to the server itself: connect where the handshake went.
    core::UdxSocket* s =
        outcome_->socket ? &node_.udx_socket_for(*outcome_->socket) : node_.dht().udx_socket();
    if (!s) return fail(make_error_code(HyperDhtErrc::node_destroyed));
    return on_socket(*s, outcome_->relay_address, ConnectPath::direct);
  }

  HolepunchOptions ho;
  ho.local_connection = options_.local_connection;
  ho.fast_open = options_.fast_open;
  ho.holepunch = options_.holepunch;
  ho.relay_token = relay_ != nullptr;
  ConnectHolepunch::Handlers h;
  h.on_socket = [this](core::UdxSocket& s, const Ipv4Address& a, ConnectPath p) {
    on_socket(s, a, p);
  };
  h.on_failed = [this](std::error_code ec) { on_holepunch_failed(ec); };
  punching_ = true;
  holepunch_ =
      std::make_unique<ConnectHolepunch>(node_, HyperDhtNode::hash(remote_public_key_), *outcome_,
                                         firewall_, std::move(ho), std::move(h));
  holepunch_->start();
}

// The reference's onsocket: the first path wins; after a relay won, a direct path upgrades.
void ConnectSession::on_socket(core::UdxSocket& socket, const Ipv4Address& address,
                               ConnectPath path) {
  if (path == ConnectPath::holepunch || path == ConnectPath::lan) punching_ = false;
  if (state_ == ConnectState::connected && stats_.path == ConnectPath::relay)
    return upgrade(socket, address);
  if (!outcome_) return;
  // Another path won before the relay paired: the reference drops the relay when it pairs.
  if (relay_ && relay_->state() != RelayState::paired) relay_->end();
  connect_stream(socket, static_cast<std::uint32_t>(outcome_->payload.udx->id), address, path);
}

void ConnectSession::connect_stream(core::UdxSocket& socket, std::uint32_t remote_id,
                                    const Ipv4Address& address, ConnectPath path) {
  if (state_ == ConnectState::connected || state_ == ConnectState::failed || !raw_ || !outcome_)
    return;
  sync_stats();
  if (auto r = raw_->connect(socket, remote_id, address); !r) return fail(r.error());
  path_socket_ = &socket;
  path_address_ = address;
  if (path != ConnectPath::relay) {
    // Kept for the next connect to this key: the server's own relays, else the nodes tried.
    const auto& theirs = outcome_->payload.relay_addresses;
    RelayAddressList cached{theirs && !theirs->empty() ? *theirs : outcome_->tried_relays};
    if (!cached.addresses.empty())
      node_.relay_addresses_cache().set(remote_public_key_, std::move(cached));
  }
  const noise::Session& s = outcome_->session;
  core::SecretStreamHandshake hs;
  hs.is_initiator = true;
  hs.tx = s.tx;
  hs.rx = s.rx;
  hs.hash = s.handshake_hash;
  hs.public_key = key_pair_.public_key;
  hs.remote_public_key = s.remote_public_key;
  core::SecretStreamOptions o;
  o.keep_alive = node_.config().connection_keep_alive;
  auto stream = core::SecretStream::create(node_.runtime(), std::move(raw_), hs, o);
  if (!stream) return fail(stream.error());

  state_ = ConnectState::connected;
  stats_.path = path;
  stats_.open_time = node_.runtime().now() - started_;
  if (path == ConnectPath::relay) {
    // The holepunch goes on: a direct path found later upgrades the stream.
    watch_upgrade((*stream)->raw());
    relay_->end_with((*stream)->raw());
    keep_with((*stream)->raw());
  } else {
    add_route((*stream)->raw());
    old_holepunch_ = std::move(holepunch_);
    retire_phases();
  }
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(*stream));
}

// connect.js onsocket: both sides said reusableSocket, so the next connect may come this way.
void ConnectSession::add_route(core::UdxStream& connected) {
  if (!options_.reusable_socket || !outcome_ || !outcome_->payload.udx ||
      !outcome_->payload.udx->reusable_socket) {
    return;
  }
  node_.socket_pool().routes().add(remote_public_key_, connected);
  stats_.route_added = true;
}

void ConnectSession::start_relay(const RelayPairing& pairing) {
  stats_.relay_attempted = true;
  RelayConnection::Handlers h;
  h.on_paired = [this](core::UdxSocket& socket, std::uint32_t remote_id, const Ipv4Address& at) {
    connect_stream(socket, remote_id, at, ConnectPath::relay);
  };
  h.on_aborted = [this](std::error_code ec) { on_relay_aborted(ec); };
  relay_ = std::make_unique<RelayConnection>(node_, pairing, stream_id_, options_.relay_keep_alive,
                                             std::move(h));
  relay_->start();
}

// The relayed stream owns this session from now on: its close hook holds it, so the caller may
// drop the PeerConnect after `done`. The session goes with the stream object (no cycle: the
// session never owns the stream); on the stream's close the punch stops (the relay connection
// ends through end_with).
void ConnectSession::keep_with(core::UdxStream& relayed) {
  relayed.add_close_hook(
      [self = shared_from_this()](std::error_code) { self->on_relayed_close(); });
}

void ConnectSession::on_relayed_close() {
  punching_ = false;
  relayed_raw_ = nullptr;
  if (holepunch_) old_holepunch_ = std::move(holepunch_);
  retire_phases();
}

// RELAY_ABORTED only when no other path can still win.
void ConnectSession::on_relay_aborted(std::error_code ec) {
  if (punching_) return;
  fail(ec);
}

void ConnectSession::on_holepunch_failed(std::error_code ec) {
  punching_ = false;
  sync_stats();
  if (state_ == ConnectState::connected) return;  // relayed: no upgrade, the relay stays
  if (relay_ &&
      (relay_->state() == RelayState::connecting || relay_->state() == RelayState::pairing)) {
    return;  // waiting for the relay: its abort (RELAY_ABORTED) is then the error
  }
  fail(ec);
}

bool ConnectSession::relayed_stream_alive() const {
  return relayed_raw_ && node_.dht().udx_streams().find(stream_id_) == relayed_raw_ &&
         relayed_raw_->state() == core::UdxStreamState::connected;
}

// The reference's onsocket on a connected stream and confirmDirectUpgrade.
void ConnectSession::upgrade(core::UdxSocket& socket, const Ipv4Address& address) {
  if (!relayed_stream_alive() || stats_.upgraded) return;
  auto changed =
      relayed_raw_->change_remote(socket, static_cast<std::uint32_t>(outcome_->payload.udx->id),
                                  address, [this, alive = std::weak_ptr<int>(alive_)] {
                                    if (alive.expired() || !relayed_stream_alive()) return;
                                    (void)relayed_raw_->send_message({});
                                    upgrade_pending_ = true;
                                  });
  if (!changed) return;
  stats_.upgraded = true;
  path_socket_ = &socket;
  path_address_ = address;
  if (relayed_raw_->socket() == &socket) add_route(*relayed_raw_);
  if (*changed) {
    (void)relayed_raw_->send_message({});
    upgrade_pending_ = true;
  }
}

// The relay ends on the first data or message after the change that did not come through the
// relay (validUpgrade: the firewall hook sees packets on sockets other than the stream's).
void ConnectSession::watch_upgrade(core::UdxStream& raw) {
  relayed_raw_ = &raw;
  auto& h = raw.handlers();
  auto on_direct = [this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired() || !upgrade_pending_) return;
    if (!valid_upgrade_) {
      valid_upgrade_ = true;  // came through the relay; the next one counts as direct
      return;
    }
    upgrade_pending_ = false;
    if (relay_) relay_->end();
  };
  h.on_data = [on_direct, inner = h.on_data](ByteView d) {
    on_direct();
    if (inner) inner(d);
  };
  h.on_message = [on_direct, inner = h.on_message](ByteView d) {
    on_direct();
    if (inner) inner(d);
  };
  h.on_firewall = [this, alive = std::weak_ptr<int>(alive_)](core::UdxSocket& s,
                                                             const Ipv4Address& from) {
    if (alive.expired()) return false;
    if (relay_ && relay_->is_relay(s, from)) {
      valid_upgrade_ = false;
      return false;
    }
    valid_upgrade_ = true;
    on_socket(s, from, ConnectPath::server_first);
    return false;
  };
}

void ConnectSession::fail(std::error_code ec) {
  if (state_ == ConnectState::connected || state_ == ConnectState::failed) return;
  sync_stats();
  state_ = ConnectState::failed;
  if (handshake_) old_handshake_ = std::move(handshake_);
  if (holepunch_) old_holepunch_ = std::move(holepunch_);
  retire_phases();
  if (relay_) relay_->end();
  raw_.reset();
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(ec);
}

void ConnectSession::sync_stats() {
  if (handshake_) {
    stats_.attempts = handshake_->attempts();
    stats_.handshakes_sent = handshake_->requests();
    stats_.pre_connects = handshake_->pre_connects();
    stats_.route_retried = handshake_->route_retried();
  }
  if (holepunch_) {
    stats_.punch_rounds = holepunch_->rounds();
    stats_.holepunch_cause = holepunch_->cause();
  }
}

// A phase may still be on the stack (this runs from its callbacks): drop it on the next turn.
void ConnectSession::retire_phases() {
  if (!old_handshake_ && !old_holepunch_) return;
  boost::asio::post(node_.runtime().executor(), [alive = std::weak_ptr<int>(alive_), this] {
    if (alive.expired()) return;
    old_handshake_.reset();
    old_holepunch_.reset();
  });
}

}  // namespace hdht::hyperdht
