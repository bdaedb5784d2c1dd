#include "ctl/format.hpp"

#include <sstream>

namespace hdht::ctl {

using nlohmann::json;

namespace {

std::string address(const json& a) {
  if (!a.is_object()) return "-";
  return a.value("host", std::string("?")) + ":" + std::to_string(a.value("port", 0));
}

const char* yes_no(bool b) {
  return b ? "yes" : "no";
}

std::string text(const json& v) {
  return v.is_string() ? v.get<std::string>() : std::string("-");
}

std::string duration(long long ms) {
  const long long s = ms / 1000;
  std::ostringstream o;
  if (s >= 86400) o << s / 86400 << "d ";
  if (s >= 3600) o << (s / 3600) % 24 << "h ";
  if (s >= 60) o << (s / 60) % 60 << "m ";
  o << s % 60 << "s";
  return o.str();
}

}  // namespace

std::string format_status(const json& s) {
  std::ostringstream o;
  o << s.value("version", std::string("hyperdhtd")) << "\n"
    << "pid " << s.value("pid", 0) << ", up " << duration(s.value("uptimeMs", 0LL)) << ", mode "
    << s.value("mode", std::string("?")) << "\n"
    << "ready:       " << yes_no(s.value("ready", false)) << "\n"
    << "healthy:     " << yes_no(s.value("healthy", false)) << "\n"
    << "nodes:       " << s.value("bootstrapped", 0) << "/" << s.value("nodeCount", 0)
    << " bootstrapped, " << s.value("persistent", 0) << " persistent, " << s.value("firewalled", 0)
    << " firewalled\n";
  if (s.contains("tableSize"))
    o << "table size:  " << s["tableSize"].value("min", 0) << ".." << s["tableSize"].value("max", 0)
      << "\n";
  o << "default key: " << text(s.value("defaultKey", json())) << "\n"
    << "state dir:   "
    << (s.value("stateDir", json()).is_string() ? text(s["stateDir"]) : "(memory only)") << "\n";
  if (const auto rt = s.value("relayThrough", json()); rt.is_string())
    o << "relay through: " << text(rt) << " (default of connect and listen)\n";
  if (const auto br = s.value("blindRelay", json()); br.is_object())
    o << "blind relay: " << text(br.value("publicKey", json())) << " ("
      << br.value("state", std::string("?")) << ", key " << br.value("key", std::string("?"))
      << ")\n"
      << "  sessions " << br.value("sessions", 0) << " (" << br.value("sessionsClosed", 0)
      << " closed), pairings " << br.value("pairings", 0) << " (" << br.value("pairingsActive", 0)
      << " active, " << br.value("pairingsRequested", 0) << " requested), relayed "
      << br.value("packetsRelayed", 0) << " packets / " << br.value("bytesRelayed", 0)
      << " bytes\n";
  for (const auto& n : s.value("nodes", json::array())) {
    const std::string id = text(n.value("id", json()));
    o << "  node " << n.value("index", 0) << "  " << address(n.value("address", json()))
      << "  public " << address(n.value("publicAddress", json())) << "  "
      << (n.value("ephemeral", true) ? "ephemeral" : "persistent") << "  "
      << (n.value("firewalled", true) ? "firewalled" : "reachable") << "  table "
      << n.value("tableSize", 0) << "  id " << (id == "-" ? id : id.substr(0, 16) + "...") << "\n";
  }
  return o.str();
}

std::string format_health(const json& h) {
  std::ostringstream o;
  o << (h.value("healthy", false) ? "healthy" : "NOT healthy") << "\n";
  const json checks = h.value("checks", json::object());  // items() must not outlive it
  for (const auto& [k, v] : checks.items())
    o << "  " << k << ": " << v.dump() << "\n";
  const auto ago = h.value("lastSuccessAgoMs", json());
  o << "  last successful lookup: "
    << (ago.is_number() ? duration(ago.get<long long>()) + " ago" : std::string("never")) << "\n";
  const auto probe = h.contains("probe") ? h["probe"] : h.value("lastProbe", json());
  if (probe.is_object())
    o << "  " << (h.contains("probe") ? "this" : "last")
      << " probe: " << (probe.value("ok", false) ? "ok" : "failed") << ", "
      << probe.value("replies", 0) << " replies in " << probe.value("tookMs", 0) << " ms"
      << (probe.value("error", json()).is_string() ? ", " + text(probe["error"]) : std::string())
      << "\n";
  return o.str();
}

std::string format_key(const json& k) {
  return k.value("name", std::string("?")) + "  " + k.value("publicKey", std::string("?")) +
         (k.value("default", false) ? "  (default)" : "") + "\n";
}

std::string format_keys(const json& r) {
  std::string out;
  for (const auto& k : r.value("keys", json::array()))
    out += format_key(k);
  if (!r.value("persistent", true))
    out += "(keys are in memory only: the daemon has no --state-dir)\n";
  return out;
}

std::string format_nodes(const json& r) {
  std::ostringstream o;
  o << "node " << r.value("node", 0) << ": " << r.value("size", 0)
    << " nodes in the routing table (id " << text(r.value("id", json())) << ")\n";
  for (const auto& n : r.value("nodes", json::array()))
    o << n.value("id", std::string("?")) << "  " << n.value("host", std::string("?")) << ":"
      << n.value("port", 0) << "\n";
  return o.str();
}

}  // namespace hdht::ctl
