#include "core/connect_holepunch.hpp"

#include <chrono>
#include <utility>

#include "core/connect_addresses.hpp"
#include "core/hyperdht_errors.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"
#include "protocol/secure_payload.hpp"

namespace hdht::hyperdht {

namespace {

constexpr core::Duration kPassiveWait = std::chrono::seconds(10);
// The remote said UNKNOWN: give its NAT analysis a moment (the reference's 1 s pause).
constexpr core::Duration kUnknownRemotePause = std::chrono::seconds(1);
// tryLater: 10 s plus up to 10 s at random.
constexpr core::Duration kTryLaterWait = std::chrono::seconds(10);

msg::HolepunchPayload state_payload(std::uint64_t round, const NatAnalyzer& nat) {
  msg::HolepunchPayload p;
  p.error = msg::payload_error::NONE;
  p.firewall = static_cast<std::uint64_t>(nat.firewall());
  p.round = round;
  p.addresses = nat.addresses();
  return p;
}

}  // namespace

const char* connect_path_name(ConnectPath p) noexcept {
  switch (p) {
    case ConnectPath::none:
      return "none";
    case ConnectPath::direct:
      return "direct";
    case ConnectPath::server_first:
      return "server_first";
    case ConnectPath::open:
      return "open";
    case ConnectPath::passive:
      return "passive";
    case ConnectPath::lan:
      return "lan";
    case ConnectPath::holepunch:
      return "holepunch";
    case ConnectPath::relay:
      return "relay";
  }
  return "?";
}

ConnectHolepunch::ConnectHolepunch(HyperDhtNode& node, const Bytes32& target,
                                   const HandshakeOutcome& handshake, Firewall local_firewall,
                                   HolepunchOptions options, Handlers handlers)
    : node_(node),
      target_(target),
      hs_(handshake),
      local_firewall_(local_firewall),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      secret_(noise::holepunch_secret(handshake.session.handshake_hash)),
      server_address_(handshake.server_address),
      passive_timer_(node.runtime()),
      sleep_timer_(node.runtime()) {
  crypto::random_bytes(local_secret_);
}

ConnectHolepunch::~ConnectHolepunch() {
  // A random punch round still in flight gives its slot back (the reference's `finally`).
  if (holding_random_punch_) --node_.punch_state().random_punches;
}

bool ConnectHolepunch::holepunchable() const noexcept {
  return hs_.payload.holepunch && !hs_.payload.holepunch->relays.empty();
}

void ConnectHolepunch::start() {
  const msg::NoisePayload& p = hs_.payload;
  const bool relayed = diff_address(hs_.server_address, hs_.relay_address);

  if (p.firewall == msg::firewall::OPEN || (relayed && !holepunchable())) {
    core::UdxSocket* socket = node_.dht().udx_socket();
    if (!socket) return maybe_fail(HyperDhtErrc::holepunch_aborted);
    ++node_.punch_state().stats.open;
    return connect(*socket, first_remote_address(p.addresses4, hs_.server_address),
                   ConnectPath::open);
  }

  if (local_firewall_ == Firewall::open) {
    passive_timer_.expires_after(kPassiveWait,
                                 [this] { maybe_fail(HyperDhtErrc::holepunch_aborted); });
    return;
  }

  // The LAN shortcut races the holepunch: a blocked PING must not end a connect that can still
  // punch, so its failure counts only when there is nothing to punch with.
  if (options_.local_connection && relayed && hs_.client_address.ip == hs_.server_address.ip) {
    const auto theirs = non_reserved(p.addresses4);
    dht::DatagramSocket* server_socket = node_.dht().io().server_socket();
    if (!theirs.empty() && server_socket) {
      const auto mine = Holepuncher::local_addresses(node_.runtime(), *server_socket);
      start_lan(Holepuncher::match_address(mine, theirs).value_or(theirs.front()));
      if (!holepunchable()) return;
    }
  }

  if (!holepunchable()) return maybe_fail(HyperDhtErrc::cannot_holepunch);
  start_puncher();
}

void ConnectHolepunch::start_lan(const Ipv4Address& addr) {
  dht::RequestCallbacks cb;
  cb.on_response = [this, addr](const dht::Reply&) {
    dht::DatagramSocket* s = node_.dht().io().server_socket();
    if (finished_ || !s) return;
    connect(node_.dht().udx_socket(*s), addr, ConnectPath::lan);
  };
  cb.on_error = [this](std::error_code) {
    if (!holepunchable()) maybe_fail(HyperDhtErrc::holepunch_aborted);
  };
  requests_.push_back(node_.dht().ping(addr, std::move(cb)));
}

void ConnectHolepunch::start_puncher() {
  Holepuncher::Handlers h;
  h.on_connect = [this](std::shared_ptr<PooledSocket> ref, const Ipv4Address& from) {
    // `ref` keeps the socket open until the raw stream lives on it.
    connect(ref->udx(), from, ConnectPath::holepunch);
  };
  h.on_abort = [this] { maybe_fail(HyperDhtErrc::holepunch_aborted); };
  puncher_ = Holepuncher::create(node_.punch_context(), true,
                                 static_cast<Firewall>(hs_.payload.firewall), std::move(h));
  if (!puncher_) return maybe_fail(HyperDhtErrc::holepunch_aborted);
  server_relay_ = pick_server_relay(hs_.payload.holepunch->relays, hs_.relay_address);

  std::optional<Ipv4Address> fast;
  if (options_.fast_open) fast = hs_.server_address;
  probe_round(fast, true, [this](Result<std::optional<Probe>> r) {
    if (!r) return punch_failed(r.error());
    if (*r) after_probe(**r);
  });
}

// One probe round: tell the server our NAT state through its relay, learn its state.
void ConnectHolepunch::probe_round(std::optional<Ipv4Address> server_address, bool retry,
                                   ProbeDone done) {
  // A low-TTL probe opens our NAT towards what we think the server's address is.
  if (server_address) puncher_->open_session(*server_address);
  msg::HolepunchPayload p = state_payload(round_++, puncher_->nat());
  p.remote_address = server_address;
  update_holepunch(server_relay_->peer_address, server_relay_->relay_address, std::move(p),
                   [this, server_address, retry, done](Result<Update> u) {
                     if (!u) return done(u.error());
                     after_probe_reply(server_address, retry, std::move(*u), done);
                   });
}

void ConnectHolepunch::after_probe_reply(std::optional<Ipv4Address> server_address, bool retry,
                                         Update u, ProbeDone done) {
  puncher_->nat().add(u.reply.to, u.reply.from);
  // The reference then reads `reply.payload.address`, a field holepunchPayload does not have,
  // so its second open-session never happens; neither does it here.
  Probe probe{u.payload.token, u.reply.peer_address};
  if (puncher_->remote_firewall() == Firewall::unknown) {
    sleep_timer_.expires_after(kUnknownRemotePause, [this, server_address, retry, probe, done] {
      probe_analyze(server_address, retry, probe, done);
    });
    return;
  }
  probe_analyze(server_address, retry, std::move(probe), std::move(done));
}

void ConnectHolepunch::probe_analyze(std::optional<Ipv4Address> server_address, bool retry,
                                     Probe probe, ProbeDone done) {
  puncher_->analyze(false, [this, server_address, retry, probe, done](bool stable) {
    if (stable) return probe_check(server_address, retry, probe, done);
    // Unstable: try fresh sockets (mostly mobile networks); a stable one starts over.
    puncher_->analyze(true, [this, server_address, retry, probe, done](bool reopened) {
      if (reopened) return probe_round(server_address, false, done);
      probe_check(server_address, retry, probe, done);
    });
  });
}

void ConnectHolepunch::probe_check(std::optional<Ipv4Address> server_address, bool retry,
                                   Probe probe, ProbeDone done) {
  const Firewall remote = puncher_->remote_firewall();
  const Firewall local = puncher_->nat().firewall();
  if ((remote == Firewall::unknown || !probe.token) && retry)
    return probe_round(server_address, false, std::move(done));
  if (remote == Firewall::unknown || local == Firewall::unknown)
    return abort(HyperDhtErrc::holepunch_probe_timeout);
  if (remote >= Firewall::random && local >= Firewall::random)
    return abort(HyperDhtErrc::holepunch_double_randomized_nats);
  done(std::optional<Probe>(std::move(probe)));
}

void ConnectHolepunch::after_probe(Probe probe) {
  // The server answers round 1 from the socket it will punch with: when it used our relay, the
  // relay saw that socket, and round 2 (through our relay) can aim at it directly.
  if (!diff_address(server_relay_->relay_address, hs_.relay_address) &&
      diff_address(server_address_, probe.peer_address)) {
    server_address_ = probe.peer_address;
    puncher_->open_session(server_address_);
  }
  if (options_.holepunch &&
      !options_.holepunch(puncher_->remote_firewall(), puncher_->nat().firewall(),
                          puncher_->remote_addresses(), puncher_->nat().addresses())) {
    return abort(HyperDhtErrc::holepunch_aborted);  // "Client aborted holepunch"
  }
  round_punch(server_address_, probe.token, false);
}

void ConnectHolepunch::round_punch(const Ipv4Address& server_address,
                                   const std::optional<Bytes32>& remote_token, bool delayed) {
  NatAnalyzer& nat = puncher_->nat();
  // Our final NAT state goes to the peer now: keep it as told.
  nat.freeze();
  const bool is_random =
      puncher_->remote_firewall() >= Firewall::random || nat.firewall() >= Firewall::random;
  PunchState& budget = node_.punch_state();
  if (is_random && !budget.random_punch_allowed(node_.runtime().now())) {
    // Over the node's random punch budget: only a blind relay's token makes waiting worth it.
    if (!options_.relay_token) return punch_failed(HyperDhtErrc::holepunch_aborted);
    auto again = [this, server_address, remote_token] {
      round_punch(server_address, remote_token, true);
    };
    if (delayed) return try_later(std::move(again));
    // Tell the server we are not punching yet, then wait.
    msg::HolepunchPayload p = state_payload(round_++, nat);
    p.token = secure_payload::address_token(server_address.host_string(), local_secret_);
    p.remote_token = remote_token;
    update_holepunch(server_address, hs_.relay_address, std::move(p),
                     [this, again](Result<Update> u) {
                       if (!u) return punch_failed(u.error());
                       try_later(again);
                     });
    return;
  }
  if (is_random) {
    ++budget.random_punches;
    holding_random_punch_ = true;
  }
  send_punch(server_address, remote_token, delayed);
}

void ConnectHolepunch::send_punch(const Ipv4Address& server_address,
                                  const std::optional<Bytes32>& remote_token, bool delayed) {
  msg::HolepunchPayload p = state_payload(round_++, puncher_->nat());
  p.punching = true;
  if (!delayed)
    p.token = secure_payload::address_token(server_address.host_string(), local_secret_);
  p.remote_token = remote_token;
  // Delayed: through the server's chosen relay (validated in the probe round).
  const std::optional<Ipv4Address> peer =
      delayed ? server_relay_->peer_address : std::optional<Ipv4Address>(server_address);
  const Ipv4Address relay = delayed ? server_relay_->relay_address : hs_.relay_address;
  update_holepunch(peer, relay, std::move(p),
                   [this, server_address, remote_token](Result<Update> u) {
                     if (holding_random_punch_) {
                       // punch() takes its own slot.
                       --node_.punch_state().random_punches;
                       holding_random_punch_ = false;
                     }
                     if (!u) return punch_failed(u.error());
                     if (u->try_later) {
                       return try_later([this, server_address, remote_token] {
                         round_punch(server_address, remote_token, true);
                       });
                     }
                     if (!puncher_->remote_holepunching())
                       return punch_failed(HyperDhtErrc::remote_not_holepunching);
                     puncher_->punch([this](bool started) {
                       if (!started) punch_failed(HyperDhtErrc::remote_not_holepunchable);
                     });
                   });
}

// The reference's tryLater: 10-20 s.
void ConnectHolepunch::try_later(std::function<void()> then) {
  if (!options_.relay_token) return punch_failed(HyperDhtErrc::holepunch_aborted);
  const auto jitter = std::chrono::milliseconds(node_.runtime().random_u32() % 10001);
  sleep_timer_.expires_after(kTryLaterWait + jitter, std::move(then));
}

void ConnectHolepunch::update_holepunch(const std::optional<Ipv4Address>& peer_address,
                                        const Ipv4Address& relay, msg::HolepunchPayload payload,
                                        std::function<void(Result<Update>)> done) {
  const auto sealed = secure_payload::encrypt(msg::encode(payload), secret_);
  auto on_reply = [this, token = payload.token, punching = payload.punching, peer_address,
                   done = std::move(done)](Result<PeerHolepunchReply> r) {
    if (finished_) return;
    if (!r) return done(r.error());
    auto plain = secure_payload::decrypt(r->payload, secret_);
    if (!plain) return done(make_error_code(HyperDhtErrc::holepunch_invalid));
    auto remote = msg::decode_holepunch_payload(*plain);
    if (!remote) return done(make_error_code(HyperDhtErrc::holepunch_invalid));
    if (remote->error == msg::payload_error::TRY_LATER && options_.relay_token && punching)
      return done(Update{std::move(*r), std::move(*remote), true});
    if (remote->error != msg::payload_error::NONE)
      return done(make_error_code(HyperDhtErrc::remote_aborted));
    // The server echoed our token for its address: the relay really saw that host.
    const bool echoed = remote->remote_token && token && *remote->remote_token == *token;
    puncher_->update_remote(remote->punching, static_cast<Firewall>(remote->firewall),
                            remote->addresses, echoed ? peer_address : std::nullopt);
    done(Update{std::move(*r), std::move(*remote)});
  };
  requests_.push_back(peer_holepunch(node_.dht(), target_, hs_.payload.holepunch->id, sealed,
                                     peer_address, relay, &puncher_->socket().socket(),
                                     std::move(on_reply)));
}

// Tell the server through its relay that we give up, then end.
void ConnectHolepunch::abort(std::error_code ec) {
  cause_ = ec;
  msg::HolepunchPayload p;
  p.error = msg::payload_error::ABORTED;
  p.firewall = msg::firewall::UNKNOWN;
  p.round = round_++;
  update_holepunch(server_relay_->peer_address, server_relay_->relay_address, std::move(p),
                   [this, ec](Result<Update>) { punch_failed(ec); });
}

void ConnectHolepunch::destroy_puncher() {
  if (puncher_ && !puncher_->destroyed()) puncher_->destroy();
}

// The reference's catch blocks: destroy the puncher (whose abort handler ends the connect with
// HOLEPUNCH_ABORTED), then fail with the error if that did not already end it.
void ConnectHolepunch::punch_failed(std::error_code ec) {
  if (!cause_) cause_ = ec;
  const std::weak_ptr<int> alive = alive_;
  const bool had_puncher = puncher_ != nullptr;
  destroy_puncher();
  if (alive.expired()) return;
  maybe_fail(had_puncher ? make_error_code(HyperDhtErrc::holepunch_aborted) : ec);
}

void ConnectHolepunch::maybe_fail(std::error_code ec) {
  if (finished_) return;
  if (puncher_ && !puncher_->destroyed()) return;  // the puncher ends it
  finished_ = true;
  passive_timer_.cancel();
  sleep_timer_.cancel();
  auto fn = handlers_.on_failed;
  fn(ec);
}

void ConnectHolepunch::connect(core::UdxSocket& socket, const Ipv4Address& address,
                               ConnectPath path) {
  if (finished_) return;
  finished_ = true;
  passive_timer_.cancel();
  sleep_timer_.cancel();
  auto fn = handlers_.on_socket;
  fn(socket, address, path);
}

}  // namespace hdht::hyperdht
