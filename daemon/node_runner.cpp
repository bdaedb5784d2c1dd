#include "daemon/node_runner.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/bytes.hpp"

namespace hdht::daemon {

namespace {

constexpr std::array<std::uint8_t, 4> kLoopback{127, 0, 0, 1};
// A node whose bootstrap nodes did not answer still counts as bootstrapped (as in dht-rpc), and
// the reference asks them again only every 8 ticks (40 s). A daemon started before its network
// (boot order, a bootstrap node restarting) should join within seconds of it coming up: one
// FIND_NODE per bootstrap address per interval while the table is empty, checked every second
// so that the join (and the intents waiting for it) is noticed soon after the answer.
constexpr auto kRejoinInterval = std::chrono::seconds(5);
constexpr auto kRejoinCheck = std::chrono::seconds(1);

std::string describe_address(const std::optional<Ipv4Address>& a) {
  return a ? a->to_string() : std::string("unknown");
}

}  // namespace

std::vector<dht::DhtConfig> plan_nodes(const DaemonOptions& o,
                                       const std::vector<Ipv4Address>& known) {
  std::vector<dht::DhtConfig> out;
  const auto host = Ipv4Address::parse_host(o.host).value_or(std::array<std::uint8_t, 4>{});
  switch (o.mode) {
    case Mode::bootstrapper: {
      auto c = dht::DhtConfig::bootstrapper(o.port, {host, o.port});
      // The public address need not be local (a NAT in front); only a loopback one is bound.
      c.io.bind_host = {host[0] == 127 ? host : std::array<std::uint8_t, 4>{}, 0};
      out.push_back(std::move(c));
      break;
    }
    case Mode::testnet: {
      auto first = dht::DhtConfig::bootstrapper(o.port, {kLoopback, o.port});
      first.io.bind_host = {kLoopback, 0};
      out.push_back(std::move(first));
      dht::BootstrapEntry entry;
      entry.host = "127.0.0.1";
      entry.port = o.port;
      // Like hyperdht/testnet.js: persistent and not firewalled from the start.
      while (out.size() < o.nodes) {
        dht::DhtConfig c;
        c.bootstrap = {entry};
        c.io.bind_host = {kLoopback, 0};
        c.io.port = 0;
        c.ephemeral = false;
        c.io.firewalled = false;
        out.push_back(std::move(c));
      }
      break;
    }
    case Mode::nodes: {
      for (unsigned i = 0; i < o.nodes; ++i) {
        dht::DhtConfig c;
        c.bootstrap = o.bootstrap;
        c.io.bind_host = {host, 0};
        c.io.port = o.port;
        c.io.any_port = !o.port_given;
        c.nodes = known;
        if (o.persistent) c.ephemeral = false;
        if (o.ephemeral) c.ephemeral = true;
        if (o.not_firewalled) c.io.firewalled = false;
        out.push_back(std::move(c));
      }
      break;
    }
  }
  for (auto& c : out)
    c.io.request_rate_limit = o.request_rate_limit;
  return out;
}

NodeRunner::NodeRunner(core::Runtime& runtime, std::vector<dht::DhtConfig> configs,
                       std::chrono::seconds status_interval,
                       std::function<void(std::string)> on_fatal)
    : runtime_(runtime),
      configs_(std::move(configs)),
      status_interval_(status_interval),
      on_fatal_(std::move(on_fatal)),
      status_timer_(runtime),
      rejoin_timer_(runtime) {}

NodeRunner::~NodeRunner() {
  destroy();
}

Result<void> NodeRunner::start() {
  if (configs_.empty()) return {};
  arm_status();
  return start_node(0);
}

Result<void> NodeRunner::start_node(std::size_t i) {
  hyperdht::HyperDhtConfig hc;
  hc.dht = configs_[i];
  auto node = std::make_unique<hyperdht::HyperDhtNode>(runtime_, std::move(hc));
  auto* n = &node->dht();
  auto& ev = n->events();
  ev.ready = [this, i] { on_ready(i); };
  ev.network_update = [this] {
    if (on_change_) on_change_();
  };
  ev.persistent = [this, i, n] {
    spdlog::info("node {} is persistent, joining remote routing tables (id {})", i,
                 n->id() ? to_hex(*n->id()) : std::string("?"));
    if (on_change_) on_change_();
  };
  ev.ephemeral = [i] { spdlog::info("node {} is ephemeral again", i); };
  ev.nat_update = [i](std::optional<Ipv4Address> nat) {
    spdlog::debug("node {} public address: {}", i, describe_address(nat));
  };
  hyper_.push_back(std::move(node));
  nodes_.push_back(n);
  alone_.push_back(false);
  if (auto r = n->start(); !r) return r;
  spdlog::debug("node {} bound to {}", i, describe_address(n->address()));
  return {};
}

void NodeRunner::on_ready(std::size_t i) {
  if (destroyed_) return;
  const auto& n = *nodes_[i];
  spdlog::info(
      "node {} bootstrapped: bound {}, public address {}, firewalled={}, persistent={}, "
      "table {}",
      i, describe_address(n.address()), describe_address(n.nat_address()), n.firewalled(),
      !n.ephemeral(), n.table().size());
  ++ready_;
  if (n.table().size() == 0 && !configs_[i].bootstrap.empty()) {
    std::string addrs;
    for (const auto& b : configs_[i].bootstrap)
      addrs += (addrs.empty() ? "" : ", ") + b.to_string();
    spdlog::warn(
        "node {} reached no other node: no bootstrap node answered ({}); asking again every {} s",
        i, addrs, kRejoinInterval.count());
    alone_[i] = true;
    arm_rejoin();
  }
  if (nodes_.size() < configs_.size() && i + 1 == nodes_.size()) {
    if (auto r = start_node(i + 1); !r) {
      const std::string msg =
          "node " + std::to_string(i + 1) + " cannot bind: " + r.error().message();
      if (on_fatal_) on_fatal_(msg);
      return;
    }
  }
  if (ready_ == configs_.size()) {
    const auto persistent =
        std::count_if(nodes_.begin(), nodes_.end(), [](const auto& p) { return !p->ephemeral(); });
    spdlog::info("all {} nodes bootstrapped ({} persistent)", configs_.size(), persistent);
  }
  if (on_change_) on_change_();
}

void NodeRunner::arm_status() {
  if (status_interval_.count() == 0) return;
  status_timer_.expires_after(status_interval_, [this] {
    log_status();
    if (on_change_) on_change_();
    arm_status();
  });
}

void NodeRunner::arm_rejoin() {
  rejoin_timer_.expires_after(kRejoinCheck, [this] {
    const bool ask = ++rejoin_checks_ % (kRejoinInterval / kRejoinCheck) == 0;
    bool waiting = false;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!alone_[i]) continue;
      if (const auto size = nodes_[i]->table().size(); size > 0) {
        alone_[i] = false;
        spdlog::info("node {} joined the network: table {}", i, size);
        if (on_change_) on_change_();
        continue;
      }
      if (ask) nodes_[i]->refresh();  // with an empty table the query asks the bootstrap nodes
      waiting = true;
    }
    if (waiting) arm_rejoin();
  });
}

void NodeRunner::set_status_interval(std::chrono::seconds interval) {
  status_interval_ = interval;
  status_timer_.cancel();
  if (!destroyed_) arm_status();
}

NodeRunner::Summary NodeRunner::summary() const {
  Summary s;
  s.nodes = nodes_.size();
  s.planned = configs_.size();
  s.min_table = nodes_.empty() ? 0 : SIZE_MAX;
  for (const auto& n : nodes_) {
    s.bootstrapped += n->bootstrapped();
    s.persistent += !n->ephemeral();
    s.firewalled += n->firewalled();
    s.min_table = std::min(s.min_table, n->table().size());
    s.max_table = std::max(s.max_table, n->table().size());
  }
  return s;
}

void NodeRunner::log_status() const {
  std::size_t boot = 0, persistent = 0, firewalled = 0, min_table = SIZE_MAX, max_table = 0;
  for (const auto& n : nodes_) {
    boot += n->bootstrapped();
    persistent += !n->ephemeral();
    firewalled += n->firewalled();
    min_table = std::min(min_table, n->table().size());
    max_table = std::max(max_table, n->table().size());
  }
  if (nodes_.empty()) min_table = 0;
  spdlog::info("status: {} nodes, {} bootstrapped, {} persistent, {} firewalled, table size {}..{}",
               nodes_.size(), boot, persistent, firewalled, min_table, max_table);
}

void NodeRunner::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  status_timer_.cancel();
  rejoin_timer_.cancel();
  for (auto& n : nodes_)
    n->destroy();
}

}  // namespace hdht::daemon
