#include "core/protomux_session.hpp"

#include <algorithm>
#include <utility>

#include "protocol/compact.hpp"
#include "protocol/protomux.hpp"

namespace hdht::core {

namespace {

// protomux keys channels by protocol and hex(id); an empty id is the same as none (it is sent
// as length 0, which decodes as null).
std::optional<Bytes> normal_id(const std::optional<Bytes>& id) {
  if (id && id->empty()) return std::nullopt;
  return id;
}

bool same_key(const std::string& p1, const std::optional<Bytes>& id1, const std::string& p2,
              const std::optional<Bytes>& id2) {
  return p1 == p2 && id1 == id2;
}

}  // namespace

ProtomuxSession::ProtomuxSession(std::unique_ptr<SecretStream> stream, Handlers handlers,
                                 ProtomuxOptions options)
    : stream_(std::move(stream)), handlers_(std::move(handlers)), options_(options) {
  auto& h = stream_->handlers();
  h.on_data = [this](ByteView frame) { on_data(frame); };
  // protomux ends its side when the peer ends (no half-open mode).
  h.on_end = [this] { (void)stream_->end(); };
  h.on_close = [this](const SecretStreamError& e) { on_stream_close(e); };
  closed_ = stream_->closed();
}

ProtomuxSession::~ProtomuxSession() = default;

ProtomuxSession::Channel* ProtomuxSession::channel(ChannelId id) noexcept {
  if (id == 0 || id > local_.size() || !local_[id - 1]) return nullptr;
  return &*local_[id - 1];
}

const ProtomuxSession::Channel* ProtomuxSession::channel(ChannelId id) const noexcept {
  if (id == 0 || id > local_.size() || !local_[id - 1]) return nullptr;
  return &*local_[id - 1];
}

bool ProtomuxSession::channel_open(ChannelId id) const noexcept {
  return !closed_ && channel(id) != nullptr;
}

bool ProtomuxSession::channel_paired(ChannelId id) const noexcept {
  const Channel* c = channel(id);
  return !closed_ && c != nullptr && c->remote_id != 0;
}

Result<ProtomuxSession::ChannelId> ProtomuxSession::open_channel(const std::string& protocol,
                                                                 const std::optional<Bytes>& id_in,
                                                                 ChannelHandlers handlers,
                                                                 ByteView handshake) {
  if (closed_) return std::make_error_code(std::errc::not_connected);
  const std::optional<Bytes> id = normal_id(id_in);
  for (const auto& c : local_)
    if (c && same_key(c->protocol, c->id, protocol, id))
      return std::make_error_code(std::errc::already_connected);
  if (open_channels_ >= options_.max_channels)
    return std::make_error_code(std::errc::too_many_files_open);
  std::size_t index = local_.size();
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    local_.emplace_back();
  }
  const ChannelId local = index + 1;
  local_[index] = Channel{protocol, id, std::move(handlers), 0};
  ++open_channels_;
  if (incoming_ && incoming_->paired == 0 &&
      same_key(incoming_->protocol, incoming_->id, protocol, id)) {
    incoming_->paired = local;
    local_[index]->remote_id = incoming_->remote_id;
    remote_[incoming_->remote_id - 1] = Remote{local};
  } else {
    outgoing_.push_back(Outgoing{protocol, id, local});
  }
  Bytes frame;
  protomux::Open open;
  open.local_id = local;
  open.protocol = protocol;
  if (id) open.id = ByteView(*id);
  open.handshake = handshake;
  protomux::encode_open(frame, open);
  write_frame(frame);
  return local;
}

Result<bool> ProtomuxSession::send(ChannelId id, std::uint64_t type, ByteView payload) {
  if (closed_ || channel(id) == nullptr) return std::make_error_code(std::errc::not_connected);
  Bytes frame;
  protomux::encode_message(frame, id, type, payload);
  auto r = stream_->write(frame);
  if (!r) return r.error();
  return *r;
}

void ProtomuxSession::close_channel(ChannelId id) {
  if (closed_ || channel(id) == nullptr) return;
  Bytes frame;
  protomux::encode_close(frame, id);
  close_local(id);
  write_frame(frame);
}

void ProtomuxSession::close_local(ChannelId id) {
  Channel& c = *local_[id - 1];
  if (c.remote_id != 0) {
    remote_[c.remote_id - 1].reset();
    free_.push_back(id - 1);
  }
  local_[id - 1].reset();
  --open_channels_;
}

void ProtomuxSession::end() {
  if (!closed_) (void)stream_->end();
}

void ProtomuxSession::destroy(SecretStreamError error) {
  if (!closed_) stream_->destroy(std::move(error));
}

void ProtomuxSession::write_frame(const Bytes& frame) {
  // Control frames are tiny; the stream's high-water verdict only matters to channel senders.
  (void)stream_->write(frame);
}

bool ProtomuxSession::fail(const char* why) {
  ++counters_.frames_rejected;
  stream_->destroy({std::make_error_code(std::errc::protocol_error), why});
  return false;
}

// ---- receiving -----------------------------------------------------------------------------

void ProtomuxSession::on_data(ByteView frame) {
  if (closed_ || frame.empty()) return;  // protomux ignores empty frames
  ++counters_.frames_received;
  // Everything protomux would throw on destroys the stream before any of it takes effect.
  if (!protomux::validate_frame(frame)) {
    fail("Invalid protomux frame");
    return;
  }
  cenc::Reader r(frame);
  const std::uint64_t channel = r.uint();
  dispatch(channel, r.rest());
}

bool ProtomuxSession::dispatch(std::uint64_t remote_id, ByteView message) {
  auto m = protomux::decode_message(remote_id, message);
  if (!m) return fail("Invalid protomux message");
  if (remote_id == protomux::kControlChannel) return on_control(m->type, m->payload);
  const std::optional<Remote>* r = remote_id <= remote_.size() ? &remote_[remote_id - 1] : nullptr;
  // A closed channel: maybe a message that was already on its way.
  if (r == nullptr || !*r) {
    ++counters_.messages_ignored;
    return true;
  }
  Channel& c = *local_[(*r)->local - 1];
  if (!c.handlers.on_message) return true;
  const std::weak_ptr<int> token = alive_;
  std::error_code ec;
  auto handler = c.handlers.on_message;  // the channel may close inside
  ec = handler(m->type, m->payload);
  if (!alive(token)) return false;
  if (ec) return fail("Invalid channel message");
  return true;
}

bool ProtomuxSession::on_control(std::uint64_t type, ByteView payload) {
  switch (type) {
    case protomux::kBatch:
      return on_batch(payload);
    case protomux::kOpen:
      return on_open(payload);
    case protomux::kReject:
      return on_reject(payload);
    case protomux::kClose:
      return on_remote_close(payload);
    default:
      return true;  // protomux ignores other control types
  }
}

bool ProtomuxSession::on_batch(ByteView payload) {
  protomux::BatchReader b(payload);
  protomux::BatchEntry e;
  for (;;) {
    auto more = b.next(e);
    if (!more) return fail("Invalid protomux batch");
    if (!*more) return true;
    if (!dispatch(e.channel, e.message)) return false;
  }
}

bool ProtomuxSession::on_open(ByteView payload) {
  auto o = protomux::decode_open(payload);
  if (!o) return fail("Invalid open message");
  // protomux means to reject an open of channel 0 but throws instead (see protomux.hpp).
  if (o->local_id == 0) return fail("Invalid open message");
  const std::uint64_t rid = o->local_id - 1;
  if (rid == remote_.size()) {  // the remote may grow its ids by one
    if (remote_.size() >= options_.max_remote_ids) return fail("Too many remote channels");
    remote_.emplace_back();
  }
  if (rid >= remote_.size() || remote_[rid]) return fail("Invalid open message");
  const std::string protocol(o->protocol);
  const std::optional<Bytes> id =
      o->id ? std::optional<Bytes>(Bytes(o->id->begin(), o->id->end())) : std::nullopt;
  const Bytes handshake(o->handshake.begin(), o->handshake.end());

  auto out = std::find_if(outgoing_.begin(), outgoing_.end(), [&](const Outgoing& g) {
    return same_key(g.protocol, g.id, protocol, id);
  });
  ChannelId local = 0;
  if (out != outgoing_.end()) {
    local = out->local;
    outgoing_.erase(out);
    if (channel(local) == nullptr) {  // closed before the remote opened: the id is free now
      free_.push_back(local - 1);
      return true;
    }
    remote_[rid] = Remote{local};
    channel(local)->remote_id = o->local_id;
  } else {
    const std::weak_ptr<int> token = alive_;
    incoming_ = Incoming{protocol, id, o->local_id, 0};
    if (handlers_.on_remote_open) handlers_.on_remote_open(protocol, id);
    if (!alive(token)) return false;
    local = incoming_->paired;
    incoming_.reset();
    if (local == 0 || channel(local) == nullptr) {
      ++counters_.opens_rejected;
      remote_[rid].reset();
      Bytes frame;
      protomux::encode_reject(frame, o->local_id);
      write_frame(frame);
      return !closed_;
    }
  }
  Channel& c = *channel(local);
  if (!c.handlers.on_open) return true;
  const std::weak_ptr<int> token = alive_;
  auto handler = c.handlers.on_open;
  handler(handshake);
  return alive(token);
}

bool ProtomuxSession::on_reject(ByteView payload) {
  auto id = protomux::decode_reject(payload);
  if (!id) return fail("Invalid reject message");
  auto out = std::find_if(outgoing_.begin(), outgoing_.end(),
                          [&](const Outgoing& g) { return g.local == *id; });
  if (out == outgoing_.end()) return fail("Invalid reject message");
  outgoing_.erase(out);
  Channel* c = channel(*id);
  free_.push_back(*id - 1);
  if (c == nullptr) return true;
  auto on_close = std::move(c->handlers.on_close);
  local_[*id - 1].reset();
  --open_channels_;
  const std::weak_ptr<int> token = alive_;
  if (on_close) on_close();
  return alive(token);
}

bool ProtomuxSession::on_remote_close(ByteView payload) {
  auto rid = protomux::decode_close(payload);
  if (!rid) return fail("Invalid close message");
  if (*rid == 0 || *rid > remote_.size() || !remote_[*rid - 1]) return true;
  const ChannelId local = remote_[*rid - 1]->local;
  auto on_close = std::move(local_[local - 1]->handlers.on_close);
  close_local(local);
  const std::weak_ptr<int> token = alive_;
  if (on_close) on_close();
  return alive(token);
}

void ProtomuxSession::on_stream_close(const SecretStreamError& error) {
  if (closed_) return;
  closed_ = true;
  const std::weak_ptr<int> token = alive_;
  for (std::size_t i = 0; i < local_.size(); ++i) {
    if (!local_[i]) continue;
    auto on_close = std::move(local_[i]->handlers.on_close);
    local_[i].reset();
    --open_channels_;
    if (on_close) on_close();
    if (token.expired()) return;
  }
  remote_.clear();
  outgoing_.clear();
  if (handlers_.on_close) {
    auto cb = std::move(handlers_.on_close);
    cb(error);  // last: it may destroy us
  }
}

}  // namespace hdht::core
