// The conv-branch entry points (include/srmds/cpu/conv2d_branches.hpp): the shared Winograd pass of
// the ISA variant in use where it is taken (forward, filter gradient), otherwise one convolution per
// branch (always for the backward data pass). Shapes are checked
// by the op (ops/conv2d_branches.hpp). Compiled once, with the library's ordinary flags.
#include "srmds/cpu/conv2d_branches.hpp"

#include <type_traits>

#include "../kernel_table.hpp"
#include "srmds/cpu/conv2d.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"

namespace srmds::cpu {

namespace {

template <class T>
const detail::Kernels<T>& kern() {
  return detail::active_kernels<T>();
}

template <class Ptr>
std::vector<Shape> shapes_of(const std::vector<Ptr>& ts) {
  std::vector<Shape> s;
  s.reserve(ts.size());
  for (const auto* t : ts) s.push_back(t->shape());
  return s;
}

}  // namespace

template <class T>
bool conv2d_branches_take_winograd(const Shape& xs, const std::vector<Shape>& kernels) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    if (kernels.empty()) return false;
    const int64_t cout = kernels[0][0], cin = kernels[0][1];
    if (cin < kWinogradMinCin || cout < kWinogradMinCin) return false;
    if (((xs.h() + 3) / 4) * ((xs.w() + 3) / 4) < kBranchesMinTiles) return false;
    int64_t positions = 0;  // stacked (Cout, Cin) planes: 36, 24, 24, 16 for 3x3, 1x3, 3x1, 1x1
    for (const Shape& k : kernels) {
      if (k[0] != cout || k[1] != cin) return false;
      positions += (k[2] == 3 ? 6 : 4) * (k[3] == 3 ? 6 : 4);
    }
    return positions * cout * cin * static_cast<int64_t>(sizeof(T)) <= kBranchesMaxStackBytes;
  }
}
SRMDS_CPU_INSTANTIATE(conv2d_branches_take_winograd)

template <class T>
void conv2d_branches_forward(const Tensor<T, Cpu>& x, const std::vector<const Tensor<T, Cpu>*>& w,
                             const std::vector<Tensor<T, Cpu>*>& y) {
  if (conv2d_branches_take_winograd<T>(x.shape(), shapes_of(w))) {
    kern<T>().conv2d_branches_winograd_forward(x, w, y);
    return;
  }
  for (size_t b = 0; b < w.size(); ++b) conv2d_forward(x, *w[b], static_cast<const Tensor<T, Cpu>*>(nullptr), *y[b]);
}
SRMDS_CPU_INSTANTIATE(conv2d_branches_forward)

template <class T>
void conv2d_branches_backward_data(const std::vector<const Tensor<T, Cpu>*>& dy,
                                   const std::vector<const Tensor<T, Cpu>*>& w, Tensor<T, Cpu>& dx, WriteMode mode) {
  for (size_t b = 0; b < w.size(); ++b)
    conv2d_backward_data(*dy[b], *w[b], dx, b == 0 ? mode : WriteMode::Accumulate);
}
SRMDS_CPU_INSTANTIATE(conv2d_branches_backward_data)

template <class T>
void conv2d_branches_backward_filter(const Tensor<T, Cpu>& x, const std::vector<const Tensor<T, Cpu>*>& dy,
                                     const std::vector<Tensor<T, Cpu>*>& dw, WriteMode mode) {
  bool contiguous = true;
  for (const auto* t : dw) contiguous = contiguous && t->is_contiguous();
  if (contiguous && conv2d_branches_take_winograd<T>(x.shape(), shapes_of(dw))) {
    kern<T>().conv2d_branches_winograd_backward_filter(x, dy, dw, mode == WriteMode::Accumulate);
    return;
  }
  for (size_t b = 0; b < dw.size(); ++b) conv2d_backward_filter(x, *dy[b], *dw[b], mode);
}
SRMDS_CPU_INSTANTIATE(conv2d_branches_backward_filter)

}  // namespace srmds::cpu
