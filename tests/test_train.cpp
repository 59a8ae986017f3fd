// Training end to end on the CPU (SPEC §5, §9): exact resume, the loss follows the network's
// align_corners, a non-finite loss stops training and keeps the last good checkpoint, and training
// on phantoms reaches a held-out Dice of 0.80.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/infer/evaluate.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

using namespace srmds;
namespace fs = std::filesystem;

namespace {

using srmds::test::TempDir;

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

struct Phantoms {
  std::vector<std::string> images, masks;
};

Phantoms write_phantoms(const std::string& dir, int count, int size, uint64_t seed, int slices) {
  Phantoms p;
  for (const PhantomFiles& f : write_phantom_dataset(dir, count, size, seed, slices)) {
    p.images.push_back(f.image);
    p.masks.push_back(f.mask);
  }
  return p;
}

NetConfig tiny_config(int base, int size) {
  NetConfig cfg;
  cfg.base = base;
  cfg.input_size = {size, size};
  return cfg;
}

// Every value of the network's state, in order, as raw bits.
std::vector<float> state_values(Context<Cpu>& ctx, SrmdsNet<float, Cpu>& net) {
  std::vector<float> out;
  for (const io::TensorRecord& r : io::state_records(ctx, net.state())) out.insert(out.end(), r.data.begin(), r.data.end());
  return out;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("train: a resumed run continues exactly as the uninterrupted one", "[train]") {
  TempDir dir("resume");
  const Phantoms ph = write_phantoms(dir.file("data"), 3, 32, 11, 3);
  const NetConfig cfg = tiny_config(4, 32);
  TrainData data = load_train_data(ph.images, ph.masks, cfg, 0.34, 5, true);
  REQUIRE(data.train.size() == 6);
  REQUIRE(data.val.size() == 3);
  TrainOptions to;
  to.epochs = 2;
  to.batch = 4;  // 2 steps per epoch, the last one partial
  to.optimizer.lr = 2e-3;
  to.warmup_epochs = 1;
  to.ema_decay = GENERATE(0.0, 0.9);  // with EMA the checkpoint also holds the averages
  INFO("ema decay " << to.ema_decay);
  Context<Cpu> ctx;

  // Uninterrupted: 2 epochs.
  to.checkpoint_path = dir.file("full.safetensors");
  SrmdsNet<float, Cpu> full(ctx, cfg, NetForm::Train, 3);
  Trainer<float, Cpu> t_full(ctx, full, to);
  t_full.fit(data.train, &data.val);
  REQUIRE(t_full.loss_history().size() == 4);

  // Interrupted after epoch 1, then resumed into a differently initialised network.
  to.checkpoint_path = dir.file("part.safetensors");
  to.stop_after_epochs = 1;
  std::vector<double> losses;
  {
    SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 3);
    Trainer<float, Cpu> t(ctx, net, to);
    t.fit(data.train, &data.val);
    REQUIRE(t.epoch() == 1);
    losses = t.loss_history();
  }
  REQUIRE(losses.size() == 2);
  to.stop_after_epochs = -1;
  SrmdsNet<float, Cpu> resumed(ctx, cfg, NetForm::Train, 99);
  Trainer<float, Cpu> t_resumed(ctx, resumed, to);
  t_resumed.resume(dir.file("part.safetensors"));
  CHECK(t_resumed.epoch() == 1);
  CHECK(t_resumed.step() == 2);
  t_resumed.fit(data.train, &data.val);
  losses.insert(losses.end(), t_resumed.loss_history().begin(), t_resumed.loss_history().end());

  CHECK(same_bits(losses, t_full.loss_history()));
  for (size_t i = 0; i < losses.size(); ++i) CHECK(losses[i] == t_full.loss_history()[i]);
  CHECK(t_resumed.step() == t_full.step());
  CHECK(same_bits(state_values(ctx, resumed), state_values(ctx, full)));
  CHECK(t_resumed.best_dice() == t_full.best_dice());
  // Both final checkpoints hold the same tensors.
  const io::SafetensorsFile a = io::read_safetensors(dir.file("full.safetensors"));
  const io::SafetensorsFile b = io::read_safetensors(dir.file("part.safetensors"));
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    CHECK(a.tensors[i].name == b.tensors[i].name);
    CHECK(same_bits(a.tensors[i].data, b.tensors[i].data));
  }
  // The checkpoint loads as a model (its optimizer state and averages are skipped by default), and
  // a strict load that ignores nothing names the optimizer tensors (or the averages).
  SrmdsNet<float, Cpu> model = io::load_weights<float, Cpu>(ctx, dir.file("full.safetensors"));
  CHECK(same_bits(state_values(ctx, model), state_values(ctx, full)));
  CHECK_THROWS_WITH((io::load_weights<float, Cpu>(ctx, dir.file("full.safetensors"), {"ema."})),
                    Catch::Contains("optimizer."));
  if (to.ema_decay > 0)
    CHECK_THROWS_WITH((io::load_weights<float, Cpu>(ctx, dir.file("full.safetensors"), {"optimizer."})),
                      Catch::Contains("'ema."));

  // A checkpoint of another configuration is refused.
  SrmdsNet<float, Cpu> other(ctx, tiny_config(8, 32), NetForm::Train, 3);
  Trainer<float, Cpu> t_other(ctx, other, to);
  CHECK_THROWS_WITH(t_other.resume(dir.file("full.safetensors")), Catch::Contains("config"));
}

TEST_CASE("train: the loss upsamples with the network's align_corners", "[train]") {
  // ds upsample bilinearly upsamples z_1..z_3 to the mask: the Trainer's loss must do that the way
  // the network upsamples (NetConfig::align_corners), not with a default of its own; the demo used
  // to train with align_corners true whatever the network's config said.
  TempDir dir("align");
  const Phantoms ph = write_phantoms(dir.file("data"), 2, 32, 31, 2);
  NetConfig cfg = tiny_config(4, 32);
  cfg.align_corners = false;
  TrainData data = load_train_data(ph.images, ph.masks, cfg, 0, 2, true);
  REQUIRE(data.train.size() == 4);
  TrainOptions to;
  to.epochs = 1;
  to.batch = 4;  // one step
  to.loss.ds = DsMode::Upsample;
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 6);
  Trainer<float, Cpu> trainer(ctx, net, to);
  trainer.fit(data.train, nullptr);
  REQUIRE(trainer.loss_history().size() == 1);

  // The same first step by hand: same initial network, same batch, the loss with the config's
  // align_corners (and, for contrast, with the other setting).
  SrmdsNet<float, Cpu> same(ctx, cfg, NetForm::Train, 6);
  data.train.set_epoch(0);
  const SliceBatch batch = data.train.batch(0, 4);
  const auto& z = same.forward_train(ctx, batch.images);
  DeepSupervisionLoss<float, Cpu> with_config(cfg, to.loss);
  NetConfig other = cfg;
  other.align_corners = true;
  DeepSupervisionLoss<float, Cpu> with_other(other, to.loss);
  CHECK(with_config.align_corners() == false);
  const double want = with_config.forward(ctx, z, batch.masks);
  const double wrong = with_other.forward(ctx, z, batch.masks);
  INFO("trainer " << trainer.loss_history()[0] << ", align_corners false " << want << ", true " << wrong);
  REQUIRE(want != wrong);
  CHECK(trainer.loss_history()[0] == want);
}

TEST_CASE("train: a non-finite loss stops training and keeps the last good checkpoint", "[train]") {
  TempDir dir("nan");
  const Phantoms ph = write_phantoms(dir.file("data"), 2, 32, 21, 2);
  const NetConfig cfg = tiny_config(4, 32);
  TrainData data = load_train_data(ph.images, ph.masks, cfg, 0.5, 1, true);
  TrainOptions to;
  to.epochs = 3;
  to.batch = 2;
  to.checkpoint_path = dir.file("ckpt.safetensors");
  to.best_path = dir.file("ckpt.best.safetensors");
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 4);
  to.stop_after_epochs = 1;
  {
    Trainer<float, Cpu> first(ctx, net, to);
    first.fit(data.train, &data.val);
  }
  const std::vector<char> ckpt = file_bytes(to.checkpoint_path);
  const std::vector<char> best = file_bytes(to.best_path);
  REQUIRE(!ckpt.empty());
  REQUIRE(!best.empty());

  // Poison one convolution weight, then continue from the checkpoint.
  to.stop_after_epochs = -1;
  Trainer<float, Cpu> second(ctx, net, to);
  second.resume(to.checkpoint_path);
  bool poisoned = false;
  for (const auto& nt : net.state())
    if (nt.name == "head0.weight") {  // (a NaN inside a block may be hidden by the ReLU, NaN -> 0)
      (*nt.value)[1] = std::numeric_limits<float>::quiet_NaN();
      poisoned = true;
    }
  REQUIRE(poisoned);
  CHECK_THROWS_WITH(second.fit(data.train, &data.val), Catch::Contains("non-finite loss") &&
                                                           Catch::Contains("ckpt.safetensors"));
  CHECK(second.epoch() == 1);
  CHECK(file_bytes(to.checkpoint_path) == ckpt);
  CHECK(file_bytes(to.best_path) == best);
  // No temporary file is left behind either.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path))
    if (e.is_regular_file()) ++files;
  CHECK(files == 2);
}

TEST_CASE("train: phantoms reach a held-out Dice of at least 0.80", "[train][slow]") {
  TempDir dir("dice");
  // Same recipe as `srmds demo --quick`, smaller (apps/srmds/cmd_demo.cpp).
  const Phantoms train = write_phantoms(dir.file("train"), 20, 48, 1, 4);
  const Phantoms test = write_phantoms(dir.file("test"), 4, 48, 1000, 4);
  const NetConfig cfg = tiny_config(8, 48);
  TrainData data = load_train_data(train.images, train.masks, cfg, 0, 1, true);
  const SliceDataset held_out(test.images, test.masks, SliceDataOptions::from_config(cfg));
  TrainOptions to;
  to.epochs = 10;
  to.batch = 4;
  to.optimizer.lr = 5e-3;
  to.warmup_epochs = 1;
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 1);
  Trainer<float, Cpu> trainer(ctx, net, to);
  const auto reports = trainer.fit(data.train, nullptr);
  REQUIRE(reports.size() == 10);
  CHECK(reports.back().train_loss < 0.5 * reports.front().train_loss);
  const MetricsAccumulator acc = evaluate(ctx, net, held_out, 8);
  INFO("held-out dice micro " << acc.micro().dice << ", per-image " << acc.per_image_mean().dice);
  CHECK(acc.micro().dice >= 0.80);
  // The fused form gives the same segmentation quality.
  SrmdsNet<float, Cpu> fused = net.fused(ctx);
  const MetricsAccumulator acc_fused = evaluate(ctx, fused, held_out, 8);
  CHECK(std::abs(acc_fused.micro().dice - acc.micro().dice) < 1e-3);
}
