#include "core/server_handshake.hpp"

#include <algorithm>
#include <utility>

#include "core/connect_addresses.hpp"
#include "core/hyperdht_node.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"
#include "protocol/secure_payload.hpp"

namespace hdht::hyperdht {

namespace perr = msg::payload_error;

namespace {

Firewall to_firewall(std::uint64_t v) {
  // The reference compares raw numbers (>= RANDOM); anything above RANDOM counts as RANDOM.
  return static_cast<Firewall>(std::min<std::uint64_t>(v, 3));
}

bool is_consistent(Firewall f) {
  return f == Firewall::open || f == Firewall::consistent;
}

bool has_same_addr(const std::optional<std::vector<Ipv4Address>>& addrs, const Ipv4Address& other) {
  return addrs && std::find(addrs->begin(), addrs->end(), other) != addrs->end();
}

}  // namespace

// The handshake's result and the holepunch secrets (the reference's `h` and `hs.payload`).
struct InboundHandshake::Session {
  core::SecretStreamHandshake keys;
  std::uint32_t remote_udx_id = 0;
  bool remote_reusable = false;  // the client's udx.reusableSocket
  Firewall remote_firewall = Firewall::unknown;
  // Set when holepunch rounds are possible (hs.payload): the sealing key and our token secret.
  std::optional<Bytes32> holepunch_secret;
  Bytes32 local_secret{};
};

const char* inbound_state_name(InboundState s) noexcept {
  switch (s) {
    case InboundState::received:
      return "received";
    case InboundState::rejected:
      return "rejected";
    case InboundState::refused:
      return "refused";
    case InboundState::prepunching:
      return "prepunching";
    case InboundState::waiting:
      return "waiting";
    case InboundState::punching:
      return "punching";
    case InboundState::connected:
      return "connected";
    case InboundState::aborted:
      return "aborted";
  }
  return "?";
}

InboundHandshake::InboundHandshake(InboundEnv env, std::uint64_t id)
    : env_(std::move(env)), id_(id), prepunching_(env_.node.runtime()) {}

InboundHandshake::~InboundHandshake() {
  // The puncher's and the stream's own destructors run no handler of ours.
  quiet_puncher_ = true;
}

core::DatagramSocket* InboundHandshake::reply_socket() noexcept {
  if (!reply_from_puncher_ || !puncher_ || puncher_->destroyed()) return nullptr;
  return &puncher_->socket().socket();
}

void InboundHandshake::finish() {
  if (finished_) return;
  finished_ = true;
  if (env_.clear_later) env_.clear_later();
}

void InboundHandshake::receive(const crypto::KeyPair& key_pair, const Bytes& noise,
                               const Ipv4Address& client, const Ipv4Address& server,
                               core::DatagramSocket* req_socket, bool direct,
                               const InboundReplyInfo& info) {
  auto ik = noise::IkHandshake::responder(key_pair, msg::ns_peer_handshake());
  auto plain = ik.read_message(noise);
  auto remote =
      plain ? msg::decode_noise_payload(*plain) : Result<msg::NoisePayload>(plain.error());
  if (!remote || !ik.remote_static()) {
    ++env_.stats.invalid;
    state_ = InboundState::rejected;
    finish();
    return;
  }
  const Bytes32 remote_public_key = *ik.remote_static();

  if (env_.options.firewall && env_.options.firewall(remote_public_key, *remote, client)) {
    ++env_.stats.firewall_rejected;
    state_ = InboundState::rejected;
    finish();
    return;
  }

  const std::uint64_t error =
      remote->version == 1 ? (remote->udx ? perr::NONE : perr::ABORTED) : perr::VERSION_MISMATCH;

  std::vector<Ipv4Address> addresses;
  const auto our_remote = env_.node.dht().remote_address();
  if (our_remote) addresses.push_back(*our_remote);
  if (env_.options.share_local_address) {
    if (auto* s = env_.node.dht().io().server_socket()) {
      for (const auto& a : Holepuncher::local_addresses(env_.node.runtime(), *s))
        addresses.push_back(a);
    }
  }

  if (error == perr::NONE) {
    core::UdxSocket* udx = env_.node.dht().udx_socket();
    if (!udx) {
      state_ = InboundState::rejected;
      finish();
      return;
    }
    auto& table = env_.node.dht().udx_streams();
    core::UdxStream::Handlers h;
    // The first packet from the client, on whichever of the node's sockets, connects the
    // stream there. Nothing of the lambda is used after on_socket: the secret stream replaces
    // this handler while it runs.
    h.on_firewall = [this](core::UdxSocket& socket, const Ipv4Address& from) {
      if (from.port == 0) return true;
      if (relay_ && relay_->is_relay(socket, from)) return false;
      on_socket(socket, from);
      return false;
    };
    h.on_close = [this](std::error_code) { on_raw_close(); };
    auto made =
        core::UdxStream::create(*udx, table.random_free_id(env_.node.runtime()), std::move(h));
    if (made) raw_ = std::move(*made);
  }

  const auto our_relay = make_relay_through(env_.options.relay_through);
  msg::NoisePayload out;
  out.relay_through = our_relay;
  out.error = error;
  out.firewall = our_remote ? msg::firewall::OPEN : msg::firewall::UNKNOWN;
  if (!our_remote) out.holepunch = msg::HolepunchInfo{id_, info.relays};
  out.addresses4 = addresses;
  out.udx = msg::UdxInfo{1, env_.options.reusable_socket, raw_ ? raw_->id() : 0, 0};
  out.secret_stream = msg::SecretStreamInfo{};
  if (!info.relay_addresses.empty()) out.relay_addresses = info.relay_addresses;

  auto msg2 = ik.write_message(msg::encode(out));
  if (!msg2 || !ik.session()) {
    if (raw_) raw_->destroy();
    state_ = InboundState::rejected;
    finish();
    return;
  }
  reply_ = std::move(*msg2);

  session_ = std::make_unique<Session>();
  const auto& s = *ik.session();
  session_->keys = core::SecretStreamHandshake{
      false, s.tx, s.rx, s.handshake_hash, key_pair.public_key, s.remote_public_key};
  session_->remote_udx_id = remote->udx ? static_cast<std::uint32_t>(remote->udx->id) : 0;
  session_->remote_reusable = remote->udx && remote->udx->reusable_socket;
  session_->remote_firewall = to_firewall(remote->firewall);

  if (error != perr::NONE || !raw_) {
    ++env_.stats.error_replies;
    if (raw_) raw_->destroy();
    state_ = InboundState::refused;
    finish();
    return;
  }

  if (remote->firewall == msg::firewall::OPEN || direct) {
    ++env_.node.punch_state().stats.open;
    // Direct (a client's route retry reaches a pooled socket of ours): answer on that socket.
    core::UdxSocket* sock = direct && req_socket ? &env_.node.udx_socket_for(*req_socket)
                                                 : env_.node.dht().udx_socket();
    on_socket(*sock, client);
    return;  // on_socket may have ended in on_connection: nothing after it
  }

  if (auto pairing = relay_pairing(true, our_relay, remote->relay_through)) start_relay(*pairing);

  if (!direct && client.ip == server.ip && env_.options.share_local_address) {
    std::vector<Ipv4Address> theirs;
    for (const auto& a : remote->addresses4)
      if (is_private_ipv4(a)) theirs.push_back(a);
    if (!theirs.empty()) {
      std::vector<Ipv4Address> mine;
      if (auto* sock = env_.node.dht().io().server_socket())
        mine = Holepuncher::local_addresses(env_.node.runtime(), *sock);
      if (Holepuncher::match_address(mine, theirs)) {
        session_->holepunch_secret = noise::holepunch_secret(s.handshake_hash);
        crypto::random_bytes(session_->local_secret);
        setup_puncher(session_->remote_firewall);
        state_ = InboundState::prepunching;
        arm_prepunch_abort();
        return;
      }
    }
  }

  if (our_remote || env_.options.never_punch) {
    state_ = InboundState::waiting;
    arm_prepunch_abort();
    return;
  }

  session_->holepunch_secret = noise::holepunch_secret(s.handshake_hash);
  crypto::random_bytes(session_->local_secret);
  setup_puncher(session_->remote_firewall);
  if (!puncher_) {
    on_abort();
    return;
  }
  reply_from_puncher_ = true;
  state_ = InboundState::punching;
  // The reference destroys the puncher after the initial timeout, which aborts through it.
  prepunching_.expires_after(kInitialTimeout, [this] {
    if (puncher_ && !puncher_->destroyed()) {
      puncher_->destroy();
    } else {
      on_abort();
    }
  });
}

void InboundHandshake::setup_puncher(Firewall remote_firewall) {
  if (puncher_) return;
  Holepuncher::Handlers h;
  h.on_abort = [this] {
    if (!quiet_puncher_) on_abort();
  };
  puncher_ = Holepuncher::create(env_.node.punch_context(), false, remote_firewall, std::move(h));
}

void InboundHandshake::arm_prepunch_abort() {
  prepunching_.expires_after(kInitialTimeout, [this] { on_abort(); });
}

void InboundHandshake::destroy_puncher_quietly() {
  if (!puncher_) return;
  quiet_puncher_ = true;
  if (!puncher_->destroyed()) puncher_->destroy();
}

void InboundHandshake::on_socket(core::UdxSocket& socket, const Ipv4Address& from) {
  if (relayed_raw_) return upgrade(socket, from);
  if (!raw_ || raw_->state() != core::UdxStreamState::unconnected) return;
  // A direct path won before the relay paired: the relay is not needed.
  if (relay_ && relay_pending()) relay_->end();
  prepunching_.cancel();
  finish();
  // The secret stream installs its own close handler; ours must not clear twice.
  raw_->handlers().on_close = nullptr;
  if (!raw_->connect(socket, session_->remote_udx_id, from)) {
    raw_.reset();
    destroy_puncher_quietly();
    state_ = InboundState::aborted;
    ++env_.stats.aborts;
    return;
  }
  core::SecretStreamOptions o;
  o.keep_alive = env_.node.config().connection_keep_alive;
  auto stream = core::SecretStream::create(env_.node.runtime(), std::move(raw_), session_->keys, o);
  // After connect the stream lives on `socket`; releasing the puncher keeps that socket open.
  destroy_puncher_quietly();
  if (!stream) {
    state_ = InboundState::aborted;
    ++env_.stats.aborts;
    return;
  }
  add_route((*stream)->raw());
  state_ = InboundState::connected;
  ++env_.stats.connections;
  auto deliver = env_.on_connection;
  if (deliver) deliver(std::move(*stream));  // last: the owner may destroy us in there
}

// server.js hs.onsocket: both sides said reusableSocket, so the client may come back this way.
void InboundHandshake::add_route(core::UdxStream& connected) {
  if (!env_.options.reusable_socket || !session_->remote_reusable) return;
  env_.node.socket_pool().routes().add(session_->keys.remote_public_key, connected);
  ++env_.stats.routes_added;
}

void InboundHandshake::on_raw_close() {
  // The stream closed without ever connecting (aborted, or the node going away).
  destroy_puncher_quietly();
  finish();
}

void InboundHandshake::on_abort() {
  if (state_ == InboundState::aborted) return;
  if (state_ == InboundState::connected) {
    // Relayed and the punch gave up: the stream stays on the relay.
    destroy_puncher_quietly();
    finish();
    return;
  }
  state_ = InboundState::aborted;
  ++env_.stats.aborts;
  prepunching_.cancel();
  destroy_puncher_quietly();
  if (relay_pending()) return;  // the relay may still connect the stream
  if (raw_ && raw_->state() != core::UdxStreamState::closed) {
    raw_->destroy();  // its close handler finishes
  } else {
    finish();
  }
}

bool InboundHandshake::relay_pending() const noexcept {
  return relay_ &&
         (relay_->state() == RelayState::connecting || relay_->state() == RelayState::pairing);
}

void InboundHandshake::start_relay(const RelayPairing& pairing) {
  ++env_.stats.relay_attempts;
  RelayConnection::Handlers h;
  h.on_paired = [this](core::UdxSocket& socket, std::uint32_t remote_id, const Ipv4Address& at) {
    on_relay_paired(socket, remote_id, at);
  };
  h.on_aborted = [this](std::error_code) { on_relay_aborted(); };
  relay_ = std::make_shared<RelayConnection>(env_.node, pairing, raw_->id(),
                                             env_.options.relay_keep_alive, std::move(h));
  relay_->start();
}

// The reference's pairing 'data': the stream goes through the relay; holepunching goes on.
void InboundHandshake::on_relay_paired(core::UdxSocket& socket, std::uint32_t remote_id,
                                       const Ipv4Address& at) {
  if (!raw_ || raw_->state() != core::UdxStreamState::unconnected) return relay_->end();
  // Not finished: the puncher keeps answering the client's rounds for an upgrade (the reference
  // clears the handshake only on a direct path or an abort).
  prepunching_.cancel();
  raw_->handlers().on_close = nullptr;
  if (!raw_->connect(socket, remote_id, at)) return on_relay_aborted();
  relayed_id_ = raw_->id();
  core::SecretStreamOptions o;
  o.keep_alive = env_.node.config().connection_keep_alive;
  auto stream = core::SecretStream::create(env_.node.runtime(), std::move(raw_), session_->keys, o);
  if (!stream) return on_relay_aborted();
  relayed_raw_ = &(*stream)->raw();
  relay_->end_with(*relayed_raw_);
  // The stream owns the relay connection from now on (its handlers are not called again: the
  // pairing was its last event): the hook only holds it, until the stream goes.
  relayed_raw_->add_close_hook([relay = relay_](std::error_code) { (void)relay; });
  paired_relay_ = relay_;
  relay_.reset();  // the stream's hook keeps it
  relayed_raw_->handlers().on_firewall = [this, alive = std::weak_ptr<int>(alive_),
                                          weak = paired_relay_](core::UdxSocket& s,
                                                                const Ipv4Address& from) {
    if (alive.expired() || from.port == 0) return false;
    if (auto relay = weak.lock(); relay && relay->is_relay(s, from)) return false;
    upgrade(s, from);
    return false;
  };
  state_ = InboundState::connected;
  ++env_.stats.relay_successes;
  ++env_.stats.connections;
  auto deliver = env_.on_connection;
  if (deliver) deliver(std::move(*stream));  // last: the owner may destroy us in there
}

void InboundHandshake::on_relay_aborted() {
  ++env_.stats.relay_aborts;
  // The reference's relay onabort: the stream goes only if the handshake was given up too.
  if (state_ == InboundState::aborted && raw_ && raw_->state() != core::UdxStreamState::closed)
    raw_->destroy();
}

// A direct packet on a relayed stream (the reference's onsocket on a connected stream).
void InboundHandshake::upgrade(core::UdxSocket& socket, const Ipv4Address& from) {
  if (upgraded_ || env_.node.dht().udx_streams().find(relayed_id_) != relayed_raw_) return;
  auto changed = relayed_raw_->change_remote(socket, session_->remote_udx_id, from);
  if (!changed) return;
  upgraded_ = true;
  ++env_.stats.upgrades;
  destroy_puncher_quietly();
  finish();
  if (*changed) (void)relayed_raw_->send_message({});
  // The client's data now comes directly: the relay connection ends.
  if (auto relay = paired_relay_.lock()) relay->end();
}

std::optional<ServerHolepunchReply> InboundHandshake::abort_reply(std::uint64_t error) {
  if (!session_ || !session_->holepunch_secret) {
    if (puncher_ && !puncher_->destroyed()) puncher_->destroy();
    return std::nullopt;
  }
  msg::HolepunchPayload p;
  p.error = error;
  p.firewall = msg::firewall::UNKNOWN;
  p.round = round_;
  const Bytes sealed = secure_payload::encrypt(msg::encode(p), *session_->holepunch_secret);
  if (puncher_ && !puncher_->destroyed()) puncher_->destroy();  // aborts through on_abort
  ++env_.stats.holepunch_replies;
  return ServerHolepunchReply{sealed, nullptr};
}

ServerHolepunchReply InboundHandshake::punch_reply(const msg::HolepunchPayload& remote,
                                                   bool is_server_relay, const Bytes32& token,
                                                   std::uint64_t error) {
  Holepuncher& p = *puncher_;
  msg::HolepunchPayload out;
  out.error = error;
  out.firewall = static_cast<std::uint64_t>(p.nat().firewall());
  out.round = round_;
  out.connected = p.connected();
  out.punching = p.punching();
  out.addresses = p.nat().addresses();
  if (is_server_relay) out.token = token;
  out.remote_token = remote.token;
  ++env_.stats.holepunch_replies;
  return ServerHolepunchReply{
      secure_payload::encrypt(msg::encode(out), *session_->holepunch_secret), &p.socket().socket()};
}

void InboundHandshake::on_holepunch(const ServerHolepunch& in, const dht::IncomingRequest& req,
                                    bool is_server_relay, Respond<ServerHolepunchReply> respond) {
  if (!session_ || !session_->holepunch_secret) return respond(abort_reply(perr::ABORTED));

  auto plain = secure_payload::decrypt(in.payload, *session_->holepunch_secret);
  if (!plain) return respond(std::nullopt);
  auto decoded = msg::decode_holepunch_payload(*plain);
  if (!decoded) return respond(std::nullopt);
  auto remote = std::make_shared<const msg::HolepunchPayload>(std::move(*decoded));

  if (!puncher_ || puncher_->destroyed()) return respond(abort_reply(perr::ABORTED));
  Holepuncher& p = *puncher_;

  if (remote->error != perr::NONE) {
    round_ = std::max(round_, remote->round);
    return respond(abort_reply(perr::ABORTED));
  }

  const Bytes32 token =
      secure_payload::address_token(in.peer_address.host_string(), session_->local_secret);
  const bool echoed = is_server_relay && remote->remote_token && *remote->remote_token == token;

  if (req.socket() == &p.socket().socket()) p.nat().add(req.message().to, req.from().addr);

  if (remote->round >= round_) {
    round_ = remote->round;
    p.update_remote(remote->punching, to_firewall(remote->firewall), remote->addresses,
                    echoed ? std::optional<Ipv4Address>(in.peer_address) : std::nullopt);
  }

  // The callbacks are owned by the puncher: none runs once it (or we) are gone.
  p.analyze(false, [this, remote, peer = in.peer_address, is_server_relay, token,
                    respond = std::move(respond)](bool stable) mutable {
    if (!puncher_->remote_holepunching() && !stable) {
      puncher_->analyze(true, [this, remote, peer, is_server_relay, token,
                               respond = std::move(respond)](bool stable2) mutable {
        if (!stable2) return respond(abort_reply(perr::ABORTED));
        after_analysis(remote, peer, is_server_relay, token, std::move(respond));
      });
      return;
    }
    after_analysis(remote, peer, is_server_relay, token, std::move(respond));
  });
}

void InboundHandshake::after_analysis(std::shared_ptr<const msg::HolepunchPayload> remote,
                                      Ipv4Address peer_address, bool is_server_relay, Bytes32 token,
                                      Respond<ServerHolepunchReply> respond) {
  Holepuncher& p = *puncher_;
  // Fast mode: we are consistent and the client already opened a session to our address.
  if (is_consistent(p.nat().firewall()) && remote->remote_address &&
      has_same_addr(p.nat().addresses(), *remote->remote_address)) {
    p.ping(peer_address);
  }
  continue_holepunch(std::move(remote), peer_address, is_server_relay, token, std::move(respond));
}

void InboundHandshake::continue_holepunch(std::shared_ptr<const msg::HolepunchPayload> remote,
                                          Ipv4Address, bool is_server_relay, Bytes32 token,
                                          Respond<ServerHolepunchReply> respond) {
  Holepuncher& p = *puncher_;
  auto freeze_and_reply = [this, remote, is_server_relay, token](Holepuncher& ph) {
    if (ph.nat().firewall() != Firewall::unknown) ph.nat().freeze();
    return punch_reply(*remote, is_server_relay, token);
  };
  if (!p.remote_holepunching()) return respond(freeze_and_reply(p));

  if (env_.options.holepunch &&
      !env_.options.holepunch(p.remote_firewall(), p.nat().firewall(), p.remote_addresses(),
                              p.nat().addresses())) {
    return respond(abort_reply(perr::ABORTED));
  }
  prepunching_.cancel();

  if (p.remote_firewall() >= Firewall::random || p.nat().firewall() >= Firewall::random) {
    PunchState& ps = env_.node.punch_state();
    if (!ps.random_punch_allowed(env_.node.runtime().now())) {
      ++ps.stats.try_later;
      // Without a relay the reference aborts; with one the client may wait and punch again.
      const bool relaying = relay_pending() || !paired_relay_.expired();
      if (!relaying) return respond(abort_reply(perr::TRY_LATER));
      if (!try_later_counted_) {
        try_later_counted_ = true;
        ++ps.stats.try_later_relayed_handshakes_at_least_once;
      }
      return respond(punch_reply(*remote, is_server_relay, token, perr::TRY_LATER));
    }
  }

  p.punch([this, freeze_and_reply, respond = std::move(respond)](bool started) mutable {
    if (!started) return respond(abort_reply(perr::ABORTED));
    respond(freeze_and_reply(*puncher_));
  });
}

}  // namespace hdht::hyperdht
