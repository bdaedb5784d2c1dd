// Every hyperdht message decoder on arbitrary bytes (the first byte picks the message). A decode
// that succeeds must re-encode to bytes that decode to the same message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/noise_payload.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/router_messages.hpp"

namespace {

// `exact`: the decoded value itself survives the round trip. The noise payload's encoder
// normalises sub-record versions, so there only the re-encoded bytes must be stable.
template <class Decode>
void check(hdht::ByteView in, Decode decode, bool exact = true) {
  const auto m = decode(in);
  if (!m) return;
  const hdht::Bytes again = encode(*m);
  const auto back = decode(hdht::ByteView(again));
  if (!back) std::abort();
  if (exact && !(*back == *m)) std::abort();
  if (encode(*back) != again) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hdht::msg;
  if (size == 0) return 0;
  const hdht::ByteView in(data + 1, size - 1);
  switch (data[0] % 12) {
    case 0:
      check(in, [](hdht::ByteView b) { return decode_peer(b); });
      break;
    case 1:
      check(in, [](hdht::ByteView b) { return decode_lookup_reply(b); });
      break;
    case 2:
      check(in, [](hdht::ByteView b) { return decode_announce(b); });
      break;
    case 3:
      check(in, [](hdht::ByteView b) { return decode_mutable_signable(b); });
      break;
    case 4:
      check(in, [](hdht::ByteView b) { return decode_mutable_put_request(b); });
      break;
    case 5:
      check(in, [](hdht::ByteView b) { return decode_mutable_get_response(b); });
      break;
    case 6:
      check(in, [](hdht::ByteView b) { return decode_plugin_request(b); });
      break;
    case 7:
      check(in, [](hdht::ByteView b) { return decode_hyperdht_address(b); });
      break;
    case 8:
      check(in, [](hdht::ByteView b) { return decode_handshake(b); });
      break;
    case 9:
      check(in, [](hdht::ByteView b) { return decode_holepunch(b); });
      break;
    case 10:
      check(in, [](hdht::ByteView b) { return decode_holepunch_payload(b); });
      break;
    default:
      check(
          in, [](hdht::ByteView b) { return decode_noise_payload(b); }, false);
      break;
  }
  return 0;
}
