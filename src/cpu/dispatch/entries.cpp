// The public CPU entry points (include/srmds/cpu/*.hpp) for float and double, one per entry of
// src/cpu/kernel_list.hpp: each calls the kernel of the ISA variant in use (isa.cpp). Compiled once,
// with the library's ordinary flags. The kernels that check their own shapes (conv2d_winograd3x3,
// conv2d_winograd3x3_f4x4, se_relu_forward) check them here, in an overload of check_args, so the
// variants contain no error paths of their own.
#include <type_traits>

#include "../kernel_table.hpp"
#include "srmds/core/error.hpp"

namespace srmds::cpu {

namespace {

template <class T>
const detail::Kernels<T>& kern() {
  return detail::active_kernels<T>();
}

// check_args(tag::<kernel>{}, arguments...) runs before the kernel: nothing, unless overloaded below.
namespace tag {
#define SRMDS_CPU_TAG(name, ...) \
  struct name {};
SRMDS_CPU_KERNELS(SRMDS_CPU_TAG)
SRMDS_CPU_DETAIL_KERNELS(SRMDS_CPU_TAG)
}  // namespace tag

template <class Tag, class... Args>
void check_args(Tag, const Args&...) {}

// Winograd F(2x2) and F(4x4): 3x3 kernels, "same" output, bias (Cout) or none.
template <class T>
void check_winograd(const char* op, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* bias,
                    const Tensor<T, Cpu>& y) {
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = w.shape()[0];
  SRMDS_CHECK(xs.rank() == 4 && w.shape() == Shape({Cout, Cin, 3, 3}) && y.shape() == Shape({N, Cout, H, W}) &&
                  (!bias || bias->shape() == Shape{Cout}),
              op << ": x " << xs << ", w " << w.shape() << ", y " << y.shape() << " do not fit together");
}
template <class T>
void check_args(tag::conv2d_winograd3x3, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* bias,
                const Tensor<T, Cpu>& y) {
  check_winograd("conv2d_winograd3x3", x, w, bias, y);
}
template <class T>
void check_args(tag::conv2d_winograd3x3_f4x4, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w,
                const Tensor<T, Cpu>* bias, const Tensor<T, Cpu>& y) {
  check_winograd("conv2d_winograd3x3_f4x4", x, w, bias, y);
}

template <class T>
void check_args(tag::se_relu_forward, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,
                const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2, const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& mean,
                const Tensor<T, Cpu>& hidden, const Tensor<T, Cpu>& scale) {
  const Shape& sx = x.shape();
  SRMDS_CHECK(sx.rank() == 4 && y.shape() == sx && w1.shape().rank() == 4 && w1.shape()[1] == sx.c() &&
                  w2.shape() == Shape({sx.c(), w1.shape()[0], 1, 1}) && b1.shape() == Shape{w1.shape()[0]} &&
                  b2.shape() == Shape{sx.c()} && mean.shape() == Shape({sx.n(), sx.c()}) &&
                  scale.shape() == mean.shape() && hidden.shape() == Shape({sx.n(), w1.shape()[0]}),
              "se_relu_forward: x " << sx << ", y " << y.shape() << ", fc1.weight " << w1.shape() << ", fc2.weight "
                                    << w2.shape() << ", mean " << mean.shape() << ", hidden " << hidden.shape()
                                    << " do not fit together");
}

// The *_with convolutions: an algorithm of the pass's list that runs the problem.
template <class T>
void check_algo(const char* op, ConvAlgo algo, ConvPass pass, const Shape& input, const Shape& kernel) {
  const ConvProblem p{input, {kernel}, std::is_same_v<T, float>};
  bool listed = false;
  for (ConvAlgo a : conv_algo_list(pass, p.is_float)) listed = listed || a == algo;
  SRMDS_CHECK(listed && conv_algo_runs(algo, pass, p), op << ": algorithm " << conv_algo_name(algo) << " does not run "
                                                          << (p.is_float ? "float" : "double") << " input " << input
                                                          << " with kernel " << kernel);
}
template <class T>
void check_args(tag::conv2d_forward_with, ConvAlgo algo, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w,
                const Tensor<T, Cpu>*, const Tensor<T, Cpu>&) {
  check_algo<T>("conv2d_forward_with", algo, ConvPass::Forward, x.shape(), w.shape());
}
template <class T>
void check_args(tag::conv2d_backward_data_with, ConvAlgo algo, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w,
                const Tensor<T, Cpu>&, WriteMode) {
  const Shape& k = w.shape();
  check_algo<T>("conv2d_backward_data_with", algo, ConvPass::BackwardData, dy.shape(), Shape{k[1], k[0], k[2], k[3]});
}
template <class T>
void check_args(tag::conv2d_backward_filter_with, ConvAlgo algo, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>&,
                const Tensor<T, Cpu>& dw, WriteMode) {
  check_algo<T>("conv2d_backward_filter_with", algo, ConvPass::BackwardFilter, x.shape(), dw.shape());
}

}  // namespace

#define SRMDS_CPU_FORWARD(name, ret, params, ...) \
  template <class T>                              \
  ret name params {                               \
    check_args(tag::name{}, __VA_ARGS__);         \
    return kern<T>().name(__VA_ARGS__);           \
  }                                               \
  SRMDS_CPU_INSTANTIATE(name)

SRMDS_CPU_KERNELS(SRMDS_CPU_FORWARD)
namespace detail {
SRMDS_CPU_DETAIL_KERNELS(SRMDS_CPU_FORWARD)
}  // namespace detail

}  // namespace srmds::cpu
