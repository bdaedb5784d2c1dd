// hyperdhtd's logger: spdlog on stderr (journald and test harnesses read it unbuffered), as
// colored text or one JSON object per line (--log-format json) for log shippers:
//   {"time":"2026-11-21T22:40:00.123Z","level":"info","msg":"..."}
#pragma once

#include <spdlog/common.h>

#include "daemon/options.hpp"

namespace hdht::daemon {

void setup_logging(LogFormat format, spdlog::level::level_enum level);

}  // namespace hdht::daemon
