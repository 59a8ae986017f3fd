// The public CPU entry points (include/srmds/cpu/*.hpp) for float and double: each calls the kernel
// of the ISA variant in use (isa.cpp). Compiled once, with the library's ordinary flags. The
// kernels that check their own shapes (conv2d_winograd3x3, conv2d_winograd3x3_f4x4, se_relu_forward)
// check them here, so the variants contain no error paths of their own.
#include "../kernel_table.hpp"
#include "srmds/core/error.hpp"

namespace srmds::cpu {

namespace {
template <class T>
const detail::Kernels<T>& kern() {
  return detail::active_kernels<T>();
}
}  // namespace

template <class T>
void adam_step(Tensor<T, Cpu>& param, const Tensor<T, Cpu>& grad, Tensor<T, Cpu>& m, Tensor<T, Cpu>& v,
               const AdamStep& step) {
  kern<T>().adam_step(param, grad, m, v, step);
}
SRMDS_CPU_INSTANTIATE(adam_step)

template <class T>
void batchnorm_forward_train(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,
                             Tensor<T, Cpu>& running_mean, Tensor<T, Cpu>& running_var, double momentum, double eps,
                             Tensor<T, Cpu>& y, WriteMode y_mode, Tensor<T, Cpu>& save_mean,
                             Tensor<T, Cpu>& save_invstd) {
  kern<T>().batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps, y, y_mode, save_mean,
                                    save_invstd);
}
SRMDS_CPU_INSTANTIATE(batchnorm_forward_train)

template <class T>
void batchnorm_forward_eval(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,
                            const Tensor<T, Cpu>& running_mean, const Tensor<T, Cpu>& running_var, double eps,
                            Tensor<T, Cpu>& y, WriteMode y_mode) {
  kern<T>().batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps, y, y_mode);
}
SRMDS_CPU_INSTANTIATE(batchnorm_forward_eval)

template <class T>
void batchnorm_backward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& gamma,
                        const Tensor<T, Cpu>& save_mean, const Tensor<T, Cpu>& save_invstd, Tensor<T, Cpu>* dx,
                        WriteMode dx_mode, Tensor<T, Cpu>* dgamma, Tensor<T, Cpu>* dbeta, WriteMode param_mode) {
  kern<T>().batchnorm_backward(x, dy, gamma, save_mean, save_invstd, dx, dx_mode, dgamma, dbeta, param_mode);
}
SRMDS_CPU_INSTANTIATE(batchnorm_backward)

template <class T>
double bce_dice_loss(const Tensor<T, Cpu>& z, const Tensor<T, Cpu>& y, double weight, double dice_weight,
                     Tensor<T, Cpu>* dz, WriteMode mode) {
  return kern<T>().bce_dice_loss(z, y, weight, dice_weight, dz, mode);
}
SRMDS_CPU_INSTANTIATE(bce_dice_loss)

template <class T>
void confusion_counts(const Tensor<T, Cpu>& z, const Tensor<T, Cpu>& mask, Tensor<int64_t, Cpu>& counts) {
  kern<T>().confusion_counts(z, mask, counts);
}
SRMDS_CPU_INSTANTIATE(confusion_counts)

template <class T>
void conv2d_forward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* bias, Tensor<T, Cpu>& y) {
  kern<T>().conv2d_forward(x, w, bias, y);
}
SRMDS_CPU_INSTANTIATE(conv2d_forward)

template <class T>
void conv2d_backward_data(const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w, Tensor<T, Cpu>& dx, WriteMode mode) {
  kern<T>().conv2d_backward_data(dy, w, dx, mode);
}
SRMDS_CPU_INSTANTIATE(conv2d_backward_data)

template <class T>
void conv2d_backward_filter(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dw, WriteMode mode) {
  kern<T>().conv2d_backward_filter(x, dy, dw, mode);
}
SRMDS_CPU_INSTANTIATE(conv2d_backward_filter)

template <class T>
void conv2d_branches_winograd_forward(const Tensor<T, Cpu>& x, const std::vector<const Tensor<T, Cpu>*>& w,
                                      const std::vector<Tensor<T, Cpu>*>& y) {
  kern<T>().conv2d_branches_winograd_forward(x, w, y);
}
SRMDS_CPU_INSTANTIATE(conv2d_branches_winograd_forward)

template <class T>
void conv2d_branches_winograd_backward_filter(const Tensor<T, Cpu>& x, const std::vector<const Tensor<T, Cpu>*>& dy,
                                              const std::vector<Tensor<T, Cpu>*>& dw, bool accumulate) {
  kern<T>().conv2d_branches_winograd_backward_filter(x, dy, dw, accumulate);
}
SRMDS_CPU_INSTANTIATE(conv2d_branches_winograd_backward_filter)

template <class T>
void conv2d_backward_bias(const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& db, WriteMode mode) {
  kern<T>().conv2d_backward_bias(dy, db, mode);
}
SRMDS_CPU_INSTANTIATE(conv2d_backward_bias)

namespace detail {
template <class T>
void conv2d_banded(const Tensor<T, Cpu>& x, const T* wmat, int kh, int kw, const T* bias, Tensor<T, Cpu>& y,
                   bool accumulate, int64_t tile_bytes, int64_t min_band_cols) {
  kern<T>().conv2d_banded(x, wmat, kh, kw, bias, y, accumulate, tile_bytes, min_band_cols);
}
SRMDS_CPU_INSTANTIATE(conv2d_banded)

template <class T>
void conv2d_filter_banded(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, int kh, int kw, T* dwmat, bool accumulate,
                          int64_t tile_bytes, int64_t min_band_cols) {
  kern<T>().conv2d_filter_banded(x, dy, kh, kw, dwmat, accumulate, tile_bytes, min_band_cols);
}
SRMDS_CPU_INSTANTIATE(conv2d_filter_banded)
}  // namespace detail

template <class T>
void conv2d_winograd3x3(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w,
                        const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias, Tensor<T, Cpu>& y) {
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = w.shape()[0];
  SRMDS_CHECK(xs.rank() == 4 && w.shape() == Shape({Cout, Cin, 3, 3}) && y.shape() == Shape({N, Cout, H, W}) &&
                  (!bias || bias->shape() == Shape{Cout}),
              "conv2d_winograd3x3: x " << xs << ", w " << w.shape() << ", y " << y.shape() << " do not fit together");
  kern<T>().conv2d_winograd3x3(x, w, bias, y);
}
SRMDS_CPU_INSTANTIATE(conv2d_winograd3x3)

template <class T>
void conv2d_winograd3x3_f4x4(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w,
                             const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias, Tensor<T, Cpu>& y) {
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = w.shape()[0];
  SRMDS_CHECK(xs.rank() == 4 && w.shape() == Shape({Cout, Cin, 3, 3}) && y.shape() == Shape({N, Cout, H, W}) &&
                  (!bias || bias->shape() == Shape{Cout}),
              "conv2d_winograd3x3_f4x4: x " << xs << ", w " << w.shape() << ", y " << y.shape()
                                            << " do not fit together");
  kern<T>().conv2d_winograd3x3_f4x4(x, w, bias, y);
}
SRMDS_CPU_INSTANTIATE(conv2d_winograd3x3_f4x4)

template <class T>
void downsample_target(const Tensor<T, Cpu>& mask, Tensor<T, Cpu>& out, int factor, TargetMode mode) {
  kern<T>().downsample_target(mask, out, factor, mode);
}
SRMDS_CPU_INSTANTIATE(downsample_target)

template <class T>
void maxpool2_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y, Tensor<int32_t, Cpu>& argmax) {
  kern<T>().maxpool2_forward(x, y, argmax);
}
SRMDS_CPU_INSTANTIATE(maxpool2_forward)

template <class T>
void maxpool2_backward(const Tensor<T, Cpu>& dy, const Tensor<int32_t, Cpu>& argmax, Tensor<T, Cpu>& dx,
                       WriteMode mode) {
  kern<T>().maxpool2_backward(dy, argmax, dx, mode);
}
SRMDS_CPU_INSTANTIATE(maxpool2_backward)

template <class T>
void relu_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y) {
  kern<T>().relu_forward(x, y);
}
SRMDS_CPU_INSTANTIATE(relu_forward)

template <class T>
void relu_backward(const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode) {
  kern<T>().relu_backward(y, dy, dx, mode);
}
SRMDS_CPU_INSTANTIATE(relu_backward)

template <class T>
void se_forward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1, const Tensor<T, Cpu>& w2,
                const Tensor<T, Cpu>& b2, Tensor<T, Cpu>& y, Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden,
                Tensor<T, Cpu>& scale) {
  kern<T>().se_forward(x, w1, b1, w2, b2, y, mean, hidden, scale);
}
SRMDS_CPU_INSTANTIATE(se_forward)

template <class T>
void se_backward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,
                 const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& hidden, const Tensor<T, Cpu>& scale,
                 Tensor<T, Cpu>& dx, WriteMode dx_mode, Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& db1, Tensor<T, Cpu>& dw2,
                 Tensor<T, Cpu>& db2, WriteMode param_mode) {
  kern<T>().se_backward(x, dy, w1, w2, mean, hidden, scale, dx, dx_mode, dw1, db1, dw2, db2, param_mode);
}
SRMDS_CPU_INSTANTIATE(se_backward)

template <class T>
void se_relu_forward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,
                     const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2, Tensor<T, Cpu>& y, Tensor<T, Cpu>& mean,
                     Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale) {
  const Shape& sx = x.shape();
  SRMDS_CHECK(sx.rank() == 4 && y.shape() == sx && w1.shape().rank() == 4 && w1.shape()[1] == sx.c() &&
                  w2.shape() == Shape({sx.c(), w1.shape()[0], 1, 1}) && b1.shape() == Shape{w1.shape()[0]} &&
                  b2.shape() == Shape{sx.c()} && mean.shape() == Shape({sx.n(), sx.c()}) &&
                  scale.shape() == mean.shape() && hidden.shape() == Shape({sx.n(), w1.shape()[0]}),
              "se_relu_forward: x " << sx << ", y " << y.shape() << ", fc1.weight " << w1.shape() << ", fc2.weight "
                                    << w2.shape() << ", mean " << mean.shape() << ", hidden " << hidden.shape()
                                    << " do not fit together");
  kern<T>().se_relu_forward(x, w1, b1, w2, b2, y, mean, hidden, scale);
}
SRMDS_CPU_INSTANTIATE(se_relu_forward)

template <class T>
void sge_forward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& weight, const Tensor<T, Cpu>& bias, Tensor<T, Cpu>& y,
                 Tensor<T, Cpu>& mean, Tensor<T, Cpu>& norm, Tensor<T, Cpu>& stdev) {
  kern<T>().sge_forward(x, weight, bias, y, mean, norm, stdev);
}
SRMDS_CPU_INSTANTIATE(sge_forward)

template <class T>
void sge_backward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& weight,
                  const Tensor<T, Cpu>& bias, const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& norm,
                  const Tensor<T, Cpu>& stdev, Tensor<T, Cpu>& dx, WriteMode dx_mode, Tensor<T, Cpu>& dweight,
                  Tensor<T, Cpu>& dbias, WriteMode param_mode) {
  kern<T>().sge_backward(x, dy, weight, bias, mean, norm, stdev, dx, dx_mode, dweight, dbias, param_mode);
}
SRMDS_CPU_INSTANTIATE(sge_backward)

template <class T>
void cbam_forward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,
                  const Tensor<T, Cpu>& ws, const Tensor<T, Cpu>& bs, Tensor<T, Cpu>& y, CbamSaved<T, Cpu>& sv) {
  kern<T>().cbam_forward(x, w1, w2, ws, bs, y, sv);
}
SRMDS_CPU_INSTANTIATE(cbam_forward)

template <class T>
void cbam_backward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w1,
                   const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& ws, const CbamSaved<T, Cpu>& sv,
                   Tensor<T, Cpu>& dx, WriteMode dx_mode, Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& dw2,
                   Tensor<T, Cpu>& dws, Tensor<T, Cpu>& dbs, WriteMode param_mode) {
  kern<T>().cbam_backward(x, dy, w1, w2, ws, sv, dx, dx_mode, dw1, dw2, dws, dbs, param_mode);
}
SRMDS_CPU_INSTANTIATE(cbam_backward)

template <class T>
void psa_forward(const Tensor<T, Cpu>& x, const PsaWeights<T, Cpu>& p, Tensor<T, Cpu>& y, PsaSaved<T, Cpu>& sv) {
  kern<T>().psa_forward(x, p, y, sv);
}
SRMDS_CPU_INSTANTIATE(psa_forward)

template <class T>
void psa_backward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const PsaWeights<T, Cpu>& p,
                  const PsaSaved<T, Cpu>& sv, Tensor<T, Cpu>& dx, WriteMode dx_mode, const PsaGrads<T, Cpu>& g,
                  WriteMode param_mode) {
  kern<T>().psa_backward(x, dy, p, sv, dx, dx_mode, g, param_mode);
}
SRMDS_CPU_INSTANTIATE(psa_backward)

template <class T>
void sigmoid_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y) {
  kern<T>().sigmoid_forward(x, y);
}
SRMDS_CPU_INSTANTIATE(sigmoid_forward)

template <class T>
void sigmoid_backward(const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode) {
  kern<T>().sigmoid_backward(y, dy, dx, mode);
}
SRMDS_CPU_INSTANTIATE(sigmoid_backward)

template <class T>
void upsample_bilinear_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y, bool align_corners) {
  kern<T>().upsample_bilinear_forward(x, y, align_corners);
}
SRMDS_CPU_INSTANTIATE(upsample_bilinear_forward)

template <class T>
void upsample_bilinear_backward(const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, bool align_corners, WriteMode mode) {
  kern<T>().upsample_bilinear_backward(dy, dx, align_corners, mode);
}
SRMDS_CPU_INSTANTIATE(upsample_bilinear_backward)

}  // namespace srmds::cpu
