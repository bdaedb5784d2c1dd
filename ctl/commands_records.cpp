// hdhtctl's record and peer commands: immutable/mutable put and get, records, forget, announce,
// unannounce, announces, lookup, find-peer. Each maps to one control-socket method
// (docs/hdhtctl.md).
#include <iostream>
#include <set>
#include <string>

#include "ctl/cli.hpp"
#include "ctl/value_io.hpp"

namespace hdht::ctl {

namespace {

using nlohmann::json;

// A bound on reading VALUE (@FILE, stdin), not the limit: the daemon refuses values over 1774
// bytes (VALUE_TOO_LARGE, docs/control-socket.md), and this stays above that so it says so.
constexpr std::size_t kMaxValue = 60000;

bool is_number(const std::string& v) {
  return !v.empty() && v.size() <= 20 && v.find_first_not_of("0123456789") == std::string::npos;
}

// Writes a got value's raw bytes to stdout (no newline added: the bytes are the value).
std::string raw_value(const json& result) {
  const auto bytes = value_bytes(result.value("value", json()));
  if (!bytes) return {};
  return *bytes;
}

int cmd_immutable_put(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {"--keep"});
  if (!a.error.empty()) return usage_error("immutable-put", a.error);
  if (a.positional.size() != 1) return usage_error("immutable-put", "needs exactly one VALUE");
  std::string why;
  auto value = read_value_arg(a.positional[0], kMaxValue, why);
  if (!value) return usage_error("immutable-put", why);
  json params = {{"value", value_param(*value)}};
  if (a.flags.contains("--keep")) params["keep"] = true;
  // Only the hash on stdout, so that hash=$(hdhtctl immutable-put ...) works with --keep too.
  return invoke(g, "immutable.put", params,
                [](const json& r) { return r.value("hash", std::string()) + "\n"; });
}

int cmd_immutable_get(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("immutable-get", a.error);
  if (a.positional.size() != 1) return usage_error("immutable-get", "needs exactly one HASH");
  json params = {{"hash", a.positional[0]}};
  if (!g.json) params["encoding"] = "base64";  // raw bytes out, whatever they are
  return invoke(g, "immutable.get", params, raw_value);
}

int cmd_mutable_put(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--key", "--seq"}, {"--keep"});
  if (!a.error.empty()) return usage_error("mutable-put", a.error);
  if (a.positional.size() != 1) return usage_error("mutable-put", "needs exactly one VALUE");
  std::string why;
  auto value = read_value_arg(a.positional[0], kMaxValue, why);
  if (!value) return usage_error("mutable-put", why);
  json params = {{"value", value_param(*value)}};
  if (a.options.contains("--key")) params["key"] = a.options.at("--key");
  if (a.flags.contains("--keep")) params["keep"] = true;
  if (a.options.contains("--seq")) {
    const auto& s = a.options.at("--seq");
    if (!is_number(s)) return usage_error("mutable-put", "--seq needs a whole number");
    try {
      params["seq"] = std::stoull(s);
    } catch (const std::exception&) {
      return usage_error("mutable-put", "--seq is too large");
    }
  }
  return invoke(g, "mutable.put", params, [](const json& r) {
    return "seq " + std::to_string(r.value("seq", std::uint64_t{0})) + " under " +
           r.value("publicKey", std::string()) + (r.value("keep", false) ? " (kept)" : "") + "\n";
  });
}

int cmd_mutable_get(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--seq"}, {"--latest", "--first"});
  if (!a.error.empty()) return usage_error("mutable-get", a.error);
  if (a.positional.size() != 1) return usage_error("mutable-get", "needs exactly one PUBKEY");
  if (a.flags.contains("--latest") && a.flags.contains("--first"))
    return usage_error("mutable-get", "--latest and --first exclude each other");
  json params = {{"publicKey", a.positional[0]}};
  if (a.options.contains("--seq")) {
    const auto& s = a.options.at("--seq");
    if (!is_number(s)) return usage_error("mutable-get", "--seq needs a whole number");
    try {
      params["seq"] = std::stoull(s);
    } catch (const std::exception&) {
      return usage_error("mutable-get", "--seq is too large");
    }
  }
  params["latest"] = !a.flags.contains("--first");
  if (!g.json) params["encoding"] = "base64";
  return invoke(g, "mutable.get", params, raw_value);
}

std::string ago(const json& ms) {
  if (!ms.is_number()) return "never";
  return std::to_string(ms.get<long long>() / 1000) + "s ago";
}

int cmd_records(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("records", a.error);
  if (!a.positional.empty()) return usage_error("records", "takes no arguments");
  return invoke(g, "records", json::object(), [](const json& r) {
    std::string out;
    for (const auto& e : r.value("records", json::array())) {
      const bool is_mutable = e.value("type", std::string()) == "mutable";
      out += (is_mutable ? "mutable    " : "immutable  ") +
             e.value(is_mutable ? "publicKey" : "hash", std::string()) + "  " +
             (is_mutable ? "seq " + std::to_string(e.value("seq", std::uint64_t{0})) + " key " +
                               e.value("key", std::string()) + "  "
                         : std::string()) +
             std::to_string(e.value("size", 0)) + " B  runs " + std::to_string(e.value("runs", 0)) +
             "  failures " + std::to_string(e.value("failures", 0)) + "  last ok " +
             ago(e.value("lastOkMs", json())) +
             (e.value("lastError", json()).is_string()
                  ? "  last error: " + e["lastError"].get<std::string>()
                  : std::string()) +
             "\n";
    }
    return out;
  });
}

int cmd_forget(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("forget", a.error);
  if (a.positional.size() != 1) return usage_error("forget", "needs exactly one HASH or PUBKEY");
  return invoke(g, "forget", {{"target", a.positional[0]}}, [](const json& r) {
    return (r.value("forgotten", false) ? "no longer keeping " : "was not kept: ") +
           r.value("target", std::string()) + "\n";
  });
}

// --relay may repeat, which parse_args (one value per option) does not do: taken out first.
std::vector<std::string> take_relays(std::vector<std::string>& args) {
  std::vector<std::string> relays, rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<long>(i), args.end());
      break;
    }
    if (args[i] == "--relay" && i + 1 < args.size()) {
      relays.push_back(args[++i]);
    } else if (args[i].starts_with("--relay=")) {
      relays.push_back(args[i].substr(8));
    } else {
      rest.push_back(args[i]);
    }
  }
  args = std::move(rest);
  return relays;
}

std::string relays_text(const json& relays) {
  std::string out;
  if (!relays.is_array()) return out;
  for (const auto& r : relays)
    out += " " + r.get<std::string>();
  return out;
}

int cmd_announce(const Global& g, const std::vector<std::string>& args_in) {
  auto args = args_in;
  const auto relays = take_relays(args);
  const auto a = parse_args(args, {"--key"}, {"--keep"});
  if (!a.error.empty()) return usage_error("announce", a.error);
  if (a.positional.size() != 1) return usage_error("announce", "needs exactly one TOPIC");
  json params = {{"topic", a.positional[0]}, {"relays", relays}};
  if (a.options.contains("--key")) params["key"] = a.options.at("--key");
  if (a.flags.contains("--keep")) params["keep"] = true;
  return invoke(g, "announce", params, [](const json& r) {
    return "announced " + r.value("publicKey", std::string()) + " on " +
           r.value("topic", std::string()) + " to " +
           std::to_string(r.value("closest", json::array()).size()) + " nodes" +
           (r.value("keep", false) ? " (kept: re-announced on the interval and after restarts)"
                                   : "") +
           "\n";
  });
}

int cmd_unannounce(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--key"}, {});
  if (!a.error.empty()) return usage_error("unannounce", a.error);
  if (a.positional.size() != 1) return usage_error("unannounce", "needs exactly one TOPIC");
  json params = {{"topic", a.positional[0]}};
  if (a.options.contains("--key")) params["key"] = a.options.at("--key");
  return invoke(g, "unannounce", params, [](const json& r) {
    return "unannounced " + r.value("publicKey", std::string()) + " from " +
           r.value("topic", std::string()) + "\n";
  });
}

int cmd_announces(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("announces", a.error);
  if (!a.positional.empty()) return usage_error("announces", "takes no arguments");
  return invoke(g, "announces", json::object(), [](const json& r) {
    std::string out;
    for (const auto& e : r.value("announces", json::array()))
      out += e.value("topic", std::string()) + " " + e.value("key", std::string()) +
             relays_text(e.value("relayAddresses", json::array())) + "\n";
    return out;
  });
}

int cmd_lookup(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("lookup", a.error);
  if (a.positional.size() != 1) return usage_error("lookup", "needs exactly one TOPIC");
  // Each peer once, as soon as a reply shows it; the final result adds nothing new.
  std::set<std::string> seen;
  return invoke(
      g, "lookup", {{"topic", a.positional[0]}}, [](const json&) { return std::string(); }, nullptr,
      [&seen](const json& note) {
        for (const auto& p : note.value("peers", json::array())) {
          const auto pk = p.value("publicKey", std::string());
          if (!seen.insert(pk).second) continue;
          std::cout << pk << relays_text(p.value("relayAddresses", json::array())) << std::endl;
        }
      });
}

int cmd_find_peer(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("find-peer", a.error);
  if (a.positional.size() != 1) return usage_error("find-peer", "needs exactly one PUBKEY");
  return invoke(
      g, "find-peer", {{"publicKey", a.positional[0]}},
      [](const json& r) {
        return r.value("publicKey", std::string()) +
               relays_text(r.value("relayAddresses", json::array())) + "\n";
      },
      nullptr, [](const json&) {});
}

}  // namespace

const std::vector<Command>& record_commands() {
  static const std::vector<Command> table = {
      {"immutable-put", "[--keep] VALUE|@FILE|-", "store a value under its hash; prints the hash",
       "Stores VALUE (or the bytes of FILE, or stdin with -) on the DHT under its BLAKE2b-256\n"
       "hash, as DHT.immutablePut, and prints the hash (64 hex). Values up to 1774 bytes.\n"
       "\"@@x\" is the literal value \"@x\".\n"
       "  --keep  keep it stored: the daemon puts it again every --reannounce-interval (5 min)\n"
       "          and after restarts, until `hdhtctl forget HASH` (listed by `hdhtctl records`).",
       cmd_immutable_put},
      {"immutable-get", "HASH", "fetch a value by hash (raw bytes to stdout)",
       "Fetches the value stored under HASH (64 hex) and writes its bytes to stdout, unchanged.\n"
       "Exit 1 with \"... (NOT_FOUND)\" on stderr if no node has it.",
       cmd_immutable_get},
      {"mutable-put", "[--key NAME] [--seq N] [--keep] VALUE|@FILE|-",
       "sign and store a value under a key",
       "Signs VALUE with the key pair NAME (default: the daemon's default key) and stores it on\n"
       "the DHT under its public key, as DHT.mutablePut. Prints the seq and the public key.\n"
       "  --seq N  the sequence number; without it, one more than the stored record's (0 if\n"
       "           none; the same seq if the value is unchanged).\n"
       "  --keep   keep it stored: the daemon puts the same value and seq again every\n"
       "           --reannounce-interval (5 min) and after restarts, until\n"
       "           `hdhtctl forget PUBKEY`. While a key's record is kept, every later\n"
       "           successful put under that key (with or without --keep) replaces it.\n"
       "Exit 1 with SEQ_TOO_LOW if N is below the stored seq, SEQ_REUSED if N is the stored\n"
       "seq with another value.",
       cmd_mutable_put},
      {"mutable-get", "PUBKEY [--seq N] [--latest|--first]",
       "fetch a signed value (raw bytes to stdout)",
       "Fetches the value signed by PUBKEY (64 hex) and writes its bytes to stdout.\n"
       "  --seq N    only records with seq >= N\n"
       "  --latest   ask every closest node and return the highest seq (the default, as in the\n"
       "             reference's code)\n"
       "  --first    return the first valid record found\n"
       "With --json the result also has the seq, signature and answering node.\n"
       "Exit 1 with \"... (NOT_FOUND)\" if no node has a record.",
       cmd_mutable_get},
      {"records", "", "list the kept records",
       "Lists the records kept with --keep, one per line: kind, hash (immutable) or public key\n"
       "(mutable, with its seq and key name), size, how many times it was put again, failures,\n"
       "when it last reached its nodes, and the last error if any. --json for the full result.",
       cmd_records},
      {"forget", "HASH|PUBKEY", "stop keeping a record",
       "Stops keeping the record kept under HASH (immutable) or PUBKEY (mutable); the copies\n"
       "on the DHT stay until they expire. Prints whether it was kept.",
       cmd_forget},
      {"announce", "TOPIC [--key NAME] [--relay HOST:PORT]... [--keep]",
       "announce a key pair on a topic",
       "Announces the public key of NAME (default: the default key) on TOPIC, with up to 3\n"
       "relay addresses (--relay, repeatable), as DHT.announce. TOPIC is 64 hex characters,\n"
       "or any other text, which names the topic BLAKE2b-256(text).\n"
       "  --keep  keep it announced: the daemon re-announces every 5 minutes (its\n"
       "          --reannounce-interval) and after restarts (a stop unannounces it, the\n"
       "          next start announces it again) until `hdhtctl unannounce`\n"
       "          (listed by `hdhtctl announces`).",
       cmd_announce},
      {"unannounce", "TOPIC [--key NAME]", "remove an announce (and stop keeping it)",
       "Removes the announce of NAME (default: the default key) on TOPIC from the nodes that\n"
       "hold it, as DHT.unannounce, and stops re-announcing it if it was kept.",
       cmd_unannounce},
      {"announces", "", "list the kept announces",
       "Lists the announces kept with --keep: topic, key name and relay addresses.", cmd_announces},
      {"lookup", "TOPIC", "find the peers announced on a topic",
       "Looks TOPIC up (64 hex, or text hashed as for announce) and prints each peer found as\n"
       "one line, as replies arrive: its public key, then its relay addresses.",
       cmd_lookup},
      {"find-peer", "PUBKEY", "find the relay addresses a peer announced itself with",
       "Finds the record of PUBKEY (64 hex) on the nodes closest to it (DHT.findPeer), and\n"
       "prints the public key and its relay addresses. Exit 1 (NOT_FOUND) if none.",
       cmd_find_peer},
  };
  return table;
}

}  // namespace hdht::ctl
