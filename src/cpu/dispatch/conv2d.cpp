// The CPU convolution entry points that choose their algorithm (include/srmds/cpu/conv2d.hpp): the
// list of the pass and precision picks it (cpu/conv2d_algo.hpp), the variant in use runs it
// (conv2d_*_with, src/cpu/conv2d.cpp). Compiled once, with the library's ordinary flags.
#include <type_traits>

#include "../kernel_table.hpp"

namespace srmds::cpu {

namespace {
template <class T>
ConvAlgo choose(ConvPass pass, const Shape& input, const Shape& kernel) {
  return choose_conv_algo(pass, ConvProblem{input, {kernel}, std::is_same_v<T, float>});
}
}  // namespace

template <class T>
void conv2d_forward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* bias, Tensor<T, Cpu>& y) {
  detail::active_kernels<T>().conv2d_forward_with(choose<T>(ConvPass::Forward, x.shape(), w.shape()), x, w, bias, y);
}
SRMDS_CPU_INSTANTIATE(conv2d_forward)

template <class T>
void conv2d_backward_data(const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w, Tensor<T, Cpu>& dx, WriteMode mode) {
  const Shape& k = w.shape();  // the transposed convolution of dy sees the kernel as (Cin, Cout, kh, kw)
  const ConvAlgo algo = choose<T>(ConvPass::BackwardData, dy.shape(), Shape{k[1], k[0], k[2], k[3]});
  detail::active_kernels<T>().conv2d_backward_data_with(algo, dy, w, dx, mode);
}
SRMDS_CPU_INSTANTIATE(conv2d_backward_data)

template <class T>
void conv2d_backward_filter(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dw, WriteMode mode) {
  const ConvAlgo algo = choose<T>(ConvPass::BackwardFilter, x.shape(), dw.shape());
  detail::active_kernels<T>().conv2d_backward_filter_with(algo, x, dy, dw, mode);
}
SRMDS_CPU_INSTANTIATE(conv2d_backward_filter)

}  // namespace srmds::cpu
