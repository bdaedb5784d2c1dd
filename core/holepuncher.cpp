#include "core/holepuncher.hpp"

#include <algorithm>
#include <utility>

#include "core/dht_node.hpp"
#include "core/timer.hpp"

namespace hdht::hyperdht {

namespace {

constexpr std::size_t kBirthdaySockets = 256;
constexpr int kMaxReopens = 3;
constexpr int kConsistentTries = 10;
constexpr core::Duration kConsistentInterval = 1000ms;
constexpr int kRandomTries = 1750;  // ~35 s at one probe per 20 ms
constexpr core::Duration kRandomInterval = 20ms;
constexpr core::Duration kKeepAliveSettle = 100ms;

// The reference treats an open node as a consistent one when picking the strategy.
Firewall coerce(Firewall f) {
  return f == Firewall::open ? Firewall::consistent : f;
}

bool at_least_random(Firewall f) {
  return static_cast<std::uint32_t>(f) >= static_cast<std::uint32_t>(Firewall::random);
}

}  // namespace

bool PunchState::random_punch_allowed(core::TimePoint now) const {
  if (random_punches >= random_punch_limit) return false;
  return !last_random_punch || now - *last_random_punch >= random_punch_interval;
}

struct Holepuncher::Impl {
  Impl(Holepuncher& o, PunchContext c, Handlers h)
      : self(o), ctx(c), handlers(std::move(h)), timer(c.runtime) {}

  void add_ref(std::shared_ptr<PooledSocket> ref);
  void on_probe(PooledSocket& s, const Ipv4Address& from);
  bool unstable() const;
  void reset();
  void reopen_step(int i);
  bool punch_now();
  void consistent_tick();
  void random_tick(const Ipv4Address& remote);
  void open_birthday_sockets(const Ipv4Address& remote);
  void keep_alive_tick(const Ipv4Address& remote);
  void auto_destroy();
  void increment_randomized();
  void decrement_randomized();
  void release_all();
  bool done() const { return self.destroyed_ || self.connected_; }

  Holepuncher& self;
  PunchContext ctx;
  Handlers handlers;
  core::Timer timer;  // the strategy's pause (the reference's Sleeper)
  std::shared_ptr<PooledSocket> holder;
  std::shared_ptr<PooledSocket> holder_object;  // keeps socket() valid after destroy()
  std::vector<std::shared_ptr<PooledSocket>> all_holders;
  std::unique_ptr<NatAnalyzer> nat;
  // Replaced analyzers stay until we go: an analyze() may still be waiting on one.
  std::vector<std::unique_ptr<NatAnalyzer>> retired_nats;
  bool randomized = false;

  bool reopen_started = false;
  std::optional<bool> reopen_result;
  std::vector<std::function<void(bool)>> reopen_waiters;
  std::optional<bool> punch_result;

  int tries = 0;
  std::size_t keep_alive_index = 0;
  int low_ttl_rounds = 1;
  std::shared_ptr<int> alive = std::make_shared<int>(0);
};

std::unique_ptr<Holepuncher> Holepuncher::create(PunchContext ctx, bool is_initiator,
                                                 Firewall remote_firewall, Handlers handlers) {
  auto holder = ctx.pool.acquire();
  if (!holder) return nullptr;
  std::unique_ptr<Holepuncher> p(
      new Holepuncher(ctx, is_initiator, remote_firewall, std::move(handlers)));
  Impl& m = *p->impl_;
  m.nat = std::make_unique<NatAnalyzer>(ctx.node, holder->socket());
  m.nat->auto_sample();
  m.holder = holder;
  m.holder_object = holder->keep_object();
  m.add_ref(std::move(holder));
  return p;
}

Holepuncher::Holepuncher(PunchContext ctx, bool is_initiator, Firewall remote_firewall,
                         Handlers handlers)
    : impl_(std::make_unique<Impl>(*this, ctx, std::move(handlers))),
      is_initiator_(is_initiator),
      remote_firewall_(remote_firewall) {}

Holepuncher::~Holepuncher() {
  impl_->alive.reset();  // no analyze() waiter may run from here on
  if (destroyed_) return;
  destroyed_ = true;
  punching_ = false;
  impl_->timer.cancel();
  impl_->release_all();
  if (!connected_) impl_->decrement_randomized();
}

PooledSocket& Holepuncher::socket() noexcept {
  return *impl_->holder_object;
}

NatAnalyzer& Holepuncher::nat() noexcept {
  return *impl_->nat;
}

void Holepuncher::update_remote(bool punching, Firewall firewall,
                                const std::optional<std::vector<Ipv4Address>>& addresses,
                                const std::optional<Ipv4Address>& verified) {
  std::vector<RemoteAddress> next;
  if (addresses) {
    for (const Ipv4Address& a : *addresses) {
      bool v = verified && verified->ip == a.ip;
      // A host verified by an earlier round stays verified.
      for (const RemoteAddress& old : remote_addresses_)
        if (old.verified && old.address.ip == a.ip) v = true;
      next.push_back({a, v});
    }
  }
  remote_firewall_ = firewall;
  remote_addresses_ = std::move(next);
  remote_holepunching_ = punching;
}

void Holepuncher::ping(const Ipv4Address& to) {
  if (impl_->holder) impl_->holder->send_probe(to, false);
}

void Holepuncher::open_session(const Ipv4Address& to) {
  if (impl_->holder) impl_->holder->send_probe(to, true);
}

// ---- analysis ------------------------------------------------------------------------------

bool Holepuncher::Impl::unstable() const {
  const Firewall local = nat->firewall();
  return (at_least_random(self.remote_firewall_) && at_least_random(local)) ||
         local == Firewall::unknown;
}

void Holepuncher::analyze(bool allow_reopen, std::function<void(bool stable)> done) {
  const std::weak_ptr<int> guard = impl_->alive;
  impl_->nat->on_analyzed([this, guard, allow_reopen, done = std::move(done)]() mutable {
    if (guard.expired()) return;
    Impl& m = *impl_;
    if (!m.unstable()) {
      done(true);
      return;
    }
    if (!allow_reopen) {
      done(false);
      return;
    }
    if (m.reopen_result) {
      done(*m.reopen_result);
      return;
    }
    m.reopen_waiters.push_back(std::move(done));
    if (!m.reopen_started) {
      m.reopen_started = true;
      m.reopen_step(0);
    }
  });
}

void Holepuncher::Impl::reset() {
  auto next = ctx.pool.acquire();
  if (!next) return;  // nothing to reopen on; the loop ends on the old socket's verdict
  all_holders.pop_back();
  holder = next;
  holder_object = next->keep_object();
  add_ref(std::move(next));
  retired_nats.push_back(std::move(nat));
  NatAnalyzer& old = *retired_nats.back();
  nat = std::make_unique<NatAnalyzer>(ctx.node, holder->socket());
  nat->auto_sample();
  // Last: it resolves the old analysis, whose waiters may do anything, including destroy us.
  old.destroy();
}

void Holepuncher::Impl::reopen_step(int i) {
  if (unstable() && i < kMaxReopens && !done() && !self.punching_) {
    const NatAnalyzer* old = nat.get();
    const std::weak_ptr<int> guard = alive;
    reset();
    if (guard.expired()) return;
    if (nat.get() != old) {
      nat->on_analyzed([this, guard, i] {
        if (!guard.expired()) reopen_step(i + 1);
      });
      return;
    }
  }
  reopen_result = coerce(nat->firewall()) == Firewall::consistent;
  const std::weak_ptr<int> guard = alive;
  auto waiters = std::move(reopen_waiters);
  reopen_waiters.clear();
  for (auto& fn : waiters) {
    if (guard.expired()) return;
    fn(*reopen_result);
  }
}

// ---- punching ------------------------------------------------------------------------------

void Holepuncher::punch(std::function<void(bool started)> done) {
  if (!impl_->punch_result) impl_->punch_result = impl_->punch_now();
  if (done) done(*impl_->punch_result);
}

bool Holepuncher::Impl::punch_now() {
  if (done() || self.remote_addresses_.empty()) return false;
  self.punching_ = true;

  const Firewall local = coerce(nat->firewall());
  const Firewall remote = coerce(self.remote_firewall_);

  std::optional<Ipv4Address> verified;
  for (const RemoteAddress& a : self.remote_addresses_) {
    if (a.verified) {
      verified = a.address;
      break;
    }
  }

  if (local == Firewall::consistent && remote == Firewall::consistent) {
    ++ctx.state.stats.consistent;
    tries = 0;
    // The responder waits first: the server's "fast open" probe has just gone out.
    if (self.is_initiator_) {
      consistent_tick();
    } else {
      timer.expires_after(kConsistentInterval, [this] { consistent_tick(); });
    }
    return true;
  }

  // As the reference: `punching` stays set, though nothing runs; the caller gives up.
  if (!verified) return false;

  if (local == Firewall::consistent && at_least_random(remote)) {
    ++ctx.state.stats.random;
    increment_randomized();
    tries = kRandomTries;
    random_tick(*verified);
    return true;
  }

  if (at_least_random(local) && remote == Firewall::consistent) {
    ++ctx.state.stats.random;
    increment_randomized();
    open_birthday_sockets(*verified);
    if (self.punching_) {
      const Ipv4Address to = *verified;
      keep_alive_index = 0;
      low_ttl_rounds = 1;
      tries = kRandomTries;
      timer.expires_after(kKeepAliveSettle, [this, to] { keep_alive_tick(to); });
    }
    return true;
  }

  return false;
}

void Holepuncher::Impl::consistent_tick() {
  if (!self.punching_ || tries++ >= kConsistentTries) {
    auto_destroy();
    return;
  }
  for (const RemoteAddress& a : self.remote_addresses_) {
    // Unverified addresses only every 4th tick.
    if (!a.verified && (tries & 3) != 0) continue;
    holder->send_probe(a.address, false);
  }
  timer.expires_after(kConsistentInterval, [this] { consistent_tick(); });
}

void Holepuncher::Impl::random_tick(const Ipv4Address& remote) {
  if (!self.punching_ || tries-- <= 0) {
    auto_destroy();
    return;
  }
  Ipv4Address to = remote;
  to.port = static_cast<std::uint16_t>(1000 + ctx.runtime.random_u32() % 64536);
  holder->send_probe(to, false);
  timer.expires_after(kRandomInterval, [this, remote] { random_tick(remote); });
}

void Holepuncher::Impl::open_birthday_sockets(const Ipv4Address& remote) {
  while (self.punching_ && all_holders.size() < kBirthdaySockets) {
    auto ref = ctx.pool.acquire();
    if (!ref) break;
    PooledSocket& s = *ref;
    add_ref(std::move(ref));
    // TTL 5: opens our NAT's session towards the remote without reaching its NAT, which could
    // otherwise blacklist us for unsolicited traffic.
    s.send_probe(remote, true);
  }
}

void Holepuncher::Impl::keep_alive_tick(const Ipv4Address& remote) {
  if (!self.punching_ || tries-- <= 0 || all_holders.empty()) {
    auto_destroy();
    return;
  }
  if (keep_alive_index >= all_holders.size()) {
    keep_alive_index = 0;
    if (low_ttl_rounds > 0) --low_ttl_rounds;
  }
  all_holders[keep_alive_index++]->send_probe(remote, low_ttl_rounds > 0);
  timer.expires_after(kRandomInterval, [this, remote] { keep_alive_tick(remote); });
}

void Holepuncher::Impl::auto_destroy() {
  if (!self.connected_) self.destroy();
}

// ---- probes --------------------------------------------------------------------------------

void Holepuncher::Impl::add_ref(std::shared_ptr<PooledSocket> ref) {
  const std::weak_ptr<int> guard = alive;
  ref->set_on_probe([this, guard](PooledSocket& s, const Ipv4Address& from) {
    if (!guard.expired()) on_probe(s, from);
  });
  all_holders.push_back(std::move(ref));
}

void Holepuncher::Impl::on_probe(PooledSocket& s, const Ipv4Address& from) {
  if (self.destroyed_) return;
  if (!self.is_initiator_) {
    // The responder answers every probe: its NAT now has the session, the initiator's probe
    // reply gets through.
    s.send_probe(from, false);
    return;
  }
  if (self.connected_) return;
  auto it = std::find_if(all_holders.begin(), all_holders.end(),
                         [&](const auto& r) { return r.get() == &s; });
  if (it == all_holders.end()) return;
  std::shared_ptr<PooledSocket> ref = *it;

  self.connected_ = true;
  self.punching_ = false;
  timer.cancel();
  all_holders.clear();  // releases every other socket
  all_holders.push_back(ref);
  holder = ref;
  holder_object = ref->keep_object();
  decrement_randomized();
  if (handlers.on_connect) {
    auto fn = handlers.on_connect;  // may destroy us
    fn(std::move(ref), from);
  }
}

// ---- random punch accounting ---------------------------------------------------------------

void Holepuncher::Impl::increment_randomized() {
  if (randomized) return;
  randomized = true;
  ++ctx.state.random_punches;
}

void Holepuncher::Impl::decrement_randomized() {
  if (!randomized) return;
  ctx.state.last_random_punch = ctx.runtime.now();
  randomized = false;
  --ctx.state.random_punches;
}

void Holepuncher::Impl::release_all() {
  all_holders.clear();
  holder.reset();
  if (nat) nat->destroy();
}

// ---- destroy -------------------------------------------------------------------------------

void Holepuncher::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  punching_ = false;
  impl_->timer.cancel();
  if (!connected_) impl_->decrement_randomized();
  const std::weak_ptr<int> guard = impl_->alive;
  impl_->release_all();  // resolves the analysis: analyze() waiters may destroy us
  if (guard.expired() || connected_) return;
  if (impl_->handlers.on_abort) {
    auto fn = impl_->handlers.on_abort;  // may destroy us
    fn();
  }
}

// ---- addresses -----------------------------------------------------------------------------

std::vector<Ipv4Address> Holepuncher::local_addresses(core::Runtime& runtime,
                                                      const core::DatagramSocket& server_socket) {
  const Ipv4Address local = server_socket.local_address();
  if (local.ip == std::array<std::uint8_t, 4>{127, 0, 0, 1}) return {local};
  std::vector<Ipv4Address> out;
  for (const core::NetworkInterface& n : runtime.network_interfaces()) {
    if (n.family != 4 || n.internal) continue;
    auto ip = Ipv4Address::parse_host(n.host);
    if (!ip) continue;
    out.push_back({*ip, local.port});
  }
  if (out.empty()) out.push_back({{127, 0, 0, 1}, local.port});
  return out;
}

std::optional<Ipv4Address> Holepuncher::match_address(const std::vector<Ipv4Address>& mine,
                                                      const std::vector<Ipv4Address>& theirs) {
  if (theirs.empty()) return std::nullopt;
  int segment = 1;
  std::optional<Ipv4Address> best;
  for (const Ipv4Address& a : mine) {
    for (const Ipv4Address& b : theirs) {
      if (a.ip[0] != b.ip[0]) continue;
      if (segment == 1) {
        segment = 2;
        best = b;
      }
      if (a.ip[1] != b.ip[1]) continue;
      if (segment == 2) {
        segment = 3;
        best = b;
      }
      if (a.ip[2] == b.ip[2]) return b;
    }
  }
  return best;
}

}  // namespace hdht::hyperdht
