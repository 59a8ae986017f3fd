// SliceDataset: loading, subsets, epoch order and batches (see data/slice_dataset.hpp).
#include "srmds/data/slice_dataset.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "srmds/core/rng.hpp"

namespace srmds {

SliceDataset SliceDataset::from_memory(const Tensor<float, Cpu>& images, const Tensor<float, Cpu>& masks,
                                       const SliceDataOptions& options, SliceSampling sampling) {
  const Shape& s = images.shape();
  SRMDS_CHECK(s.rank() == 4 && s.c() == 1 && s.n() > 0 && s.h() > 0 && s.w() > 0,
              "SliceDataset::from_memory: images " << s << " must be a non-empty (n, 1, H, W) tensor");
  SRMDS_CHECK(masks.shape() == s, "SliceDataset::from_memory: masks " << masks.shape() << " must be " << s);
  SRMDS_CHECK(options.input_size[0] == s.h() && options.input_size[1] == s.w(),
              "SliceDataset::from_memory: images " << s << " are not of the options' input size ("
                                                   << options.input_size[0] << ", " << options.input_size[1] << ")");
  auto store = std::make_shared<Store>();
  store->options = options;
  const int64_t hw = s.h() * s.w();
  store->images.resize(static_cast<size_t>(s.n() * hw));
  store->masks.resize(store->images.size());
  for (int64_t k = 0; k < s.n(); ++k) {  // sample k starts at data() + k batch_stride() (views may be strided)
    const float* im = images.data() + k * images.batch_stride();
    const float* mk = masks.data() + k * masks.batch_stride();
    for (int64_t i = 0; i < hw; ++i) {
      SRMDS_CHECK(mk[i] == 0.0f || mk[i] == 1.0f,
                  "SliceDataset::from_memory: mask value " << mk[i] << " of slice " << k << " is not 0 or 1");
      store->images[static_cast<size_t>(k * hw + i)] = im[i];
      store->masks[static_cast<size_t>(k * hw + i)] = mk[i] != 0.0f ? 1 : 0;
    }
  }
  for (int64_t k = 0; k < s.n(); ++k) store->sources.push_back({static_cast<int>(k), 0});
  SliceDataset d;
  d.m_sampling = sampling;
  d.m_indices.resize(store->sources.size());
  std::iota(d.m_indices.begin(), d.m_indices.end(), int64_t{0});
  d.m_store = std::move(store);
  d.set_epoch(0);
  return d;
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
