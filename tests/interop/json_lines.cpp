#include "tests/interop/json_lines.hpp"

#include <cstdlib>
#include <iostream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

namespace hdht::interop {

using json = nlohmann::json;

void emit(const json& event) {
  std::cout << event.dump() << "\n";
  std::cout.flush();
}

void bad_command(const json& cmd, const std::string& why) {
  emit({{"event", "bad-command"}, {"seq", cmd.value("seq", json(nullptr))}, {"why", why}});
}

void run_json_lines(boost::asio::io_context& ctx, std::function<bool(const json&)> handle,
                    std::function<void()> on_eof) {
  bool done = false;
  auto work = boost::asio::make_work_guard(ctx);
  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      boost::asio::post(ctx, [&, line] {
        if (done) return;
        json cmd = json::parse(line, nullptr, false);
        if (cmd.is_discarded()) return bad_command(json::object(), "not json");
        if (!handle(cmd)) {
          done = true;
          ctx.stop();
        }
      });
    }
    boost::asio::post(ctx, [&] {
      if (done) return;
      done = true;
      if (on_eof) on_eof();
      ctx.stop();
    });
  });
  ctx.run();
  std::cout.flush();
  reader.detach();
  std::_Exit(0);
}

}  // namespace hdht::interop
