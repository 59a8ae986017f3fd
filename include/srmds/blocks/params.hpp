// Parameter containers shared by the SRFV block forms and the network: a parameter with its
// gradient, a BatchNorm's parameters and statistics, and the SPEC §5 initialisers (host <-> device
// conversion through double is in ops/transfer.hpp), PyTorch's defaults for nn.Conv2d and
// nn.BatchNorm2d:
//   every conv weight  kaiming_uniform(a = sqrt(5)): U(-b, b), b = gain sqrt(3 / fan_in) with
//                      gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), so b = 1 / sqrt(fan_in), fan_in = Cin kh kw
//                      (branches, SE fc1/fc2, heads, fused blocks)
//   every conv bias    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in of its weight
//   BN                 gamma 1, beta 0, running_mean 0, running_var 1
#pragma once

#include <cmath>
#include <string>

#include "srmds/blocks/reparam.hpp"
#include "srmds/core/named_tensor.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/nets/block_spec.hpp"
#include "srmds/ops/tensor_ops.hpp"

namespace srmds {

// A device copy of t (same shape, contiguous).
template <class T, class D>
Tensor<T, D> clone_tensor(Context<D>& ctx, const Tensor<T, D>& t) {
  Tensor<T, D> c(t.shape(), ctx);
  if (!t.empty()) copy(ctx, t, c);
  return c;
}

// A tensor filled with `value`.
template <class T, class D>
Tensor<T, D> filled_tensor(Context<D>& ctx, const Shape& shape, T value) {
  Tensor<T, D> t(shape, ctx);
  if (t.numel() > 0) fill(ctx, t, value);
  return t;
}

namespace init {
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of shape s (a conv bias: fan_in of its weight).
inline Tensor<double, Cpu> uniform_fan_in(const Shape& s, double fan_in, Rng& rng) {
  const double bound = 1.0 / std::sqrt(fan_in);
  Tensor<double, Cpu> h(s);
  for (int64_t i = 0; i < h.numel(); ++i) h[i] = rng.uniform(-bound, bound);
  return h;
}
// A conv weight (Cout, Cin, kh, kw) as PyTorch initialises it: fan_in = Cin kh kw.
inline Tensor<double, Cpu> conv_weight(const Shape& s, Rng& rng) {
  const double fan_in = static_cast<double>(s.numel() / (s[0] ? s[0] : 1));
  return uniform_fan_in(s, fan_in > 0 ? fan_in : 1.0, rng);
}
}  // namespace init

// A trainable tensor and its gradient (same shape; the gradient starts at zero).
template <class T, class D>
struct Param {
  Tensor<T, D> value;
  Tensor<T, D> grad;

  Param() = default;
  Param(Context<D>& ctx, const Tensor<double, Cpu>& initial)
      : value(device_from_double<T>(ctx, initial)), grad(filled_tensor<T>(ctx, initial.shape(), T(0))) {}
  // Value and gradient zero.
  Param(Context<D>& ctx, const Shape& shape)
      : value(filled_tensor<T>(ctx, shape, T(0))), grad(filled_tensor<T>(ctx, shape, T(0))) {}

  void append(const std::string& name, StateList<T, D>& out) { out.push_back({name, &value, &grad}); }
  void zero_grad(Context<D>& ctx) {
    if (grad.numel() > 0) fill(ctx, grad, T(0));
  }
};

// A copy of p's value with a zero gradient (e.g. for the fused form).
template <class T, class D>
Param<T, D> copy_param(Context<D>& ctx, const Param<T, D>& p) {
  Param<T, D> q;
  q.value = clone_tensor(ctx, p.value);
  q.grad = filled_tensor<T>(ctx, p.value.shape(), T(0));
  return q;
}

// Where a block's constructor takes its parameters from: an Rng, drawn in the block's fixed order
// with the initialisers above (SPEC §5), or nowhere: ParamInit::by_shape() allocates every tensor
// by shape and sets it to zero (BN to its initial statistics) without drawing a random number, for
// a network whose weights are loaded next (io/weights.hpp). Implicit from an Rng, so a block is
// built from an Rng as before.
class ParamInit {
public:
  ParamInit(Rng& rng) : m_rng(&rng) {}  // implicit on purpose
  static ParamInit by_shape() { return ParamInit(); }
  bool draws() const { return m_rng != nullptr; }

  // A convolution weight as PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = numel / shape[0].
  template <class T, class D>
  Param<T, D> conv_weight(Context<D>& ctx, const Shape& shape) const {
    return m_rng ? Param<T, D>(ctx, init::conv_weight(shape, *m_rng)) : Param<T, D>(ctx, shape);
  }
  // uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) (conv biases: fan_in of their weight).
  template <class T, class D>
  Param<T, D> uniform_fan_in(Context<D>& ctx, const Shape& shape, double fan_in) const {
    return m_rng ? Param<T, D>(ctx, init::uniform_fan_in(shape, fan_in, *m_rng)) : Param<T, D>(ctx, shape);
  }

private:
  ParamInit() = default;
  Rng* m_rng = nullptr;
};

// BatchNorm2d: gamma, beta (parameters), running statistics (buffers), and the batch mean and
// invstd saved by the last training-mode forward. eps and momentum: nets/block_spec.hpp.
template <class T, class D>
struct BnParams {
  Param<T, D> gamma, beta;
  Tensor<T, D> running_mean, running_var;
  Tensor<T, D> save_mean, save_invstd;

  BnParams() = default;
  BnParams(Context<D>& ctx, int64_t channels)
      : gamma(filled_param(ctx, channels, T(1))),
        beta(filled_param(ctx, channels, T(0))),
        running_mean(filled_tensor<T>(ctx, Shape{channels}, T(0))),
        running_var(filled_tensor<T>(ctx, Shape{channels}, T(1))),
        save_mean(filled_tensor<T>(ctx, Shape{channels}, T(0))),
        save_invstd(filled_tensor<T>(ctx, Shape{channels}, T(1))) {}

  int64_t channels() const { return gamma.value.numel(); }

  // PyTorch order: weight, bias, running_mean, running_var.
  void append(const std::string& prefix, StateList<T, D>& out) {
    gamma.append(prefix + "weight", out);
    beta.append(prefix + "bias", out);
    out.push_back({prefix + "running_mean", &running_mean, nullptr});
    out.push_back({prefix + "running_var", &running_var, nullptr});
  }

  reparam::BnStats stats(Context<D>& ctx) const {
    return reparam::BnStats{double_from_device(ctx, gamma.value), double_from_device(ctx, beta.value),
                            double_from_device(ctx, running_mean), double_from_device(ctx, running_var), kBnEps};
  }

private:
  static Param<T, D> filled_param(Context<D>& ctx, int64_t c, T v) {
    Param<T, D> p;
    p.value = filled_tensor<T>(ctx, Shape{c}, v);
    p.grad = filled_tensor<T>(ctx, Shape{c}, T(0));
    return p;
  }
};

}  // namespace srmds
