// The `srmds info` and `srmds fuse` commands, run as a user would (the binary named by SRMDS_CLI,
// set by ctest): figures printed with separators, a fused file equal to the in-process fusion,
// one-line errors with a non-zero exit status and no output file left behind.
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "srmds/io/weights.hpp"
#include "srmds/nets/srmds_net.hpp"

using namespace srmds;
namespace fs = std::filesystem;

namespace {

struct Run {
  int status;
  std::string out;  // stdout and stderr
};

std::string cli() {
  const char* p = std::getenv("SRMDS_CLI");
  return p ? p : "";
}

Run run(const std::string& args, const fs::path& dir) {
  const fs::path log = dir / "out.txt";
  const std::string cmd = "\"" + cli() + "\" " + args + " > \"" + log.string() + "\" 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
}

using srmds::test::TempDir;

}  // namespace

TEST_CASE("srmds info and fuse from the command line", "[cli]") {
  if (cli().empty() || !fs::exists(cli())) {
    WARN("SRMDS_CLI not set or not built; skipping the command-line test");
    return;
  }
  TempDir dir;
  Run r = run("info --base 64", dir.path);
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("17,469,461") != std::string::npos);
  CHECK(r.out.find("159,618,640,384") != std::string::npos);
  CHECK(r.out.find("30,923,864") != std::string::npos);
  CHECK(r.out.find("283,753,261,568") != std::string::npos);

  // A small training-form model with non-trivial BN statistics.
  Context<Cpu> ctx;
  NetConfig cfg;
  cfg.base = 4;
  cfg.input_size = {32, 32};
  SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 5);
  Rng rng(srmds::test::fresh_seed());
  for (auto& e : net.state())
    if (e.value->shape().rank() == 1)
      for (int64_t i = 0; i < e.value->numel(); ++i)
        (*e.value)[i] = static_cast<float>(e.name.find("running_var") != std::string::npos ? rng.uniform(0.2, 2)
                                                                                            : rng.uniform(-0.5, 0.5));
  const fs::path train = dir.path / "train.safetensors", fused = dir.path / "fused.safetensors";
  io::save_weights(ctx, train.string(), net);

  r = run("info --model \"" + train.string() + "\"", dir.path);
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("form:        train") != std::string::npos);
  CHECK(r.out.find("\"base\":4") != std::string::npos);
  CHECK(r.out.find("1 x 1 x 32 x 32") != std::string::npos);

  r = run("fuse --model \"" + train.string() + "\" --out \"" + fused.string() + "\" --check-size 32", dir.path);
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("max |z0 fused - z0 train|") != std::string::npos);
  SrmdsNet<float, Cpu> loaded = io::load_weights<float, Cpu>(ctx, fused.string());
  REQUIRE(loaded.form() == NetForm::Fused);
  SrmdsNet<float, Cpu> expected = net.fused(ctx);
  auto a = loaded.state(), b = expected.state();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].name == b[i].name);
    for (int64_t k = 0; k < a[i].value->numel(); ++k) REQUIRE((*a[i].value)[k] == (*b[i].value)[k]);
  }
  r = run("info --model \"" + fused.string() + "\"", dir.path);
  CHECK(r.out.find("form:        fused") != std::string::npos);

  // Errors: one line, exit 1, nothing written.
  const fs::path again = dir.path / "again.safetensors";
  r = run("fuse --model \"" + fused.string() + "\" --out \"" + again.string() + "\"", dir.path);
  CHECK(r.status == 1);
  CHECK(r.out.rfind("srmds: error: ", 0) == 0);
  CHECK(r.out.find("already a fused model") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(again));
  r = run("fuse --model \"" + (dir.path / "missing.safetensors").string() + "\" --out \"" + again.string() + "\"",
          dir.path);
  CHECK(r.status == 1);
  CHECK(r.out.find("missing.safetensors") != std::string::npos);
  CHECK_FALSE(fs::exists(again));
  r = run("info --base 64 --size 100", dir.path);
  CHECK(r.status == 2);  // an invalid option value is a usage error (issue 15, item 10)
  CHECK(r.out.find("--size") != std::string::npos);
  r = run("info", dir.path);
  CHECK(r.status == 2);
  CHECK(r.out.rfind("srmds: error: ", 0) == 0);
}
