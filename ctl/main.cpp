// hdhtctl: command-line client of hyperdhtd's control socket (grown by the daemon issue).
#include <cstring>
#include <iostream>

#include "core/version.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << hdht::version_string() << "\n";
    return 0;
  }
  std::cout << "Usage: hdhtctl [--socket PATH] [--json] COMMAND\n"
               "The control socket client is not built yet; see the open issues.\n";
  return argc > 1 && std::strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
