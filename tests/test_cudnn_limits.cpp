// cuDNN's 2^31-element limit (kernels/cudnn_limits.hpp): the check the CUDA convolutions run before
// describing a tensor to cuDNN. Plain C++, so it runs without a GPU (and without the CUDA backend).
#include <catch2/catch.hpp>

#include "kernels/cudnn_limits.hpp"

using namespace srmds;
using srmds::cuda::detail::check_cudnn_tensor;
using srmds::cuda::detail::cudnn_extent;
using srmds::cuda::detail::kCudnnMaxElements;

TEST_CASE("cuDNN tensor extent counts strides and empty tensors", "[cudnn][limits]") {
  CHECK(kCudnnMaxElements == 2147483647);
  CHECK(cudnn_extent(Shape{2, 3, 4, 5}, 60) == 120);
  CHECK(cudnn_extent(Shape{2, 3, 4, 5}, 100) == 160);  // a channel view of a wider parent
  CHECK(cudnn_extent(Shape{1, 3, 4, 5}, 999) == 60);   // one sample: the stride is never used
  CHECK(cudnn_extent(Shape{0, 3, 4, 5}, 60) == 0);
  CHECK(cudnn_extent(Shape{7}, 7) == 7);
}

TEST_CASE("tensors up to 2^31 - 1 elements pass, larger ones throw a clear srmds::Error", "[cudnn][limits]") {
  // No memory is allocated: the check sees shapes and strides only.
  CHECK_NOTHROW(check_cudnn_tensor("conv2d_forward", "x", Shape{1, 1, 1, 2147483647}, 2147483647));
  CHECK_NOTHROW(check_cudnn_tensor("conv2d_forward", "x", Shape{16, 64, 512, 512}, 64 * 512 * 512));  // 2^28
  REQUIRE_THROWS_AS(check_cudnn_tensor("conv2d_forward", "x", Shape{1, 1, 1, 2147483648LL}, 2147483648LL), Error);
  // 128 x 64 x 512 x 512 = 2^31 elements: the first batch past the limit at base 64, 512 x 512
  REQUIRE_THROWS_WITH(check_cudnn_tensor("conv2d_forward", "y", Shape{128, 64, 512, 512}, 64 * 512 * 512),
                      Catch::Contains("conv2d_forward") && Catch::Contains("y [128, 64, 512, 512]") &&
                          Catch::Contains("2147483648") && Catch::Contains("2^31 - 1"));
  // a channel view whose parent is wider spans more than its own elements
  const Shape view{64, 64, 512, 512};  // 2^30 elements of its own
  CHECK_NOTHROW(check_cudnn_tensor("conv2d_backward_data", "dx", view, 64 * 512 * 512));
  REQUIRE_THROWS_WITH(check_cudnn_tensor("conv2d_backward_data", "dx", view, 192 * 512 * 512),
                      Catch::Contains("conv2d_backward_data") && Catch::Contains("dx"));
  // weights are checked the same way
  REQUIRE_THROWS_WITH(check_cudnn_tensor("conv2d_backward_filter", "dw", Shape{65536, 32768, 1, 1}, 32768),
                      Catch::Contains("dw [65536, 32768, 1, 1]"));
}
