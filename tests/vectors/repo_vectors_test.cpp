// Every case of every tests/vectors/*.json (written by tests/interop/gen-vectors.js from the
// pinned JS packages) through the same registry the differential test uses: decoding gives the
// JS fields, re-encoding gives the JS bytes, bad inputs get the reference's accept/drop decision,
// and ops give the JS outputs.
//
// One pass over all cases, each checked with its own context (file, kind, index): Catch2
// sections would re-run the whole loop once per case, which is quadratic in the vector count.
#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>

#include "tests/interop/codec_registry.hpp"
#include "tests/vectors/vector_files.hpp"

using hdht::interop::json;

namespace {

void check_case(const json& c) {
  const std::string kind = c.at("kind");
  const auto& reg = hdht::interop::registry();
  if (c.contains("input")) {
    json resp =
        hdht::interop::handle_request({{"op", "run"}, {"kind", kind}, {"input", c["input"]}});
    INFO(resp.dump());
    REQUIRE(resp["ok"] == true);
    CHECK(resp["output"] == c["output"]);
  } else if (c.contains("accept") && c["accept"] == false) {
    INFO("hex " << c["hex"].get<std::string>() << " (" << c.value("note", "") << ")");
    REQUIRE(reg.codec(kind) != nullptr);
    json resp =
        hdht::interop::handle_request({{"op", "decode"}, {"kind", kind}, {"hex", c["hex"]}});
    CHECK(resp["ok"] == false);
  } else {
    json resp =
        hdht::interop::handle_request({{"op", "decode"}, {"kind", kind}, {"hex", c["hex"]}});
    INFO(resp.dump());
    REQUIRE(resp["ok"] == true);
    CHECK(resp["fields"] == c["fields"]);
    if (!c.contains("accept")) {  // canonical encodings re-encode byte for byte
      CHECK(resp["hex"] == c["hex"]);
      json enc = hdht::interop::handle_request(
          {{"op", "encode"}, {"kind", kind}, {"fields", c["fields"]}});
      CHECK(enc["hex"] == c["hex"]);
    }
  }
}

}  // namespace

TEST_CASE("repo vectors: every case matches the JS reference", "[vectors][repo]") {
  std::size_t files = 0, cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(hdht::testing::repo_vectors_dir())) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    const json doc = hdht::testing::load_json(entry.path());
    const auto family = entry.path().stem().string();
    std::size_t index = 0;
    for (const json& c : doc.at("cases")) {
      INFO(family << "/" << c.at("kind").get<std::string>() << " #" << index++);
      check_case(c);
      ++cases;
    }
  }
  std::cout << "repo vectors: " << cases << " cases in " << files << " files\n";
  CHECK(files > 0);
  CHECK(cases > 0);
}
