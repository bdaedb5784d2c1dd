#include "core/blind_relay_client.hpp"

#include <map>
#include <utility>

#include <boost/asio/post.hpp>

#include "core/hyperdht_errors.hpp"
#include "core/protomux_session.hpp"
#include "protocol/protomux.hpp"

namespace hdht::hyperdht {

struct BlindRelayClient::Impl {
  struct Request {
    bool is_initiator = false;
    PairDone done;
  };

  explicit Impl(std::unique_ptr<core::SecretStream> stream);
  void on_channel_close();
  std::error_code on_message(std::uint64_t type, ByteView payload);
  void complete(PairDone done, Result<std::uint32_t> result);

  core::ProtomuxSession session;
  core::ProtomuxSession::ChannelId channel = 0;
  std::map<Bytes32, Request> requests;  // by token
  bool channel_closed = false;
  std::shared_ptr<int> alive = std::make_shared<int>(0);
};

BlindRelayClient::Impl::Impl(std::unique_ptr<core::SecretStream> stream)
    : session(std::move(stream), {}) {
  if (session.closed()) {
    channel_closed = true;
    return;
  }
  core::ProtomuxSession::ChannelHandlers h;
  h.on_message = [this](std::uint64_t type, ByteView payload) { return on_message(type, payload); };
  h.on_close = [this] { on_channel_close(); };
  const Bytes32& own = session.stream().public_key();
  auto opened = session.open_channel("blind-relay", Bytes(own.begin(), own.end()), std::move(h));
  if (opened)
    channel = *opened;
  else
    channel_closed = true;
}

std::error_code BlindRelayClient::Impl::on_message(std::uint64_t type, ByteView payload) {
  if (type == protomux::kRelayUnpair) {
    auto m = protomux::decode_relay_unpair(payload);  // decoded, then ignored, as the reference
    return m ? std::error_code{} : m.error();
  }
  if (type != protomux::kRelayPair) return {};
  auto m = protomux::decode_relay_pair(payload);
  if (!m) return m.error();
  auto it = requests.find(m->token);
  if (it == requests.end() || it->second.is_initiator != m->is_initiator) return {};
  PairDone done = std::move(it->second.done);
  requests.erase(it);
  if (m->id > UINT32_MAX)
    complete(std::move(done), make_error_code(HyperDhtErrc::relay_aborted));
  else
    complete(std::move(done), static_cast<std::uint32_t>(m->id));
  return {};
}

void BlindRelayClient::Impl::on_channel_close() {
  channel_closed = true;
  auto pending = std::move(requests);
  requests.clear();
  for (auto& [token, request] : pending)
    complete(std::move(request.done), make_error_code(HyperDhtErrc::relay_aborted));
}

void BlindRelayClient::Impl::complete(PairDone done, Result<std::uint32_t> result) {
  if (!done) return;
  boost::asio::post(session.stream().runtime_executor(),
                    [token = std::weak_ptr<int>(alive), done = std::move(done),
                     result = std::move(result)]() mutable {
                      if (!token.expired()) done(std::move(result));
                    });
}

BlindRelayClient::BlindRelayClient(std::unique_ptr<core::SecretStream> relay_stream)
    : impl_(std::make_unique<Impl>(std::move(relay_stream))) {}

BlindRelayClient::~BlindRelayClient() = default;

void BlindRelayClient::pair(bool is_initiator, const Bytes32& token, std::uint32_t local_stream_id,
                            PairDone done) {
  Impl& d = *impl_;
  if (d.channel_closed || d.session.closed())
    return d.complete(std::move(done), make_error_code(HyperDhtErrc::relay_aborted));
  // The reference throws ALREADY_PAIRING.
  if (d.requests.contains(token))
    return d.complete(std::move(done), std::make_error_code(std::errc::operation_in_progress));
  d.requests.emplace(token, Impl::Request{is_initiator, std::move(done)});
  Bytes payload;
  protomux::encode_relay_pair(payload, {is_initiator, token, local_stream_id, 0});
  (void)d.session.send(d.channel, protomux::kRelayPair, payload);
}

void BlindRelayClient::unpair(const Bytes32& token) {
  Impl& d = *impl_;
  d.requests.erase(token);
  if (d.channel_closed) return;
  Bytes payload;
  protomux::encode_relay_unpair(payload, {token});
  (void)d.session.send(d.channel, protomux::kRelayUnpair, payload);
}

void BlindRelayClient::end() {
  impl_->session.end();
}

core::SecretStream& BlindRelayClient::stream() noexcept {
  return impl_->session.stream();
}

bool BlindRelayClient::closed() const noexcept {
  return impl_->channel_closed || impl_->session.closed();
}

}  // namespace hdht::hyperdht
