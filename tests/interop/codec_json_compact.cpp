// compact-encoding primitives as registry kinds: "uint", "buffer", "string", "ipv4Address",
// "ipv4AddressArray", "fixed32". Fields: {"value": ...}.
#include "protocol/compact.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {
template <class Dec, class Enc>
Codec make(Dec dec, Enc enc) {
  return Codec{[dec](ByteView b) -> Result<json> {
                 cenc::Reader r(b);
                 json v = dec(r);
                 if (!r.ok()) return r.error();
                 return json{{"value", v}};
               },
               [enc](const json& f) {
                 Bytes out;
                 cenc::Writer w(out);
                 enc(w, f.at("value"));
                 return out;
               }};
}
}  // namespace

void register_compact(Registry& r) {
  r.add_codec("uint", make([](cenc::Reader& rd) { return json(rd.uint()); },
                           [](cenc::Writer& w, const json& v) { w.uint(v.get<std::uint64_t>()); }));
  r.add_codec("buffer", make([](cenc::Reader& rd) { return json(hex(rd.buffer())); },
                             [](cenc::Writer& w, const json& v) { w.buffer(unhex(v)); }));
  r.add_codec("string", make([](cenc::Reader& rd) { return json(std::string(rd.string())); },
                             [](cenc::Writer& w, const json& v) {
                               w.string(v.get<std::string>());
                             }));
  r.add_codec("fixed32", make([](cenc::Reader& rd) { return json(hex(rd.fixed<32>())); },
                              [](cenc::Writer& w, const json& v) { w.fixed(unhex_fixed<32>(v)); }));
  r.add_codec("ipv4Address",
              make([](cenc::Reader& rd) { return addr_json(rd.ipv4_address()); },
                   [](cenc::Writer& w, const json& v) { w.ipv4_address(addr_from_json(v)); }));
  r.add_codec("ipv4AddressArray", make(
                                      [](cenc::Reader& rd) {
                                        json a = json::array();
                                        const std::size_t n = rd.array_count(6);
                                        for (std::size_t i = 0; i < n && rd.ok(); ++i)
                                          a.push_back(addr_json(rd.ipv4_address()));
                                        return a;
                                      },
                                      [](cenc::Writer& w, const json& v) {
                                        w.uint(v.size());
                                        for (const auto& e : v) w.ipv4_address(addr_from_json(e));
                                      }));
}

}  // namespace hdht::interop
