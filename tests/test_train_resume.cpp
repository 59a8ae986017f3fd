// Issue 21 items 10, 11 and 17: the run record that checkpoints carry (options and the identity of
// the slices) and its comparison; a training-stopped error names a kept checkpoint only where one
// exists; the trainer says whether it wrote the best file; resume from a file already read.
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "support/train_fixture.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/train/run_record.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

using namespace srmds;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

using srmds::test::TempDir;

struct Setup : srmds::test::TrainFixture {
  Setup() : TrainFixture(3, 0.4) {}
};

}  // namespace

TEST_CASE("run record: JSON round trip, changes, malformed records", "[train][resume]") {
  const RunRecord r{{"--seed", "1"}, {"--lr", "0.0005"}, {"training slices", "2 slices of 32 x 32, content 00ff"}};
  CHECK(run_record_from_json(run_record_to_json(r), "x") == r);
  RunRecord given = r;
  given["--seed"] = "2";
  given["--new-option"] = "7";  // a name the stored record lacks (an older srmds) is not compared
  const std::vector<RunChange> changes = run_changes(r, given);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].name == "--seed");
  CHECK(changes[0].stored == "1");
  CHECK(changes[0].given == "2");
  CHECK(run_changes(r, r).empty());
  CHECK_THROWS_WITH(run_record_from_json("{\"a\": 1}", "metadata 'run'"), Contains("metadata 'run'") && Contains("'a'"));
  CHECK_THROWS_WITH(run_record_from_json("[1]", "metadata 'run'"), Contains("not a JSON object"));
  CHECK_THROWS_WITH(run_record_from_json("{", "metadata 'run'"), Contains("not valid JSON"));
  CHECK(shortest_double(0.0005) == "0.0005");
  CHECK(shortest_double(0.1) == "0.1");
  CHECK(shortest_double(0) == "0");
  const RunRecord c = config_record(config_to_json(NetConfig{}));
  CHECK(c.at("base") == "64");
  CHECK(c.count("input_size") == 1);
}

TEST_CASE("run record: the slices' identity follows the pixels, the split and the order, not the paths",
          "[train][resume]") {
  Setup s;
  const std::string train_id = slices_identity(s.data.train), val_id = slices_identity(s.data.val);
  CHECK(train_id.find(std::to_string(s.data.train.size()) + " slices of 32 x 32, content ") == 0);
  // The same files read again, and a copy elsewhere: the same identity.
  CHECK(slices_identity(load_train_data(s.images, s.masks, s.cfg, 0.4, 1, true).train) == train_id);
  const std::string moved = s.dir.file("moved");
  fs::copy(s.dir.file("data"), moved, fs::copy_options::recursive);
  std::vector<std::string> mi, mm;
  for (size_t i = 0; i < s.images.size(); ++i) {
    mi.push_back((fs::path(moved) / fs::path(s.images[i]).filename()).string());
    mm.push_back((fs::path(moved) / fs::path(s.masks[i]).filename()).string());
  }
  const TrainData m = load_train_data(mi, mm, s.cfg, 0.4, 1, true);
  CHECK(slices_identity(m.train) == train_id);
  CHECK(slices_identity(m.val) == val_id);
  // No validation: validation slices move into training.
  const TrainData all = load_train_data(s.images, s.masks, s.cfg, 0, 1, true);
  CHECK(slices_identity(all.train) != train_id);
  CHECK(slices_identity(all.val) != val_id);
  // Another order of the volumes.
  std::vector<std::string> ri(s.images.rbegin(), s.images.rend()), rm(s.masks.rbegin(), s.masks.rend());
  CHECK(slices_identity(load_train_data(ri, rm, s.cfg, 0, 1, true).train) != slices_identity(all.train));
  // Another window: other pixels.
  NetConfig other = s.cfg;
  other.window.reset();
  CHECK(slices_identity(load_train_data(s.images, s.masks, other, 0, 1, true).train) != slices_identity(all.train));
}

TEST_CASE("train: checkpoints carry the caller's metadata; reserved keys are refused", "[train][resume]") {
  Setup s;
  s.to.checkpoint_metadata["run"] = run_record_to_json({{"--seed", "1"}});
  s.first_epoch();
  const io::SafetensorsFile f = io::read_safetensors(s.to.checkpoint_path);
  REQUIRE(f.metadata.count("run") == 1);
  CHECK(run_record_from_json(f.metadata.at("run"), "run").at("--seed") == "1");
  CHECK(f.metadata.at("epoch") == "1");
  TrainOptions bad = s.to;
  bad.checkpoint_metadata["epoch"] = "7";
  SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
  CHECK_THROWS_WITH((Trainer<float, Cpu>(s.ctx, net, bad)), Contains("reserved key 'epoch'"));
  // resume() from a file already read is resume() from its path.
  Trainer<float, Cpu> t(s.ctx, net, s.to);
  t.resume(f, s.to.checkpoint_path);
  CHECK(t.epoch() == 1);
  CHECK(t.step() == std::stoll(f.metadata.at("step")));
}

TEST_CASE("train: a stopped run names the last good checkpoint only where one exists", "[train][resume]") {
  Setup s;
  // lr 1e39 overflows float: the first update makes the weights non-finite.
  TrainOptions o = s.to;
  o.optimizer.lr = 1e39;
  o.warmup_epochs = 0;
  SECTION("a new run stopped in its first epoch has no checkpoint") {
    SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
    Trainer<float, Cpu> t(s.ctx, net, o);
    try {
      t.fit(s.data.train, &s.data.val);
      FAIL("no error");
    } catch (const Error& e) {
      const std::string m = e.what();
      CHECK_THAT(m, Contains("training stopped") && Contains("no checkpoint was written"));
      CHECK_THAT(m, !Contains("kept in"));
    }
    CHECK(!fs::exists(s.to.checkpoint_path));
    CHECK(!fs::exists(s.to.best_path));
  }
  SECTION("a run resumed into another checkpoint path names the resumed file") {
    s.first_epoch();
    o.checkpoint_path = s.dir.file("other.safetensors");
    o.best_path = s.dir.file("other.best.safetensors");
    SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
    Trainer<float, Cpu> t(s.ctx, net, o);
    t.resume(s.to.checkpoint_path);
    CHECK_THROWS_WITH(t.fit(s.data.train, &s.data.val),
                      Contains("the last good checkpoint is kept in " + s.to.checkpoint_path));
    CHECK(!fs::exists(o.checkpoint_path));
  }
}

TEST_CASE("train: best_written says whether this run wrote the best file", "[train][resume]") {
  Setup s;
  {
    SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
    TrainOptions o = s.to;
    o.stop_after_epochs = 1;
    Trainer<float, Cpu> t(s.ctx, net, o);
    CHECK(!t.best_written());
    t.fit(s.data.train, &s.data.val);
    CHECK(t.best_written());
    CHECK(fs::exists(s.to.best_path));
  }
  // A checkpoint whose validation Dice no epoch can beat, resumed into another path.
  io::SafetensorsFile f = io::read_safetensors(s.to.checkpoint_path);
  f.metadata["best_dice"] = "1";
  const std::string perfect = s.dir.file("perfect.safetensors");
  io::write_safetensors(perfect, f);
  TrainOptions o = s.to;
  o.checkpoint_path = s.dir.file("next.safetensors");
  o.best_path = s.dir.file("next.best.safetensors");
  SrmdsNet<float, Cpu> net(s.ctx, s.cfg, NetForm::Train, 4);
  Trainer<float, Cpu> t(s.ctx, net, o);
  t.resume(perfect);
  REQUIRE(t.fit(s.data.train, &s.data.val).size() == 1);
  CHECK(!t.best_written());
  CHECK(!fs::exists(o.best_path));
  CHECK(fs::exists(o.checkpoint_path));
  // Without validation the latest weights are the best file's, every epoch.
  TrainOptions nv = o;
  nv.epochs = 3;
  Trainer<float, Cpu> t2(s.ctx, net, nv);
  t2.resume(o.checkpoint_path);
  TrainData no_val = load_train_data(s.images, s.masks, s.cfg, 0, 1, true);
  t2.fit(no_val.train, nullptr);
  CHECK(t2.best_written());
  CHECK(fs::exists(o.best_path));
}
