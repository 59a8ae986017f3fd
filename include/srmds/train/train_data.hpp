// The training and validation sets of a run (srmds train, demo): every slice of the image/mask
// pairs at the config's input size, window and lesion labels, split by volume (about val_fraction
// of the volumes, drawn with Rng(seed), go to validation; see SliceDataset::split_by_volume).
// The training set is shuffled per epoch (flipped with `random_flip`, augmented with `augment`) from
// `seed`; the validation set is served in load order as it is.
#pragma once

#include <string>
#include <vector>

#include "srmds/data/slice_dataset.hpp"
#include "srmds/nets/config.hpp"

namespace srmds {

struct TrainData {
  SliceDataset train;
  SliceDataset val;  // may be empty (val_fraction 0)
};

// `options` says how the inputs are read (SliceDataOptions::from_config(config) plus the DICOM
// series, 16-bit PNG and mask-image label choices).
inline TrainData load_train_data(const std::vector<std::string>& images, const std::vector<std::string>& masks,
                                 const SliceDataOptions& options, double val_fraction, uint64_t seed, bool random_flip,
                                 const Augmentation& augment = {}) {
  SRMDS_CHECK(val_fraction >= 0 && val_fraction < 1,
              "load_train_data: validation fraction " << val_fraction << " must be in [0, 1)");
  const SliceDataset all(images, masks, options);
  const auto split = all.split_by_volume(val_fraction, seed);
  TrainData out;
  out.train = all.subset(split.first, SliceSampling{true, random_flip, seed, augment});
  out.val = all.subset(split.second, SliceSampling{});
  SRMDS_CHECK(out.train.size() > 0, "load_train_data: no training slices left after the validation split");
  return out;
}

inline TrainData load_train_data(const std::vector<std::string>& images, const std::vector<std::string>& masks,
                                 const NetConfig& config, double val_fraction, uint64_t seed, bool random_flip) {
  return load_train_data(images, masks, SliceDataOptions::from_config(config), val_fraction, seed, random_flip);
}

}  // namespace srmds
