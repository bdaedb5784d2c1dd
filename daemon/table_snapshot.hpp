// The routing-table snapshot: node 0's table addresses in <state-dir>/nodes.json, written
// periodically and on shutdown, read at start and handed to the nodes as extra nodes
// (DhtConfig::nodes), so a restart pings known peers at once instead of waiting on the
// bootstrap nodes. A missing or damaged snapshot is just an empty one.
#pragma once

#include <string>
#include <vector>

#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::daemon {

inline constexpr std::size_t kSnapshotMaxNodes = 256;

std::vector<Ipv4Address> load_table_snapshot(const std::string& state_dir);
// Atomic (temporary file + rename), mode 0600.
Result<void> save_table_snapshot(const std::string& state_dir,
                                 const std::vector<Ipv4Address>& nodes);

}  // namespace hdht::daemon
