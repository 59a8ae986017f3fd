// The check that inference computed something (issue 15): a network whose weights are corrupt or
// overflow float yields NaN or Inf logits, which sigmoid and thresholding would silently turn into
// "no lesion". check_finite_logits throws NonFiniteLogits naming the first bad image of the batch;
// callers that know the weight file (the CLI) rethrow it naming the file.
#pragma once

#include <cmath>
#include <cstdint>

#include "srmds/core/error.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds {

class NonFiniteLogits : public Error {
public:
  using Error::Error;
};

// z: (N, 1, H, W) logits of images first .. first + N - 1 (any device).
template <class T, class D>
void check_finite_logits(Context<D>& ctx, const Tensor<T, D>& z, int64_t first) {
  const Tensor<T, Cpu> h = to_host(ctx, z);
  const int64_t per_image = h.shape().c() * h.shape().h() * h.shape().w();
  for (int64_t i = 0; i < h.numel(); ++i)
    if (!std::isfinite(static_cast<double>(h[i])))
      throw NonFiniteLogits(
          "the network computed non-finite logits (" + std::to_string(static_cast<double>(h[i])) + ") for image " +
          std::to_string(first + i / per_image) + ": its weights are corrupt or overflow; no result was produced");
}

}  // namespace srmds
