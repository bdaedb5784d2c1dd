// DhtNode: bootstrapping, the firewall probe and the ephemeral -> persistent decision (dht-rpc
// 6.27 index.js _bootstrap, _backgroundQuery, _updateNetworkState, _checkIfFirewalled,
// _resolveBootstrapNodes).
#include <algorithm>

#include <boost/asio/ip/udp.hpp>

#include "core/dht_node.hpp"
#include "core/dht_node_impl.hpp"
#include "protocol/node_id.hpp"

namespace hdht::dht {

namespace cmd = rpc::command;

namespace {

Bytes uint16_le(std::uint16_t v) {
  return Bytes{static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
}

}  // namespace

std::uint16_t DhtNode::Impl::server_port() const {
  const DatagramSocket* s = n.io_->server_socket();
  return s != nullptr ? s->local_address().port : 0;
}

// ---------------------------------------------------------------------------------------------
// Bootstrap: up to two background FIND_NODE rounds for our own id, with the quick firewall
// check on the first reply, then 'ready'.

void DhtNode::Impl::start_bootstrap() {
  boot_first = n.firewalled_ && n.config_.quick_firewall && !force_persistent;
  boot_test_nat = false;
  boot_round = 0;
  bootstrap_round();
}

void DhtNode::Impl::bootstrap_round() {
  background_query(
      n.table_->id(), [this](const Reply& r) { on_bootstrap_data(r); },
      [this](std::error_code ec) { bootstrap_round_done(ec); });
}

void DhtNode::Impl::on_bootstrap_data(const Reply& reply) {
  // One positive PING_NAT from the first responder makes the node test its NAT even when
  // adaptive; if it fails, the stable-ticks check catches up later.
  if (!boot_first) return;
  boot_first = false;
  RequestSpec spec = internal_spec(reply.from.addr, cmd::kPingNat, uint16_le(server_port()));
  spec.to_id = reply.from.id;
  send(
      std::move(spec), [this](const Reply&) { boot_test_nat = true; }, nullptr);
}

void DhtNode::Impl::bootstrap_round_done(std::error_code ec) {
  if (ec) return;  // the node was destroyed: the reference's _bootstrap rejects, no 'ready'
  ++boot_round;
  if (n.bootstrapped_ || (!boot_test_nat && !force_persistent)) return bootstrap_finish();
  update_network_state(!force_persistent, [this](bool ok) {
    if (!ok || boot_round >= 2) return bootstrap_finish();
    bootstrap_round();
  });
}

void DhtNode::Impl::bootstrap_finish() {
  if (n.bootstrapped_) return;
  n.bootstrapped_ = true;
  if (n.events_.ready) n.events_.ready();
}

void DhtNode::Impl::background_query(const Bytes32& target, OkFn on_data, ErrFn done) {
  refresh_ticks = n.config_.refresh_ticks;
  const std::size_t c = n.config_.concurrency;
  const std::size_t bg = std::min(c, std::max<std::size_t>(2, c / 8));
  QueryOptions opts;
  opts.concurrency = bg;
  const std::uint64_t key = next_key++;
  auto q = std::make_unique<Query>(n, target, true, cmd::kFindNode, std::nullopt, std::move(opts));
  Query* qp = q.get();
  ++n.stats_.queries_total;
  qp->on_reply([this, qp, c, bg, on_data = std::move(on_data)](const Reply& r) {
    qp->set_concurrency(n.io_->inflight() < 3 ? c : bg);  // yield to other traffic
    if (on_data) on_data(r);
  });
  qp->on_done([this, key, done = std::move(done)](std::error_code ec) {
    auto self = std::move(background[key]);  // dies at the end of this call (allowed)
    background.erase(key);
    if (done) done(ec);
  });
  background.emplace(key, std::move(q));
  qp->start();
}

// ---------------------------------------------------------------------------------------------
// _updateNetworkState

void DhtNode::Impl::update_network_state(bool only_firewall, BoolFn done) {
  auto finish = [&done](bool v) {
    if (done) done(v);
  };
  if (!n.ephemeral_) return finish(false);
  if (only_firewall && !n.firewalled_) return finish(false);

  const auto host = n.nat_.host();
  const std::uint16_t port = n.nat_.port();
  if (!only_firewall) {
    stable_ticks = n.config_.more_stable_ticks;  // remember what network we checked
    last_host = host;
  }
  if (!host || port == 0) return finish(false);

  if (!n.firewalled_) {
    network_state_probed(only_firewall, false, *host, port, false, nullptr, done);
    return;
  }
  // Ask remote nodes to PING_NAT our server socket, sampling into a fresh sampler.
  check_if_firewalled(
      [this, only_firewall, h = *host, port, done](bool firewalled, const NatSampler& sampler) {
        network_state_probed(only_firewall, true, h, port, firewalled, &sampler, done);
      });
}

void DhtNode::Impl::network_state_probed(bool only_firewall, bool was_firewalled, Ipv4Host host,
                                         std::uint16_t port, bool firewalled,
                                         const NatSampler* probe, const BoolFn& done) {
  auto finish = [&done](bool v) {
    if (done) done(v);
  };
  if (firewalled) return finish(false);
  n.firewalled_ = false;
  n.io_->set_firewalled(false);

  // Called in parallel, or our NAT changed meanwhile.
  if (!n.ephemeral_ || n.nat_.host() != host || n.nat_.port() != port) return finish(false);
  const NatSampler& sampler = was_firewalled ? *probe : n.nat_;
  if (sampler.host() != host || sampler.port() == 0) return finish(false);

  const Bytes32 id = rpc::node_id(Ipv4Address{*sampler.host(), sampler.port()});
  if (!only_firewall) {
    n.ephemeral_ = false;
    n.io_->set_ephemeral(false);
  }
  if (was_firewalled) {
    const auto prev_host = n.nat_.host();
    const auto prev_port = n.nat_.port();
    none_persistent_samples.clear();
    n.nat_ = *probe;
    if (prev_host != n.nat_.host() || prev_port != n.nat_.port()) {
      if (n.events_.nat_update) n.events_.nat_update(n.nat_address());
    }
  }
  if (n.table_->id() != id) {
    rebuild_table(id);
    if (n.bootstrapped_) n.refresh();  // re-announce under the new id
  }
  if (!n.ephemeral_ && n.events_.persistent) n.events_.persistent();
  finish(true);
}

void DhtNode::Impl::rebuild_table(const Bytes32& id) {
  const std::vector<const Node*> old_nodes = n.table_->to_array();
  std::vector<Node> copies;
  copies.reserve(old_nodes.size());
  for (const Node* node : old_nodes)
    copies.push_back(*node);

  auto table = std::make_unique<RoutingTable>(id, n.table_->k());
  n.io_->set_table(table.get());
  n.table_ = std::move(table);
  row_created.reset();
  row_listened.reset();
  for (const Node& node : copies) {
    if (node.id == id) {
      // The JS keeps it in `nodes` without a table entry; an id-keyed list cannot.
      n.nodes_.remove(node.id);
      continue;
    }
    // No 'row' listener during the copy: these rows never report 'full'.
    row_created[n.table_->bucket_index(node.id)] = true;
    if (n.table_->add(node) == RoutingTable::AddResult::full) n.nodes_.remove(node.id);
  }
}

// ---------------------------------------------------------------------------------------------
// _checkIfFirewalled: up to 5 recent nodes (plus the bootstrap nodes when fewer) PING_NAT our
// server socket; enough replies that really arrived there, from one consistent address whose
// port is our local port, mean we are reachable.

void DhtNode::Impl::check_if_firewalled(
    std::function<void(bool firewalled, const NatSampler&)> done) {
  auto probe = std::make_shared<FirewallProbe>();
  probe->done = std::move(done);
  for (const Bytes32& id : n.nodes_.ids(5, true)) {
    if (const Node* node = n.table_->get(id)) probe->nodes.push_back({node->id, node->addr});
  }
  if (probe->nodes.size() >= 5) return probe_firewall(probe);
  resolve_bootstrap([this, probe](std::vector<NodeRef> boot) {
    for (auto& b : boot)
      probe->nodes.push_back(std::move(b));
    probe_firewall(probe);
  });
}

void DhtNode::Impl::probe_firewall(const std::shared_ptr<FirewallProbe>& probe) {
  if (probe->nodes.empty()) return probe->done(true, probe->sampler);
  probes.push_back(probe);
  probe->missing = probe->nodes.size();
  const Bytes value = uint16_le(server_port());
  for (const NodeRef& node : probe->nodes) {
    RequestSpec spec = internal_spec(node.addr, cmd::kPingNat, value);
    spec.to_id = node.id;
    const bool sent = send(
        std::move(spec),
        [this, probe](const Reply& r) {
          probe->replies.push_back(r);
          if (--probe->missing == 0) finish_probe(probe);
        },
        [this, probe](std::error_code) {
          if (--probe->missing == 0) finish_probe(probe);
        });
    if (!sent) return finish_probe(probe);
  }
}

void DhtNode::Impl::finish_probe(const std::shared_ptr<FirewallProbe>& probe) {
  if (probe->finished) return;
  probe->finished = true;
  std::erase(probes, probe);

  int count = 0;
  for (const Reply& r : probe->replies) {
    if (!probe->hosts.contains(r.from.addr.ip_u32())) continue;
    ++count;
    probe->sampler.add(r.to);
  }
  const NatSampler& s = probe->sampler;
  bool firewalled = false;
  if (count < (probe->nodes.size() >= 5 ? 3 : 1)) {
    firewalled = true;  // no or very few replies: a fluke
  } else if (!s.host() || n.nat_.host() != s.host()) {
    firewalled = true;  // the server socket must show the client socket's host
  } else if (s.port() == 0 || s.port() != server_port()) {
    firewalled = true;  // and our local port, unmapped
  }
  probe->done(firewalled, probe->sampler);
}

// ---------------------------------------------------------------------------------------------
// _resolveBootstrapNodes: entries in order; "suggested@host" pings the suggested IP first;
// hostnames go through DNS; entries that fail are skipped. `done` never runs inline.

void DhtNode::Impl::resolve_bootstrap(std::function<void(std::vector<NodeRef>)> done) {
  resolve_entry(std::make_shared<std::vector<NodeRef>>(), 0, std::move(done));
}

void DhtNode::Impl::resolve_entry(std::shared_ptr<std::vector<NodeRef>> out, std::size_t i,
                                  std::function<void(std::vector<NodeRef>)> done) {
  const auto& entries = n.config_.bootstrap;
  if (i >= entries.size()) {
    defer([out, done = std::move(done)] { done(std::move(*out)); });
    return;
  }
  const BootstrapEntry& e = entries[i];
  auto next = [this, out, i, done](std::optional<Ipv4Address> addr) {
    if (addr) out->push_back({rpc::node_id(*addr), *addr});
    resolve_entry(out, i + 1, done);
  };
  if (!e.suggested) return lookup_host(e, e.host, next);

  const auto ip = Ipv4Address::parse_host(*e.suggested);
  const Ipv4Address suggested{ip.value_or(Ipv4Host{}), e.port};
  const bool sent = send(
      internal_spec(suggested, cmd::kPing), [next, suggested](const Reply&) { next(suggested); },
      [this, i, next](std::error_code) {
        const BootstrapEntry& entry = n.config_.bootstrap[i];
        lookup_host(entry, entry.host, next);
      });
  if (!sent) lookup_host(e, e.host, next);
}

void DhtNode::Impl::lookup_host(const BootstrapEntry& e, const std::string& host,
                                std::function<void(std::optional<Ipv4Address>)> done) {
  if (auto ip = Ipv4Address::parse_host(host)) {
    done(Ipv4Address{*ip, e.port});
    return;
  }
  namespace ip = boost::asio::ip;
  auto resolver = std::make_shared<ip::udp::resolver>(n.runtime_.executor());
  resolvers.push_back(resolver);
  auto it = std::prev(resolvers.end());
  std::weak_ptr<int> guard = alive;
  const std::uint16_t port = e.port;
  resolver->async_resolve(
      ip::udp::v4(), host, std::to_string(port),
      [this, guard, it, port, done = std::move(done)](const boost::system::error_code& ec,
                                                      ip::udp::resolver::results_type results) {
        if (guard.expired()) return;
        auto keep = *it;  // the resolver must outlive its own handler
        resolvers.erase(it);
        if (ec || results.empty()) return done(std::nullopt);
        const auto bytes = results.begin()->endpoint().address().to_v4().to_bytes();
        done(Ipv4Address{{bytes[0], bytes[1], bytes[2], bytes[3]}, port});
      });
}

}  // namespace hdht::dht
