#include "daemon/announcer.hpp"

#include <spdlog/spdlog.h>

namespace hdht::daemon {

Announcer::Announcer(core::Runtime& runtime, std::function<hyperdht::HyperDhtNode*()> node,
                     core::Duration interval)
    : runtime_(runtime), node_(std::move(node)), interval_(interval), timer_(runtime) {}

Announcer::~Announcer() {
  stop();
}

void Announcer::keep(StandingAnnounce a) {
  if (stopped_) return;
  const Key key{a.topic, a.key.public_key};
  a.since = runtime_.now();
  a.last_ok = a.since;
  // Replacing an entry drops its running re-announce; we are in a method handler here, never
  // inside that announce's own callback.
  entries_.insert_or_assign(key, Entry{std::move(a), nullptr});
  if (!timer_.pending()) arm();
}

void Announcer::restore(StandingAnnounce a) {
  if (stopped_) return;
  const Key key{a.topic, a.key.public_key};
  a.since = runtime_.now();
  a.last_ok.reset();
  entries_.insert_or_assign(key, Entry{std::move(a), nullptr});
  if (!timer_.pending()) arm();
}

void Announcer::run_now() {
  if (stopped_ || entries_.empty()) return;
  run_all();
  arm();
}

void Announcer::withdraw_all(
    core::Duration deadline,
    std::function<void(std::size_t total, std::vector<std::string> unfinished)> done) {
  stopped_ = true;
  timer_.cancel();
  withdraw_done_ = std::move(done);
  withdraw_pending_ = 0;
  withdraw_total_ = 0;
  auto* node = node_();
  for (auto& [key, e] : entries_) {
    e.running.reset();  // a re-announce in flight must not put the record back behind us
    if (!node) continue;
    e.running = node->unannounce(e.info.topic, e.info.key);
    ++withdraw_pending_;
    ++withdraw_total_;
    auto* entry = &e;
    e.running->on_done([this, entry](std::error_code ec) {
      if (ec)
        entry->info.last_error = ec.message();
      else
        entry->withdrawn = true;
      if (--withdraw_pending_ == 0)
        timer_.expires_after(core::Duration::zero(), [this] { finish_withdraw(); });
    });
    e.running->start();
  }
  // Both paths finish on a timer turn: never inside the caller or a stream's own callback.
  timer_.expires_after(withdraw_pending_ == 0 ? core::Duration::zero() : deadline,
                       [this] { finish_withdraw(); });
}

void Announcer::finish_withdraw() {
  timer_.cancel();
  std::vector<std::string> unfinished;
  for (auto& [key, e] : entries_) {
    if (!e.withdrawn && e.running) unfinished.push_back(to_hex(e.info.topic));
    e.running.reset();
  }
  if (auto done = std::move(withdraw_done_)) {
    withdraw_done_ = nullptr;
    done(withdraw_total_, std::move(unfinished));
  }
}

bool Announcer::remove(const Bytes32& topic, const Bytes32& public_key) {
  const bool had = entries_.erase(Key{topic, public_key}) > 0;
  if (entries_.empty()) timer_.cancel();
  return had;
}

std::vector<StandingAnnounce> Announcer::list() const {
  std::vector<StandingAnnounce> out;
  for (const auto& [k, e] : entries_)
    out.push_back(e.info);
  return out;
}

void Announcer::stop() {
  stopped_ = true;
  withdraw_done_ = nullptr;
  timer_.cancel();
  entries_.clear();
}

void Announcer::arm() {
  timer_.expires_after(interval_, [this] {
    run_all();
    if (!entries_.empty()) arm();
  });
}

void Announcer::run_all() {
  auto* node = node_();
  if (!node) return;
  for (auto& [key, e] : entries_) {
    // A run still going after a whole interval is stuck: replace it.
    e.running = node->announce(e.info.topic, e.info.key, e.info.relays);
    ++e.info.runs;
    auto* info = &e.info;  // stable: std::map nodes do not move; the handle dies with the entry
    e.running->on_done([this, info](std::error_code ec) {
      if (ec) {
        ++info->failures;
        info->last_error = ec.message();
        spdlog::warn("announce: re-announce of {} failed: {}", to_hex(info->topic), ec.message());
      } else {
        info->last_ok = runtime_.now();
        info->last_error.clear();
      }
    });
    e.running->start();
  }
}

}  // namespace hdht::daemon
