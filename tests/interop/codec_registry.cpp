#include "tests/interop/codec_registry.hpp"

#include <stdexcept>

namespace hdht::interop {

std::vector<std::string> Registry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [k, _] : codecs_) out.push_back(k);
  for (const auto& [k, _] : ops_) out.push_back(k);
  return out;
}

const Registry& registry() {
  static const Registry r = [] {
    Registry reg;
    register_compact(reg);
    register_rpc(reg);
    register_hyperdht(reg);
    register_noise(reg);
    register_secret_stream(reg);
    register_udx(reg);
    register_protomux(reg);
    register_table(reg);
    register_query(reg);
    return reg;
  }();
  return r;
}

std::string hex(ByteView b) { return to_hex(b); }

Bytes unhex(const json& j) {
  auto b = from_hex(j.get<std::string>());
  if (!b) throw std::invalid_argument("bad hex: " + j.get<std::string>());
  return *b;
}

json addr_json(const Ipv4Address& a) { return {{"host", a.host_string()}, {"port", a.port}}; }

Ipv4Address addr_from_json(const json& j) {
  auto ip = Ipv4Address::parse_host(j.at("host").get<std::string>());
  if (!ip) throw std::invalid_argument("bad host");
  return {*ip, j.at("port").get<std::uint16_t>()};
}

json handle_request(const json& req) {
  try {
    const std::string op = req.at("op");
    const std::string kind = req.at("kind");
    const Registry& reg = registry();
    if (op == "run") {
      const Op* o = reg.op(kind);
      if (!o) return {{"ok", false}, {"error", "unknown op kind " + kind}};
      return {{"ok", true}, {"output", (*o)(req.at("input"))}};
    }
    const Codec* c = reg.codec(kind);
    if (!c) return {{"ok", false}, {"error", "unknown codec kind " + kind}};
    if (op == "decode") {
      const Bytes bytes = unhex(req.at("hex"));
      auto fields = c->decode(bytes);
      if (!fields) return {{"ok", false}, {"error", fields.error().message()}};
      return {{"ok", true}, {"fields", *fields}, {"hex", hex(c->encode(*fields))}};
    }
    if (op == "encode") return {{"ok", true}, {"hex", hex(c->encode(req.at("fields")))}};
    return {{"ok", false}, {"error", "unknown op " + op}};
  } catch (const std::exception& e) {
    return {{"ok", false}, {"error", std::string("harness: ") + e.what()}};
  }
}

}  // namespace hdht::interop
