// Issue 15 items 2 and 3: a non-finite update is never saved as the epoch's checkpoint or best
// file; a resumed checkpoint's metadata (epoch, step, best_dice) and Adam moments are validated,
// naming the file and the key or tensor; non-finite or absurd options are refused.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "support/train_fixture.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

using namespace srmds;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

using srmds::test::TempDir;

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

NetConfig tiny_config() {
  NetConfig cfg;
  cfg.base = 4;
  cfg.input_size = {32, 32};
  return cfg;
}

struct Setup : srmds::test::TrainFixture {
  Setup() : TrainFixture(2, 0.5) {}
};

}  // namespace

TEST_CASE("train checks: a non-finite update is not saved; the last good checkpoint is kept", "[train][checks]") {
  Setup s;
  s.first_epoch();
  const std::vector<char> ckpt = file_bytes(s.to.checkpoint_path);
  const std::vector<char> best = file_bytes(s.to.best_path);
  REQUIRE(!ckpt.empty());
  REQUIRE(!best.empty());

  // A learning rate that is finite in double but overflows float: the first update of epoch 2
  // turns the weights non-finite while its loss (computed before the update) is finite.
  SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
  TrainOptions o = s.to;
  o.optimizer.lr = 1e39;
  o.warmup_epochs = 0;
  Trainer<float, Cpu> t(s.ctx, net, o);
  t.resume(s.to.checkpoint_path);
  REQUIRE(t.epoch() == 1);
  CHECK_THROWS_WITH(t.fit(s.data.train, &s.data.val),
                    Contains("training stopped") && Contains("made tensor '") && Contains("non-finite") &&
                        Contains("the last good checkpoint is kept in " + s.to.checkpoint_path));
  CHECK(file_bytes(s.to.checkpoint_path) == ckpt);
  CHECK(file_bytes(s.to.best_path) == best);
  // The kept checkpoint is good: it loads (all values finite) and resumes.
  Trainer<float, Cpu> again(s.ctx, net, s.to);
  CHECK_NOTHROW(again.resume(s.to.checkpoint_path));
}

TEST_CASE("train checks: checkpoint metadata is validated, naming the file and key", "[train][checks]") {
  Setup s;
  s.first_epoch();
  const io::SafetensorsFile good = io::read_safetensors(s.to.checkpoint_path);
  const std::string bad_path = s.dir.file("bad.safetensors");
  const auto resume_with = [&](const std::string& key, const std::string& value) {
    io::SafetensorsFile f = good;
    f.metadata[key] = value;
    io::write_safetensors(bad_path, f);
    SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
    Trainer<float, Cpu> t(s.ctx, net, s.to);
    t.resume(bad_path);
    return t.epoch();
  };
  const std::string where = "checkpoint '" + bad_path + "': metadata '";
  struct Case {
    const char* key;
    const char* value;
    const char* why;
  };
  for (const Case& c : {Case{"epoch", "nan", "not a finite number"}, Case{"epoch", "1e300", "outside [0, 1000000]"},
                        Case{"epoch", "1e999", "not a finite number"}, Case{"epoch", "-5", "outside [0, 1000000]"},
                        Case{"epoch", "1.7", "not an integer"}, Case{"epoch", "inf", "not a finite number"},
                        Case{"epoch", "2x", "not a number"}, Case{"epoch", "", "not a finite number"},
                        Case{"step", "nan", "not a finite number"}, Case{"step", "-3", "outside [0, "},
                        Case{"step", "2.5", "not an integer"}, Case{"step", "1e300", "outside [0, "},
                        Case{"best_dice", "nan", "not a finite number"}, Case{"best_dice", "7", "outside [-1, 1]"},
                        Case{"best_dice", "-inf", "not a finite number"}}) {
    INFO(c.key << " = " << c.value);
    CHECK_THROWS_WITH(resume_with(c.key, c.value),
                      Contains(where + c.key + "' = '" + c.value + "' ") && Contains(c.why));
  }
  // Missing key.
  {
    io::SafetensorsFile f = good;
    f.metadata.erase("step");
    io::write_safetensors(bad_path, f);
    SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
    Trainer<float, Cpu> t(s.ctx, net, s.to);
    CHECK_THROWS_WITH(t.resume(bad_path), Contains("'" + bad_path + "' has no 'step'"));
  }
  // Valid values are taken as they are.
  CHECK(resume_with("epoch", "1") == 1);
  CHECK(resume_with("best_dice", "-1") == 1);
}

TEST_CASE("train checks: negative Adam second moments in a checkpoint are rejected", "[train][checks]") {
  Setup s;
  s.first_epoch();
  io::SafetensorsFile f = io::read_safetensors(s.to.checkpoint_path);
  bool changed = false;
  for (io::TensorRecord& r : f.tensors)
    if (r.name == "optimizer.v.head0.weight") {
      r.data[0] = -1e-4f;
      changed = true;
    }
  REQUIRE(changed);
  const std::string bad_path = s.dir.file("negv.safetensors");
  io::write_safetensors(bad_path, f);
  SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
  Trainer<float, Cpu> t(s.ctx, net, s.to);
  CHECK_THROWS_WITH(t.resume(bad_path), Contains("weights file '" + bad_path + "'") &&
                                            Contains("tensor 'optimizer.v.head0.weight' holds a negative second moment"));
}

TEST_CASE("train checks: non-finite or absurd options are refused", "[train][checks]") {
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net(ctx, tiny_config(), NetForm::Train, 4);
  TrainOptions o;
  o.optimizer.weight_decay = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH((Trainer<float, Cpu>(ctx, net, o)), Contains("weight decay inf must be finite"));
  o.optimizer.weight_decay = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH((Trainer<float, Cpu>(ctx, net, o)), Contains("weight decay"));
  o.optimizer.weight_decay = 0;
  o.warmup_epochs = 1e308;
  CHECK_THROWS_WITH((Trainer<float, Cpu>(ctx, net, o)), Contains("warm-up epochs 1e+308 must be in [0, 1000000]"));
  o.warmup_epochs = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH((Trainer<float, Cpu>(ctx, net, o)), Contains("warm-up epochs inf"));
  o.warmup_epochs = 2;
  CHECK_NOTHROW(Trainer<float, Cpu>(ctx, net, o));
}
