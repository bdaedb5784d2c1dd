#include "protocol/errors.hpp"

#include <string>

namespace hdht {
namespace {

class WireCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hdht.wire"; }
  std::string message(int ev) const override {
    switch (static_cast<WireErrc>(ev)) {
      case WireErrc::ok: return "ok";
      case WireErrc::out_of_bounds: return "out of bounds";
      case WireErrc::integer_too_large: return "integer too large";
      case WireErrc::array_too_long: return "array too long";
      case WireErrc::bad_type: return "bad message type";
      case WireErrc::bad_length: return "bad length";
      case WireErrc::missing_field: return "missing field";
      case WireErrc::invalid_value: return "invalid value";
      case WireErrc::bad_signature: return "bad signature";
      case WireErrc::decrypt_failed: return "decryption failed";
      case WireErrc::bad_key: return "bad key";
      case WireErrc::handshake_state: return "handshake call out of order";
      case WireErrc::message_too_large: return "message too large";
      case WireErrc::nonce_exhausted: return "nonce exhausted";
    }
    return "unknown wire error";
  }
};

}  // namespace

const std::error_category& wire_category() noexcept {
  static const WireCategory category;
  return category;
}

std::error_code make_error_code(WireErrc e) noexcept {
  return {static_cast<int>(e), wire_category()};
}

}  // namespace hdht
