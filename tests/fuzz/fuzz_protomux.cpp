// Protomux frames and blind-relay messages on arbitrary bytes: never out of bounds, nested batches
// bounded, and what decodes re-encodes to a canonical form that decodes to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/protomux.hpp"

namespace pm = hdht::protomux;

namespace {

void check_open(hdht::ByteView payload) {
  auto o = pm::decode_open(payload);
  if (!o) return;
  hdht::Bytes out;
  pm::encode_open(out, *o);
  auto f = pm::decode_frame(out);
  if (!f || f->type != pm::kOpen) std::abort();
  auto back = pm::decode_open(f->payload);
  if (!back || back->local_id != o->local_id || back->protocol != o->protocol ||
      back->id.has_value() != o->id.has_value() || back->handshake.size() != o->handshake.size())
    std::abort();
}

void check_batch(hdht::ByteView payload) {
  pm::BatchReader rd(payload);
  pm::BatchWriter w;
  pm::BatchEntry e;
  std::size_t n = 0;
  for (;;) {
    auto more = rd.next(e);
    if (!more || !*more) break;
    if (e.message.data() < payload.data() ||
        e.message.data() + e.message.size() > payload.data() + payload.size())
      std::abort();
    auto m = pm::decode_message(e.channel, e.message);
    if (m) {
      w.add(m->channel, m->type, m->payload);
      ++n;
    }
  }
  hdht::Bytes out;
  w.finish(out);
  if ((n == 0) != out.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const hdht::ByteView in(data, size);
  (void)pm::validate_frame(in);
  if (auto f = pm::decode_frame(in); f && f->channel == pm::kControlChannel) {
    if (f->type == pm::kOpen) check_open(f->payload);
    if (f->type == pm::kBatch) check_batch(f->payload);
    // Reject and close carry one uint: it must not read past the payload.
    if (auto id = pm::decode_reject(f->payload); id && f->payload.empty()) std::abort();
    if (auto id = pm::decode_close(f->payload); id && f->payload.empty()) std::abort();
  }
  if (auto p = pm::decode_relay_pair(in)) {
    hdht::Bytes out;
    pm::encode_relay_pair(out, *p);
    auto back = pm::decode_relay_pair(out);
    if (!back || !(*back == *p)) std::abort();
  }
  if (auto u = pm::decode_relay_unpair(in)) {
    hdht::Bytes out;
    pm::encode_relay_unpair(out, *u);
    if (out.size() != 33 || !(*pm::decode_relay_unpair(out) == *u)) std::abort();
  }
  return 0;
}
