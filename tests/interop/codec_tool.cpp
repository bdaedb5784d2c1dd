// hdht-codec-tool: reads one JSON request per line on stdin, writes one JSON response per line.
// The JS differential test (differential.js) spawns it; see codec_registry.hpp for the protocol.
#include <iostream>
#include <string>

#include "protocol/crypto.hpp"
#include "tests/interop/codec_registry.hpp"

int main(int argc, char** argv) {
  hdht::crypto::init();
  if (argc > 1 && std::string(argv[1]) == "--kinds") {
    for (const auto& k : hdht::interop::registry().kinds()) std::cout << k << "\n";
    return 0;
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    nlohmann::json resp;
    try {
      resp = hdht::interop::handle_request(nlohmann::json::parse(line));
    } catch (const std::exception& e) {
      resp = {{"ok", false}, {"error", std::string("bad request: ") + e.what()}};
    }
    std::cout << resp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    std::cout.flush();
  }
  return 0;
}
