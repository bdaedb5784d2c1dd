#include "daemon/value_codec.hpp"

#include <sodium.h>

namespace hdht::daemon {

std::optional<ValueEncoding> parse_encoding(std::string_view name) {
  if (name == "utf8") return ValueEncoding::utf8;
  if (name == "hex") return ValueEncoding::hex;
  if (name == "base64") return ValueEncoding::base64;
  return std::nullopt;
}

const char* encoding_name(ValueEncoding e) {
  switch (e) {
    case ValueEncoding::utf8:
      return "utf8";
    case ValueEncoding::hex:
      return "hex";
    case ValueEncoding::base64:
      return "base64";
  }
  return "hex";
}

std::optional<Bytes> decode_value(const nlohmann::json& value, std::string& error) {
  if (!value.is_object() || !value.contains("encoding") || !value.contains("data") ||
      value.size() != 2) {
    error = R"(a value is {"encoding": "utf8"|"hex"|"base64", "data": "..."})";
    return std::nullopt;
  }
  const auto& enc = value["encoding"];
  const auto& data = value["data"];
  const auto e = enc.is_string() ? parse_encoding(enc.get<std::string>()) : std::nullopt;
  if (!e) {
    error = "encoding must be utf8, hex or base64";
    return std::nullopt;
  }
  if (!data.is_string()) {
    error = "data must be a string";
    return std::nullopt;
  }
  const auto& s = data.get_ref<const std::string&>();
  switch (*e) {
    case ValueEncoding::utf8:
      return to_bytes(as_bytes(s));
    case ValueEncoding::hex: {
      auto b = from_hex(s);
      if (!b) error = "data is not hex";
      return b;
    }
    case ValueEncoding::base64: {
      // Standard alphabet, padding optional: what Buffer.from(s, 'base64') users produce.
      Bytes out(s.size() / 4 * 3 + 3);
      std::size_t len = 0;
      const char* end = nullptr;
      if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, &end,
                            sodium_base64_VARIANT_ORIGINAL) != 0 ||
          end != s.data() + s.size()) {
        // Retry without padding before giving up.
        if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, &end,
                              sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
            end != s.data() + s.size()) {
          error = "data is not base64";
          return std::nullopt;
        }
      }
      out.resize(len);
      return out;
    }
  }
  return std::nullopt;
}

nlohmann::json encode_value(ByteView bytes, ValueEncoding encoding) {
  std::string data;
  switch (encoding) {
    case ValueEncoding::utf8:
      data.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      break;
    case ValueEncoding::hex:
      data = to_hex(bytes);
      break;
    case ValueEncoding::base64: {
      std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL),
                      '\0');
      sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                        sodium_base64_VARIANT_ORIGINAL);
      out.resize(out.size() - 1);  // the terminating NUL
      data = std::move(out);
      break;
    }
  }
  return {{"encoding", encoding_name(encoding)}, {"data", std::move(data)}};
}

}  // namespace hdht::daemon
