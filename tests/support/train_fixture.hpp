// A small training set-up shared by the trainer tests: `volumes` phantom volumes of 2 slices of
// 32 x 32 in a temporary folder, split with `val_fraction`, a base-4 network's config, options for
// 2 epochs of batch 2 with a checkpoint and best file in the folder, and first_epoch() to leave both
// on disk after one good epoch.
#pragma once

#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

namespace srmds::test {

struct TrainFixture {
  TempDir dir;
  NetConfig cfg;
  std::vector<std::string> images, masks;
  TrainData data;
  TrainOptions to;
  Context<Cpu> ctx;

  TrainFixture(int volumes, double val_fraction) {
    cfg.base = 4;
    cfg.input_size = {32, 32};
    for (const PhantomFiles& f : write_phantom_dataset(dir.file("data"), volumes, 32, 31, 2)) {
      images.push_back(f.image);
      masks.push_back(f.mask);
    }
    data = load_train_data(images, masks, cfg, val_fraction, 1, true);
    to.epochs = 2;
    to.batch = 2;
    to.checkpoint_path = dir.file("ckpt.safetensors");
    to.best_path = dir.file("ckpt.best.safetensors");
  }

  void first_epoch() {
    SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 4);
    TrainOptions o = to;
    o.stop_after_epochs = 1;
    Trainer<float, Cpu> t(ctx, net, o);
    t.fit(data.train, &data.val);
  }
};

}  // namespace srmds::test
