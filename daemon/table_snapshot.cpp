#include "daemon/table_snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include <nlohmann/json.hpp>

namespace hdht::daemon {

namespace {

std::string path_in(const std::string& dir) {
  return dir + "/nodes.json";
}

}  // namespace

std::vector<Ipv4Address> load_table_snapshot(const std::string& state_dir) {
  std::vector<Ipv4Address> out;
  std::ifstream in(path_in(state_dir));
  if (!in) return out;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object() || !j.contains("nodes") || !j["nodes"].is_array()) return out;
  for (const auto& n : j["nodes"]) {
    if (out.size() >= kSnapshotMaxNodes) break;
    if (!n.is_string()) continue;
    if (auto a = Ipv4Address::parse(n.get<std::string>()); a && a->port != 0) out.push_back(*a);
  }
  return out;
}

Result<void> save_table_snapshot(const std::string& state_dir,
                                 const std::vector<Ipv4Address>& nodes) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& n : nodes) {
    if (list.size() >= kSnapshotMaxNodes) break;
    list.push_back(n.to_string());
  }
  const std::string text = nlohmann::json{{"version", 1}, {"nodes", list}}.dump() + "\n";
  const auto path = path_in(state_dir);
  const auto tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return std::error_code(errno, std::generic_category());
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return std::error_code(ok ? errno : err, std::generic_category());
  }
  return {};
}

}  // namespace hdht::daemon
