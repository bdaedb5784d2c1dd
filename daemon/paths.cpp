#include "daemon/paths.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace hdht::daemon {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// systemd passes a colon-separated list when a unit names several directories; the first is ours.
std::string first_of_list(const char* v) {
  std::string s(v);
  return s.substr(0, s.find(':'));
}

}  // namespace

std::string default_socket_path() {
  if (const char* d = env("RUNTIME_DIRECTORY")) return first_of_list(d) + "/hyperdhtd.sock";
  if (const char* d = env("XDG_RUNTIME_DIR")) return std::string(d) + "/hyperdhtd.sock";
  return "/tmp/hyperdhtd-" + std::to_string(::getuid()) + ".sock";
}

std::string client_socket_path() {
  if (const char* p = env("HYPERDHTD_SOCKET")) return p;
  struct stat st {};
  const char* system_socket = "/run/hyperdhtd/hyperdhtd.sock";
  if (::stat(system_socket, &st) == 0 && S_ISSOCK(st.st_mode)) return system_socket;
  return default_socket_path();
}

std::string default_state_dir() {
  if (const char* d = env("STATE_DIRECTORY")) return first_of_list(d);
  if (const char* d = env("XDG_STATE_HOME")) return std::string(d) + "/hyperdhtd";
  if (const char* d = env("HOME")) return std::string(d) + "/.local/state/hyperdhtd";
  return {};
}

}  // namespace hdht::daemon
