// Arbitrary bytes as Noise IK messages: the first byte picks the role. The responder reads the
// input as msg1; the initiator writes a fixed msg1 and reads the input as msg2. Every outcome must
// be a payload or a WireErrc, with no out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"

namespace {
hdht::crypto::KeyPair seeded(std::uint8_t b) {
  hdht::Bytes32 seed;
  seed.fill(b);
  return hdht::crypto::key_pair_from_seed(seed);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = (hdht::crypto::init(), true);
  (void)ready;
  if (size == 0) return 0;
  static const auto is = seeded(1), rs = seeded(2), ie = seeded(3);
  const hdht::ByteView msg(data + 1, size - 1);
  if (data[0] & 1) {
    auto rsp = hdht::noise::IkHandshake::responder(rs, hdht::msg::ns_peer_handshake());
    auto r = rsp.read_message(msg);
    if (r.has_value() != (rsp.state() == hdht::noise::HandshakeState::received_msg1)) std::abort();
    if (r && !rsp.write_message({})) std::abort();
  } else {
    auto ini =
        hdht::noise::IkHandshake::initiator(is, rs.public_key, hdht::msg::ns_peer_handshake());
    if (!ini.set_ephemeral(ie) || !ini.write_message({})) std::abort();
    auto r = ini.read_message(msg);
    if (r.has_value() != ini.complete()) std::abort();
  }
  return 0;
}
