#include "daemon/record_keeper.hpp"

#include <spdlog/spdlog.h>

namespace hdht::daemon {

RecordKeeper::RecordKeeper(core::Runtime& runtime, std::function<hyperdht::HyperDhtNode*()> node,
                           core::Duration interval)
    : runtime_(runtime), node_(std::move(node)), interval_(interval), timer_(runtime) {}

RecordKeeper::~RecordKeeper() {
  stop();
}

void RecordKeeper::keep(KeptRecord r) {
  if (stopped_) return;
  r.since = runtime_.now();
  r.last_ok = r.since;
  const auto target = r.target;
  // Replacing an entry drops its running put; we are in a method handler here, never inside
  // that put's own callback.
  entries_.insert_or_assign(target, Entry{std::move(r), nullptr});
  if (!timer_.pending()) arm();
}

void RecordKeeper::restore(KeptRecord r) {
  if (stopped_) return;
  r.since = runtime_.now();
  r.last_ok.reset();
  const auto target = r.target;
  entries_.insert_or_assign(target, Entry{std::move(r), nullptr});
  if (!timer_.pending()) arm();
}

bool RecordKeeper::forget(const Bytes32& target) {
  const bool had = entries_.erase(target) > 0;
  if (entries_.empty()) timer_.cancel();
  return had;
}

const KeptRecord* RecordKeeper::find(const Bytes32& target) const {
  const auto it = entries_.find(target);
  return it == entries_.end() ? nullptr : &it->second.info;
}

std::vector<KeptRecord> RecordKeeper::list() const {
  std::vector<KeptRecord> out;
  out.reserve(entries_.size());
  for (const auto& [k, e] : entries_)
    out.push_back(e.info);
  return out;
}

void RecordKeeper::run_now() {
  if (stopped_ || entries_.empty()) return;
  run_all();
  arm();
}

void RecordKeeper::stop() {
  stopped_ = true;
  timer_.cancel();
  entries_.clear();
}

void RecordKeeper::arm() {
  timer_.expires_after(interval_, [this] {
    run_all();
    if (!entries_.empty()) arm();
  });
}

void RecordKeeper::run_all() {
  auto* node = node_();
  if (!node) return;
  for (auto& [target, e] : entries_) {
    auto* info = &e.info;  // stable: std::map nodes do not move; the handle dies with the entry
    // The put may complete inside the call (no nodes at all): the callback only touches info.
    auto settle = [this, info](std::error_code ec) {
      if (ec) {
        ++info->failures;
        info->last_error = ec.message();
        spdlog::warn("records: re-put of {} record {} failed: {}",
                     info->is_mutable ? "mutable" : "immutable", to_hex(info->target),
                     ec.message());
      } else {
        info->last_ok = runtime_.now();
        info->last_error.clear();
      }
    };
    ++info->runs;
    // A put still going after a whole interval is stuck: replacing the handle withdraws it.
    e.running.reset();
    if (info->is_mutable) {
      hyperdht::MutablePutOptions opts;
      opts.seq = info->seq;
      e.running = node->mutable_put(info->key, info->value, opts,
                                    [settle](Result<hyperdht::MutablePutResult> res) {
                                      settle(res ? std::error_code{} : res.error());
                                    });
    } else {
      e.running =
          node->immutable_put(info->value, [settle](Result<hyperdht::ImmutablePutResult> res) {
            settle(res ? std::error_code{} : res.error());
          });
    }
  }
}

}  // namespace hdht::daemon
