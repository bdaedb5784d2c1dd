#include "daemon/record_json.hpp"

#include "core/hyperdht_errors.hpp"

#include <algorithm>

#include "core/rpc_errors.hpp"
#include "daemon/value_codec.hpp"

namespace hdht::daemon {

using nlohmann::json;

json peer_json(const msg::Peer& peer) {
  json relays = json::array();
  for (const auto& a : peer.relay_addresses)
    relays.push_back(a.to_string());
  return {{"publicKey", to_hex(peer.public_key)}, {"relayAddresses", relays}};
}

json from_json(const dht::Peer& from) {
  return {{"host", from.addr.host_string()},
          {"port", from.addr.port},
          {"id", from.id ? json(to_hex(*from.id)) : json(nullptr)}};
}

json closest_json(const std::vector<dht::Peer>& closest) {
  json out = json::array();
  for (const auto& p : closest)
    out.push_back(from_json(p));
  return out;
}

namespace {

// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF); `printable` also
// refuses the control characters a terminal would act on (tab, newline and CR are fine).
bool utf8_ok(ByteView b, bool printable) {
  std::size_t i = 0;
  while (i < b.size()) {
    const std::uint8_t c = b[i];
    if (c < 0x80) {
      if (printable && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f))
        return false;
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0)
      n = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
      n = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
      n = 3, cp = c & 0x07;
    else
      return false;
    if (i + n >= b.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((b[i + k] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (b[i + k] & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

json auto_value_json(ByteView bytes) {
  return encode_value(bytes, utf8_ok(bytes, true) ? ValueEncoding::utf8 : ValueEncoding::base64);
}

json value_json(ByteView bytes, ValueEncoding wanted) {
  // JSON text must be UTF-8: bytes that are not cannot go out as utf8 (the serializer would
  // throw), so they go as base64, which the "encoding" field then says.
  if (wanted == ValueEncoding::utf8 && !utf8_ok(bytes, false)) wanted = ValueEncoding::base64;
  return encode_value(bytes, wanted);
}

rpc::Error operation_error(std::error_code ec, const char* what) {
  std::string name = "REQUEST_FAILED";
  if (ec.category() == dht::rpc_category())
    name = dht::rpc_error_name(static_cast<dht::RpcErrc>(ec.value()));
  else if (ec.category() == hyperdht::hyperdht_category())
    name = hyperdht::hyperdht_error_name(static_cast<hyperdht::HyperDhtErrc>(ec.value()));
  return {rpc::kRequestFailed, std::string(what) + " failed: " + ec.message(), name, {}};
}

bool PeerSet::add(const msg::Peer& peer) {
  const bool known = std::any_of(peers_.begin(), peers_.end(), [&](const msg::Peer& p) {
    return p.public_key == peer.public_key;
  });
  if (!known) peers_.push_back(peer);
  return !known;
}

json PeerSet::to_json() const {
  json out = json::array();
  for (const auto& p : peers_)
    out.push_back(peer_json(p));
  return out;
}

}  // namespace hdht::daemon
