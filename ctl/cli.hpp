// hdhtctl's commands: a table of name -> (usage, help, run). main.cpp parses the global options
// and picks the command; each command parses its own arguments and prints human text or, with
// --json, the daemon's JSON result on one line.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/client.hpp"

namespace hdht::ctl {

// Documented in docs/hdhtctl.md.
enum Exit : int {
  kOk = 0,
  kRemoteError = 1,  // the daemon answered with an error
  kUsage = 2,        // bad command line
  kUnreachable = 3,  // no daemon on the socket, or it stopped answering
  kUnhealthy = 4,    // `health`: the daemon answered, and it is not healthy
  kStreamError = 5,  // `listen`/`connect`: the stream broke after it was established
};

struct Global {
  std::string socket;
  bool json = false;
  std::chrono::milliseconds timeout{30000};
};

struct Command {
  const char* name;
  const char* usage;    // arguments after the name
  const char* summary;  // one line for hdhtctl --help
  const char* help;     // the rest of hdhtctl COMMAND --help
  int (*run)(const Global& global, const std::vector<std::string>& args);
};

const std::vector<Command>& commands();
// immutable-*, mutable-*, records, forget, announce, unannounce, announces, lookup, find-peer
// (commands_records.cpp).
const std::vector<Command>& record_commands();
// listen, unlisten, servers, connect, connections, disconnect (commands_peers.cpp).
const std::vector<Command>& connection_commands();
void print_command_help(const Command& c);

// A command's arguments: --opt VALUE options, bare --flags, positionals.
struct Args {
  std::map<std::string, std::string> options;           // the last value of each
  std::map<std::string, std::vector<std::string>> all;  // every value, for repeatable options
  std::set<std::string> flags;
  std::vector<std::string> positional;
  std::string error;  // non-empty: a usage error, already worded
};
Args parse_args(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                const std::set<std::string>& flags);

// Sends one request and reports the outcome the documented way: the result as human text (or
// one JSON line with --json), errors as one line on stderr with the matching exit code.
// Notifications go to on_note (their params) in text mode, as JSON lines with --json.
int invoke(const Global& g, const std::string& method, const nlohmann::json& params,
           const std::function<std::string(const nlohmann::json&)>& human,
           nlohmann::json* result_out = nullptr,
           const std::function<void(const nlohmann::json&)>& on_note = {});
// An error answer or a transport failure as one line on stderr; returns its exit code (kOk
// for an answer, which is not printed).
int report_failure(const std::string& method, const Outcome& outcome);
// "hdhtctl COMMAND: message (see hdhtctl COMMAND --help)" on stderr; returns kUsage.
int usage_error(const char* command, const std::string& message);

}  // namespace hdht::ctl
