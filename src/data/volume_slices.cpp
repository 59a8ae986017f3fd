// Model-size slices of a volume and predictions mapped back (see data/volume_slices.hpp).
// Slices are independent: one OpenMP thread per slice (the bodies cannot throw: sizes are checked first).
#include "srmds/data/volume_slices.hpp"

#include <algorithm>
#include <climits>

#include "srmds/core/limits.hpp"
#include "srmds/cpu/parallel.hpp"
#include "srmds/data/labels.hpp"
#include "srmds/data/resize.hpp"

namespace srmds {

namespace {

void check_plane(const char* op, const std::string& path, int64_t ni, int64_t nj, const SliceDataOptions& o) {
  SRMDS_CHECK(o.input_size[0] > 0 && o.input_size[1] > 0,
              op << ": input_size (" << o.input_size[0] << ", " << o.input_size[1] << ") must be positive");
  SRMDS_CHECK(ni <= INT_MAX && nj <= INT_MAX, op << ": '" << path << "' slice " << nj << " x " << ni << " is too large");
}

// The model-size stack (nk, 1, H, W) in float, checked against the memory budget before it is
// allocated (a small file of many tiny slices would otherwise ask for gigabytes).
void check_stack(const char* op, const io::NiftiVolume& v, const SliceDataOptions& o) {
  check_budget(checked_product({static_cast<uint64_t>(v.nk()), static_cast<uint64_t>(o.input_size[0]),
                                static_cast<uint64_t>(o.input_size[1]), sizeof(float)}),
               std::string(op) + ": '" + v.path + "': " + std::to_string(v.nk()) + " slices resized to " +
                   std::to_string(o.input_size[0]) + " x " + std::to_string(o.input_size[1]));
}

}  // namespace

Tensor<float, Cpu> volume_to_input(const io::NiftiVolume& v, const SliceDataOptions& o) {
  check_plane("volume_to_input", v.path, v.ni(), v.nj(), o);
  check_stack("volume_to_input", v, o);
  const int H = o.input_size[0], W = o.input_size[1];
  const int sh = static_cast<int>(v.nj()), sw = static_cast<int>(v.ni());
  std::vector<float> windowed(v.data.size());
  apply_window(v.data.data(), static_cast<int64_t>(v.data.size()), o.window, windowed.data());
  Tensor<float, Cpu> out(Shape{v.nk(), 1, H, W});
  const int64_t plane = v.geometry.slice_voxels();
  cpu::parallel_for(v.nk(), [&](int64_t k) {
    const float* src = windowed.data() + k * plane;
    float* dst = out.sample(k);
    if (sh == H && sw == W)
      std::copy(src, src + plane, dst);
    else
      resize_bilinear(src, sh, sw, dst, H, W);
  }, static_cast<int64_t>(H) * W);
  return out;
}

Tensor<float, Cpu> labels_to_target(const io::NiftiVolume& v, const SliceDataOptions& o) {
  check_plane("labels_to_target", v.path, v.ni(), v.nj(), o);
  check_stack("labels_to_target", v, o);
  const int H = o.input_size[0], W = o.input_size[1];
  const int sh = static_cast<int>(v.nj()), sw = static_cast<int>(v.ni());
  const int64_t plane = v.geometry.slice_voxels();
  Tensor<float, Cpu> out(Shape{v.nk(), 1, H, W});
  cpu::parallel_for(v.nk(), [&](int64_t k) {
    std::vector<uint8_t> lesion(static_cast<size_t>(plane));
    select_lesions(v.slice(k), plane, o.lesion_labels, lesion.data());
    std::vector<uint8_t> resized(static_cast<size_t>(H) * static_cast<size_t>(W));
    if (sh == H && sw == W)
      resized = lesion;
    else
      resize_nearest(lesion.data(), sh, sw, resized.data(), H, W);
    float* dst = out.sample(k);
    for (size_t i = 0; i < resized.size(); ++i) dst[i] = resized[i];
  }, static_cast<int64_t>(H) * W);
  return out;
}

Tensor<float, Cpu> input_to_model(const InputVolume& input, const SliceDataOptions& o) {
  SliceDataOptions local = o;
  local.window = input_window(input, o.window);
  return volume_to_input(input.volume, local);
}

Tensor<float, Cpu> mask_to_target(const MaskVolume& mask, const SliceDataOptions& o) {
  SliceDataOptions local = o;
  local.lesion_labels = mask.lesion_labels;
  return labels_to_target(mask.labels, local);
}

VolumePrediction prediction_to_volume(const Tensor<float, Cpu>& p, const io::NiftiGeometry& g, MaskResize mode) {
  const Shape& s = p.shape();
  SRMDS_CHECK(s.rank() == 4 && s.c() == 1 && s.n() == g.nk && s.h() > 0 && s.w() > 0,
              "prediction_to_volume: probability " << s << " expected (" << g.nk << ", 1, H, W) for a volume of "
                                                   << g.ni << " x " << g.nj << " x " << g.nk);
  SRMDS_CHECK(g.ni <= INT_MAX && g.nj <= INT_MAX, "prediction_to_volume: slice " << g.nj << " x " << g.ni << " too large");
  const int H = static_cast<int>(s.h()), W = static_cast<int>(s.w());
  const int oh = static_cast<int>(g.nj), ow = static_cast<int>(g.ni);
  const int64_t plane = g.slice_voxels(), model_plane = s.h() * s.w();
  const bool same = oh == H && ow == W;
  VolumePrediction out;
  out.probability.resize(static_cast<size_t>(g.voxels()));
  out.mask.resize(static_cast<size_t>(g.voxels()));
  cpu::parallel_for(g.nk, [&](int64_t k) {
    const float* src = p.sample(k);
    float* prob = out.probability.data() + k * plane;
    uint8_t* mask = out.mask.data() + k * plane;
    if (same)
      std::copy(src, src + plane, prob);
    else
      resize_bilinear(src, H, W, prob, oh, ow);
    if (same || mode == MaskResize::ThresholdResized) {
      for (int64_t i = 0; i < plane; ++i) mask[i] = prob[i] >= 0.5f ? 1 : 0;
    } else {
      std::vector<uint8_t> m(static_cast<size_t>(model_plane));
      for (int64_t i = 0; i < model_plane; ++i) m[static_cast<size_t>(i)] = src[i] >= 0.5f ? 1 : 0;
      resize_nearest(m.data(), H, W, mask, oh, ow);
    }
  }, plane);
  return out;
}

}  // namespace srmds
