// Registry kinds of the rpc codec family (see codec_registry.hpp and tests/interop/kinds/rpc.js):
// codecs "rpcRequest" and "rpcResponse" over whole datagrams (type byte included), and ops
// "nodeId", "rpcToken" and "tokenRotate".
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"
#include "protocol/rpc_token.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {

template <std::size_t N>
json opt_hex(const std::optional<FixedBytes<N>>& b) {
  return b ? json(hex(*b)) : json(nullptr);
}
json opt_hex(const std::optional<Bytes>& b) {
  return b ? json(hex(*b)) : json(nullptr);
}

std::optional<Bytes32> opt_fixed(const json& j) {
  if (j.is_null()) return std::nullopt;
  return unhex_fixed<32>(j);
}
std::optional<Bytes> opt_bytes(const json& j) {
  if (j.is_null()) return std::nullopt;
  return unhex(j);
}

json request_json(const rpc::Request& m) {
  return {{"tid", m.tid},
          {"to", addr_json(m.to)},
          {"id", opt_hex(m.id)},
          {"token", opt_hex(m.token)},
          {"internal", m.internal},
          {"command", m.command},
          {"target", opt_hex(m.target)},
          {"value", opt_hex(m.value)}};
}

rpc::Request request_from(const json& f) {
  rpc::Request m;
  m.tid = f.at("tid").get<std::uint16_t>();
  m.to = addr_from_json(f.at("to"));
  m.id = opt_fixed(f.at("id"));
  m.token = opt_fixed(f.at("token"));
  m.internal = f.at("internal").get<bool>();
  m.command = f.at("command").get<std::uint64_t>();
  m.target = opt_fixed(f.at("target"));
  m.value = opt_bytes(f.at("value"));
  return m;
}

json response_json(const rpc::Response& m) {
  json closer = json::array();
  for (const auto& a : m.closer_nodes)
    closer.push_back(addr_json(a));
  return {{"tid", m.tid},
          {"to", addr_json(m.to)},
          {"id", opt_hex(m.id)},
          {"token", opt_hex(m.token)},
          {"closerNodes", std::move(closer)},
          {"error", m.error},
          {"value", opt_hex(m.value)}};
}

rpc::Response response_from(const json& f) {
  rpc::Response m;
  m.tid = f.at("tid").get<std::uint16_t>();
  m.to = addr_from_json(f.at("to"));
  m.id = opt_fixed(f.at("id"));
  m.token = opt_fixed(f.at("token"));
  for (const auto& a : f.at("closerNodes"))
    m.closer_nodes.push_back(addr_from_json(a));
  m.error = f.at("error").get<std::uint64_t>();
  m.value = opt_bytes(f.at("value"));
  return m;
}

template <class Decode, class ToJson>
std::function<Result<json>(ByteView)> decoder(Decode dec, ToJson to_json) {
  return [dec, to_json](ByteView b) -> Result<json> {
    auto m = dec(b);
    if (!m) return m.error();
    return to_json(*m);
  };
}

}  // namespace

void register_rpc(Registry& r) {
  r.add_codec("rpcRequest", Codec{decoder(rpc::decode_request, request_json),
                                  [](const json& f) { return rpc::encode(request_from(f)); }});
  r.add_codec("rpcResponse", Codec{decoder(rpc::decode_response, response_json),
                                   [](const json& f) { return rpc::encode(response_from(f)); }});
  r.add_op("nodeId", [](const json& in) {
    return json{{"id", hex(rpc::node_id(addr_from_json(in)))}};
  });
  r.add_op("rpcToken", [](const json& in) {
    const rpc::TokenSecrets s(unhex_fixed<32>(in.at("secret0")), unhex_fixed<32>(in.at("secret1")));
    const auto host = in.at("host").get<std::string>();
    return json{{"token0", hex(rpc::rpc_token(host, s.secret(0)))}, {"token1", hex(s.issue(host))}};
  });
  r.add_op("tokenRotate", [](const json& in) {
    rpc::TokenSecrets s(unhex_fixed<32>(in.at("secret0")), unhex_fixed<32>(in.at("secret1")));
    for (int i = 0, n = in.at("rotations").get<int>(); i < n; ++i)
      s.rotate();
    return json{{"secret0", hex(s.secret(0))}, {"secret1", hex(s.secret(1))}};
  });
}

}  // namespace hdht::interop
