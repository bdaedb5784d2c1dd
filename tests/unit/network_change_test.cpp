#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "core/dht_node.hpp"
#include "core/interface_watcher.hpp"
#include "core/network_interface.hpp"
#include "dht_testnet.hpp"

using namespace hdht;
using namespace hdht::dht;
using namespace hdht::dht::testnet;
using namespace std::chrono_literals;

TEST_CASE("the system interface list has loopback", "[unit][network-change]") {
  const auto list = core::list_system_interfaces();
  bool loopback = false;
  for (const auto& i : list)
    loopback |= i.internal && i.host == "127.0.0.1" && i.family == 4;
  CHECK(loopback);
}

TEST_CASE("a node emits network-change then network-update when its interfaces change",
          "[unit][network-change]") {
  core::SimNetwork net(7);
  const auto ip = host_ip(1);
  net.add_host(ip);
  core::SimRuntime rt(net, ip);
  DhtNode node(rt, DhtConfig::bootstrapper(kPort, {ip, kPort}));
  std::vector<std::vector<core::NetworkInterface>> changes;
  std::vector<std::string> order;
  node.events().network_change = [&](const std::vector<core::NetworkInterface>& list) {
    changes.push_back(list);
    order.push_back("network-change");
  };
  node.events().network_update = [&] { order.push_back("network-update"); };
  REQUIRE(node.start().has_value());
  net.run_for(12s);
  CHECK(changes.empty());  // polling an unchanged list reports nothing

  std::vector<core::NetworkInterface> moved = {{"lo", "127.0.0.1", 4, true},
                                               {"wlan0", "192.168.1.20", 4, false}};
  net.set_interfaces(ip, moved);
  net.run_for(2s);  // polls run at 5, 10, 15 s after start: now 14 s
  CHECK(changes.empty());
  net.run_for(2s);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0] == moved);
  REQUIRE(order.size() >= 2);
  CHECK(order[0] == "network-change");
  CHECK(order[1] == "network-update");
  net.run_for(20s);
  CHECK(changes.size() == 1);  // one change, one event

  // A suspended node does not watch; resuming takes the list as it is then as the baseline.
  node.suspend();
  net.set_interfaces(ip, {{"lo", "127.0.0.1", 4, true}});
  net.run_for(20s);
  CHECK(changes.size() == 1);
  REQUIRE(node.resume().has_value());
  net.run_for(20s);
  CHECK(changes.size() == 1);
  net.set_interfaces(ip, moved);
  net.run_for(6s);
  CHECK(changes.size() == 2);

  node.destroy();
  net.set_interfaces(ip, {});
  net.run_for(20s);
  CHECK(changes.size() == 2);  // nothing after destroy
}

TEST_CASE("a stopped watcher never calls back", "[unit][network-change]") {
  core::SimNetwork net(8);
  const auto ip = host_ip(2);
  net.add_host(ip);
  core::SimRuntime rt(net, ip);
  int calls = 0;
  core::InterfaceWatcher w(rt, 1000ms, [&](const auto&) { ++calls; });
  w.start();
  CHECK(w.interfaces().size() == 2);
  net.set_interfaces(ip, {});
  w.stop();
  net.run_for(5s);
  CHECK(calls == 0);
  w.start();  // baseline is now the empty list
  net.run_for(5s);
  CHECK(calls == 0);
  net.set_interfaces(ip, {{"eth1", "10.9.9.9", 4, false}});
  net.run_for(1500ms);
  CHECK(calls == 1);
}
