// Structural re-parameterisation of an SRFV block (SPEC §2), in double precision on host data.
//
// A branch Conv(W) -> BN(gamma, beta, mean, var) is the affine map
//     y = t (W * x) + (beta - mean t),   t = gamma / sqrt(var + eps)        (per output channel)
// i.e. one convolution with kernel t W and bias beta - mean t (fold_bn). A 1x3, 3x1 or 1x1 kernel
// under "same" padding equals the 3x3 kernel that holds it in its centre (pad_to_3x3); the identity
// is the 3x3 kernel with 1 at [i, i, 1, 1] (identity_kernel). Convolution is linear in the kernel,
// so a sum of branches is one convolution with the summed kernel and bias:
//     inner BN:    K = sum_k t_k pad(W_k),   B = sum_k (beta_k - mean_k t_k)        (fuse_inner)
//     external BN: K = t sum_k pad(W_k),     B = beta - mean t                        (fuse_external)
// These functions are standalone: they take and return host tensors of doubles and can be used by
// programs that convert weights without running the network.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/nets/block_spec.hpp"

namespace srmds::reparam {

using HostTensor = Tensor<double, Cpu>;

// One BatchNorm's parameters and running statistics, each (C).
struct BnStats {
  HostTensor gamma, beta, mean, var;
  double eps = kBnEps;
};

// A convolution with bias: weight (Cout, Cin, kh, kw), bias (Cout); 3x3 after fusion.
struct ConvBias {
  HostTensor weight;
  HostTensor bias;
};

// One branch of an inner-BN block: kernel (Cout, Cin, kh, kw) or nullptr for the identity, and its BN.
struct BranchRef {
  const HostTensor* kernel = nullptr;
  const BnStats* bn = nullptr;
};

namespace detail {
inline void check_bn(const char* op, const BnStats& bn, int64_t c) {
  const Shape s{c};
  SRMDS_CHECK(bn.gamma.shape() == s && bn.beta.shape() == s && bn.mean.shape() == s && bn.var.shape() == s,
              op << ": BN tensors gamma " << bn.gamma.shape() << " beta " << bn.beta.shape() << " mean "
                 << bn.mean.shape() << " var " << bn.var.shape() << " expected " << s);
  SRMDS_CHECK(bn.eps >= 0, op << ": BN eps " << bn.eps << " is negative");
  for (int64_t i = 0; i < c; ++i)
    SRMDS_CHECK(bn.var[i] + bn.eps > 0, op << ": BN channel " << i << " has var + eps = " << bn.var[i] + bn.eps);
}
}  // namespace detail

// Zero-pads a (Cout, Cin, kh, kw) kernel, kh, kw in {1, 3}, into the centre of a 3x3 kernel.
inline HostTensor pad_to_3x3(const HostTensor& w) {
  SRMDS_CHECK(w.shape().rank() == 4, "reparam::pad_to_3x3: kernel " << w.shape() << " is not (Cout, Cin, kh, kw)");
  const Shape& s = w.shape();
  const int64_t kh = s[2], kw = s[3];
  SRMDS_CHECK((kh == 1 || kh == 3) && (kw == 1 || kw == 3),
              "reparam::pad_to_3x3: kernel " << s << " is not 1x1, 1x3, 3x1 or 3x3");
  HostTensor out(Shape{s[0], s[1], 3, 3});
  const int64_t oh = (3 - kh) / 2, ow = (3 - kw) / 2;
  for (int64_t o = 0; o < s[0]; ++o)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < kh; ++p)
        for (int64_t q = 0; q < kw; ++q) out.at(o, c, p + oh, q + ow) = w.at(o, c, p, q);
  return out;
}

// The (C, C, 3, 3) kernel of the identity map: 1 at [i, i, 1, 1], 0 elsewhere.
inline HostTensor identity_kernel(int64_t channels) {
  SRMDS_CHECK(channels > 0, "reparam::identity_kernel: " << channels << " channels");
  HostTensor k(Shape{channels, channels, 3, 3});
  for (int64_t i = 0; i < channels; ++i) k.at(i, i, 1, 1) = 1.0;
  return k;
}

// t = gamma / sqrt(var + eps), (C).
inline HostTensor bn_scale(const BnStats& bn) {
  const int64_t c = bn.gamma.numel();
  detail::check_bn("reparam::bn_scale", bn, c);
  HostTensor t(Shape{c});
  for (int64_t i = 0; i < c; ++i) t[i] = bn.gamma[i] / std::sqrt(bn.var[i] + bn.eps);
  return t;
}

// BN(conv(x; kernel)) as one convolution: weight t * kernel (per output channel), bias beta - mean t.
// The kernel keeps its size (Cout, Cin, kh, kw).
inline ConvBias fold_bn(const HostTensor& kernel, const BnStats& bn) {
  SRMDS_CHECK(kernel.shape().rank() == 4, "reparam::fold_bn: kernel " << kernel.shape() << " is not (Cout, Cin, kh, kw)");
  const int64_t cout = kernel.shape()[0];
  detail::check_bn("reparam::fold_bn", bn, cout);
  const HostTensor t = bn_scale(bn);
  ConvBias r{HostTensor(kernel.shape()), HostTensor(Shape{cout})};
  const int64_t per_out = kernel.numel() / (cout ? cout : 1);
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t i = 0; i < per_out; ++i) r.weight[o * per_out + i] = kernel[o * per_out + i] * t[o];
    r.bias[o] = bn.beta[o] - bn.mean[o] * t[o];
  }
  return r;
}

// acc += term (weights and biases of the same shapes).
inline void add_into(ConvBias& acc, const ConvBias& term) {
  SRMDS_CHECK(acc.weight.shape() == term.weight.shape() && acc.bias.shape() == term.bias.shape(),
              "reparam::add_into: weight " << acc.weight.shape() << " + " << term.weight.shape() << ", bias "
                                           << acc.bias.shape() << " + " << term.bias.shape());
  for (int64_t i = 0; i < acc.weight.numel(); ++i) acc.weight[i] += term.weight[i];
  for (int64_t i = 0; i < acc.bias.numel(); ++i) acc.bias[i] += term.bias[i];
}

// Inner BN: K = sum_k t_k pad(W_k), B = sum_k (beta_k - mean_k t_k); a branch with kernel == nullptr
// is the identity (needs cin == cout). All branches must agree on (Cout, Cin).
inline ConvBias fuse_inner(const std::vector<BranchRef>& branches, int64_t cin, int64_t cout) {
  SRMDS_CHECK(!branches.empty(), "reparam::fuse_inner: no branches");
  ConvBias acc{HostTensor(Shape{cout, cin, 3, 3}), HostTensor(Shape{cout})};
  for (const BranchRef& b : branches) {
    SRMDS_CHECK(b.bn != nullptr, "reparam::fuse_inner: branch without BN");
    HostTensor k3;
    if (b.kernel) {
      SRMDS_CHECK(b.kernel->shape().rank() == 4 && b.kernel->shape()[0] == cout && b.kernel->shape()[1] == cin,
                  "reparam::fuse_inner: kernel " << b.kernel->shape() << " does not map " << cin << " to " << cout
                                                 << " channels");
      k3 = pad_to_3x3(*b.kernel);
    } else {
      SRMDS_CHECK(cin == cout, "reparam::fuse_inner: identity branch needs cin == cout, got " << cin << " -> " << cout);
      k3 = identity_kernel(cout);
    }
    add_into(acc, fold_bn(k3, *b.bn));
  }
  return acc;
}

// External BN: K = t (sum_k pad(W_k) [+ identity]), B = beta - mean t.
inline ConvBias fuse_external(const std::vector<const HostTensor*>& kernels, bool identity, const BnStats& bn,
                             int64_t cin, int64_t cout) {
  SRMDS_CHECK(!kernels.empty() || identity, "reparam::fuse_external: no branches");
  HostTensor sum(Shape{cout, cin, 3, 3});
  for (const HostTensor* k : kernels) {
    SRMDS_CHECK(k && k->shape().rank() == 4 && k->shape()[0] == cout && k->shape()[1] == cin,
                "reparam::fuse_external: kernel " << (k ? k->shape() : Shape{}) << " does not map " << cin << " to "
                                                  << cout << " channels");
    const HostTensor p = pad_to_3x3(*k);
    for (int64_t i = 0; i < sum.numel(); ++i) sum[i] += p[i];
  }
  if (identity) {
    SRMDS_CHECK(cin == cout, "reparam::fuse_external: identity needs cin == cout, got " << cin << " -> " << cout);
    const HostTensor id = identity_kernel(cout);
    for (int64_t i = 0; i < sum.numel(); ++i) sum[i] += id[i];
  }
  return fold_bn(sum, bn);
}

}  // namespace srmds::reparam
