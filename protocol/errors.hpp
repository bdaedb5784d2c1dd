// Error codes of the wire layer. Decoders return these as values; nothing here throws on bad
// input. The reference mostly reacts to all of them the same way (drop the packet), but tests
// assert the exact reason so that a decoder cannot accept or reject for the wrong cause.
#pragma once

#include <system_error>

namespace hdht {

enum class WireErrc {
  ok = 0,
  out_of_bounds = 1,     // a field runs past the end of the span ("Out of bounds" in JS)
  integer_too_large,     // varint above 2^53-1, as compact-encoding refuses
  array_too_long,        // array count above 0x100000, or more elements than bytes left
  bad_type,              // unknown message type / magic / version byte
  bad_length,            // a length that the format fixes is wrong (e.g. a 56-byte header)
  missing_field,         // a field the message kind requires is absent
  invalid_value,         // a field decodes but its value is not allowed (e.g. port 0)
  bad_signature,         // Ed25519 verification failed
  decrypt_failed,        // AEAD / secretbox / secretstream authentication failed
  bad_key,               // a public key or DH input libsodium refuses
  handshake_state,       // a Noise call out of order
  message_too_large,     // an encoder input the format cannot carry
  nonce_exhausted,       // a nonce counter came back to its start (secret-stream send)
};

const std::error_category& wire_category() noexcept;
std::error_code make_error_code(WireErrc e) noexcept;

}  // namespace hdht

template <>
struct std::is_error_code_enum<hdht::WireErrc> : std::true_type {};
