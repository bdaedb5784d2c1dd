// dht-rpc datagrams from arbitrary bytes. Beyond "no crash": a decoded message must re-encode to
// exactly encoded_size() bytes that decode to the same message and re-encode identically (the
// encoding of a decoded message is canonical), and a rejection must carry one of the reasons the
// reference drops a datagram for.
#include <cstddef>
#include <cstdint>
#include <variant>

#include "protocol/rpc_message.hpp"

namespace {

using hdht::WireErrc;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool allowed_error(std::error_code ec) {
  for (WireErrc e : {WireErrc::out_of_bounds, WireErrc::bad_type, WireErrc::integer_too_large,
                     WireErrc::array_too_long}) {
    if (ec == hdht::make_error_code(e)) return true;
  }
  return false;
}

template <class T>
void round_trip(const T& m) {
  const hdht::Bytes b = hdht::rpc::encode(m);
  require(b.size() == hdht::rpc::encoded_size(m));
  auto again = hdht::rpc::decode_message(b);
  require(again.has_value());
  require(std::holds_alternative<T>(*again));
  require(std::get<T>(*again) == m);
  require(hdht::rpc::encode(std::get<T>(*again)) == b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const hdht::ByteView in(data, size);
  auto m = hdht::rpc::decode_message(in);
  auto req = hdht::rpc::decode_request(in);
  auto res = hdht::rpc::decode_response(in);
  if (!m) {
    require(allowed_error(m.error()));
    require(!req.has_value() && !res.has_value());
    return 0;
  }
  if (const auto* r = std::get_if<hdht::rpc::Request>(&*m)) {
    require(req.has_value() && *req == *r && !res.has_value());
    round_trip(*r);
  } else {
    const auto& s = std::get<hdht::rpc::Response>(*m);
    require(res.has_value() && *res == s && !req.has_value());
    round_trip(s);
  }
  return 0;
}
