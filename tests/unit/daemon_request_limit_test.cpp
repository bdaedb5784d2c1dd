// hyperdhtd's --request-rate-limit / --request-rate-burst reach every node it runs, with the
// core's defaults when not given (issue 8).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/dht_config.hpp"
#include "daemon/node_runner.hpp"
#include "daemon/options.hpp"

using namespace hdht;

namespace {

daemon::ParsedCommandLine parse(std::vector<const char*> args) {
  args.insert(args.begin(), "hyperdhtd");
  return daemon::parse_command_line(static_cast<int>(args.size()), args.data());
}

}  // namespace

TEST_CASE("daemon: the request limit options reach every node", "[daemon][ratelimit]") {
  const auto core_default = dht::RpcIoConfig{}.request_rate_limit;
  REQUIRE(core_default.burst == 1000);
  REQUIRE(core_default.per_second == 500);

  auto d = parse({"--testnet", "3", "--socket", "none"});
  REQUIRE(d.action == daemon::ParsedCommandLine::Action::run);
  CHECK(d.options.request_rate_limit.burst == core_default.burst);
  CHECK(d.options.request_rate_limit.per_second == core_default.per_second);

  auto p = parse({"--testnet", "3", "--socket", "none", "--request-rate-limit", "7",
                  "--request-rate-burst", "9"});
  REQUIRE(p.action == daemon::ParsedCommandLine::Action::run);
  const auto configs = daemon::plan_nodes(p.options);
  REQUIRE(configs.size() == 3);
  for (const auto& c : configs) {
    CHECK(c.io.request_rate_limit.per_second == 7);
    CHECK(c.io.request_rate_limit.burst == 9);
  }

  auto off = parse(
      {"--bootstrapper", "--host", "127.0.0.1", "--socket", "none", "--request-rate-limit", "0"});
  REQUIRE(off.action == daemon::ParsedCommandLine::Action::run);
  const auto one = daemon::plan_nodes(off.options);
  REQUIRE(one.size() == 1);
  CHECK(one[0].io.request_rate_limit.per_second == 0);
  CHECK(one[0].io.request_rate_limit.burst == core_default.burst);

  CHECK(parse({"--request-rate-limit", "x"}).action == daemon::ParsedCommandLine::Action::error);
}

TEST_CASE("daemon: a count option is digits only, in range", "[daemon]") {
  using Action = daemon::ParsedCommandLine::Action;
  // Boost's lexical_cast took "-1" as 4294967295 for an unsigned option.
  for (const char* bad : {"-1", "+3", "1e3", "4294967296", " 5", "5 ", "0x10", ""}) {
    INFO(bad);
    const auto r = parse({"--testnet", "3", "--socket", "none", "--max-handshakes", bad});
    CHECK(r.action == Action::error);
    CHECK(r.text.find("max-handshakes") != std::string::npos);
  }
  const auto ok = parse({"--testnet", "3", "--socket", "none", "--max-handshakes", "4294967295",
                         "--status-interval", "0"});
  REQUIRE(ok.action == Action::run);
  CHECK(ok.options.max_handshakes == 4294967295u);
  CHECK(ok.options.status_interval.count() == 0);
  CHECK(parse({"--testnet", "-2"}).action == Action::error);
  CHECK(parse({"--port", "-1", "--testnet", "2"}).action == Action::error);
}
