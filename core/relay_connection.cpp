#include "core/relay_connection.hpp"

#include <utility>

#include <boost/asio/post.hpp>

#include "core/blind_relay_client.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/peer_connect.hpp"
#include "core/udx_stream.hpp"
#include "protocol/crypto.hpp"

namespace hdht::hyperdht {

namespace {

// Drops objects on the next turn of the executor: they may be on the stack (their callback runs
// this).
template <class... T>
void drop_later(HyperDhtNode& node, std::unique_ptr<T>... objects) {
  boost::asio::post(node.runtime().executor(),
                    [... held = std::shared_ptr<T>(std::move(objects))] {});
}

}  // namespace

std::optional<msg::RelayThroughInfo> make_relay_through(const RelayThrough& relay_through) {
  if (!relay_through) return std::nullopt;
  const std::optional<Bytes32> key = relay_through();
  if (!key) return std::nullopt;
  msg::RelayThroughInfo info;
  info.public_key = *key;
  crypto::random_bytes(info.token);
  return info;
}

std::optional<RelayPairing> relay_pairing(bool server_side,
                                          const std::optional<msg::RelayThroughInfo>& ours,
                                          const std::optional<msg::RelayThroughInfo>& theirs) {
  const auto& server = server_side ? ours : theirs;
  const auto& client = server_side ? theirs : ours;
  // The server's relay wins and the server leads; else the client's, and the client leads.
  if (server) return RelayPairing{server->public_key, server->token, server_side};
  if (client) return RelayPairing{client->public_key, client->token, !server_side};
  return std::nullopt;
}

const char* relay_state_name(RelayState s) noexcept {
  switch (s) {
    case RelayState::connecting:
      return "connecting";
    case RelayState::pairing:
      return "pairing";
    case RelayState::paired:
      return "paired";
    case RelayState::aborted:
      return "aborted";
    case RelayState::ended:
      return "ended";
  }
  return "?";
}

RelayConnection::RelayConnection(HyperDhtNode& node, RelayPairing pairing,
                                 std::uint32_t local_stream_id, core::Duration keep_alive,
                                 Handlers handlers)
    : node_(node),
      pairing_(pairing),
      local_stream_id_(local_stream_id),
      keep_alive_(keep_alive),
      handlers_(std::move(handlers)),
      timeout_(node.runtime()) {}

RelayConnection::~RelayConnection() = default;

void RelayConnection::start() {
  timeout_.expires_after(kPairTimeout, [this] { abort(); });
  // A plain connect: the node's default key pair and no relay of its own.
  connect_ = PeerConnect::start(node_, pairing_.relay_public_key, ConnectOptions{},
                                [this](Result<std::unique_ptr<core::SecretStream>> r) {
                                  if (!r) return abort();
                                  on_relay_stream(std::move(*r));
                                });
}

void RelayConnection::on_relay_stream(std::unique_ptr<core::SecretStream> stream) {
  socket_ = connect_->path_socket();
  relay_address_ = connect_->path_address();
  drop_later(node_, std::move(connect_));
  stream->set_keep_alive(keep_alive_);
  client_ = std::make_unique<BlindRelayClient>(std::move(stream));
  state_ = RelayState::pairing;
  client_->pair(pairing_.is_initiator, pairing_.token, local_stream_id_,
                [this](Result<std::uint32_t> r) {
                  if (!r) return abort();
                  on_pair(*r);
                });
}

void RelayConnection::on_pair(std::uint32_t remote_id) {
  if (state_ != RelayState::pairing || !socket_) return abort();
  timeout_.cancel();
  state_ = RelayState::paired;
  auto fn = handlers_.on_paired;
  fn(*socket_, remote_id, relay_address_);
}

void RelayConnection::abort() {
  if (state_ != RelayState::connecting && state_ != RelayState::pairing) return;
  state_ = RelayState::aborted;
  timeout_.cancel();
  drop_later(node_, std::move(connect_), std::move(client_));
  auto fn = handlers_.on_aborted;
  fn(make_error_code(HyperDhtErrc::relay_aborted));
}

void RelayConnection::end() {
  if (state_ == RelayState::ended || state_ == RelayState::aborted) return;
  const bool was_pending = state_ == RelayState::connecting || state_ == RelayState::pairing;
  state_ = RelayState::ended;
  timeout_.cancel();
  if (client_ && !was_pending) client_->end();
  if (was_pending) drop_later(node_, std::move(connect_), std::move(client_));
}

void RelayConnection::end_with(core::UdxStream& relayed) {
  relayed.add_close_hook([this, alive = std::weak_ptr<int>(alive_)](std::error_code) {
    if (!alive.expired()) end();
  });
}

bool RelayConnection::is_relay(const core::UdxSocket& socket,
                               const Ipv4Address& from) const noexcept {
  return socket_ == &socket && from == relay_address_;
}

}  // namespace hdht::hyperdht
