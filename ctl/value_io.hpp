// Record values on hdhtctl's command line and stdout: VALUE | @FILE | - (stdin) in, raw bytes
// out. Values travel to the daemon as {"encoding": "base64", ...}, which carries any bytes
// (a command-line argument need not be valid UTF-8, which JSON would require).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace hdht::ctl {

// The bytes VALUE names: "@path" reads the file, "-" reads stdin to EOF, anything else is the
// value itself ("@@x" is the literal "@x"). nullopt with `error` set if a read fails or the
// value is larger than max_bytes.
std::optional<std::string> read_value_arg(const std::string& arg, std::size_t max_bytes,
                                          std::string& error);

std::string base64_encode(const std::string& bytes);
std::optional<std::string> base64_decode(const std::string& text);

// {"encoding": "base64", "data": ...}
nlohmann::json value_param(const std::string& bytes);
// The bytes of a {"encoding", "data"} value the daemon sent; nullopt if malformed.
std::optional<std::string> value_bytes(const nlohmann::json& value);

}  // namespace hdht::ctl
