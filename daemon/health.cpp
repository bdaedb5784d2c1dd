#include "daemon/health.hpp"

#include <boost/asio/post.hpp>

#include "core/rpc_errors.hpp"
#include "protocol/crypto.hpp"

namespace hdht::daemon {

using nlohmann::json;

HealthMonitor::HealthMonitor(core::Runtime& runtime, NodeRunner& runner,
                             std::chrono::seconds interval)
    : runtime_(runtime), runner_(runner), interval_(interval), timer_(runtime) {}

HealthMonitor::~HealthMonitor() {
  stop();
}

void HealthMonitor::start() {
  stopped_ = false;
  // The first probe comes soon, so `health` is meaningful shortly after start-up.
  timer_.expires_after(std::chrono::seconds(2), [this] {
    probe([](const ProbeResult&) {});
    arm();
  });
}

void HealthMonitor::arm() {
  timer_.expires_after(interval_, [this] {
    probe([](const ProbeResult&) {});
    arm();
  });
}

void HealthMonitor::stop() {
  stopped_ = true;
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  timer_.cancel();
  queries_.clear();
}

void HealthMonitor::probe(std::function<void(const ProbeResult&)> done) {
  if (stopped_) return;
  auto* node = runner_.node(0);
  const auto started = runtime_.now();
  if (!node || !node->bootstrapped() || node->destroyed()) {
    ProbeResult r;
    r.error = "NOT_BOOTSTRAPPED";
    last_ = r;
    last_at_ = started;
    // Answered on the executor, never inline, like a real lookup; stop() withdraws it.
    boost::asio::post(runtime_.executor(),
                      [alive = std::weak_ptr<bool>(alive_), r, done = std::move(done)] {
                        if (auto a = alive.lock(); a && *a) done(r);
                      });
    return;
  }
  Bytes32 target{};
  crypto::random_bytes(target);
  const auto id = next_id_++;
  auto query = node->find_node(target);
  auto* q = query.get();
  queries_[id] = std::move(query);
  q->on_done([this, id, q, started, done = std::move(done)](std::error_code ec) {
    ProbeResult r;
    r.replies = q->successes();
    r.ok = !ec && r.replies > 0;
    r.took = std::chrono::duration_cast<std::chrono::milliseconds>(runtime_.now() - started);
    if (!r.ok) {
      if (ec && ec.category() == dht::rpc_category())
        r.error = dht::rpc_error_name(static_cast<dht::RpcErrc>(ec.value()));
      else
        r.error = ec ? ec.message() : "NO_REPLIES";
    }
    last_ = r;
    last_at_ = runtime_.now();
    if (r.ok) last_success_ = last_at_;
    auto fn = done;
    auto on_probe = on_probe_;
    queries_.erase(id);  // destroys the Query inside its own callback, which it allows
    fn(r);
    if (on_probe) on_probe();
  });
  q->start();
}

std::size_t HealthMonitor::good_nodes() const {
  const auto* node = runner_.node(0);
  if (!node) return 0;
  std::size_t good = 0;
  const auto tick = node->tick();
  const auto& table = node->table();
  for (std::size_t b = 0; b < dht::RoutingTable::kBuckets; ++b)
    for (const auto& n : table.bucket(b))
      good += tick - n.seen < node->config().old_node_ticks;
  return good;
}

bool HealthMonitor::healthy() const {
  const auto* node = runner_.node(0);
  const bool recent =
      last_success_ && runtime_.now() - *last_success_ <= 2 * interval_ + std::chrono::seconds(5);
  return node && node->bootstrapped() && good_nodes() > 0 && recent;
}

json HealthMonitor::report() const {
  const auto* node = runner_.node(0);
  const auto s = runner_.summary();
  json checks = {
      {"bootstrapped", node && node->bootstrapped()},
      {"allNodesBootstrapped", s.bootstrapped == s.planned},
      {"goodNodes", good_nodes()},
      {"online", node && node->online()},
      {"degraded", node && node->degraded()},
  };
  json out = {{"healthy", healthy()}, {"checks", checks}};
  if (last_success_)
    out["lastSuccessAgoMs"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(runtime_.now() - *last_success_)
            .count();
  else
    out["lastSuccessAgoMs"] = nullptr;
  if (last_) {
    out["lastProbe"] = {{"ok", last_->ok},
                        {"replies", last_->replies},
                        {"tookMs", last_->took.count()},
                        {"error", last_->ok ? json(nullptr) : json(last_->error)}};
  } else {
    out["lastProbe"] = nullptr;
  }
  return out;
}

}  // namespace hdht::daemon
