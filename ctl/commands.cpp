#include <iostream>

#include "ctl/cli.hpp"
#include "ctl/client.hpp"
#include "ctl/format.hpp"

namespace hdht::ctl {

int invoke(const Global& g, const std::string& method, const json& params,
           const std::function<std::string(const json&)>& human, json* result_out,
           const std::function<void(const json&)>& on_note) {
  const auto out = call(g.socket, method, params, g.timeout, [&](const json& note) {
    if (g.json)
      std::cout << note.dump() << std::endl;
    else if (on_note)
      on_note(note.value("params", json::object()));
    else
      std::cout << note.value("params", json()).dump() << std::endl;
  });
  if (const int code = report_failure(method, out); code != kOk) return code;
  const auto& result = std::get<Answer>(out).result;
  if (result_out) *result_out = result;
  if (g.json)
    std::cout << result.dump() << "\n";
  else
    std::cout << human(result);
  return kOk;
}

int report_failure(const std::string& method, const Outcome& out) {
  if (const auto* t = std::get_if<TransportError>(&out)) {
    std::cerr << "hdhtctl: " << t->message << "\n";
    return kUnreachable;
  }
  if (const auto* e = std::get_if<RemoteError>(&out)) {
    const auto name = e->data.is_object() ? e->data.value("name", std::string()) : std::string();
    std::cerr << "hdhtctl: " << method << ": " << e->message
              << (name.empty() ? "" : " (" + name + ")") << "\n";
    return kRemoteError;
  }
  return kOk;
}

int usage_error(const char* command, const std::string& message) {
  std::cerr << "hdhtctl " << command << ": " << message << " (see hdhtctl " << command
            << " --help)\n";
  return kUsage;
}

namespace {

int cmd_status(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("status", a.error);
  if (!a.positional.empty()) return usage_error("status", "takes no arguments");
  return invoke(g, "status", json::object(), format_status);
}

int cmd_health(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {"--probe"});
  if (!a.error.empty()) return usage_error("health", a.error);
  if (!a.positional.empty()) return usage_error("health", "takes no arguments");
  json params = json::object();
  if (a.flags.contains("--probe")) params["probe"] = true;
  json result;
  const int code = invoke(g, "health", params, format_health, &result);
  const bool healthy = result.is_object() && result.value("healthy", false);
  return code == kOk && !healthy ? kUnhealthy : code;
}

int cmd_keygen(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--name", "--seed"}, {});
  if (!a.error.empty()) return usage_error("keygen", a.error);
  if (!a.positional.empty()) return usage_error("keygen", "unexpected argument " + a.positional[0]);
  json params = json::object();
  if (a.options.contains("--name")) params["name"] = a.options.at("--name");
  if (a.options.contains("--seed")) params["seed"] = a.options.at("--seed");
  return invoke(g, "keys.generate", params, format_key);
}

int cmd_keys(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("keys", a.error);
  if (!a.positional.empty()) return usage_error("keys", "takes no arguments");
  return invoke(g, "keys.list", json::object(), format_keys);
}

int cmd_key_remove(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("key-remove", a.error);
  if (a.positional.size() != 1) return usage_error("key-remove", "needs exactly one NAME");
  return invoke(g, "keys.remove", {{"name", a.positional[0]}}, [](const json& r) {
    return "removed " + r.value("removed", std::string()) + "\n";
  });
}

int cmd_nodes(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--node", "--limit"}, {});
  if (!a.error.empty()) return usage_error("nodes", a.error);
  if (!a.positional.empty()) return usage_error("nodes", "takes no positional arguments");
  json params = json::object();
  for (const char* opt : {"--node", "--limit"}) {
    if (!a.options.contains(opt)) continue;
    const auto& v = a.options.at(opt);
    if (v.empty() || v.size() > 7 || v.find_first_not_of("0123456789") != std::string::npos)
      return usage_error("nodes", std::string(opt) + " needs a number");
    params[opt + 2] = std::stoul(v);
  }
  return invoke(g, "nodes", params, format_nodes);
}

int cmd_metrics(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("metrics", a.error);
  if (!a.positional.empty()) return usage_error("metrics", "takes no arguments");
  return invoke(g, "metrics", json::object(),
                [](const json& r) { return r.value("text", std::string()); });
}

int cmd_call(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("call", a.error);
  if (a.positional.empty() || a.positional.size() > 2)
    return usage_error("call", "needs METHOD and optionally JSON-PARAMS");
  json params = json::object();
  if (a.positional.size() == 2) {
    params = json::parse(a.positional[1], nullptr, false);
    if (params.is_discarded() || !(params.is_object() || params.is_array()))
      return usage_error("call", "JSON-PARAMS must be a JSON object or array");
  }
  return invoke(g, a.positional[0], params, [](const json& r) { return r.dump(2) + "\n"; });
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"status", "", "nodes, bootstrap and firewall state, health, default key",
       "Prints the daemon's version, uptime, mode, how many nodes are bootstrapped, persistent\n"
       "and firewalled, the routing-table sizes, the default public key and one line per node.",
       cmd_status},
      {"health", "[--probe]", "is the DHT working? (exit 4 if not)",
       "Healthy means: node 0 is bootstrapped, has good nodes in its routing table, and a lookup\n"
       "succeeded recently. --probe runs a fresh lookup first and reports it.\n"
       "Exit code 0 if healthy, 4 if the daemon answered but is not healthy.",
       cmd_health},
      {"keygen", "[--name NAME] [--seed HEX]", "create a named key pair (random or from a seed)",
       "Creates a key pair in the daemon's key store and prints its name and public key.\n"
       "  --name NAME  1-64 characters of A-Z a-z 0-9 _ - (default: key-<first 16 hex of the "
       "key>)\n"
       "  --seed HEX   32-byte seed as 64 hex characters: the same key pair as DHT.keyPair(seed)\n"
       "The secret key never leaves the daemon.",
       cmd_keygen},
      {"keys", "", "list the key pairs", "Lists every key pair: name and public key.", cmd_keys},
      {"key-remove", "NAME", "delete a named key pair",
       "Deletes the key pair NAME from the key store (the default key cannot be removed).",
       cmd_key_remove},
      {"nodes", "[--node I] [--limit N]", "the routing table of a node",
       "Prints the routing table of node I (default 0): id and address of every entry,\n"
       "at most N of them (default all).",
       cmd_nodes},
      {"metrics", "", "counters in Prometheus text format",
       "Prints the daemon's counters in the Prometheus text format, the same text the\n"
       "--metrics HTTP endpoint serves.",
       cmd_metrics},
      {"call", "METHOD [JSON-PARAMS]", "send any JSON-RPC method, print the result",
       "Sends METHOD with JSON-PARAMS (an object, default {}) and prints the result as\n"
       "indented JSON. `hdhtctl call methods` lists what the daemon offers.\n"
       "Example: hdhtctl call keys.import '{\"name\":\"backup\",\"seed\":\"<64 hex>\"}'",
       cmd_call},
  };
  static const std::vector<Command> all = [] {
    auto out = table;
    // The record commands go before `call`, the catch-all, in the help listing.
    const auto& more = record_commands();
    out.insert(out.end() - 1, more.begin(), more.end());
    const auto& peers = connection_commands();
    out.insert(out.end() - 1, peers.begin(), peers.end());
    return out;
  }();
  return all;
}

void print_command_help(const Command& c) {
  std::cout << "Usage: hdhtctl [global options] " << c.name << (*c.usage ? " " : "") << c.usage
            << "\n\n"
            << c.help << "\n";
}

Args parse_args(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                const std::set<std::string>& flags) {
  Args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") {
      out.positional.insert(out.positional.end(), args.begin() + static_cast<long>(i) + 1,
                            args.end());
      break;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::string name = a, value;
      const auto eq = a.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
      }
      if (with_value.contains(name)) {
        if (!inline_value) {
          if (i + 1 >= args.size()) {
            out.error = name + " needs a value";
            return out;
          }
          value = args[++i];
        }
        out.options[name] = value;
        out.all[name].push_back(value);
      } else if (flags.contains(name) && !inline_value) {
        out.flags.insert(name);
      } else {
        out.error = "unknown option " + a;
        return out;
      }
      continue;
    }
    out.positional.push_back(a);
  }
  return out;
}

}  // namespace hdht::ctl
