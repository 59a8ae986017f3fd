// How much host memory a run of the network needs, measured rather than modelled: one training step
// (forward_train, the deep-supervision loss, backward, an Adam step) or one eval forward, each at
// batch 1 and two small sizes (64 x 64 and 128 x 128), counted by core/memory.hpp (the peak of the
// library's host buffers) and extrapolated linearly in batch x H x W: every activation, gradient and
// convolution workspace scales with the pixels of a batch, while parameters, their gradients and
// the Adam moments do not. (At 32 x 32 the convolutions take other algorithms, whose workspaces
// would double the fused form's slope.) Measured at base 4-16 against steps of up to 2 x 256 x 256
// (tests/test_memory.cpp): within 20 %, mostly above. CPU only (a CUDA run's device memory is not
// estimated). Costs two small steps (about 0.1 s at base 16, 1 s at base 64).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "srmds/core/context.hpp"
#include "srmds/core/memory.hpp"
#include "srmds/losses/deep_supervision.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/optim/adam.hpp"

namespace srmds {

struct MemoryModel {
  double fixed = 0;      // bytes, whatever the batch
  double per_pixel = 0;  // bytes per pixel of a batch (N x H x W)
  int64_t bytes(int64_t n, int64_t h, int64_t w) const {
    const double b = fixed + per_pixel * static_cast<double>(n) * static_cast<double>(h) * static_cast<double>(w);
    return b >= 9.0e18 ? INT64_MAX : static_cast<int64_t>(std::ceil(b));
  }
};

namespace detail {

// Peak host bytes of `step(ctx, size)` above what was held before it.
template <class Step>
int64_t measured_peak(Step&& step) {
  const int64_t before = host_memory_stats().live;
  reset_host_memory_peak();
  step();
  return host_memory_stats().peak - before;
}

constexpr int kProbeSmall = 64, kProbeLarge = 128;

// The line through (s^2, small) and (l^2, large), s and l the probe sizes.
inline MemoryModel fit_memory(int64_t small, int64_t large) {
  const double s2 = double(kProbeSmall) * kProbeSmall, l2 = double(kProbeLarge) * kProbeLarge;
  MemoryModel m;
  m.per_pixel = std::max(0.0, static_cast<double>(large - small) / (l2 - s2));
  m.fixed = std::max(0.0, static_cast<double>(large) - m.per_pixel * l2);
  return m;
}

}  // namespace detail

namespace detail {

// Peak host bytes of one training step (forward_train, loss, backward, Adam) on n x size x size.
inline int64_t train_step_peak(const NetConfig& cfg, const DeepSupervisionOptions& loss_options,
                               const AdamOptions& adam_options, int64_t n, int size) {
  return measured_peak([&] {
    Context<Cpu> ctx;
    SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 1);
    DeepSupervisionLoss<float, Cpu> loss(cfg, loss_options);
    Adam<float, Cpu> adam(ctx, net.state(), adam_options);
    Tensor<float, Cpu> x(Shape{n, cfg.in_channels, size, size}, ctx), y(Shape{n, 1, size, size}, ctx);
    std::fill_n(x.data(), x.numel(), 0.5f);
    std::fill_n(y.data(), y.numel(), 0.0f);
    typename DeepSupervisionLoss<float, Cpu>::Logits dlogits;
    loss.forward_backward(ctx, net.forward_train(ctx, x), y, dlogits);
    net.backward(ctx, dlogits, WriteMode::Overwrite);
    adam.step(ctx, adam_options.lr);
  });
}

// Peak host bytes of one eval forward of the `form` network on n x size x size.
inline int64_t eval_peak(const NetConfig& cfg, NetForm form, int64_t n, int size) {
  return measured_peak([&] {
    Context<Cpu> ctx;
    SrmdsNet<float, Cpu> net(ctx, cfg, form, 1);
    Tensor<float, Cpu> x(Shape{n, cfg.in_channels, size, size}, ctx), z(Shape{n, 1, size, size}, ctx);
    std::fill_n(x.data(), x.numel(), 0.5f);
    net.forward_eval(ctx, x, z);
  });
}

}  // namespace detail

inline MemoryModel probe_train_memory(const NetConfig& cfg, const DeepSupervisionOptions& loss_options = {},
                                      const AdamOptions& adam_options = {}) {
  const int64_t small = detail::train_step_peak(cfg, loss_options, adam_options, 1, detail::kProbeSmall);
  return detail::fit_memory(small, detail::train_step_peak(cfg, loss_options, adam_options, 1, detail::kProbeLarge));
}

inline MemoryModel probe_eval_memory(const NetConfig& cfg, NetForm form) {
  const int64_t small = detail::eval_peak(cfg, form, 1, detail::kProbeSmall);
  return detail::fit_memory(small, detail::eval_peak(cfg, form, 1, detail::kProbeLarge));
}

}  // namespace srmds
