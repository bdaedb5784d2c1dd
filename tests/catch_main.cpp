#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "protocol/crypto.hpp"

int main(int argc, char* argv[]) {
  hdht::crypto::init();
  return Catch::Session().run(argc, argv);
}
