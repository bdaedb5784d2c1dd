// The bridge between C++ codecs and the JS reference. Every message kind has a canonical JSON
// form (the JS object's field names, Buffers as lowercase hex, ipv4 addresses as
// {"host","port"}), and the registry maps kind names to:
//   - a Codec: decode(bytes) -> JSON fields, encode(JSON fields) -> bytes;
//   - or an Op: a deterministic computation (hashes, signatures, Noise transcripts) whose JSON
//     input and output the JS side computes independently.
// The same registry drives the committed vectors (tests/vectors/*.json, no Node needed) and the
// live differential test against the pinned npm packages (tests/interop/differential.js).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::interop {

using json = nlohmann::json;

struct Codec {
  std::function<Result<json>(ByteView)> decode;
  // Malformed JSON input is a bug in the test harness: may throw (json exceptions).
  std::function<Bytes(const json&)> encode;
};
using Op = std::function<json(const json&)>;

class Registry {
 public:
  void add_codec(const std::string& kind, Codec c) { codecs_[kind] = std::move(c); }
  void add_op(const std::string& kind, Op op) { ops_[kind] = std::move(op); }
  const Codec* codec(const std::string& kind) const {
    auto it = codecs_.find(kind);
    return it == codecs_.end() ? nullptr : &it->second;
  }
  const Op* op(const std::string& kind) const {
    auto it = ops_.find(kind);
    return it == ops_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> kinds() const;

 private:
  std::map<std::string, Codec> codecs_;
  std::map<std::string, Op> ops_;
};

// One registration function per codec family, each in its own file (codec_json_<family>.cpp).
void register_compact(Registry& r);
void register_rpc(Registry& r);
void register_hyperdht(Registry& r);
void register_noise(Registry& r);
void register_secret_stream(Registry& r);
void register_udx(Registry& r);
void register_protomux(Registry& r);
void register_table(Registry& r);
void register_query(Registry& r);

// All of the above.
const Registry& registry();

// JSON helpers shared by the families.
std::string hex(ByteView b);
Bytes unhex(const json& j);  // throws std::invalid_argument on bad hex
template <std::size_t N>
FixedBytes<N> unhex_fixed(const json& j) {
  const Bytes b = unhex(j);
  if (b.size() != N) throw std::invalid_argument("wrong fixed length");
  FixedBytes<N> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}
json addr_json(const Ipv4Address& a);
Ipv4Address addr_from_json(const json& j);  // {"host","port"}

// Runs one JSON request ({"op":"decode"|"encode"|"run","kind":...}) and returns the response.
// Used by the codec tool (Node talks to it over stdin/stdout) and by the vector test.
json handle_request(const json& req);

}  // namespace hdht::interop
