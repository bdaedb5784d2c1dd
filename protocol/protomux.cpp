#include "protocol/protomux.hpp"

#include "protocol/errors.hpp"

namespace hdht::protomux {

namespace {

Result<void> validate_message(std::uint64_t channel, ByteView message, int depth);

Result<void> validate_batch(ByteView payload, int depth) {
  if (depth > kMaxBatchDepth) return WireErrc::array_too_long;
  BatchReader b(payload);
  BatchEntry e;
  for (;;) {
    auto more = b.next(e);
    if (!more) return more.error();
    if (!*more) return {};
    if (auto ok = validate_message(e.channel, e.message, depth); !ok) return ok;
  }
}

Result<void> validate_message(std::uint64_t channel, ByteView message, int depth) {
  auto m = decode_message(channel, message);
  if (!m) return m.error();
  if (channel != kControlChannel) return {};
  switch (m->type) {
    case kBatch:
      return validate_batch(m->payload, depth + 1);
    case kOpen: {
      auto o = decode_open(m->payload);
      return o ? Result<void>{} : Result<void>{o.error()};
    }
    case kReject:
    case kClose: {
      auto id = decode_reject(m->payload);
      return id ? Result<void>{} : Result<void>{id.error()};
    }
    default:
      return {};  // protomux ignores other control types
  }
}

// compact-encoding-bitfield(7).decode: one byte, or a 0xfd/0xfe/0xff width prefix followed by
// 2/4/8 bytes of which the first carries the 7 bits.
std::uint8_t bitfield7(cenc::Reader& r) {
  const std::uint8_t first = r.u8();
  if (!r.ok() || first <= 0xfc) return first;
  const std::size_t width = first == 0xfd ? 2 : first == 0xfe ? 4 : 8;
  const ByteView v = r.raw(width);
  return r.ok() ? v[0] : 0;
}

}  // namespace

Result<Frame> decode_frame(ByteView frame) {
  cenc::Reader r(frame);
  const std::uint64_t channel = r.uint();
  if (!r.ok()) return r.error();
  return decode_message(channel, r.rest());
}

Result<Frame> decode_message(std::uint64_t channel, ByteView message) {
  cenc::Reader r(message);
  Frame f;
  f.channel = channel;
  f.type = r.uint();
  f.payload = r.rest();
  return r.finish(std::move(f));
}

Result<Open> decode_open(ByteView payload) {
  cenc::Reader r(payload);
  Open o;
  o.local_id = r.uint();
  o.protocol = r.string();
  const ByteView id = r.buffer();
  if (r.ok() && !id.empty()) o.id = id;
  o.handshake = r.rest();
  return r.finish(std::move(o));
}

Result<std::uint64_t> decode_reject(ByteView payload) {
  cenc::Reader r(payload);
  std::uint64_t id = r.uint();
  return r.finish(std::move(id));
}

Result<std::uint64_t> decode_close(ByteView payload) {
  return decode_reject(payload);
}

BatchReader::BatchReader(ByteView payload) : in_(payload) {
  cenc::Reader r(in_);
  channel_ = first_channel_ = r.uint();
  ec_ = r.error();
  pos_ = r.position();
}

Result<bool> BatchReader::next(BatchEntry& out) {
  while (!ec_) {
    if (pos_ >= in_.size()) return false;
    cenc::Reader r(in_.subspan(pos_));
    const std::uint64_t len = r.uint();
    if (r.ok() && len == 0) {
      channel_ = r.uint();
      if (r.ok()) pos_ += r.position();
      ec_ = r.error();
      continue;
    }
    if (!r.ok()) {
      ec_ = r.error();
      break;
    }
    pos_ += r.position();
    const std::size_t avail = in_.size() - pos_;
    const std::size_t n = len < avail ? static_cast<std::size_t>(len) : avail;
    out.channel = channel_;
    out.message = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  return ec_;
}

Result<void> validate_frame(ByteView frame) {
  cenc::Reader r(frame);
  const std::uint64_t channel = r.uint();
  if (!r.ok()) return r.error();
  return validate_message(channel, r.rest(), 0);
}

void encode_message(Bytes& out, std::uint64_t channel, std::uint64_t type, ByteView payload) {
  cenc::Writer w(out);
  w.uint(channel);
  w.uint(type);
  w.raw(payload);
}

void encode_open(Bytes& out, const Open& open) {
  cenc::Writer w(out);
  w.uint(kControlChannel);
  w.uint(kOpen);
  w.uint(open.local_id);
  w.string(open.protocol);
  if (open.id)
    w.buffer(*open.id);
  else
    w.uint(0);
  w.raw(open.handshake);
}

void encode_reject(Bytes& out, std::uint64_t remote_id) {
  cenc::Writer w(out);
  w.uint(kControlChannel);
  w.uint(kReject);
  w.uint(remote_id);
}

void encode_close(Bytes& out, std::uint64_t local_id) {
  cenc::Writer w(out);
  w.uint(kControlChannel);
  w.uint(kClose);
  w.uint(local_id);
}

void BatchWriter::add(std::uint64_t channel, std::uint64_t type, ByteView payload) {
  cenc::Writer w(body_);
  if (entries_ == 0) {
    first_channel_ = channel_ = channel;
  } else if (channel != channel_) {
    w.uint(0);
    w.uint(channel);
    channel_ = channel;
  }
  w.uint(cenc::uint_size(type) + payload.size());
  w.uint(type);
  w.raw(payload);
  ++entries_;
}

void BatchWriter::finish(Bytes& out) {
  if (entries_ > 0) {
    cenc::Writer w(out);
    w.uint(kControlChannel);
    w.uint(kBatch);
    w.uint(first_channel_);
    w.raw(body_);
  }
  body_.clear();
  entries_ = 0;
}

void encode_relay_pair(Bytes& out, const RelayPair& m) {
  cenc::Writer w(out);
  w.u8(m.is_initiator ? 1 : 0);
  w.fixed(m.token);
  w.uint(m.id);
  w.uint(m.seq);
}

void encode_relay_unpair(Bytes& out, const RelayUnpair& m) {
  cenc::Writer w(out);
  w.u8(0);
  w.fixed(m.token);
}

Result<RelayPair> decode_relay_pair(ByteView payload) {
  cenc::Reader r(payload);
  RelayPair m;
  m.is_initiator = (bitfield7(r) & 1) != 0;
  m.token = r.fixed<32>();
  m.id = r.uint();
  m.seq = r.uint();
  return r.finish(std::move(m));
}

Result<RelayUnpair> decode_relay_unpair(ByteView payload) {
  cenc::Reader r(payload);
  RelayUnpair m;
  (void)bitfield7(r);
  m.token = r.fixed<32>();
  return r.finish(std::move(m));
}

}  // namespace hdht::protomux
