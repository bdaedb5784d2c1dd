// A scripted network for testing dht::Query without sockets or a node: a QueryHost whose
// requests are answered (or time out) on a virtual clock, in a fully deterministic order.
// tests/interop/kinds/query.js implements the same simulation around the real JS Query, so the
// two traces can be compared event for event; keep the two in step.
//
// Timing model (per request sent at time t): each transmission waits `timeout` ms; at the end of
// one the request's on_cycle runs, then it fails with REQUEST_TIMEOUT if transmissions > retries,
// else it is re-sent. A responding node's reply arrives at t + latency if the request is still
// alive. Events are ordered by (time, sequence number of scheduling). DOWN_HINTs are recorded
// and never answered.
//
// Test-only code, header-only so that both the unit tests and the codec tool can use it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/query.hpp"
#include "core/routing_table.hpp"
#include "core/rpc_errors.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"

namespace hdht::querysim {

struct SimNode {
  bool responds = true;
  std::int64_t latency = 100;  // ms until the reply
  std::uint64_t error = 0;
  bool has_id = true;  // false: an ephemeral responder (reply.from.id absent)
  std::optional<Bytes32> token;
  bool has_closer = true;
  std::vector<Ipv4Address> closer;
  // Scripted commit ('fn' mode) or automatic-commit request ('auto' mode: !commit_ok = silent).
  std::int64_t commit_latency = 50;
  bool commit_ok = true;
};

struct SentRequest {
  std::int64_t time = 0;
  char kind = 'v';  // v = visit, h = down hint, c = commit request, C = scripted commit call
  dht::RequestSpec spec;
};

// Errors of scripted commits: value = 1 + index into QuerySim::commit_failures.
inline const std::error_category& sim_commit_category() {
  struct Category final : std::error_category {
    const char* name() const noexcept override { return "sim-commit"; }
    std::string message(int) const override { return "scripted commit failure"; }
  };
  static const Category c;
  return c;
}

class QuerySim final : public dht::QueryHost {
 public:
  QuerySim(const Bytes32& table_id, std::size_t k) : table_(table_id, k) {}

  // --- the scripted world ---
  std::unordered_map<Ipv4Address, SimNode> nodes;
  // Per-target answers (the unit tests' "true closest" views); overrides SimNode::closer.
  std::function<std::vector<Ipv4Address>(const Ipv4Address& node, const Bytes32& target)> closer_fn;
  std::vector<dht::NodeRef> bootstrap;
  std::set<Ipv4Address> filtered;
  long down_hint_limit = 50;  // -1 = unlimited
  long down_hints_taken = 0;  // the node's per-tick counter
  bool hints_enabled = true;
  std::size_t concurrency = 10;
  std::optional<std::size_t> destroy_after;  // the node dies after this many requests
  std::int64_t timeout = 1000;

  dht::RoutingTable& table_mut() { return table_; }
  void add_to_table(const Ipv4Address& a) {
    dht::Node n;
    n.id = rpc::node_id(a);
    n.addr = a;
    table_.add(n);
  }

  // --- what happened ---
  std::vector<SentRequest> requests;
  std::vector<Ipv4Address> commit_failures;
  std::size_t bootstrap_calls = 0;
  std::size_t callbacks_run = 0;  // request callbacks invoked (including ignored late ones)

  std::int64_t now() const { return now_; }

  // --- QueryHost ---
  const dht::RoutingTable& table() const override { return table_; }
  std::size_t default_concurrency() const override { return concurrency; }
  bool filter_node(const Ipv4Address& addr) const override { return !filtered.contains(addr); }
  bool take_down_hint_budget() override {
    if (down_hint_limit != -1 && down_hints_taken >= down_hint_limit) return false;
    ++down_hints_taken;
    return true;
  }
  bool send_down_hints() const override { return hints_enabled; }
  bool node_destroyed() const override { return destroy_after && created_ >= *destroy_after; }

  void resolve_bootstrap_nodes(std::function<void(std::vector<dht::NodeRef>)> done) override {
    ++bootstrap_calls;
    bootstrap_done_ = std::move(done);
  }

  dht::RequestHandle send_request(dht::RequestSpec spec, dht::RequestCallbacks cb) override {
    if (node_destroyed()) return {};
    ++created_;
    const bool hint = spec.internal && spec.command == rpc::command::kDownHint && !spec.target;
    const char kind = hint ? 'h' : spec.token ? 'c' : 'v';
    requests.push_back({now_, kind, spec});
    if (hint) return {};

    const std::uint64_t id = next_req_++;
    Req& r = reqs_[id];
    r.spec = std::move(spec);
    r.cb = std::move(cb);
    r.sent = 1;
    auto node = nodes.find(r.spec.to);
    if (node != nodes.end()) {
      const bool answers = kind == 'c' ? node->second.commit_ok : node->second.responds;
      const std::int64_t latency = kind == 'c' ? node->second.commit_latency : node->second.latency;
      if (answers) schedule(now_ + latency, Event::reply, id);
    }
    schedule(now_ + timeout, Event::cycle, id);
    return {};
  }

  // The 'fn' commit mode: each call is recorded and settles after the node's commit_latency.
  dht::CommitFn scripted_commit() {
    return [this](const dht::Reply& reply, std::function<void(std::error_code)> done) {
      dht::RequestSpec spec;
      spec.to = reply.from.addr;
      requests.push_back({now_, 'C', spec});
      const std::uint64_t id = next_req_++;
      commits_[id] = std::move(done);
      auto node = nodes.find(reply.from.addr);
      const SimNode def;
      const SimNode& n = node == nodes.end() ? def : node->second;
      if (!n.commit_ok) {
        commit_failures.push_back(reply.from.addr);
        commit_errors_[id] =
            std::error_code(static_cast<int>(commit_failures.size()), sim_commit_category());
      }
      schedule(now_ + n.commit_latency, Event::commit, id);
    };
  }

  // Runs the next thing that happens; false when nothing is left.
  bool step() {
    if (bootstrap_done_) {
      auto done = std::move(bootstrap_done_);
      bootstrap_done_ = nullptr;
      std::vector<dht::NodeRef> list = bootstrap;
      done(std::move(list));
      return true;
    }
    while (!events_.empty()) {
      const Event e = events_.top();
      events_.pop();
      if (e.kind == Event::commit) {
        auto it = commits_.find(e.req);
        if (it == commits_.end()) continue;
        now_ = e.time;
        auto done = std::move(it->second);
        commits_.erase(it);
        std::error_code ec;
        if (auto er = commit_errors_.find(e.req); er != commit_errors_.end()) ec = er->second;
        ++callbacks_run;
        done(ec);
        return true;
      }
      auto it = reqs_.find(e.req);
      if (it == reqs_.end()) continue;
      now_ = e.time;
      if (e.kind == Event::reply) {
        dht::RequestCallbacks cb = std::move(it->second.cb);
        const dht::RequestSpec spec = it->second.spec;
        reqs_.erase(it);
        ++callbacks_run;
        if (cb.on_response) cb.on_response(make_reply(spec));
        return true;
      }
      // A transmission timed out.
      Req& r = it->second;
      ++callbacks_run;
      if (r.cb.on_cycle) {
        auto hook = r.cb.on_cycle;
        hook();
      }
      it = reqs_.find(e.req);  // the hook cannot remove it, but stay safe
      if (it == reqs_.end()) return true;
      if (it->second.sent > it->second.spec.retries) {
        auto on_error = std::move(it->second.cb.on_error);
        reqs_.erase(it);
        if (on_error) on_error(make_error_code(dht::RpcErrc::request_timeout));
      } else {
        ++it->second.sent;
        schedule(now_ + timeout, Event::cycle, e.req);
      }
      return true;
    }
    return false;
  }

  // Steps until pred() holds or nothing is left; bounded so a broken query cannot hang a test.
  bool run_until(const std::function<bool()>& pred, std::size_t max_steps = 1'000'000) {
    for (std::size_t i = 0; i < max_steps; ++i) {
      if (pred()) return true;
      if (!step()) return pred();
    }
    return pred();
  }

  std::size_t count(char kind) const {
    std::size_t n = 0;
    for (const auto& r : requests)
      n += r.kind == kind;
    return n;
  }

 private:
  struct Req {
    dht::RequestSpec spec;
    dht::RequestCallbacks cb;
    int sent = 0;
  };
  struct Event {
    enum Kind { reply, cycle, commit };
    std::int64_t time;
    std::uint64_t seq;
    Kind kind;
    std::uint64_t req;
    bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };

  void schedule(std::int64_t at, Event::Kind kind, std::uint64_t req) {
    events_.push(Event{at, seq_++, kind, req});
  }

  dht::Reply make_reply(const dht::RequestSpec& spec) const {
    dht::Reply reply;
    reply.from.addr = spec.to;
    auto it = nodes.find(spec.to);
    if (it == nodes.end()) return reply;
    const SimNode& n = it->second;
    if (n.has_id) reply.from.id = rpc::node_id(spec.to);
    if (spec.token) return reply;  // a commit's answer: nothing else matters
    reply.token = n.token;
    reply.error = n.error;
    reply.has_closer_nodes = n.has_closer;
    if (n.has_closer) {
      reply.closer_nodes = closer_fn && spec.target ? closer_fn(spec.to, *spec.target) : n.closer;
    }
    return reply;
  }

  dht::RoutingTable table_;
  std::int64_t now_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t next_req_ = 0;
  std::size_t created_ = 0;
  std::function<void(std::vector<dht::NodeRef>)> bootstrap_done_;
  std::map<std::uint64_t, Req> reqs_;
  std::map<std::uint64_t, std::function<void(std::error_code)>> commits_;
  std::map<std::uint64_t, std::error_code> commit_errors_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
};

}  // namespace hdht::querysim
