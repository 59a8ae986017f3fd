// BatchNorm2d with PyTorch semantics (SPEC §2).
//   training: mean_c, var_c = biased batch statistics over (N, H, W);
//             y = gamma (x - mean) invstd + beta, invstd = 1 / sqrt(var + eps);
//             running_mean = (1 - momentum) running_mean + momentum mean,
//             running_var  = (1 - momentum) running_var  + momentum var * M / (M - 1), M = N H W.
//   eval:     y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
// Forward saves mean and invstd (C) for backward. The output may be accumulated into y
// (WriteMode::Accumulate), which is how an SRFV block sums its branches without temporaries.
// While a BatchStatsScope is alive on the calling thread (ops/batch_stats_reducer.hpp) the training
// forward and the backward use the statistics of a batch spread across processes
// (ops/sync_batchnorm.hpp); otherwise those of x alone.
#pragma once

#include "srmds/cpu/batchnorm.hpp"
#include "srmds/ops/batch_stats_reducer.hpp"
#include "srmds/ops/dispatch.hpp"
#include "srmds/ops/sync_batchnorm.hpp"

namespace srmds {

namespace detail {
template <class T, class D>
void check_bn_params(const char* op, const Tensor<T, D>& x, std::initializer_list<std::pair<const char*, const Tensor<T, D>*>> params) {
  check_rank4(op, "x", x);
  const Shape c{x.shape().c()};
  for (auto& p : params) check_shape(op, p.first, *p.second, c);
}
}  // namespace detail

template <class T, class D>
void batchnorm_forward_train(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W)
                             const Tensor<T, D>& gamma, const Tensor<T, D>& beta,  // (C)
                             Tensor<T, D>& running_mean, Tensor<T, D>& running_var,  // (C), updated
                             double momentum, double eps,
                             Tensor<T, D>& y, WriteMode y_mode,                  // (N, C, H, W)
                             Tensor<T, D>& save_mean, Tensor<T, D>& save_invstd) {  // (C)
  (void)ctx;
  detail::check_bn_params<T, D>("batchnorm_forward_train", x,
                                {{"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
                                 {"running_var", &running_var}, {"save_mean", &save_mean}, {"save_invstd", &save_invstd}});
  detail::check_same_shape("batchnorm_forward_train", "x", x, "y", y);
  if (BatchStatsReducer* reducer = batch_stats_reducer()) {
    sync_batchnorm_forward_train(ctx, x, gamma, beta, running_mean, running_var, momentum, eps, y, y_mode, save_mean,
                                 save_invstd, *reducer);
    return;
  }
  SRMDS_CHECK(x.shape().n() * x.shape().h() * x.shape().w() > 1,
              "batchnorm_forward_train: x " << x.shape() << " has one value per channel; training needs more");
  SRMDS_DISPATCH(D,
                 cpu::batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps, y, y_mode,
                                              save_mean, save_invstd),
                 cuda::batchnorm_forward_train(ctx, x, gamma, beta, running_mean, running_var, momentum, eps, y, y_mode,
                                               save_mean, save_invstd));
}

template <class T, class D>
void batchnorm_forward_eval(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W)
                            const Tensor<T, D>& gamma, const Tensor<T, D>& beta,
                            const Tensor<T, D>& running_mean, const Tensor<T, D>& running_var,  // (C)
                            double eps, Tensor<T, D>& y, WriteMode y_mode) {
  (void)ctx;
  detail::check_bn_params<T, D>("batchnorm_forward_eval", x,
                                {{"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
                                 {"running_var", &running_var}});
  detail::check_same_shape("batchnorm_forward_eval", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps, y, y_mode),
                 cuda::batchnorm_forward_eval(ctx, x, gamma, beta, running_mean, running_var, eps, y, y_mode));
}

// Backward of the training-mode forward. dx, dgamma, dbeta may be nullptr (not wanted).
template <class T, class D>
void batchnorm_backward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W) forward input
                        const Tensor<T, D>& dy,                  // (N, C, H, W)
                        const Tensor<T, D>& gamma,               // (C)
                        const Tensor<T, D>& save_mean, const Tensor<T, D>& save_invstd,  // (C)
                        detail::non_deduced_t<Tensor<T, D>>* dx, WriteMode dx_mode,
                        detail::non_deduced_t<Tensor<T, D>>* dgamma, detail::non_deduced_t<Tensor<T, D>>* dbeta,
                        WriteMode param_mode) {
  (void)ctx;
  detail::check_bn_params<T, D>("batchnorm_backward", x,
                                {{"gamma", &gamma}, {"save_mean", &save_mean}, {"save_invstd", &save_invstd}});
  detail::check_same_shape("batchnorm_backward", "x", x, "dy", dy);
  if (dx) detail::check_same_shape("batchnorm_backward", "x", x, "dx", *dx);
  if (dgamma) detail::check_shape("batchnorm_backward", "dgamma", *dgamma, gamma.shape());
  if (dbeta) detail::check_shape("batchnorm_backward", "dbeta", *dbeta, gamma.shape());
  if (BatchStatsReducer* reducer = batch_stats_reducer()) {
    sync_batchnorm_backward(ctx, x, dy, gamma, save_mean, save_invstd, dx, dx_mode, dgamma, dbeta, param_mode,
                            *reducer);
    return;
  }
  SRMDS_DISPATCH(D,
                 cpu::batchnorm_backward(x, dy, gamma, save_mean, save_invstd, dx, dx_mode, dgamma, dbeta, param_mode),
                 cuda::batchnorm_backward(ctx, x, dy, gamma, save_mean, save_invstd, dx, dx_mode, dgamma, dbeta,
                                          param_mode));
}

}  // namespace srmds
