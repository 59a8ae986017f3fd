// SliceDataset's loading from image and mask files (see data/slice_dataset.hpp), apart from the rest
// of the class so that a program that builds its datasets in memory (the GPU bundle's tests) links
// none of the readers.
#include <numeric>

#include "srmds/data/labels.hpp"
#include "srmds/data/slice_dataset.hpp"
#include "srmds/data/volume_slices.hpp"

namespace srmds {

SliceDataset::SliceDataset(const std::vector<std::string>& image_paths, const std::vector<std::string>& mask_paths,
                           const SliceDataOptions& options, SliceSampling sampling)
    : m_sampling(sampling) {
  SRMDS_CHECK(!image_paths.empty(), "SliceDataset: no image files given");
  SRMDS_CHECK(image_paths.size() == mask_paths.size(), "SliceDataset: " << image_paths.size() << " image files but "
                                                                        << mask_paths.size() << " mask files");
  SRMDS_CHECK(options.input_size[0] > 0 && options.input_size[1] > 0,
              "SliceDataset: input_size (" << options.input_size[0] << ", " << options.input_size[1]
                                           << ") must be positive");
  auto store = std::make_shared<Store>();
  store->options = options;
  store->image_paths = image_paths;
  store->mask_paths = mask_paths;
  const int64_t hw = static_cast<int64_t>(options.input_size[0]) * options.input_size[1];
  int64_t unmatched_masks = 0;  // masks whose labels all miss the lesion set: the first is named
  for (size_t v = 0; v < image_paths.size(); ++v) {
    const InputVolume input = read_input_volume(image_paths[v], options.input);
    const MaskVolume labels = read_mask_for(input, mask_paths[v], options.lesion_labels, options.image_mask_labels);
    for (const std::string& w : input.warnings) store->warnings.push_back(w);
    for (const std::string& w : labels.warnings) store->warnings.push_back(w);
    const std::string unmatched = unmatched_labels_warning(labels.labels.data.data(), static_cast<int64_t>(labels.labels.data.size()),
                                                           labels.lesion_labels, mask_paths[v]);
    if (!unmatched.empty() && unmatched_masks++ == 0) store->warnings.push_back(unmatched);
    const Tensor<float, Cpu> img = input_to_model(input, options);
    const Tensor<float, Cpu> msk = mask_to_target(labels, options);
    const int64_t nk = input.volume.nk();
    store->images.insert(store->images.end(), img.data(), img.data() + nk * hw);
    const size_t old = store->masks.size();
    store->masks.resize(old + static_cast<size_t>(nk * hw));
    for (int64_t i = 0; i < nk * hw; ++i) store->masks[old + static_cast<size_t>(i)] = msk[i] != 0.0f ? 1 : 0;
    for (int64_t k = 0; k < nk; ++k) store->sources.push_back({static_cast<int>(v), k});
  }
  if (unmatched_masks > 1)
    store->warnings.push_back(std::to_string(unmatched_masks - 1) + " other mask(s) have no voxel of a lesion label either");
  m_indices.resize(store->sources.size());
  std::iota(m_indices.begin(), m_indices.end(), int64_t{0});
  m_store = std::move(store);
  set_epoch(0);
}

}  // namespace srmds
