#include "core/hyperdht_server.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <boost/asio/post.hpp>

#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"

namespace hdht::hyperdht {

namespace {

std::string key_of(const Bytes& noise) {
  return std::string(noise.begin(), noise.end());
}

}  // namespace

Server::Server(HyperDhtNode& node, ServerOptions options, Handlers handlers)
    : node_(node),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      rate_limiter_(options_.rate_limit),
      rejected_(options_.max_rejected_remembered) {}

Server::~Server() {
  leave_node();
  // Handshakes go first: their destructors may release sockets the announcer never touches.
  slots_.clear();
  connects_.clear();
}

void Server::post(std::function<void()> fn) {
  boost::asio::post(node_.runtime().executor(),
                    [guard = std::weak_ptr<int>(alive_), fn = std::move(fn)] {
                      if (!guard.expired()) fn();
                    });
}

void Server::leave_node() {
  auto& list = node_.listening();
  std::erase(list, this);
  if (key_pair_) node_.router().remove(target_);
}

void Server::listen(const crypto::KeyPair& key_pair, std::function<void(std::error_code)> done) {
  auto fail = [this, &done](HyperDhtErrc e) {
    if (done) post([done, e] { done(make_error_code(e)); });
  };
  if (state_ != State::idle) return fail(HyperDhtErrc::already_listening);
  if (node_.dht().destroyed()) return fail(HyperDhtErrc::node_destroyed);

  for (const Server* s : node_.listening()) {
    if (s != this && s->key_pair_ && s->key_pair_->public_key == key_pair.public_key) {
      return fail(HyperDhtErrc::keypair_already_used);
    }
  }
  node_.listening().push_back(this);

  state_ = State::starting;
  key_pair_ = key_pair;
  target_ = HyperDhtNode::hash(key_pair.public_key);
  announcer_ = std::make_unique<ServerAnnouncer>(node_, key_pair, target_);
  listen_done_ = std::move(done);

  LocalServer local;
  local.record = announcer_->record();
  local.on_handshake = [this](const ServerHandshake& in, const dht::IncomingRequest& req,
                              Respond<ServerHandshakeReply> respond) {
    on_handshake(in, req, std::move(respond));
  };
  local.on_holepunch = [this](const ServerHolepunch& in, const dht::IncomingRequest& req,
                              Respond<ServerHolepunchReply> respond) {
    on_holepunch(in, req, std::move(respond));
  };
  node_.router().set(target_, std::move(local));

  announcer_->start([this] {
    if (state_ != State::starting) return;  // closed meanwhile: close() completed listen
    auto finished = std::exchange(listen_done_, nullptr);
    if (node_.dht().destroyed()) {
      if (finished) post([finished] { finished(make_error_code(HyperDhtErrc::node_destroyed)); });
      return;
    }
    state_ = State::listening;
    post([this, finished] {
      if (handlers_.on_listening) handlers_.on_listening();
      if (finished) finished({});
    });
  });
}

void Server::refresh() {
  if (announcer_) announcer_->refresh();
}

std::optional<ServerAddress> Server::address() const {
  if (!key_pair_) return std::nullopt;
  ServerAddress a;
  a.public_key = key_pair_->public_key;
  if (auto nat = node_.dht().nat_address()) {
    a.host = nat->host_string();
    a.port = nat->port;
  }
  return a;
}

std::vector<Ipv4Address> Server::relay_addresses() const {
  return announcer_ ? announcer_->relay_addresses() : std::vector<Ipv4Address>{};
}

std::optional<Bytes32> Server::public_key() const {
  if (!key_pair_) return std::nullopt;
  return key_pair_->public_key;
}

void Server::close(std::function<void()> done) {
  if (done) close_waiters_.push_back(std::move(done));
  if (state_ == State::closing) return;
  if (state_ == State::closed || state_ == State::idle) {
    state_ = State::closed;
    finish_close();
    return;
  }
  // A listen still announcing completes now, without its 'listening' (the reference's
  // `if (this._closing) return`).
  if (auto pending = std::exchange(listen_done_, nullptr)) post([pending] { pending({}); });
  state_ = State::closing;
  leave_node();
  clear_all();
  announcer_->stop([this] {
    // Not from inside the announcer's own callback.
    post([this] {
      announcer_.reset();
      key_pair_.reset();
      state_ = State::closed;
      finish_close();
    });
  });
}

void Server::finish_close() {
  auto waiters = std::exchange(close_waiters_, {});
  post([this, waiters = std::move(waiters)] {
    if (handlers_.on_close) handlers_.on_close();
    for (const auto& w : waiters)
      w();
  });
}

void Server::clear_all() {
  // Moved out first: a handshake's destructor must not find itself in the tables.
  auto slots = std::move(slots_);
  slots_.clear();
  connects_.clear();
  rejected_.clear();
  slots.clear();
}

void Server::clear(std::uint64_t id, const Bytes& key) {
  if (id >= slots_.size() || !slots_[id]) return;
  connects_.erase(key_of(key));
  auto dying = std::move(slots_[id]);
  slots_[id].reset();
  while (!slots_.empty() && !slots_.back())
    slots_.pop_back();
  // `dying` (with the timer running this) goes here; a fired timer may be destroyed.
}

void Server::on_handshake(const ServerHandshake& in, const dht::IncomingRequest& req,
                          Respond<ServerHandshakeReply> respond) {
  if (state_ != State::starting && state_ != State::listening) return respond(std::nullopt);
  ++stats_.handshakes;
  const std::string k = key_of(in.noise);

  auto reply_of = [](InboundHandshake& hs) -> std::optional<ServerHandshakeReply> {
    if (!hs.reply()) return std::nullopt;
    return ServerHandshakeReply{*hs.reply(), hs.reply_socket()};
  };

  if (auto it = connects_.find(k); it != connects_.end()) {
    ++stats_.deduped;
    auto& slot = slots_[it->second];
    return respond(slot ? reply_of(*slot->hs) : std::nullopt);
  }

  // Both before any table change or Noise step (a keyed hash of msg1 is all they cost): under a
  // flood of copies, or of msg1s beyond the cap, they are all that runs.
  const std::uint64_t tombstone = rejected_.key_of(in.noise);
  if (rejected_.contains(tombstone, node_.runtime().now())) {
    ++stats_.deduped;
    return respond(std::nullopt);  // the reference's null for a rejected duplicate
  }
  if (options_.max_handshakes != 0 && connects_.size() >= options_.max_handshakes) {
    ++stats_.handshake_slots_full;
    return respond(std::nullopt);
  }

  const Ipv4Address client = in.peer_address ? *in.peer_address : req.from().addr;
  if (!rate_limiter_.allow(client, node_.runtime().now())) {
    ++stats_.rate_limited;
    return respond(std::nullopt);
  }

  std::uint64_t id = 0;
  while (id < slots_.size() && slots_[id])
    ++id;
  if (id == slots_.size()) slots_.emplace_back();

  InboundEnv env{node_, options_, stats_,
                 [this](std::unique_ptr<core::SecretStream> s) {
                   if (handlers_.on_connection) handlers_.on_connection(std::move(s));
                 },
                 [this, id] {
                   if (id >= slots_.size() || !slots_[id] || slots_[id]->clearing) return;
                   auto t = std::make_unique<core::Timer>(node_.runtime());
                   Bytes key = slots_[id]->key;
                   t->expires_after(options_.handshake_clear_wait,
                                    [this, id, key] { clear(id, key); });
                   slots_[id]->clearing = std::move(t);
                 }};
  slots_[id] = Slot{std::make_unique<InboundHandshake>(std::move(env), id), in.noise, nullptr};
  connects_.emplace(k, id);
  InboundHandshake* hs = slots_[id]->hs.get();

  InboundReplyInfo info;
  if (announcer_) {
    info.relays = announcer_->relays();
    info.relay_addresses = announcer_->relay_addresses();
  }
  if (!in.peer_address) ++stats_.direct_handshakes;
  std::weak_ptr<int> guard = alive_;
  hs->receive(*key_pair_, in.noise, client, req.message().to, req.socket(), !in.peer_address, info);
  // on_connection (direct paths) may have closed the server.
  if (guard.expired() || state_ == State::closing || state_ == State::closed) {
    return respond(std::nullopt);
  }
  auto it = connects_.find(k);
  if (it == connects_.end() || !slots_[it->second]) return respond(std::nullopt);
  if (slots_[it->second]->hs->state() == InboundState::rejected) {
    // Its reply is silence, which a tombstone replays as well as the whole slot would.
    rejected_.add(tombstone, node_.runtime().now() + options_.handshake_clear_wait);
    clear(it->second, in.noise);
    return respond(std::nullopt);
  }
  respond(reply_of(*slots_[it->second]->hs));
}

void Server::on_holepunch(const ServerHolepunch& in, const dht::IncomingRequest& req,
                          Respond<ServerHolepunchReply> respond) {
  if (state_ != State::starting && state_ != State::listening) return respond(std::nullopt);
  ++stats_.holepunches;
  if (in.id >= slots_.size() || !slots_[in.id]) return respond(std::nullopt);
  const bool is_server_relay = announcer_ && announcer_->is_relay(req.from().addr);
  slots_[in.id]->hs->on_holepunch(in, req, is_server_relay, std::move(respond));
}

}  // namespace hdht::hyperdht
