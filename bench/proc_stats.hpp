// Another process's CPU time and /proc/PID/status figures, for the benchmarks that measure a
// server process from the load generator's side (rpc_load, flood_rpc, flood_handshake).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace hdht::bench {

// CPU time of every thread of a process, in seconds: utime and stime (fields 14 and 15 of
// /proc/PID/stat).
struct ProcCpu {
  double user = 0;
  double system = 0;
  double total() const { return user + system; }
};

inline std::optional<ProcCpu> proc_cpu(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return std::nullopt;
  const auto close = s.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const auto tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return ProcCpu{static_cast<double>(utime) / tick, static_cast<double>(stime) / tick};
}

// A "Name:  value" line of /proc/PID/status, as a number (VmRSS in KiB, context switches).
inline std::optional<double> proc_status(long pid, std::string_view name) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ':')
      return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return std::nullopt;
}

}  // namespace hdht::bench
