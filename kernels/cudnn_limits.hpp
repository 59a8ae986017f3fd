// cuDNN's size limit, checked before a tensor is described to it. Plain C++ (no CUDA headers), so
// the CPU test suite exercises the check (tests/test_cudnn_limits.cpp).
//
// cuDNN addresses a tensor's elements with 32-bit signed offsets: the whole extent a descriptor
// spans in memory, (N - 1) * batch_stride + C * H * W elements for our (N, C, H, W) views with an
// explicit batch stride, must stay below 2^31. Past that cuDNN fails with a bare
// CUDNN_STATUS_BAD_PARAM or NOT_SUPPORTED; this check says which tensor and what to do instead.
#pragma once

#include <cstdint>

#include "srmds/core/error.hpp"
#include "srmds/core/shape.hpp"

namespace srmds::cuda::detail {

// The most elements one tensor may span for cuDNN: 2^31 - 1.
constexpr int64_t kCudnnMaxElements = (int64_t(1) << 31) - 1;

// Elements spanned in memory by a tensor of shape s (rank 4: N samples batch_stride apart; other
// ranks: contiguous). 0 for an empty tensor.
inline int64_t cudnn_extent(const Shape& s, int64_t batch_stride) {
  if (s.numel() == 0) return 0;
  if (s.rank() != 4) return s.numel();
  return (s.n() - 1) * batch_stride + s.c() * s.h() * s.w();
}

// Throws srmds::Error naming op, the tensor and its shape when it spans more than 2^31 - 1 elements.
inline void check_cudnn_tensor(const char* op, const char* what, const Shape& s, int64_t batch_stride) {
  const int64_t extent = cudnn_extent(s, batch_stride);
  SRMDS_CHECK(extent <= kCudnnMaxElements,
              op << ": " << what << " " << s << " spans " << extent
                 << " elements; cuDNN takes at most 2^31 - 1 elements per tensor (split the batch or the image)");
}

}  // namespace srmds::cuda::detail
