// SrfvBlock<T, D>: the training form of an SRFV block (SPEC §2), stride 1, "same" padding:
//   bn: inner     y = ReLU( A( sum_k BN_k(Conv_k(x)) [+ BN_id(x)] ) )
//   bn: external  y = ReLU( A( BN( sum_k Conv_k(x) [+ x] ) ) )
// branches k from {3x3, 1x3, 3x1, 1x1} (no bias), the identity only where Cin == Cout, A the
// block's attention (blocks/attention.hpp: se, sge, cbam, psa or none). BN: eps and momentum of
// nets/block_spec.hpp, PyTorch semantics.
//
// Forward in training mode saves what backward needs: the branch conv outputs (BN inputs), the
// pre-attention sum, and views of x and y (the caller keeps x and y alive and unchanged until backward).
// Inner BN: the branch BNs and their sum are one op (ops/batchnorm_sum.hpp: on the GPU one grouped
// launch sequence each way; on the CPU the per-BN loop, each BN accumulating into the sum); x and y
// may be strided channel views (the network writes encoder outputs straight into the decoder's concat buffer).
// Backward:  g = relu'(y) dy;  ds = A^T g;  per branch dc_k = BN_k^T ds (one batchnorm_sum_backward),
//            dW_k = conv_filter(x, dc_k), dx = sum_k conv_data(dc_k, W_k) [+ BN_id^T ds].
// The branch convolutions run through ops/conv2d_branches.hpp (on the CPU in float one shared
// Winograd pass for all branches where it is taken).
// Temporaries come from a Scratch shared by the blocks of a network.
//
// State names (SPEC §6), after a prefix such as "enc0.b0.":
//   br.<k>.conv.weight, br.<k>.bn.{weight,bias,running_mean,running_var}  (inner)
//   br.id.{weight,bias,running_mean,running_var}                           (inner, Cin == Cout)
//   br.<k>.conv.weight, bn.{weight,bias,running_mean,running_var}          (external)
//   se.fc1.{weight,bias}, se.fc2.{weight,bias}                             (attention: se)
//   att.*                                                                  (sge, cbam, psa: SPEC §2)
#pragma once

#include <string>
#include <vector>

#include "srmds/blocks/fused_block.hpp"
#include "srmds/blocks/params.hpp"
#include "srmds/blocks/reparam.hpp"
#include "srmds/blocks/scratch.hpp"
#include "srmds/blocks/attention.hpp"
#include "srmds/nets/block_spec.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/ops/batchnorm.hpp"
#include "srmds/ops/batchnorm_sum.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/conv2d_branches.hpp"
#include "srmds/ops/relu.hpp"
#include "srmds/ops/tensor_ops.hpp"

namespace srmds {

// Throws unless every entry of cfg.branches is a known branch name, each at most once.
inline void check_branch_names(const NetConfig& cfg) {
  const std::string error = branch_list_error(cfg.branches);
  SRMDS_CHECK(error.empty(), "NetConfig: " << error);
}

template <class T, class D>
class SrfvBlock {
public:
  // Parameters per SPEC §5 from an Rng: conv weights PyTorch-uniform in the config's branch order, then
  // the attention (or zero, by shape only: ParamInit::by_shape()).
  SrfvBlock(Context<D>& ctx, const NetConfig& cfg, int64_t cin, int64_t cout, ParamInit init)
      : m_cin(cin), m_cout(cout), m_bn_place(cfg.bn), m_has_id(cfg.has_branch(kIdentityBranch) && cin == cout),
        m_has_att(cfg.attention != Attention::None) {
    check_branch_names(cfg);
    SRMDS_CHECK(cin > 0 && cout > 0, "SrfvBlock: channels " << cin << " -> " << cout);
    for (const auto& name : cfg.branches) {  // config order, as the PyTorch twin's ModuleDict
      if (name == kIdentityBranch) continue;
      const BranchKind k = branch_kind(name);
      ConvBranch b;
      b.name = k.name;
      b.weight = init.conv_weight<T>(ctx, Shape{cout, cin, k.kh, k.kw});
      if (m_bn_place == BnPlacement::Inner) b.bn = BnParams<T, D>(ctx, cout);
      m_convs.push_back(std::move(b));
    }
    SRMDS_CHECK(!m_convs.empty() || m_has_id, "SrfvBlock: no branch left for a block " << cin << " -> " << cout
                                                                                       << " (branches need a conv "
                                                                                          "where cin != cout)");
    if (m_has_id && m_bn_place == BnPlacement::Inner) m_id_bn = BnParams<T, D>(ctx, cout);
    if (m_bn_place == BnPlacement::External) m_bn = BnParams<T, D>(ctx, cout);
    if (m_has_att) m_att = AttentionLayer<T, D>(ctx, cfg, cout, init);
  }

  int64_t cin() const { return m_cin; }
  int64_t cout() const { return m_cout; }
  bool has_identity() const { return m_has_id; }
  bool has_se() const { return m_att.kind() == Attention::Se; }
  Attention attention() const { return m_att.kind(); }

  // Training mode: batch statistics, running statistics updated, state saved for backward.
  void forward_train(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y,  // (N, Cin, H, W) -> (N, Cout, H, W)
                     Scratch<T, D>& scratch) {
    check_io("SrfvBlock::forward_train", x, y);
    const Shape ys = y.shape();
    m_x = x.view();
    m_y = y.view();
    Tensor<T, D> pre = y.view();
    if (m_has_att) {
      ensure_shape(ctx, m_pre_att, ys);
      pre = m_pre_att.view();
    }
    if (m_bn_place == BnPlacement::Inner) {
      std::vector<const Tensor<T, D>*> weights;
      std::vector<Tensor<T, D>*> outs;
      for (auto& b : m_convs) {
        ensure_shape(ctx, b.out, ys);
        weights.push_back(&b.weight.value);
        outs.push_back(&b.out);
      }
      if (!m_convs.empty()) conv2d_branches_forward(ctx, x, weights, outs);
      std::vector<BatchNormTerm<T, D>> terms;
      for (auto& b : m_convs) terms.push_back(bn_term(b.bn, b.out));
      if (m_has_id) terms.push_back(bn_term(m_id_bn, x));
      batchnorm_sum_forward_train(ctx, terms, kBnMomentum, kBnEps, pre, WriteMode::Overwrite);
    } else {
      ensure_shape(ctx, m_sum, ys);
      sum_branches(ctx, x, m_sum, scratch);
      bn_train(ctx, m_bn, m_sum, pre, WriteMode::Overwrite);
    }
    if (m_has_att)
      m_att.forward_relu(ctx, pre, y);
    else
      relu_forward(ctx, y, y);
    m_saved = true;
  }

  // Eval mode: running statistics; saves nothing (a later backward needs a new forward_train).
  void forward_eval(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y, Scratch<T, D>& scratch) {
    check_io("SrfvBlock::forward_eval", x, y);
    m_saved = false;
    const Shape ys = y.shape();
    // The attention and ReLU run in place on y, so the sum goes straight to y.
    Tensor<T, D> pre = y.view();
    if (m_bn_place == BnPlacement::Inner) {
      WriteMode mode = WriteMode::Overwrite;
      for (auto& b : m_convs) {
        Tensor<T, D> t = scratch.get(ctx, kSlotTmp, ys);
        conv2d_forward(ctx, x, b.weight.value, no_bias(), t);
        bn_eval(ctx, b.bn, t, pre, mode);
        mode = WriteMode::Accumulate;
      }
      if (m_has_id) bn_eval(ctx, m_id_bn, x, pre, mode);
    } else {
      Tensor<T, D> sum = scratch.get(ctx, kSlotSum, ys);
      sum_branches(ctx, x, sum, scratch);
      bn_eval(ctx, m_bn, sum, pre, WriteMode::Overwrite);
    }
    if (m_has_att)
      m_att.forward_relu(ctx, pre, y);
    else
      relu_forward(ctx, y, y);
  }

  // Backward of the last forward_train. dy (N, Cout, H, W); dx (N, Cin, H, W) or nullptr, written
  // with dx_mode; every parameter gradient written with param_mode.
  void backward(Context<D>& ctx, const Tensor<T, D>& dy, Tensor<T, D>* dx, WriteMode dx_mode, WriteMode param_mode,
                Scratch<T, D>& scratch) {
    SRMDS_CHECK(m_saved, "SrfvBlock::backward: no training-mode forward to differentiate (forward_train first)");
    detail::check_same_shape("SrfvBlock::backward", "y", m_y, "dy", dy);
    if (dx) detail::check_same_shape("SrfvBlock::backward", "x", m_x, "dx", *dx);
    const Shape ys = m_y.shape();
    Tensor<T, D> g = scratch.get(ctx, kSlotGradY, ys);
    relu_backward(ctx, m_y, dy, g, WriteMode::Overwrite);
    Tensor<T, D> ds = g.view();
    if (m_has_att) {
      ds = scratch.get(ctx, kSlotGradSum, ys);
      m_att.backward(ctx, m_pre_att, g, ds, WriteMode::Overwrite, param_mode);
    }
    WriteMode next_dx = dx_mode;
    auto take_dx_mode = [&next_dx] {
      const WriteMode m = next_dx;
      next_dx = WriteMode::Accumulate;
      return m;
    };
    if (m_bn_place == BnPlacement::Inner) {
      // Every branch's conv-output gradient first (one scratch slot each; the BNs' backward passes
      // as one op), then the convolutions' backward passes over all branches at once. Where that op
      // is one grouped launch sequence (the GPU) the identity's BN joins it and writes dx first;
      // elsewhere it comes last, after the convolutions, as it always has (the CPU's summation order).
      const bool grouped_bn = batchnorm_sum_is_grouped<D>();
      std::vector<Tensor<T, D>> dcs;
      dcs.reserve(m_convs.size());
      std::vector<const Tensor<T, D>*> dc_ptrs, weights;
      std::vector<Tensor<T, D>*> grads;
      std::vector<BatchNormTerm<T, D>> terms;
      for (size_t k = 0; k < m_convs.size(); ++k) {
        auto& b = m_convs[k];
        dcs.push_back(scratch.get(ctx, kSlotGradConv + static_cast<int>(k), ys));
        terms.push_back(bn_grad_term(b.bn, b.out, &dcs.back(), WriteMode::Overwrite));
        dc_ptrs.push_back(&dcs.back());
        weights.push_back(&b.weight.value);
        grads.push_back(&b.weight.grad);
      }
      if (m_has_id && grouped_bn)
        terms.push_back(bn_grad_term(m_id_bn, m_x, dx, dx ? take_dx_mode() : WriteMode::Overwrite));
      if (!terms.empty()) batchnorm_sum_backward(ctx, terms, ds, param_mode);
      if (!m_convs.empty()) {
        conv2d_branches_backward_filter(ctx, m_x, dc_ptrs, grads, param_mode);
        if (dx) conv2d_branches_backward_data(ctx, dc_ptrs, weights, *dx, take_dx_mode());
      }
      if (m_has_id && !grouped_bn) {
        const WriteMode m = dx ? take_dx_mode() : WriteMode::Overwrite;
        batchnorm_backward(ctx, m_x, ds, m_id_bn.gamma.value, m_id_bn.save_mean, m_id_bn.save_invstd, dx, m,
                           &m_id_bn.gamma.grad, &m_id_bn.beta.grad, param_mode);
      }
    } else {
      Tensor<T, D> dc = scratch.get(ctx, kSlotGradConv, ys);
      batchnorm_backward(ctx, m_sum, ds, m_bn.gamma.value, m_bn.save_mean, m_bn.save_invstd, &dc, WriteMode::Overwrite,
                         &m_bn.gamma.grad, &m_bn.beta.grad, param_mode);
      for (auto& b : m_convs) {
        conv2d_backward_filter(ctx, m_x, dc, b.weight.grad, param_mode);
        if (dx) conv2d_backward_data(ctx, dc, b.weight.value, *dx, take_dx_mode());
      }
      if (m_has_id && dx) {
        if (take_dx_mode() == WriteMode::Overwrite)
          copy(ctx, dc, *dx);
        else
          axpy(ctx, T(1), dc, *dx);
      }
    }
  }

  // prefix names the block and ends with '.', e.g. "enc0.b0.".
  void append_state(const std::string& prefix, StateList<T, D>& out) {
    for (auto& b : m_convs) {
      b.weight.append(prefix + "br." + b.name + ".conv.weight", out);
      if (m_bn_place == BnPlacement::Inner) b.bn.append(prefix + "br." + b.name + ".bn.", out);
    }
    if (m_has_id && m_bn_place == BnPlacement::Inner) m_id_bn.append(prefix + "br.id.", out);
    if (m_bn_place == BnPlacement::External) m_bn.append(prefix + "bn.", out);
    m_att.append_state(prefix, out);
  }
  StateList<T, D> state(const std::string& prefix = "") {
    StateList<T, D> out;
    append_state(prefix, out);
    return out;
  }

  // The fused 3x3 kernel and bias, computed in double from the eval-mode statistics.
  reparam::ConvBias fused_conv(Context<D>& ctx) const {
    std::vector<reparam::HostTensor> kernels;
    kernels.reserve(m_convs.size());
    for (const auto& b : m_convs) kernels.push_back(double_from_device(ctx, b.weight.value));
    if (m_bn_place == BnPlacement::Inner) {
      std::vector<reparam::BnStats> stats;
      stats.reserve(m_convs.size() + 1);
      for (const auto& b : m_convs) stats.push_back(b.bn.stats(ctx));
      if (m_has_id) stats.push_back(m_id_bn.stats(ctx));
      std::vector<reparam::BranchRef> refs;
      for (size_t i = 0; i < m_convs.size(); ++i) refs.push_back({&kernels[i], &stats[i]});
      if (m_has_id) refs.push_back({nullptr, &stats.back()});
      return reparam::fuse_inner(refs, m_cin, m_cout);
    }
    std::vector<const reparam::HostTensor*> refs;
    for (const auto& k : kernels) refs.push_back(&k);
    return reparam::fuse_external(refs, m_has_id, m_bn.stats(ctx), m_cin, m_cout);
  }

  // The equivalent inference block (the attention's parameters copied: fusion keeps it as it is).
  FusedBlock<T, D> fused(Context<D>& ctx) const {
    return FusedBlock<T, D>(ctx, fused_conv(ctx), m_att.copy_params(ctx));
  }

private:
  // Scratch slots (blocks/scratch.hpp). Backward: inner BN takes one slot per branch from
  // kSlotGradConv on, external BN one.
  static constexpr int kSlotTmp = ScratchSlot::kBranchOut, kSlotSum = ScratchSlot::kBranchSum;
  static constexpr int kSlotGradY = ScratchSlot::kGradY, kSlotGradSum = ScratchSlot::kGradSum,
                       kSlotGradConv = ScratchSlot::kGradConv;
  static_assert(ScratchSlot::kGradConv + static_cast<int>(kConvBranches.size()) <= ScratchSlot::kBlockEnd,
                "one gradient slot per conv branch");

  struct ConvBranch {
    std::string name;
    Param<T, D> weight;  // (Cout, Cin, kh, kw)
    BnParams<T, D> bn;   // inner BN only
    Tensor<T, D> out;    // conv output saved for BN backward (inner BN only)
  };

  static const Tensor<T, D>* no_bias() { return nullptr; }

  void check_io(const char* op, const Tensor<T, D>& x, const Tensor<T, D>& y) const {
    detail::check_rank4(op, "x", x);
    detail::check_rank4(op, "y", y);
    const Shape& s = x.shape();
    SRMDS_CHECK(s.c() == m_cin && y.shape() == Shape({s.n(), m_cout, s.h(), s.w()}),
                op << ": x " << s << " and y " << y.shape() << " for a block " << m_cin << " -> " << m_cout);
  }

  // BN_k of a block's sum of branch BNs (ops/batchnorm_sum.hpp): the forward's term, and the
  // backward's, whose gradient goes to dc (or nowhere: nullptr) and to the BN's parameters.
  static BatchNormTerm<T, D> bn_term(BnParams<T, D>& bn, const Tensor<T, D>& in) {
    BatchNormTerm<T, D> t;
    t.x = &in;
    t.gamma = &bn.gamma.value;
    t.beta = &bn.beta.value;
    t.running_mean = &bn.running_mean;
    t.running_var = &bn.running_var;
    t.save_mean = &bn.save_mean;
    t.save_invstd = &bn.save_invstd;
    return t;
  }
  static BatchNormTerm<T, D> bn_grad_term(BnParams<T, D>& bn, const Tensor<T, D>& in, Tensor<T, D>* dc,
                                          WriteMode dc_mode) {
    BatchNormTerm<T, D> t = bn_term(bn, in);
    t.dx = dc;
    t.dx_mode = dc_mode;
    t.dgamma = &bn.gamma.grad;
    t.dbeta = &bn.beta.grad;
    return t;
  }

  static void bn_train(Context<D>& ctx, BnParams<T, D>& bn, const Tensor<T, D>& in, Tensor<T, D>& out, WriteMode mode) {
    batchnorm_forward_train(ctx, in, bn.gamma.value, bn.beta.value, bn.running_mean, bn.running_var, kBnMomentum,
                            kBnEps, out, mode, bn.save_mean, bn.save_invstd);
  }
  static void bn_eval(Context<D>& ctx, const BnParams<T, D>& bn, const Tensor<T, D>& in, Tensor<T, D>& out,
                      WriteMode mode) {
    batchnorm_forward_eval(ctx, in, bn.gamma.value, bn.beta.value, bn.running_mean, bn.running_var, kBnEps, out, mode);
  }

  // out = sum_k Conv_k(x) [+ x] (external BN); one scratch temporary for the second and later convs.
  void sum_branches(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& out, Scratch<T, D>& scratch) {
    bool first = true;
    for (auto& b : m_convs) {
      if (first) {
        conv2d_forward(ctx, x, b.weight.value, no_bias(), out);
      } else {
        Tensor<T, D> t = scratch.get(ctx, kSlotTmp, out.shape());
        conv2d_forward(ctx, x, b.weight.value, no_bias(), t);
        axpy(ctx, T(1), t, out);
      }
      first = false;
    }
    if (m_has_id) {
      if (first)
        copy(ctx, x, out);
      else
        axpy(ctx, T(1), x, out);
    }
  }

  int64_t m_cin, m_cout;
  BnPlacement m_bn_place;
  bool m_has_id, m_has_att;
  std::vector<ConvBranch> m_convs;
  BnParams<T, D> m_id_bn;  // inner BN, identity branch
  BnParams<T, D> m_bn;     // external BN
  AttentionLayer<T, D> m_att;  // attention: none leaves it empty

  Tensor<T, D> m_pre_att;  // (N, Cout, H, W) attention input, saved (any attention but none)
  Tensor<T, D> m_sum;     // (N, Cout, H, W) branch sum = BN input, saved (external BN)
  Tensor<T, D> m_x, m_y;  // views of the last training-mode input and output
  bool m_saved = false;
};

}  // namespace srmds
