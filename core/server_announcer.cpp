#include "core/server_announcer.hpp"

#include <algorithm>
#include <utility>

#include "core/hyperdht_node.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/records.hpp"

namespace hdht::hyperdht {

namespace cmd = msg::command;

namespace {

// Counts settlements and runs `done` after the last (or at once for zero).
struct Countdown {
  std::size_t left;
  std::function<void()> done;
  void settle() {
    if (--left == 0 && done) std::exchange(done, nullptr)();
  }
};

}  // namespace

ServerAnnouncer::ServerAnnouncer(HyperDhtNode& node, const crypto::KeyPair& key_pair,
                                 const Bytes32& target)
    : node_(node),
      key_pair_(key_pair),
      target_(target),
      record_(msg::encode(msg::Peer{key_pair.public_key, {}})),
      sleep_(node.runtime()) {}

ServerAnnouncer::~ServerAnnouncer() = default;

bool ServerAnnouncer::is_relay(const Ipv4Address& addr) const {
  return std::any_of(server_relays_.begin(), server_relays_.end(),
                     [&](const RelayMap& m) { return m.contains(addr); });
}

void ServerAnnouncer::start(std::function<void()> done) {
  if (stopped_) {
    if (done) done();
    return;
  }
  run_update([this, done = std::move(done)] {
    if (!stopped_) background();
    if (done) done();
  });
}

void ServerAnnouncer::refresh() {
  if (!stopped_) refreshing_ = true;
}

void ServerAnnouncer::stop(std::function<void()> done) {
  stopped_ = true;
  sleep_.cancel();
  // The reference lets a running query finish and then commits nothing; withdrawing it now is
  // the same outcome sooner. Announces already sent are waited for: one that lands must be
  // unannounced too.
  query_.reset();
  auto unannounce_current = [this, done = std::move(done)] {
    std::vector<Ipv4Address> current;
    for (const auto& [addr, _] : server_relays_[2])
      current.push_back(addr);
    unannounce_all(std::move(current), done);
  };
  if (commits_pending_ > 0) {
    after_commits_ = std::move(unannounce_current);
  } else {
    unannounce_current();
  }
}

void ServerAnnouncer::cycle() {
  RelayMap oldest = std::move(server_relays_[0]);
  server_relays_[0] = std::move(server_relays_[1]);
  server_relays_[1] = std::move(server_relays_[2]);
  oldest.clear();
  server_relays_[2] = std::move(oldest);
}

void ServerAnnouncer::run_update(std::function<void()> then) {
  updating_ = true;
  cycle();
  dht::QueryOptions opts;
  opts.nodes = closest_nodes_;
  // hash: false — the query goes to the target itself, not H(target).
  query_ = node_.dht().query(target_, cmd::FIND_PEER, std::nullopt, std::move(opts));
  query_->on_done([this, then = std::move(then)](std::error_code) mutable {
    // Query failures are ignored, as the reference's catch does.
    on_query_done(std::move(then));
  });
  query_->start();
}

void ServerAnnouncer::on_query_done(std::function<void()> then) {
  ++stats_.updates;
  if (stopped_) {
    updating_ = false;
    if (then) then();
    return;
  }
  next_relays_.clear();
  next_relay_addresses_.clear();
  if (!node_.dht().firewalled()) {
    if (auto addr = node_.dht().remote_address()) next_relay_addresses_.push_back(*addr);
  }
  // pickBest: the first 3 of the closest replies.
  std::vector<dht::Reply> best(
      query_->closest_replies().begin(),
      query_->closest_replies().begin() +
          std::min<std::size_t>(kMaxRelays, query_->closest_replies().size()));
  std::vector<dht::NodeRef> closest;
  for (const auto& p : query_->closest_nodes())
    closest.push_back(dht::NodeRef{p.id, p.addr});
  // The query is done; keep it (its replies are copied) until the next update replaces it.
  auto count = std::make_shared<Countdown>(Countdown{best.size() + 1, nullptr});
  commits_pending_ = best.size();
  count->done = [this, then = std::move(then), closest = std::move(closest)]() mutable {
    commits_pending_ = 0;
    if (after_commits_) {
      updating_ = false;
      std::exchange(after_commits_, nullptr)();
      return;
    }
    if (stopped_) {
      updating_ = false;
      if (then) then();
      return;
    }
    closest_nodes_ = std::move(closest);
    finish_update(std::move(then));
  };
  for (const auto& reply : best)
    commit(reply, [count] { count->settle(); });
  count->settle();
}

void ServerAnnouncer::commit(const dht::Reply& reply, std::function<void()> settled) {
  // Signing needs the storing node's id and token; the reference's commit throws without them.
  if (!reply.token || !reply.from.id) {
    settled();
    return;
  }
  msg::Announce ann;
  ann.peer = msg::Peer{key_pair_.public_key, {}};
  ann.signature =
      msg::sign_announce(target_, *reply.from.id, *reply.token, *ann.peer, std::nullopt, key_pair_);
  const Ipv4Address from = reply.from.addr;
  const Ipv4Address to = reply.to;
  dht::RequestCallbacks cb;
  auto shared_settled = std::make_shared<std::function<void()>>(std::move(settled));
  cb.on_response = [this, from, to, shared_settled](const dht::Reply& res) {
    if (res.error == 0) {
      ++stats_.announces_ok;
      if (next_relay_addresses_.size() < kMaxRelays) next_relay_addresses_.push_back(from);
      next_relays_.push_back(msg::RelayInfo{from, to});
      server_relays_[2][from] = from;
    }
    (*shared_settled)();
  };
  cb.on_error = [shared_settled](std::error_code) { (*shared_settled)(); };
  ++stats_.announces_sent;
  requests_.push_back(node_.dht().request(from, cmd::ANNOUNCE, target_, msg::encode(ann),
                                          reply.token, std::move(cb)));
}

void ServerAnnouncer::finish_update(std::function<void()> then) {
  relays_ = std::move(next_relays_);
  relay_addresses_ = std::move(next_relay_addresses_);
  next_relays_.clear();
  next_relay_addresses_.clear();
  std::vector<Ipv4Address> removed;
  for (const auto& [addr, _] : server_relays_[1]) {
    if (!server_relays_[2].contains(addr)) removed.push_back(addr);
  }
  unannounce_all(std::move(removed), [this, then = std::move(then)] {
    updating_ = false;
    // Handles of settled requests pile up across updates; drop them between updates.
    std::erase_if(requests_, [](const dht::RequestHandle& h) { return !h.active(); });
    if (then) then();
  });
}

void ServerAnnouncer::background() {
  if (stopped_ || node_.dht().destroyed()) return;
  refreshing_ = false;
  ping_round(0);
}

void ServerAnnouncer::ping_round(int round) {
  if (stopped_) return;
  if (round >= kPingRounds || refreshing_) {
    run_update([this] { background(); });
    return;
  }
  std::vector<Ipv4Address> relays;
  for (const auto& [addr, _] : server_relays_[2])
    relays.push_back(addr);
  struct Round {
    std::size_t left;
    std::size_t active = 0;
    bool rebound = false;
  };
  auto state = std::make_shared<Round>(Round{relays.size() + 1});
  const std::size_t pings = relays.size();
  auto settle = [this, state, pings, round](bool answered) {
    if (answered) ++state->active;
    if (--state->left > 0) return;
    if (state->active < std::min(pings, kMinActive)) {
      ++stats_.early_refreshes;
      refresh();
    }
    if (state->rebound) {
      ++stats_.rebinds_detected;
      refresh();
    }
    if (stopped_) return;
    std::erase_if(requests_, [](const dht::RequestHandle& h) { return !h.active(); });
    if (refreshing_) {
      ping_round(round + 1);
    } else {
      sleep_.expires_after(kPingInterval, [this, round] { ping_round(round + 1); });
    }
  };
  for (const auto& addr : relays) {
    dht::RequestCallbacks cb;
    // The relay's forward still points at what it saw at announce time; a different `to` now
    // means our NAT rebound and relayed handshakes are lost until we announce again.
    std::optional<Ipv4Address> announced_as;
    for (const auto& r : relays_) {
      if (r.relay_address == addr) announced_as = r.peer_address;
    }
    cb.on_response = [settle, state, announced_as](const dht::Reply& res) {
      if (announced_as && res.to != *announced_as) state->rebound = true;
      settle(true);
    };
    cb.on_error = [settle](std::error_code) { settle(false); };
    ++stats_.pings_sent;
    requests_.push_back(node_.dht().ping(addr, std::move(cb)));
  }
  settle(false);
}

void ServerAnnouncer::unannounce_all(std::vector<Ipv4Address> relays, std::function<void()> done) {
  auto count = std::make_shared<Countdown>(Countdown{relays.size() + 1, std::move(done)});
  for (const auto& addr : relays)
    unannounce(addr, [count] { count->settle(); });
  count->settle();
}

void ServerAnnouncer::unannounce(const Ipv4Address& to, std::function<void()> settled) {
  auto shared_settled = std::make_shared<std::function<void()>>(std::move(settled));
  dht::RequestCallbacks cb;
  // A FIND_PEER first: its token signs the unannounce, and no value means nothing to remove.
  cb.on_response = [this, to, shared_settled](const dht::Reply& res) {
    if (!res.token || !res.from.id || !res.value) {
      (*shared_settled)();
      return;
    }
    msg::Announce unann;
    unann.peer = msg::Peer{key_pair_.public_key, {}};
    unann.signature =
        msg::sign_unannounce(target_, *res.from.id, *res.token, *unann.peer, key_pair_);
    dht::RequestCallbacks cb2;
    cb2.on_response = [shared_settled](const dht::Reply&) { (*shared_settled)(); };
    cb2.on_error = [shared_settled](std::error_code) { (*shared_settled)(); };
    ++stats_.unannounces_sent;
    requests_.push_back(node_.dht().request(to, cmd::UNANNOUNCE, target_, msg::encode(unann),
                                            res.token, std::move(cb2)));
  };
  cb.on_error = [shared_settled](std::error_code) { (*shared_settled)(); };
  requests_.push_back(
      node_.dht().request(to, cmd::FIND_PEER, target_, std::nullopt, std::nullopt, std::move(cb)));
}

}  // namespace hdht::hyperdht
