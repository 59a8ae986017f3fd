// Segmenting with a trained network (SPEC §8 `srmds segment`, `srmds eval`, demo).
//
// predict_probability: model-size inputs x (N, 1, H, W) in host memory -> p = sigmoid(z_0)
//   (N, 1, H, W) in host memory, computed in eval mode in batches of `batch` images (the last one
//   may be smaller). Works for either form of the network and any device. Each batch is read in
//   place on the CPU and its probabilities are copied once into p. With `tta` (test-time
//   augmentation) p is the mean of the prediction and the mirrored prediction of the mirrored input.
// segment_volume: one NIfTI volume -> windowed model-size slices (data/volume_slices.hpp
//   volume_to_input), their probabilities, and the probability and uint8 mask mapped back to the
//   volume's grid (prediction_to_volume: bilinear p, nearest (p >= 0.5)), ready to be written with
//   the volume's geometry. Any in-plane size works: slices are resized to the config's input_size
//   (a multiple of 16) and back.
#pragma once

#include <algorithm>
#include <cstdint>

#include "srmds/data/volume_slices.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/infer/finite_logits.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/sigmoid.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds {

// A contiguous copy of x (N, C, H, W) mirrored along W.
inline Tensor<float, Cpu> mirror_w(const Tensor<float, Cpu>& x) {
  SRMDS_CHECK(x.shape().rank() == 4 && x.is_contiguous(), "mirror_w: " << x.shape() << " must be a contiguous (N, C, H, W) tensor");
  Tensor<float, Cpu> out(x.shape());
  const int64_t w = x.shape().w(), rows = x.numel() / std::max<int64_t>(w, 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < w; ++i) out[r * w + i] = x[r * w + (w - 1 - i)];
  return out;
}

template <class T, class D>
Tensor<float, Cpu> predict_probability(Context<D>& ctx, SrmdsNet<T, D>& net, const Tensor<float, Cpu>& x, int batch,
                                       bool tta = false) {
  if (tta) {  // p = (p(x) + mirror(p(mirror(x)))) / 2, mirrored along W
    Tensor<float, Cpu> p = predict_probability(ctx, net, x, batch, false);
    const Tensor<float, Cpu> pm = mirror_w(predict_probability(ctx, net, mirror_w(x), batch, false));
    for (int64_t i = 0; i < p.numel(); ++i) p[i] = 0.5f * (p[i] + pm[i]);
    return p;
  }
  SRMDS_CHECK(batch > 0, "predict_probability: batch " << batch << " must be positive");
  SRMDS_CHECK(x.shape().rank() == 4 && x.is_contiguous(),
              "predict_probability: input " << x.shape() << " must be a contiguous (N, C, H, W) tensor");
  const Shape& s = x.shape();
  Tensor<float, Cpu> p(Shape{s.n(), 1, s.h(), s.w()});
  for (int64_t first = 0; first < s.n(); first += batch) {
    const int64_t n = std::min<int64_t>(batch, s.n() - first);
    const Tensor<float, Cpu> hx = x.samples(first, n);
    const Tensor<T, D> dx = device_view_as<T>(ctx, hx);  // on the CPU: x itself
    Tensor<T, D> z(Shape{n, 1, s.h(), s.w()}, ctx), prob(Shape{n, 1, s.h(), s.w()}, ctx);
    net.forward_eval(ctx, dx, z);
    check_finite_logits(ctx, z, first);  // NaN logits would become an empty mask
    sigmoid_forward(ctx, z, prob);
    Tensor<float, Cpu> hp = p.samples(first, n);
    copy_to_host_as(ctx, prob, hp);  // the one copy out
  }
  return p;
}

struct VolumeSegmentation {
  Tensor<float, Cpu> input;        // (nk, 1, H, W) windowed model-size slices
  Tensor<float, Cpu> probability;  // (nk, 1, H, W) p = sigmoid(z_0) at model size
  VolumePrediction volume;         // p and mask on the volume's grid (ni * nj * nk, i fastest)
};

template <class T, class D>
VolumeSegmentation segment_volume(Context<D>& ctx, SrmdsNet<T, D>& net, const io::NiftiVolume& volume, int batch,
                                  MaskResize mask_resize = MaskResize::Nearest, bool tta = false) {
  SRMDS_CHECK(net.config().in_channels == 1,
              "segment_volume: the network takes " << net.config().in_channels << " input channels; CT volumes have 1");
  VolumeSegmentation out;
  out.input = volume_to_input(volume, SliceDataOptions::from_config(net.config()));
  out.probability = predict_probability(ctx, net, out.input, batch, tta);
  out.volume = prediction_to_volume(out.probability, volume.geometry, mask_resize);
  return out;
}

}  // namespace srmds
