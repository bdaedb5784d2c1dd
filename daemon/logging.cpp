#include "daemon/logging.hpp"

#include <chrono>
#include <ctime>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace hdht::daemon {

namespace {

// A pattern cannot escape the message, so JSON lines get their own formatter.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = std::chrono::system_clock::to_time_t(msg.time);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json j = {
        {"time", fmt::format("{}.{:03}Z", stamp, ms)},
        {"level", std::string(level.data(), level.size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    const auto line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

void setup_logging(LogFormat format, spdlog::level::level_enum level) {
  auto logger = spdlog::get("hyperdhtd");
  if (!logger) {
    logger = format == LogFormat::json_lines ? spdlog::stderr_logger_mt("hyperdhtd")
                                             : spdlog::stderr_color_mt("hyperdhtd");
    spdlog::set_default_logger(logger);
  }
  if (format == LogFormat::json_lines) logger->set_formatter(std::make_unique<JsonFormatter>());
  spdlog::set_level(level);
}

}  // namespace hdht::daemon
