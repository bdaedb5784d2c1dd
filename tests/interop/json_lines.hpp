// The stdin/stdout protocol of the C++ interop peers: one JSON command per input line, one JSON
// event per output line. Shared so every peer reads, reports and exits the same way.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

namespace hdht::interop {

// One event line on stdout, flushed (the JS side waits for it).
void emit(const nlohmann::json& event);

// A malformed command is a bug in the test script: say so loudly on stdout, where it waits.
void bad_command(const nlohmann::json& cmd, const std::string& why);

// Runs ctx while a thread reads stdin and posts each line, parsed, to `handle` on ctx (lines that
// are not JSON get bad_command). `handle` returns false to quit. At end of input, `on_eof` runs
// on ctx (unless a quit came first). Never returns: after a quit the reader may still block on
// stdin, so the process leaves with _Exit(0) without joining or unwinding it.
[[noreturn]] void run_json_lines(boost::asio::io_context& ctx,
                                 std::function<bool(const nlohmann::json&)> handle,
                                 std::function<void()> on_eof);

}  // namespace hdht::interop
