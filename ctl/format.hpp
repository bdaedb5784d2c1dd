// Human-readable renderings of the daemon's results (the --json output is the result itself).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace hdht::ctl {

std::string format_status(const nlohmann::json& status);
std::string format_health(const nlohmann::json& health);
std::string format_keys(const nlohmann::json& keys);
std::string format_key(const nlohmann::json& key);
std::string format_nodes(const nlohmann::json& nodes);

}  // namespace hdht::ctl
