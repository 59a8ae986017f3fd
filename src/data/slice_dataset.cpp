// SliceDataset: loading, subsets, epoch order and batches (see data/slice_dataset.hpp).
#include "srmds/data/slice_dataset.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "srmds/core/rng.hpp"
#include "srmds/data/labels.hpp"
#include "srmds/data/volume_slices.hpp"
#include "srmds/io/nifti.hpp"

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

const SliceDataOptions& SliceDataset::options() const {
  SRMDS_CHECK(m_store, "SliceDataset: empty dataset");
  return m_store->options;
}
const std::vector<std::string>& SliceDataset::image_paths() const {
  SRMDS_CHECK(m_store, "SliceDataset: empty dataset");
  return m_store->image_paths;
}
const std::vector<std::string>& SliceDataset::mask_paths() const {
  SRMDS_CHECK(m_store, "SliceDataset: empty dataset");
  return m_store->mask_paths;
}
const std::vector<std::string>& SliceDataset::warnings() const {
  SRMDS_CHECK(m_store, "SliceDataset: empty dataset");
  return m_store->warnings;
}

int64_t SliceDataset::store_index(int64_t i) const {
  SRMDS_CHECK(i >= 0 && i < size(), "SliceDataset: slice index " << i << " out of range [0, " << size() << ")");
  return m_indices[static_cast<size_t>(i)];
}

SliceSource SliceDataset::source(int64_t i) const { return m_store->sources[static_cast<size_t>(store_index(i))]; }

const float* SliceDataset::image(int64_t i) const {
  const int64_t s = store_index(i);
  return m_store->images.data() + s * height() * width();
}

const uint8_t* SliceDataset::mask(int64_t i) const {
  const int64_t s = store_index(i);
  return m_store->masks.data() + s * height() * width();
}

SliceDataset SliceDataset::subset(const std::vector<int64_t>& indices, SliceSampling sampling) const {
  SliceDataset d;
  d.m_store = m_store;
  d.m_sampling = sampling;
  d.m_indices.reserve(indices.size());
  for (int64_t i : indices) d.m_indices.push_back(store_index(i));
  d.set_epoch(0);
  return d;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> SliceDataset::split_by_volume(double val_fraction,
                                                                                    uint64_t seed) const {
  SRMDS_CHECK(val_fraction >= 0.0 && val_fraction < 1.0,
              "SliceDataset::split_by_volume: val_fraction " << val_fraction << " must be in [0, 1)");
  std::vector<int> volumes;
  for (int64_t i = 0; i < size(); ++i) volumes.push_back(source(i).volume);
  std::sort(volumes.begin(), volumes.end());
  volumes.erase(std::unique(volumes.begin(), volumes.end()), volumes.end());
  Rng rng(seed);
  std::pair<std::vector<int64_t>, std::vector<int64_t>> out;
  if (val_fraction == 0.0 || size() < 2) {
    for (int64_t i = 0; i < size(); ++i) out.first.push_back(i);
    return out;
  }
  auto shuffle = [&rng](auto& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(rng.below(i))]);
  };
  if (volumes.size() >= 2) {
    shuffle(volumes);
    size_t n_val = static_cast<size_t>(std::llround(val_fraction * static_cast<double>(volumes.size())));
    n_val = std::clamp<size_t>(n_val, 1, volumes.size() - 1);
    std::vector<uint8_t> is_val(static_cast<size_t>(*std::max_element(volumes.begin(), volumes.end()) + 1), 0);
    for (size_t i = 0; i < n_val; ++i) is_val[static_cast<size_t>(volumes[i])] = 1;
    for (int64_t i = 0; i < size(); ++i) (is_val[static_cast<size_t>(source(i).volume)] ? out.second : out.first).push_back(i);
  } else {
    std::vector<int64_t> idx(static_cast<size_t>(size()));
    std::iota(idx.begin(), idx.end(), int64_t{0});
    shuffle(idx);
    size_t n_val = static_cast<size_t>(std::llround(val_fraction * static_cast<double>(idx.size())));
    n_val = std::clamp<size_t>(n_val, 1, idx.size() - 1);
    out.second.assign(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_val));
    out.first.assign(idx.begin() + static_cast<std::ptrdiff_t>(n_val), idx.end());
    std::sort(out.first.begin(), out.first.end());
    std::sort(out.second.begin(), out.second.end());
  }
  return out;
}

void SliceDataset::set_epoch(uint64_t epoch) {
  m_epoch = epoch;
  const size_t n = m_indices.size();
  m_order.resize(n);
  std::iota(m_order.begin(), m_order.end(), int64_t{0});
  m_flip.assign(n, 0);
  Rng rng(m_sampling.seed * 0x9E3779B97F4A7C15ull + epoch * 0xD1B54A32D192ED03ull + 1);
  if (m_sampling.shuffle)
    for (size_t i = n; i > 1; --i) std::swap(m_order[i - 1], m_order[static_cast<size_t>(rng.below(i))]);
  if (m_sampling.random_flip)
    for (size_t i = 0; i < n; ++i) m_flip[i] = static_cast<uint8_t>(rng.next_u64() >> 63);
}

int64_t SliceDataset::num_batches(int64_t batch_size) const {
  SRMDS_CHECK(batch_size > 0, "SliceDataset: batch size " << batch_size << " must be positive");
  return (size() + batch_size - 1) / batch_size;
}

SliceBatch SliceDataset::batch(int64_t b, int64_t batch_size) const {
  const int64_t nb = num_batches(batch_size);
  SRMDS_CHECK(b >= 0 && b < nb, "SliceDataset: batch " << b << " out of range [0, " << nb << ") for " << size()
                                                       << " slices in batches of " << batch_size);
  const int64_t first = b * batch_size;
  return serve(first, std::min(batch_size, size() - first));
}

SliceBatch SliceDataset::serve(int64_t first, int64_t n) const {
  SRMDS_CHECK(first >= 0 && n >= 0 && first <= size() && n <= size() - first,
              "SliceDataset: positions [" << first << ", " << first + n << ") out of range [0, " << size() << "]");
  const int H = height(), W = width();
  SliceBatch out;
  out.images = Tensor<float, Cpu>(Shape{n, 1, H, W});
  out.masks = Tensor<float, Cpu>(Shape{n, 1, H, W});
  for (int64_t s = 0; s < n; ++s) {
    const size_t pos = static_cast<size_t>(first + s);
    const int64_t idx = m_order[pos];
    const bool flip = m_flip[pos] != 0;
    out.indices.push_back(idx);
    out.flipped.push_back(flip ? 1 : 0);
    const float* img = image(idx);
    const uint8_t* msk = mask(idx);
    float* di = out.images.sample(s);
    float* dm = out.masks.sample(s);
    if (m_sampling.augment.any()) {
      Rng rng(m_sampling.seed * 0x9E3779B97F4A7C15ull + m_epoch * 0xD1B54A32D192ED03ull + pos * 0x94D049BB133111EBull + 2);
      augment_slice(m_sampling.augment, rng, img, msk, H, W, di, dm);
      if (flip)
        for (int y = 0; y < H; ++y) {
          std::reverse(di + static_cast<int64_t>(y) * W, di + static_cast<int64_t>(y + 1) * W);
          std::reverse(dm + static_cast<int64_t>(y) * W, dm + static_cast<int64_t>(y + 1) * W);
        }
      continue;
    }
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const int64_t src = static_cast<int64_t>(y) * W + (flip ? W - 1 - x : x);
        const int64_t dst = static_cast<int64_t>(y) * W + x;
        di[dst] = img[src];
        dm[dst] = msk[src];
      }
  }
  return out;
}

}  // namespace srmds
