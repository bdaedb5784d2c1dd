// hyperdhtd's --request-rate-limit / --request-rate-burst reach every node it runs, with the
// core's defaults when not given (issue 8).
#include <catch2/catch.hpp>

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
