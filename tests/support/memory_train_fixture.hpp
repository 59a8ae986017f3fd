// TrainFixture's set-up with the slices made in memory (SliceDataset::from_memory) instead of read
// from NIfTI files: `volumes` phantom volumes of 2 slices of 32 x 32 (the same phantoms
// TrainFixture writes: generator seed 31), windowed with the lung window, every slice for training
// (shuffled and flipped with seed 1, as load_train_data does), no validation slices; a base-4
// network's config and options for 2 epochs of batch 2 with a checkpoint and best file in a
// temporary folder. For the GPU bundle's tests: its program links no file reader, so it needs no
// NIfTI or DICOM library on the GPU machine.
#pragma once

#include "support/temp_dir.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/data/window.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

namespace srmds::test {

struct MemoryTrainFixture {
  static constexpr int kSize = 32, kSlicesPerVolume = 2;
  TempDir dir;
  NetConfig cfg;
  TrainData data;
  TrainOptions to;

  explicit MemoryTrainFixture(int volumes) {
    cfg.base = 4;
    cfg.input_size = {kSize, kSize};
    const int64_t n = static_cast<int64_t>(volumes) * kSlicesPerVolume, hw = kSize * kSize;
    Tensor<float, Cpu> images(Shape{n, 1, kSize, kSize}), masks(Shape{n, 1, kSize, kSize});
    for (int v = 0; v < volumes; ++v)
      for (int k = 0; k < kSlicesPerVolume; ++k) {
        const PhantomSlice s = generate_phantom(kSize, kSize, phantom_slice_seed(31, v, k));
        const int64_t at = (static_cast<int64_t>(v) * kSlicesPerVolume + k) * hw;
        apply_window(s.hu.data(), hw, lung_window(), images.data() + at);
        for (int64_t i = 0; i < hw; ++i) masks[at + i] = s.labels[static_cast<size_t>(i)] != 0 ? 1.0f : 0.0f;
      }
    data.train = SliceDataset::from_memory(images, masks, SliceDataOptions::from_config(cfg), SliceSampling{true, true, 1});
    to.epochs = 2;
    to.batch = 2;
    to.checkpoint_path = dir.file("ckpt.safetensors");
    to.best_path = dir.file("ckpt.best.safetensors");
  }
};

}  // namespace srmds::test
