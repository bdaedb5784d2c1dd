// A line-by-line port of dht-rpc 6.27.0 lib/query.js. The order of operations inside each
// handler is the reference's, because the order of requests on the wire (and so which nodes a
// lookup ends up asking) depends on it; tests/interop/kinds/query.js checks that step by step.
#include "core/query.hpp"

#include <utility>

#include "core/routing_table.hpp"
#include "core/rpc_errors.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"

namespace hdht::dht {

namespace {

constexpr int kVisitRetries = 5;
constexpr int kDownHintQueryRetries = 3;
// While a query seeded with >= k known nodes waits for their first answers (query.js _slowdown).
constexpr std::size_t kSlowdownConcurrency = 3;

Bytes encode_ipv4_address(const Ipv4Address& a) {
  return Bytes{a.ip[0],
               a.ip[1],
               a.ip[2],
               a.ip[3],
               static_cast<std::uint8_t>(a.port & 0xff),
               static_cast<std::uint8_t>(a.port >> 8)};
}

}  // namespace

struct Query::Impl {
  explicit Impl(Query* q) : owner(q) {}

  // The seen map's value: who referred us to a node, or the outcome of visiting it.
  enum class Seen { referred, done, down };
  struct SeenEntry {
    Seen state = Seen::referred;
    std::vector<Peer> referrers;
  };
  struct Visit {
    Ipv4Address to;
    bool cycled = false;  // query.js: req.oncycle === noop, i.e. counted in `slow`
    int retries = 0;
    int cycles = 0;
    RequestHandle handle;
  };
  struct Commit {
    std::size_t pending = 0;
    std::size_t successes = 0;
    std::error_code last_error;
    std::vector<bool> settled;
  };

  // nullptr once the Query is destroyed: late callbacks then do nothing.
  Query* owner;

  bool internal = false;
  std::uint64_t command = 0;
  std::optional<Bytes> value;
  bool force = false;
  int retries = kVisitRetries;
  std::size_t concurrency = 0;
  std::size_t k = 20;
  bool only_closest_nodes = false;
  std::optional<CommitFn> commit;

  std::vector<NodeRef> pending;  // a stack: the last pushed is visited first
  std::unordered_map<Ipv4Address, SeenEntry> seen;
  std::size_t slow = 0;
  bool slowdown = false;
  bool from_table = false;
  bool committing = false;
  bool started = false;
  // The visit whose last transmission just timed out: its REQUEST_TIMEOUT follows the cycle hook
  // synchronously. If the hook finishes the query, the reference still handles that error (its
  // session is destroyed a tick later), so completion waits for it.
  std::optional<std::uint64_t> timing_out;
  std::optional<std::error_code> deferred_done;

  std::uint64_t next_request = 0;
  std::unordered_map<std::uint64_t, Visit> visits;
  // Down hints live in the query's session in the reference, so they die with the query.
  std::unordered_map<std::uint64_t, RequestHandle> hints;
};

Query::Query(QueryHost& host, const Bytes32& target, bool internal, std::uint64_t command,
             std::optional<Bytes> value, QueryOptions options)
    : impl_(std::make_shared<Impl>(this)), host_(host), target_(target) {
  Impl& s = *impl_;
  s.internal = internal;
  s.command = command;
  s.value = std::move(value);
  s.force = options.force;
  s.k = host.table().k();
  s.concurrency = options.concurrency != 0 ? options.concurrency : host.default_concurrency();
  if (options.retries) {
    s.retries = *options.retries;
  } else {
    s.retries =
        internal && command == rpc::command::kDownHint ? kDownHintQueryRetries : kVisitRetries;
  }
  s.commit = std::move(options.commit);

  // Pushed in reverse so that the first seed is popped (visited) first.
  if (!options.nodes.empty()) {
    for (auto it = options.nodes.rbegin(); it != options.nodes.rend(); ++it) {
      NodeRef node = *it;
      if (!node.id) node.id = rpc::node_id(node.addr);
      add_pending(node, nullptr);
    }
  } else {
    for (auto it = options.replies.rbegin(); it != options.replies.rend(); ++it) {
      add_pending(NodeRef{it->from.id, it->from.addr}, nullptr);
    }
  }
  // Set after seeding, as the reference does: the seeds are still visited.
  s.only_closest_nodes = options.only_closest_nodes;
}

Query::~Query() {
  uncount();
  impl_->owner = nullptr;
  // Destroying the handles withdraws the requests; the callbacks also check `owner`.
  impl_->visits.clear();
  impl_->hints.clear();
}

void Query::start() {
  Impl& s = *impl_;
  if (s.started || done_) return;
  s.started = true;
  counted_ = true;
  host_.query_started();

  add_from_table();
  if (s.pending.size() >= s.k) {
    read_more();
    return;
  }

  std::weak_ptr<Impl> weak = impl_;
  host_.resolve_bootstrap_nodes([weak](std::vector<NodeRef> nodes) {
    auto impl = weak.lock();
    if (!impl || !impl->owner || impl->owner->done_) return;
    Query& q = *impl->owner;
    for (NodeRef& node : nodes) {
      if (!node.id) node.id = rpc::node_id(node.addr);
      q.add_pending(node, nullptr);
    }
    q.read_more();
  });
}

void Query::set_concurrency(std::size_t c) {
  impl_->concurrency = c;
}

std::vector<Peer> Query::closest_nodes() const {
  std::vector<Peer> out;
  out.reserve(closest_replies_.size());
  for (const Reply& r : closest_replies_)
    out.push_back(r.from);
  return out;
}

void Query::add_from_table() {
  Impl& s = *impl_;
  if (s.pending.size() >= s.k) return;
  s.from_table = true;

  // Copied first: add_pending may send down hints, and the table is the node's, not ours.
  std::vector<NodeRef> nodes;
  for (const Node* n : host_.table().closest(target_, s.k - s.pending.size())) {
    nodes.push_back(NodeRef{n->id, n->addr});
  }
  for (const NodeRef& node : nodes)
    add_pending(node, nullptr);
}

bool Query::is_closer(const std::optional<Bytes32>& id) const {
  if (closest_replies_.size() < impl_->k) return true;
  // Only seeds from id-less replies lack an id, and they are added before any reply arrives.
  if (!id) return false;
  return rpc::xor_compare(target_, *id, *closest_replies_.back().from.id) < 0;
}

bool Query::add_pending(const NodeRef& node, const Peer* referrer) {
  Impl& s = *impl_;
  if (s.only_closest_nodes) return false;

  const bool closer = is_closer(node.id);
  auto it = s.seen.find(node.addr);
  if (it != s.seen.end()) {
    switch (it->second.state) {
      case Impl::Seen::done:
        return closer;
      case Impl::Seen::down:
        if (referrer) down_hint(*referrer, node.addr);
        return closer;
      case Impl::Seen::referred:
        if (referrer) it->second.referrers.push_back(*referrer);
        return closer;
    }
  }
  if (!closer) return false;

  Impl::SeenEntry entry;
  if (referrer) entry.referrers.push_back(*referrer);
  s.seen.emplace(node.addr, std::move(entry));
  s.pending.push_back(node);
  return true;
}

void Query::push_closest(const Reply& reply) {
  auto& c = closest_replies_;
  c.push_back(reply);
  // Insertion sort from the back; the reference keeps the older of two equal ids.
  for (std::size_t j = c.size() - 1; j > 0; --j) {
    const int cmp = rpc::xor_compare(target_, *c[j - 1].from.id, *c[j].from.id);
    if (cmp < 0) break;
    if (cmp == 0) {
      c.erase(c.begin() + static_cast<std::ptrdiff_t>(j));
      break;
    }
    std::swap(c[j - 1], c[j]);
  }
  if (c.size() > impl_->k) c.pop_back();
}

void Query::read_more() {
  Impl& s = *impl_;
  if (done_ || s.committing) return;

  const std::size_t concurrency = (s.slowdown ? kSlowdownConcurrency : s.concurrency) + s.slow;
  while (inflight_ < concurrency && !s.pending.empty()) {
    const NodeRef next = std::move(s.pending.back());
    s.pending.pop_back();
    if (next.id && !is_closer(next.id)) continue;
    if (!visit(next)) return;  // the node is gone and the query finished (`this` may be too)
  }

  // Seeded with >= k known nodes: give the closest a chance to answer before going wide.
  if (!s.from_table && successes_ == 0 && errors_ == 0) s.slowdown = true;

  if (!s.pending.empty()) return;

  // Nothing in flight, or only slow requests while we already hold k replies.
  if (inflight_ == 0 || (s.slow == inflight_ && closest_replies_.size() >= s.k)) {
    // Seeded from cached nodes and fewer than k/4 answered: retry from the routing table.
    if (!s.from_table && successes_ * 4 < s.k) {
      add_from_table();
      read_more();
      return;
    }
    flush();
  }
}

bool Query::visit(const NodeRef& node) {
  Impl& s = *impl_;
  if (host_.node_destroyed()) {
    finish(make_error_code(RpcErrc::node_destroyed));
    return false;
  }
  ++inflight_;

  const std::uint64_t id = s.next_request++;
  Impl::Visit& v = s.visits[id];
  v.to = node.addr;
  v.retries = s.force ? 0 : s.retries;

  RequestSpec spec;
  spec.to = node.addr;
  spec.to_id = node.id;
  spec.internal = s.internal;
  spec.command = s.command;
  spec.target = target_;
  spec.value = s.value;
  spec.retries = v.retries;
  spec.force = s.force;

  std::weak_ptr<Impl> weak = impl_;
  RequestCallbacks cb;
  cb.on_response = [weak, id](const Reply& reply) {
    // Copies: the callback object may be destroyed with the handle while it runs.
    const auto w = weak;
    const auto i = id;
    auto impl = w.lock();
    if (impl && impl->owner) impl->owner->on_visit_reply(i, reply);
  };
  cb.on_error = [weak, id](std::error_code ec) {
    const auto w = weak;
    const auto i = id;
    auto impl = w.lock();
    if (impl && impl->owner) impl->owner->on_visit_error(i, ec);
  };
  cb.on_cycle = [weak, id]() {
    const auto w = weak;
    const auto i = id;
    auto impl = w.lock();
    if (impl && impl->owner) impl->owner->on_visit_cycle(i);
  };

  RequestHandle handle = host_.send_request(std::move(spec), std::move(cb));
  // Looked up again rather than held: a host is not supposed to answer inline, but if it did
  // the visit is already gone and the handle is simply dropped.
  if (auto it = s.visits.find(id); it != s.visits.end()) it->second.handle = std::move(handle);
  return true;
}

void Query::down_hint(const Peer& to, const Ipv4Address& down) {
  // The reference charges the per-tick budget before it learns that hints are disabled.
  if (!host_.take_down_hint_budget()) return;
  if (!host_.send_down_hints()) return;

  Impl& s = *impl_;
  RequestSpec spec;
  spec.to = to.addr;
  spec.to_id = to.id;
  spec.internal = true;
  spec.command = rpc::command::kDownHint;
  spec.value = encode_ipv4_address(down);

  const std::uint64_t id = s.next_request++;
  s.hints.emplace(id, RequestHandle{});
  std::weak_ptr<Impl> weak = impl_;
  auto forget = [weak, id]() {
    const auto w = weak;
    const auto i = id;
    auto impl = w.lock();
    if (impl && impl->owner) impl->hints.erase(i);
  };
  RequestCallbacks cb;
  cb.on_response = [forget](const Reply&) { forget(); };
  cb.on_error = [forget](std::error_code) { forget(); };

  RequestHandle handle = host_.send_request(std::move(spec), std::move(cb));
  if (auto it = s.hints.find(id); it != s.hints.end()) it->second = std::move(handle);
}

void Query::on_visit_reply(std::uint64_t id, const Reply& reply) {
  Impl& s = *impl_;
  auto it = s.visits.find(id);
  if (it == s.visits.end()) return;
  // Moved out: its handle must outlive this callback, which it is running.
  Impl::Visit v = std::move(it->second);
  s.visits.erase(it);

  if (v.cycled) --s.slow;
  --inflight_;
  Impl::SeenEntry& seen = s.seen[v.to];
  seen.state = Impl::Seen::done;
  seen.referrers.clear();

  if (s.committing || done_) return;

  if (reply.error == 0) {
    ++successes_;
  } else {
    ++errors_;
  }

  if (reply.error == 0 && reply.from.id && is_closer(reply.from.id)) push_closest(reply);

  if (reply.has_closer_nodes) {
    const Bytes32& own_id = host_.table().id();
    for (const Ipv4Address& addr : reply.closer_nodes) {
      const NodeRef node{rpc::node_id(addr), addr};
      if (!host_.filter_node(addr)) continue;
      if (*node.id == own_id) continue;
      // closerNodes are sorted by the responder, so the first one that is not closer ends it.
      if (!add_pending(node, &reply.from)) break;
    }
  }

  if (!s.from_table && successes_ + errors_ >= s.concurrency) s.slowdown = false;

  if (reply.error != 0) {
    read_more();
    return;
  }

  if (on_reply_) {
    const std::shared_ptr<Impl> keep = impl_;
    const auto fn = on_reply_;  // the handler may replace itself
    fn(reply);
    if (!keep->owner) return;  // the handler destroyed the query
  }
  read_more();
}

void Query::on_visit_error(std::uint64_t id, std::error_code ec) {
  Impl& s = *impl_;
  auto it = s.visits.find(id);
  if (it == s.visits.end()) return;
  Impl::Visit v = std::move(it->second);
  s.visits.erase(it);

  if (ec == RpcErrc::request_timeout) {
    Impl::SeenEntry& seen = s.seen[v.to];
    const std::vector<Peer> referrers = std::move(seen.referrers);
    seen.referrers.clear();
    seen.state = Impl::Seen::down;
    for (const Peer& ref : referrers)
      down_hint(ref, v.to);
  }

  if (v.cycled) --s.slow;
  --inflight_;
  ++errors_;
  const bool was_timing_out = s.timing_out == id;
  if (was_timing_out) s.timing_out.reset();
  if (was_timing_out && s.deferred_done) {
    const std::error_code done = *s.deferred_done;
    s.deferred_done.reset();
    complete(done);
    return;
  }
  read_more();
}

void Query::on_visit_cycle(std::uint64_t id) {
  Impl& s = *impl_;
  auto it = s.visits.find(id);
  if (it == s.visits.end()) return;
  Impl::Visit& v = it->second;
  // Hosts that ignore set_on_cycle() keep calling; only the first cycle counts, as in query.js.
  const bool last = ++v.cycles > v.retries;
  if (v.cycled) return;
  v.cycled = true;
  v.handle.set_on_cycle({});
  ++s.slow;
  if (last) s.timing_out = id;
  read_more();
}

void Query::flush() {
  Impl& s = *impl_;
  if (s.committing) return;
  s.committing = true;

  if (!s.commit) {
    finish({});
    return;
  }
  if (closest_replies_.empty()) {
    finish(make_error_code(RpcErrc::too_few_nodes));
    return;
  }

  // One extra pending count held by this loop, so that commits settling inline cannot end the
  // query (and let on_done destroy it) before every commit has been started.
  auto state = std::make_shared<Impl::Commit>();
  state->pending = closest_replies_.size() + 1;
  state->settled.assign(closest_replies_.size(), false);

  std::weak_ptr<Impl> weak = impl_;
  auto settle = [weak, state](std::size_t i, std::error_code ec) {
    auto impl = weak.lock();
    if (!impl || !impl->owner || impl->owner->done_) return;
    if (i < state->settled.size()) {
      if (state->settled[i]) return;
      state->settled[i] = true;
    }
    if (ec) {
      state->last_error = ec;
    } else if (i < state->settled.size()) {
      ++state->successes;
    }
    if (--state->pending > 0) return;
    impl->owner->finish(state->successes > 0 ? std::error_code{} : state->last_error);
  };

  const std::shared_ptr<Impl> keep = impl_;
  const std::vector<Reply> replies = closest_replies_;  // user commit code may end the query
  for (std::size_t i = 0; i < replies.size(); ++i) {
    (*keep->commit)(replies[i], [settle, i](std::error_code ec) { settle(i, ec); });
    if (!keep->owner) return;
  }
  settle(replies.size(), {});
}

void Query::finish(std::error_code ec) {
  Impl& s = *impl_;
  if (done_) return;
  done_ = true;
  s.committing = true;
  if (s.timing_out && s.visits.contains(*s.timing_out)) {
    s.deferred_done = ec;
    return;
  }
  complete(ec);
}

void Query::complete(std::error_code ec) {
  Impl& s = *impl_;

  // The reference destroys the query's session here: requests still in flight fail with
  // REQUEST_DESTROYED, which its _onerror counts as errors.
  for (auto& entry : s.visits) {
    Impl::Visit& v = entry.second;
    v.handle.cancel();
    if (v.cycled) --s.slow;
    --inflight_;
    ++errors_;
  }
  s.visits.clear();
  s.hints.clear();
  s.pending.clear();
  uncount();

  auto fn = std::move(on_done_);
  on_done_ = nullptr;
  if (fn) fn(ec);  // may destroy the query: nothing after this
}

void Query::uncount() noexcept {
  if (!counted_) return;
  counted_ = false;
  host_.query_ended();
}

CommitFn Query::commit_auto(QueryHost& host, const Bytes32& target, std::uint64_t command,
                            std::optional<Bytes> value) {
  // The commit requests are owned by the function, so they die with the query that holds it.
  auto handles = std::make_shared<std::vector<RequestHandle>>();
  return [&host, target, command, value = std::move(value), handles](
             const Reply& reply, std::function<void(std::error_code)> done) {
    if (!reply.token) {
      done(make_error_code(RpcErrc::no_token));
      return;
    }
    // dht.request() on a destroyed node rejects ("Node destroyed"); RpcIo would send nothing.
    if (host.node_destroyed()) {
      done(make_error_code(RpcErrc::node_destroyed));
      return;
    }
    RequestSpec spec;
    spec.to = reply.from.addr;
    spec.token = reply.token;
    spec.internal = false;
    spec.command = command;
    spec.target = target;
    spec.value = value;

    auto shared_done = std::make_shared<std::function<void(std::error_code)>>(std::move(done));
    RequestCallbacks cb;
    // dht.request() resolves on any response, error code or not.
    cb.on_response = [shared_done](const Reply&) { (*shared_done)({}); };
    cb.on_error = [shared_done](std::error_code ec) { (*shared_done)(ec); };
    handles->push_back(host.send_request(std::move(spec), std::move(cb)));
  };
}

}  // namespace hdht::dht
