// SliceDataset: 2-D training/evaluation slices from NIfTI image/mask pairs (SPEC §7).
//
// Loading, per pair: the image (NIfTI, DICOM series or 2-D PNG/JPEG, data/input_volume.hpp) and
// its mask are read (sizes checked, a flipped mask grid lined up), the image is windowed over the
// whole volume (apply_window with input_window: HU window or per-volume min-max; 8-bit images
// x / 255), the mask's labels are selected (select_lesions: lesion_labels for volumes,
// image_mask_labels for mask images), and every slice k (H = nj, W = ni, see io/nifti.hpp) is
// resized to input_size (bilinear for the image, nearest for the 0/1 mask) unless it already has
// that size.
// All slices are kept in memory at model size: 4 + 1 bytes per pixel (2792 slices of 512 x 512:
// about 3.7 GB).
//
// Serving: batch b of the current epoch order holds slices order[b * B .. min((b + 1) B, size)),
// as images (n, 1, H, W) in [0, 1] and masks (n, 1, H, W) in {0, 1}. With `shuffle`, the order is a
// permutation drawn from Rng(seed, epoch); with `random_flip`, each served slice is mirrored along W
// (w -> W - 1 - w, image and mask together) with probability 1/2, drawn from the same stream; with
// `augment` (data/augment.hpp), each served slice is first augmented from an Rng of its own
// (seed, epoch, serving position).
// Same seed and epoch -> same batches. Without shuffle the order is the load order (volume by
// volume, k ascending).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "srmds/core/tensor.hpp"
#include "srmds/data/augment.hpp"
#include "srmds/data/input_volume.hpp"
#include "srmds/data/window.hpp"
#include "srmds/nets/config.hpp"

namespace srmds {

struct SliceDataOptions {
  std::array<int, 2> input_size{512, 512};  // model (H, W)
  Window window = lung_window();             // nullopt: per-volume min-max
  std::vector<int> lesion_labels{1, 2};      // empty: any label > 0
  InputOptions input{};                      // DICOM series to pick, 16-bit PNG in HU
  std::vector<int> image_mask_labels{};      // lesion labels of 2-D mask images (empty: any > 0)

  static SliceDataOptions from_config(const NetConfig& c) {
    SliceDataOptions o;
    o.input_size = c.input_size;
    o.window = c.window;
    o.lesion_labels = c.lesion_labels;
    return o;
  }
};

struct SliceSampling {
  bool shuffle = false;
  bool random_flip = false;
  uint64_t seed = 0;
  Augmentation augment{};  // none by default (data/augment.hpp)
};

// Where a slice came from.
struct SliceSource {
  int volume = 0;   // index into image_paths()
  int64_t k = 0;    // slice along the third axis
};

struct SliceBatch {
  Tensor<float, Cpu> images;       // (n, 1, H, W), windowed, in [0, 1]
  Tensor<float, Cpu> masks;        // (n, 1, H, W), 0 or 1
  std::vector<int64_t> indices;    // dataset index of each sample
  std::vector<uint8_t> flipped;    // 1 where the sample was mirrored along W
};

class SliceDataset {
public:
  SliceDataset() = default;
  // Loads every slice of every pair; image_paths[i] goes with mask_paths[i]. Throws srmds::Error
  // for unequal list lengths, an empty list, unreadable files or image/mask size mismatches.
  SliceDataset(const std::vector<std::string>& image_paths, const std::vector<std::string>& mask_paths,
               const SliceDataOptions& options, SliceSampling sampling = {});
  // Slices already at model size: images (n, 1, H, W) as the model takes them (windowed), masks of
  // the same shape holding 0 or 1; H, W must be options.input_size. Slice k is volume k (its own
  // volume for split_by_volume); image_paths() is empty. Throws srmds::Error naming the shape or
  // the first mask value that is not 0 or 1. Links none of the file readers (src/data/
  // slice_dataset_files.cpp holds the constructor above).
  static SliceDataset from_memory(const Tensor<float, Cpu>& images, const Tensor<float, Cpu>& masks,
                                  const SliceDataOptions& options, SliceSampling sampling = {});

  int64_t size() const { return static_cast<int64_t>(m_indices.size()); }
  int height() const { return m_store ? m_store->options.input_size[0] : 0; }
  int width() const { return m_store ? m_store->options.input_size[1] : 0; }
  const SliceDataOptions& options() const;
  const std::vector<std::string>& image_paths() const;
  const std::vector<std::string>& mask_paths() const;
  // Warnings of the readers (uneven DICOM spacing, masks on another grid), one line each.
  const std::vector<std::string>& warnings() const;

  // Slice i of this dataset (0 <= i < size()), at model size, unflipped.
  SliceSource source(int64_t i) const;
  const float* image(int64_t i) const;   // (H, W)
  const uint8_t* mask(int64_t i) const;  // (H, W)

  // A dataset serving only the given slices (indices into this dataset), sharing the pixels.
  SliceDataset subset(const std::vector<int64_t>& indices, SliceSampling sampling) const;
  // Splits the slices by volume: about val_fraction of the volumes (at least one when
  // val_fraction > 0 and there are two or more volumes) chosen with Rng(seed) go to the second
  // list. With a single volume the slices themselves are split. Returns (train, val) indices.
  std::pair<std::vector<int64_t>, std::vector<int64_t>> split_by_volume(double val_fraction, uint64_t seed) const;

  // Draws the order and flips of epoch `epoch` (call before each epoch; epoch 0 is drawn at construction).
  void set_epoch(uint64_t epoch);
  int64_t num_batches(int64_t batch_size) const;
  SliceBatch batch(int64_t b, int64_t batch_size) const;
  // Positions [first, first + count) of the epoch's order, flipped and augmented exactly as the
  // batches that hold them serve them (batch b is serve(b * B, min(B, size() - b * B))): a rank's
  // shard of a global batch in data-parallel training. count may be 0.
  SliceBatch serve(int64_t first, int64_t count) const;

private:
  struct Store {
    SliceDataOptions options;
    std::vector<std::string> image_paths, mask_paths, warnings;
    std::vector<SliceSource> sources;
    std::vector<float> images;   // (slices, H, W)
    std::vector<uint8_t> masks;  // (slices, H, W)
  };
  int64_t store_index(int64_t i) const;

  std::shared_ptr<const Store> m_store;
  std::vector<int64_t> m_indices;  // store slice of each dataset index
  SliceSampling m_sampling;
  std::vector<int64_t> m_order;    // dataset indices in serving order
  std::vector<uint8_t> m_flip;     // per serving position
  uint64_t m_epoch = 0;
};

}  // namespace srmds
