// A sum of training-mode BatchNorms over inputs of one shape, y = sum_k BN_k(x_k) (SPEC §2: an
// SRFV block's branch BNs, identity included), forward and backward, each BN with PyTorch semantics
// as in ops/batchnorm.hpp (its own gamma, beta, running and saved statistics).
//   forward:  y (y_mode) = sum_k gamma_k (x_k - mean_k) invstd_k + beta_k, every BN's running
//             statistics updated and mean_k, invstd_k saved;
//   backward: dy is shared by every term: dbeta_k = sum dy, dgamma_k = sum dy xhat_k and
//             dx_k (its own dx_mode) = BN_k^T dy, each as batchnorm_backward computes it.
// On the CPU, and on any device while a BatchStatsScope is alive (--sync-bn: the statistics of a
// batch spread across processes), this is the loop over the terms of batchnorm_forward_train
// (term 0 with y_mode, the others accumulated) and of batchnorm_backward, in term order: the
// per-BN results, bit for bit. On the GPU it is one grouped op instead of one BN per term: the
// forward is 3 launches (every term's shifted sums in one reduction over the channels, one
// statistics kernel, one normalise-and-sum kernel), the backward 3 (the sums of dy and dy xhat_k of
// every term in one reduction, one kernel for the parameter gradients, one writing every dx_k; 2 when
// no dx is wanted); the results differ from the per-BN kernels' by float summation order only.
#pragma once

#include <type_traits>
#include <vector>

#include "srmds/ops/batch_stats_reducer.hpp"
#include "srmds/ops/batchnorm.hpp"
#include "srmds/ops/batchnorm_term.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

// Whether batchnorm_sum_* on D run as one grouped op now (on the GPU, no BatchStatsScope alive)
// rather than as the loop of single BNs. A caller that orders its writes around the BNs (an SRFV
// block's dx) may ask, to keep the CPU's order of summation.
template <class D>
bool batchnorm_sum_is_grouped() {
  return !is_cpu_v<D> && batch_stats_reducer() == nullptr;
}

namespace detail {
template <class T, class D>
void check_bn_terms(const char* op, const std::vector<BatchNormTerm<T, D>>& terms, const Shape& shape, bool forward) {
  SRMDS_CHECK(!terms.empty() && terms.size() <= static_cast<size_t>(kMaxBatchNormTerms),
              op << ": " << terms.size() << " terms (1 to " << kMaxBatchNormTerms << ")");
  for (size_t k = 0; k < terms.size(); ++k) {
    const BatchNormTerm<T, D>& t = terms[k];
    SRMDS_CHECK(t.x && t.gamma && t.save_mean && t.save_invstd &&
                    (!forward || (t.beta && t.running_mean && t.running_var)),
                op << ": term " << k << " lacks a tensor it needs");
    SRMDS_CHECK(t.x->shape() == shape, op << ": term " << k << " x " << t.x->shape() << ", expected " << shape);
    if (forward)
      check_bn_params<T, D>(op, *t.x, {{"gamma", t.gamma}, {"beta", t.beta}, {"running_mean", t.running_mean},
                                       {"running_var", t.running_var}, {"save_mean", t.save_mean},
                                       {"save_invstd", t.save_invstd}});
    else
      check_bn_params<T, D>(op, *t.x, {{"gamma", t.gamma}, {"save_mean", t.save_mean}, {"save_invstd", t.save_invstd}});
    if (!forward) {
      if (t.dx) check_same_shape(op, "x", *t.x, "dx", *t.dx);
      if (t.dgamma) check_shape(op, "dgamma", *t.dgamma, t.gamma->shape());
      if (t.dbeta) check_shape(op, "dbeta", *t.dbeta, t.gamma->shape());
    }
  }
}
}  // namespace detail

template <class T, class D>
void batchnorm_sum_forward_train(Context<D>& ctx, const std::vector<BatchNormTerm<T, D>>& terms, double momentum,
                                 double eps, Tensor<T, D>& y, WriteMode y_mode) {  // y (N, C, H, W)
  detail::check_rank4("batchnorm_sum_forward_train", "y", y);
  detail::check_bn_terms("batchnorm_sum_forward_train", terms, y.shape(), true);
  if (!batchnorm_sum_is_grouped<D>()) {
    WriteMode mode = y_mode;
    for (const BatchNormTerm<T, D>& t : terms) {
      batchnorm_forward_train(ctx, *t.x, *t.gamma, *t.beta, *t.running_mean, *t.running_var, momentum, eps, y, mode,
                              *t.save_mean, *t.save_invstd);
      mode = WriteMode::Accumulate;
    }
    return;
  }
  const Shape& s = y.shape();
  SRMDS_CHECK(s.n() * s.h() * s.w() > 1,
              "batchnorm_sum_forward_train: y " << s << " has one value per channel; training needs more");
  SRMDS_DISPATCH(D, (void)0, cuda::batchnorm_sum_forward_train(ctx, terms, momentum, eps, y, y_mode));
}

template <class T, class D>
void batchnorm_sum_backward(Context<D>& ctx, const std::vector<BatchNormTerm<T, D>>& terms,
                            const Tensor<T, D>& dy,  // (N, C, H, W), the gradient of y
                            WriteMode param_mode) {
  detail::check_rank4("batchnorm_sum_backward", "dy", dy);
  detail::check_bn_terms("batchnorm_sum_backward", terms, dy.shape(), false);
  if (!batchnorm_sum_is_grouped<D>()) {
    for (const BatchNormTerm<T, D>& t : terms)
      batchnorm_backward(ctx, *t.x, dy, *t.gamma, *t.save_mean, *t.save_invstd, t.dx, t.dx_mode, t.dgamma, t.dbeta,
                         param_mode);
    return;
  }
  SRMDS_DISPATCH(D, (void)0, cuda::batchnorm_sum_backward(ctx, terms, dy, param_mode));
}

}  // namespace srmds
