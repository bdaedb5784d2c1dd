// Values on the control socket carry their encoding explicitly, so binary record values and
// text travel without guessing:  {"encoding": "utf8" | "hex" | "base64", "data": "..."}.
// For the record methods (immutable/mutable put and get, announce payloads).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "protocol/bytes.hpp"

namespace hdht::daemon {

enum class ValueEncoding { utf8, hex, base64 };

std::optional<ValueEncoding> parse_encoding(std::string_view name);
const char* encoding_name(ValueEncoding e);

// Decodes {"encoding": E, "data": S}; nullopt (with `error` set to a one-line reason) on a
// missing or unknown encoding, a non-string data, or data that is not valid in its encoding
// (utf8 strings are valid by construction: the JSON parser has checked them).
std::optional<Bytes> decode_value(const nlohmann::json& value, std::string& error);
// {"encoding": E, "data": ...}. utf8 is only chosen by the caller when the bytes are text.
nlohmann::json encode_value(ByteView bytes, ValueEncoding encoding);

}  // namespace hdht::daemon
