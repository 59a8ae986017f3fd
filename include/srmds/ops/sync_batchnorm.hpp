// Synchronised training-mode BatchNorm (issue 23, `srmds train --sync-bn`): the ops of
// ops/batchnorm.hpp over a batch spread across processes, each holding part r of it (n_r of the n
// samples; M = N H W values per channel over the whole batch). Called by batchnorm_forward_train and
// batchnorm_backward while a BatchStatsScope is alive (ops/batch_stats_reducer.hpp).
//
// Forward: every part sums its values about the shift K_c (the running mean before the update, 0
// where not finite; the trainer keeps running statistics identical on every process), one pass in
// double: S1 = sum (x - K), S2 = sum (x - K)^2, and the reducer sums [S1, S2, M_r] over the parts
// (2C + 1 doubles, one call). Then mean = K + S1/M, var = max(S2/M - (S1/M)^2, 0) (biased),
// invstd = 1/sqrt(var + eps), and the running statistics take var M/(M - 1) with the global M: what
// one process with the whole batch computes (to the double rounding of the sums; the ordinary
// kernel merges block moments instead, so the float results agree except where the double values
// straddle a float rounding boundary). Cancellation in S2/M - (S1/M)^2 costs about
// 1e-16 (1 + d^2/var) relative, d = mean - K.
//
// Backward: dL/dy of the global loss on part r is w_r dy_r (w_r = n_r/n: the trainer's parts compute
// the gradient of their own mean loss; ops/batch_stats_reducer.hpp). The parts sum
// [w_r sum dy, w_r sum dy (x - mean), M_r]; with G1, G2 those sums,
//   dx_r = gamma invstd (dy_r - G1/(M w_r) - xhat G2 invstd/(M w_r)),
// which is (dL/dx_r)/w_r: part r's gradients, like dy_r, are those of its own loss, and the gradient
// reducer's weights w_r (dist/gradient_reducer.hpp) make the sum over parts the global gradient.
// dgamma, dbeta are part r's own sums (sum dy xhat, sum dy): the reducer sums them with the same
// weights. With w_r a power of two (equal power-of-two parts) every scaling is exact.
// A part with w_r = 0 (an empty shard running a stand-in slice) contributes zeros everywhere, gets
// zero dgamma, dbeta and a finite dx of no meaning.
//
// CUDA tensors go through host memory (downloads, the CPU code, uploads): correct, slow, untested
// on a GPU (none was available).
#pragma once

#include <cmath>
#include <vector>

#include "srmds/cpu/parallel.hpp"
#include "srmds/cpu/sync_batchnorm.hpp"
#include "srmds/ops/batch_stats_reducer.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds {

namespace detail {

template <class T>
void sync_batchnorm_forward_host(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,
                                 Tensor<T, Cpu>& running_mean, Tensor<T, Cpu>& running_var, double momentum,
                                 double eps, Tensor<T, Cpu>& y, WriteMode y_mode, Tensor<T, Cpu>& save_mean,
                                 Tensor<T, Cpu>& save_invstd, BatchStatsReducer& reducer) {
  const Shape& s = x.shape();
  const int64_t C = s.c();
  std::vector<double> shift(static_cast<size_t>(C)), sums(static_cast<size_t>(2 * C + 1), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    const double k = static_cast<double>(running_mean[c]);
    shift[static_cast<size_t>(c)] = std::isfinite(k) ? k : 0.0;
  }
  if (reducer.weight > 0) {
    cpu::batchnorm_shifted_sums(x, shift.data(), sums.data());
    sums[static_cast<size_t>(2 * C)] = static_cast<double>(s.n() * s.h() * s.w());
  }
  reducer.sum(sums.data(), 2 * C + 1);
  const double m = sums[static_cast<size_t>(2 * C)];
  SRMDS_CHECK(m > 1, "batchnorm_forward_train (synchronised): the batch over every process has "
                         << m << " value(s) per channel; training needs more");
  std::vector<double> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const size_t i = static_cast<size_t>(c);
    const double d = sums[i] / m;
    const double var = std::max(sums[static_cast<size_t>(C + c)] / m - d * d, 0.0);
    mean[i] = shift[i] + d;
    invstd[i] = 1.0 / std::sqrt(var + eps);
    save_mean[c] = static_cast<T>(mean[i]);
    save_invstd[c] = static_cast<T>(invstd[i]);
    running_mean[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean[i]);
    running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) + momentum * var * m / (m - 1));
  }
  cpu::batchnorm_normalize(x, gamma, beta, mean.data(), invstd.data(), y, y_mode);
}

template <class T>
void sync_batchnorm_backward_host(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& gamma,
                                  const Tensor<T, Cpu>& save_mean, const Tensor<T, Cpu>& save_invstd,
                                  Tensor<T, Cpu>* dx, WriteMode dx_mode, Tensor<T, Cpu>* dgamma,
                                  Tensor<T, Cpu>* dbeta, WriteMode param_mode, BatchStatsReducer& reducer) {
  const Shape& s = x.shape();
  const int64_t C = s.c();
  const double w = reducer.weight;
  std::vector<double> local(static_cast<size_t>(2 * C), 0.0), sums(static_cast<size_t>(2 * C + 1), 0.0);
  if (w > 0) {
    cpu::batchnorm_grad_sums(x, dy, save_mean, local.data());
    for (int64_t i = 0; i < 2 * C; ++i) sums[static_cast<size_t>(i)] = w * local[static_cast<size_t>(i)];
    sums[static_cast<size_t>(2 * C)] = static_cast<double>(s.n() * s.h() * s.w());
  }
  reducer.sum(sums.data(), 2 * C + 1);
  const double m = sums[static_cast<size_t>(2 * C)];
  SRMDS_CHECK(m > 0, "batchnorm_backward (synchronised): no values over every process");
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = static_cast<double>(save_invstd[c]);
    if (dgamma) cpu::write((*dgamma)[c], static_cast<T>(local[static_cast<size_t>(C + c)] * invstd), param_mode);
    if (dbeta) cpu::write((*dbeta)[c], static_cast<T>(local[static_cast<size_t>(c)]), param_mode);
  }
  if (!dx) return;
  const double wm = (w > 0 ? w : 1.0) * m;
  std::vector<double> mean_dy(static_cast<size_t>(C)), mean_dy_xhat(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const size_t i = static_cast<size_t>(c);
    mean_dy[i] = sums[i] / wm;
    mean_dy_xhat[i] = sums[static_cast<size_t>(C + c)] * static_cast<double>(save_invstd[c]) / wm;
  }
  cpu::batchnorm_input_grad_from(x, dy, gamma, save_mean, save_invstd, mean_dy.data(), mean_dy_xhat.data(), *dx,
                                 dx_mode);
}

}  // namespace detail

template <class T, class D>
void sync_batchnorm_forward_train(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& gamma,
                                  const Tensor<T, D>& beta, Tensor<T, D>& running_mean, Tensor<T, D>& running_var,
                                  double momentum, double eps, Tensor<T, D>& y, WriteMode y_mode,
                                  Tensor<T, D>& save_mean, Tensor<T, D>& save_invstd, BatchStatsReducer& reducer) {
  if constexpr (is_cpu_v<D>) {
    (void)ctx;
    detail::sync_batchnorm_forward_host(x, gamma, beta, running_mean, running_var, momentum, eps, y, y_mode, save_mean,
                                        save_invstd, reducer);
  } else {  // through host memory
    const Tensor<T, Cpu> hx = to_host(ctx, x), hg = to_host(ctx, gamma), hb = to_host(ctx, beta);
    Tensor<T, Cpu> hrm = to_host(ctx, running_mean), hrv = to_host(ctx, running_var);
    Tensor<T, Cpu> hy = y_mode == WriteMode::Accumulate ? to_host(ctx, y) : Tensor<T, Cpu>(y.shape());
    Tensor<T, Cpu> hm(save_mean.shape()), hi(save_invstd.shape());
    detail::sync_batchnorm_forward_host(hx, hg, hb, hrm, hrv, momentum, eps, hy, y_mode, hm, hi, reducer);
    copy_to_device(ctx, hy, y);
    copy_to_device(ctx, hrm, running_mean);
    copy_to_device(ctx, hrv, running_var);
    copy_to_device(ctx, hm, save_mean);
    copy_to_device(ctx, hi, save_invstd);
  }
}

template <class T, class D>
void sync_batchnorm_backward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& dy, const Tensor<T, D>& gamma,
                             const Tensor<T, D>& save_mean, const Tensor<T, D>& save_invstd, Tensor<T, D>* dx,
                             WriteMode dx_mode, Tensor<T, D>* dgamma, Tensor<T, D>* dbeta, WriteMode param_mode,
                             BatchStatsReducer& reducer) {
  if constexpr (is_cpu_v<D>) {
    (void)ctx;
    detail::sync_batchnorm_backward_host(x, dy, gamma, save_mean, save_invstd, dx, dx_mode, dgamma, dbeta, param_mode,
                                         reducer);
  } else {  // through host memory
    const Tensor<T, Cpu> hx = to_host(ctx, x), hdy = to_host(ctx, dy), hg = to_host(ctx, gamma),
                         hm = to_host(ctx, save_mean), hi = to_host(ctx, save_invstd);
    const bool acc = dx_mode == WriteMode::Accumulate, pacc = param_mode == WriteMode::Accumulate;
    Tensor<T, Cpu> hdx = dx && acc ? to_host(ctx, *dx) : Tensor<T, Cpu>(dx ? dx->shape() : Shape{0});
    Tensor<T, Cpu> hdg = dgamma && pacc ? to_host(ctx, *dgamma) : Tensor<T, Cpu>(gamma.shape());
    Tensor<T, Cpu> hdb = dbeta && pacc ? to_host(ctx, *dbeta) : Tensor<T, Cpu>(gamma.shape());
    detail::sync_batchnorm_backward_host(hx, hdy, hg, hm, hi, dx ? &hdx : nullptr, dx_mode, dgamma ? &hdg : nullptr,
                                         dbeta ? &hdb : nullptr, param_mode, reducer);
    if (dx) copy_to_device(ctx, hdx, *dx);
    if (dgamma) copy_to_device(ctx, hdg, *dgamma);
    if (dbeta) copy_to_device(ctx, hdb, *dbeta);
  }
}

}  // namespace srmds
