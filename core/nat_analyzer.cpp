#include "core/nat_analyzer.hpp"

#include <unordered_map>
#include <utility>

#include "core/dht_node.hpp"
#include "core/rpc_io.hpp"

namespace hdht::hyperdht {

const char* firewall_name(Firewall f) noexcept {
  switch (f) {
    case Firewall::unknown:
      return "UNKNOWN";
    case Firewall::open:
      return "OPEN";
    case Firewall::consistent:
      return "CONSISTENT";
    case Firewall::random:
      return "RANDOM";
  }
  return "UNKNOWN";
}

// Named, not anonymous: NatAnalyzer::Impl holds Samples, and in a unity build (HDHT_UNITY) GCC
// refuses an externally visible class with a field of an anonymous-namespace type.
namespace nat_samples {

struct Sample {
  Ipv4Address addr;  // port 0 in the per-host list
  int hits = 0;
};

}  // namespace nat_samples
using nat_samples::Sample;

namespace {

// The reference's addSample: count a hit and bubble the sample up past those with fewer hits,
// so the list stays ordered by hits with ties in order of first appearance.
void add_sample(std::vector<Sample>& samples, const Ipv4Address& addr) {
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].addr != addr) continue;
    ++samples[i].hits;
    for (; i > 0; --i) {
      if (samples[i - 1].hits >= samples[i].hits) return;
      std::swap(samples[i - 1], samples[i]);
    }
    return;
  }
  samples.push_back({addr, 1});
}

std::uint64_t visit_key(const Ipv4Address& a) {
  return std::uint64_t{a.ip_u32()} << 16 | a.port;
}

}  // namespace

struct NatAnalyzer::Impl {
  Impl(NatAnalyzer& o, dht::DhtNode& n, core::DatagramSocket& s) : self(o), node(n), socket(s) {}

  void auto_sample(bool retry);
  void on_skip();
  void update();
  void update_firewall();
  void update_addresses();
  void resolve();

  NatAnalyzer& self;
  dht::DhtNode& node;
  core::DatagramSocket& socket;
  std::vector<Sample> samples_host;
  std::vector<Sample> samples_full;
  std::unordered_map<std::uint64_t, int> visited;  // 1: pinged, 2: sampled
  int min_samples = 4;
  bool auto_sampling = false;
  bool retry = false;
  int pending = 0;
  std::vector<dht::RequestHandle> pings;
  std::vector<std::function<void()>> waiters;
  std::shared_ptr<int> alive = std::make_shared<int>(0);
};

NatAnalyzer::NatAnalyzer(dht::DhtNode& node, core::DatagramSocket& socket)
    : impl_(std::make_unique<Impl>(*this, node, socket)),
      firewall_(node.firewalled() ? Firewall::unknown : Firewall::open) {}

NatAnalyzer::~NatAnalyzer() = default;

void NatAnalyzer::auto_sample() {
  impl_->auto_sample(true);
}

void NatAnalyzer::Impl::auto_sample(bool may_retry) {
  if (auto_sampling) return;
  auto_sampling = true;
  retry = may_retry;
  const int max_pings = min_samples;
  // The newest nodes are skipped when there are enough: they are the likeliest to be the ones
  // the node's own sampler just used, and fresh observers make a better sample.
  int skip = node.nodes().size() >= 8 ? 5 : 0;

  for (const Ipv4Address& addr : node.to_array()) {
    if (self.sampled_ + pending >= max_pings) break;
    if (skip > 0) {
      --skip;
      continue;
    }
    if (visited.contains(visit_key(addr))) continue;
    visited[visit_key(addr)] = 1;
    ++pending;
    dht::RequestCallbacks cb;
    const std::weak_ptr<int> guard = alive;
    cb.on_response = [this, guard](const dht::Reply& r) {
      if (guard.expired()) return;
      self.add(r.to, r.from.addr);
      if (!guard.expired()) on_skip();
    };
    cb.on_error = [this, guard](std::error_code) {
      if (!guard.expired()) on_skip();
    };
    pings.push_back(node.ping(addr, std::move(cb), 0, &socket));
  }

  ++pending;
  on_skip();
}

void NatAnalyzer::Impl::on_skip() {
  if (--pending != 0 || self.sampled_ >= min_samples) return;
  if (retry) {
    auto_sampling = false;
    auto_sample(false);
    return;
  }
  resolve();
}

void NatAnalyzer::add(const Ipv4Address& to, const Ipv4Address& from) {
  Impl& m = *impl_;
  int& seen = m.visited[visit_key(from)];
  if (seen == 2) return;
  seen = 2;
  add_sample(m.samples_host, Ipv4Address{to.ip, 0});
  add_sample(m.samples_full, to);
  if ((++sampled_ >= 3 || !m.node.firewalled()) && !frozen_) m.update();
  if (firewall_ == Firewall::consistent || firewall_ == Firewall::open) {
    m.resolve();
  } else if (sampled_ >= m.min_samples) {
    m.resolve();
  }
}

void NatAnalyzer::unfreeze() {
  frozen_ = false;
  impl_->update_firewall();
  impl_->update_addresses();
}

void NatAnalyzer::destroy() {
  impl_->auto_sampling = true;
  impl_->min_samples = 0;
  impl_->resolve();
}

void NatAnalyzer::on_analyzed(std::function<void()> fn) {
  if (analyzed_) {
    fn();
    return;
  }
  impl_->waiters.push_back(std::move(fn));
}

void NatAnalyzer::Impl::update() {
  if (node.firewalled() && self.firewall_ == Firewall::open) self.firewall_ = Firewall::unknown;
  update_firewall();
  update_addresses();
}

void NatAnalyzer::Impl::update_firewall() {
  if (!node.firewalled()) {
    self.firewall_ = Firewall::open;
    return;
  }
  if (self.sampled_ < 3) return;
  const int max = samples_full[0].hits;
  if (max >= 3) {
    self.firewall_ = Firewall::consistent;
    return;
  }
  if (max == 1) {
    self.firewall_ = Firewall::random;
    return;
  }
  // max == 2. One host and two samples that disagree with the pair: the ports are random.
  if (samples_host.size() == 1 && self.sampled_ > 3) {
    self.firewall_ = Firewall::random;
    return;
  }
  // A double hit on two different hosts: assume consistent.
  if (samples_host.size() > 1 && samples_full[1].hits > 1) {
    self.firewall_ = Firewall::consistent;
    return;
  }
  // More than all the samples we expect and still no decision: assume random.
  if (self.sampled_ > 4) self.firewall_ = Firewall::random;
}

void NatAnalyzer::Impl::update_addresses() {
  auto& out = self.addresses_;
  switch (self.firewall_) {
    case Firewall::unknown:
      out.reset();
      return;
    case Firewall::random:
      out = std::vector<Ipv4Address>{samples_host[0].addr};
      return;
    case Firewall::consistent:
      out.emplace();
      for (const Sample& s : samples_full)
        if (s.hits >= 2 || out->size() < 2) out->push_back(s.addr);
      return;
    case Firewall::open:
      return;  // the reference leaves them as they were
  }
}

void NatAnalyzer::Impl::resolve() {
  if (self.analyzed_) return;
  self.analyzed_ = true;
  // Every caller calls this last, so a waiter may replace or destroy the analyzer.
  const std::weak_ptr<int> guard = alive;
  auto list = std::move(waiters);
  waiters.clear();
  for (auto& fn : list) {
    if (guard.expired()) return;
    fn();
  }
}

}  // namespace hdht::hyperdht
