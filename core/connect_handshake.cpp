#include "core/connect_handshake.hpp"

#include <algorithm>
#include <utility>

#include "core/hyperdht_errors.hpp"
#include "protocol/hyperdht_constants.hpp"

namespace hdht::hyperdht {

ConnectHandshake::ConnectHandshake(HyperDhtNode& node, const Bytes32& remote_public_key,
                                   const crypto::KeyPair& key_pair,
                                   std::vector<Ipv4Address> relay_addresses, Handlers handlers)
    : node_(node),
      remote_public_key_(remote_public_key),
      target_(HyperDhtNode::hash(remote_public_key)),
      ik_(noise::IkHandshake::initiator(key_pair, remote_public_key, msg::ns_peer_handshake())),
      handlers_(std::move(handlers)) {
  if (!relay_addresses.empty()) given_ = std::move(relay_addresses);
}

ConnectHandshake::~ConnectHandshake() = default;

void ConnectHandshake::start() {
  if (!route_) return start_search();
  // retryRoute: a pooled socket is held for the attempt (ref.active()); a socket that is not
  // pooled is used only if it is the node's default one, as the reference.
  dht::DatagramSocket* via = nullptr;
  route_ref_ = node_.socket_pool().retain(route_->socket);
  if (route_ref_) {
    via = &route_ref_->socket();
  } else if (route_->socket != node_.dht().udx_socket()) {
    return start_search();
  }
  route_retried_ = true;
  connect_through_node(
      route_->address,
      [this] {
        route_ref_.reset();
        start_search();
      },
      via, true);
}

void ConnectHandshake::start_search() {
  relay_addresses_ = given_;
  if (!relay_addresses_) {
    if (const RelayAddressList* cached = node_.relay_addresses_cache().get(remote_public_key_))
      relay_addresses_ = cached->addresses;
  }
  // A persistent node that holds the server's forward knows the relay itself.
  if (!node_.dht().ephemeral()) {
    const Route route = node_.router().get(target_);
    if (route.relay) relay_addresses_ = std::vector<Ipv4Address>{*route.relay};
  }
  pre_connect_ = relay_addresses_ && !relay_addresses_->empty();
  limit_ = pre_connect_ ? 3 : 2;
  tries_ = relay_addresses_ ? 2 : 1;
  const std::weak_ptr<int> alive = alive_;
  if (pre_connect_) {
    ++active_;  // the slot the pre-connect chain holds until it ends
    connect_through_nodes(*relay_addresses_, 0);
    if (alive.expired() || finished_) return;
  }
  next_pass();
}

void ConnectHandshake::connect_through_nodes(std::vector<Ipv4Address> addresses, std::size_t i) {
  if (finished_) return;
  if (i == addresses.size()) return signal();
  tried_.push_back(addresses[i]);
  ++pre_connects_;
  const Ipv4Address at = addresses[i];
  connect_through_node(at, [this, addresses = std::move(addresses), i]() mutable {
    connect_through_nodes(std::move(addresses), i + 1);
  });
}

void ConnectHandshake::connect_through_node(const Ipv4Address& address, std::function<void()> done,
                                            dht::DatagramSocket* socket, bool via_route) {
  if (!msg1_) {
    auto m = ik_.write_message(msg::encode(handlers_.make_payload()));
    if (!m) return fail(m.error());
    msg1_ = std::move(*m);
  }
  requests_.push_back(peer_handshake(
      node_.dht(), target_, *msg1_, address, socket,
      [this, address, socket, via_route, done = std::move(done)](Result<PeerHandshakeReply> r) {
        const std::weak_ptr<int> alive = alive_;
        on_reply(address, std::move(r), socket, via_route);
        if (!alive.expired() && !finished_) done();
      }));
}

void ConnectHandshake::on_reply(const Ipv4Address& address, Result<PeerHandshakeReply> r,
                                dht::DatagramSocket* socket, bool via_route) {
  if (finished_ || !r || ik_.state() != noise::HandshakeState::sent_msg1) return;
  auto plain = ik_.read_message(r->noise);
  if (!plain) return;
  auto payload = msg::decode_noise_payload(*plain);
  if (!payload) return;
  if (payload->version != 1) return fail(HyperDhtErrc::server_incompatible);
  if (payload->error != msg::payload_error::NONE || !payload->udx)
    return fail(HyperDhtErrc::server_error);

  finished_ = true;
  HandshakeOutcome out;
  out.relayed = r->relayed;
  out.relay_address = address;
  out.client_address = r->client_address;
  out.server_address = r->server_address;
  out.socket = socket;
  out.via_route = via_route;
  out.payload = std::move(*payload);
  out.session = *ik_.session();
  out.tried_relays = tried_;
  auto fn = handlers_.on_connected;
  fn(std::move(out));
}

void ConnectHandshake::next_pass() {
  if (finished_) return;
  if (pass_ >= tries_) {
    query_.reset();
    return flush([this] { finish_search(); });
  }
  dht::QueryOptions o;
  o.retries = 3;
  if (relay_addresses_)
    for (const auto& a : *relay_addresses_)
      o.nodes.push_back(dht::NodeRef{std::nullopt, a});
  queue_.clear();
  query_done_ = false;
  query_ = node_.find_peer(remote_public_key_, std::move(o));
  query_->on_reply([this](const FindPeerResult& r) {
    queue_.push_back(r.from.addr);
    pump();
  });
  query_->on_done([this](std::error_code ec) {
    if (ec && ec != make_error_code(dht::RpcErrc::too_few_nodes)) return fail(ec);
    query_done_ = true;
    pump();
  });
  query_->start();
}

// The reference's `for await (data of query) { await sem.wait(); ... }`: replies in order, each
// once a slot is free. Not re-entrant: a synchronous signal() inside take() loops here instead.
void ConnectHandshake::pump() {
  if (pumping_) {
    repump_ = true;
    return;
  }
  pumping_ = true;
  const std::weak_ptr<int> alive = alive_;
  do {
    repump_ = false;
    while (!finished_ && !queue_.empty() && active_ < limit_) {
      const Ipv4Address from = queue_.front();
      queue_.pop_front();
      ++active_;
      take(from);
      if (alive.expired()) return;
    }
  } while (repump_ && !finished_);
  pumping_ = false;
  if (!finished_ && query_done_ && queue_.empty()) end_pass();
}

void ConnectHandshake::take(const Ipv4Address& from) {
  // Skip a node the pre-connect already asked.
  if (pre_connect_ && relay_addresses_ &&
      std::find(relay_addresses_->begin(), relay_addresses_->end(), from) !=
          relay_addresses_->end()) {
    return signal();
  }
  tried_.push_back(from);
  ++attempts_;
  connect_through_node(from, [this] { signal(); });
}

void ConnectHandshake::end_pass() {
  query_done_ = false;  // ends this pass once
  relay_addresses_.reset();
  ++pass_;
  if (attempts_ > 0) return flush([this] { next_pass(); });
  next_pass();
}

void ConnectHandshake::signal() {
  --active_;
  if (finished_) return;
  if (!queue_.empty()) {
    const std::weak_ptr<int> alive = alive_;
    pump();
    if (alive.expired() || finished_) return;
  }
  if (active_ == 0 && flushed_) {
    auto fn = std::move(flushed_);
    flushed_ = nullptr;
    fn();
  }
}

void ConnectHandshake::flush(std::function<void()> then) {
  if (active_ == 0) return then();
  flushed_ = std::move(then);
}

void ConnectHandshake::finish_search() {
  if (finished_) return;
  fail(attempts_ > 0 ? HyperDhtErrc::peer_connection_failed : HyperDhtErrc::peer_not_found);
}

void ConnectHandshake::fail(std::error_code ec) {
  if (finished_) return;
  finished_ = true;
  auto fn = handlers_.on_failed;
  fn(ec);
}

}  // namespace hdht::hyperdht
