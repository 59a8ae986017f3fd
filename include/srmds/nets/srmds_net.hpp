// SrmdsNet<T, D>: SR&MDS-Net (SPEC §1) in the training form (SRFV blocks, four deep-supervision
// heads) or the fused inference form (one 3x3 conv + SE per block, head0 only). Layout in
// nets/layout.hpp.
//
// Concatenation costs no copy: the decoder input cat_s (N, c_s + C_up, H_s, W_s) is one buffer;
// encoder stage s writes e_s into its channels [0, c_s) and the upsampling of the level below
// writes into [c_s, c_s + C_up). Activation buffers are allocated on first use and whenever the
// input shape changes, and reused across calls. Backward mirrors this: the gradient of cat_s is one
// buffer whose upper channels go to the upsampling's backward and whose lower channels, plus the
// max-pool backward of the stage above (WriteMode::Accumulate), are the gradient of e_s.
//
// Initialisation (SPEC §5), from one seeded Rng in the order enc0.b0 .. dec0.b1, then the heads:
// conv weights He-normal (fan_in), BN gamma 1 beta 0 running 0 / 1, SE and heads uniform
// +-1/sqrt(fan_in) (weights and biases); a freshly built fused form has fused.bias 0.
// SrmdsNet::by_shape builds the same tensors without drawing random numbers (for loading).
// Inference precision (fused form): set_precision(Precision::Bf16) runs every fused block's 3x3
// convolution in bf16 on the CPU (nets/precision.hpp); the 1x1 head stays fp32.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "srmds/blocks/fused_block.hpp"
#include "srmds/blocks/params.hpp"
#include "srmds/blocks/scratch.hpp"
#include "srmds/blocks/srfv_block.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/layout.hpp"
#include "srmds/nets/precision.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/maxpool.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "srmds/ops/upsample.hpp"

namespace srmds {

template <class T, class D>
class SrmdsNet {
public:
  // Parameters drawn from Rng(seed) (SPEC §5).
  SrmdsNet(Context<D>& ctx, const NetConfig& cfg, NetForm form, uint64_t seed) : SrmdsNet(cfg, form) {
    Rng rng(seed);
    build(ctx, rng);
  }

  // Every tensor allocated by shape and zero (BN at its initial statistics), no random number
  // drawn: for a network whose weights are loaded next (io::load_weights).
  static SrmdsNet by_shape(Context<D>& ctx, const NetConfig& cfg, NetForm form) {
    SrmdsNet net(cfg, form);
    net.build(ctx, ParamInit::by_shape());
    return net;
  }

  SrmdsNet(SrmdsNet&&) noexcept = default;
  SrmdsNet& operator=(SrmdsNet&&) noexcept = default;

  const NetConfig& config() const { return m_cfg; }
  NetForm form() const { return m_form; }
  Precision precision() const { return m_precision; }

  // Inference precision of the fused form (the training form is fp32 only; bf16 needs a float
  // network on the CPU, else srmds::Error). Bf16 packs the current weights: call it after loading.
  void set_precision(Precision p) {
    SRMDS_CHECK(m_form == NetForm::Fused || p == Precision::Fp32,
                "SrmdsNet::set_precision: " << precision_name(p) << " inference needs the fused form");
    for (auto& b : m_fused) b.set_precision(p);
    m_precision = p;
  }

  // Training mode (batch statistics, running statistics updated), training form only.
  // x (N, in_channels, H, W), H and W multiples of 16; returns z_0..z_3, z_s (N, 1, H/2^s, W/2^s).
  // The returned tensors and everything backward needs stay valid until the next forward.
  const std::array<Tensor<T, D>, kNumScales>& forward_train(Context<D>& ctx, const Tensor<T, D>& x) {
    SRMDS_CHECK(m_form == NetForm::Train, "SrmdsNet::forward_train: the fused form has no training mode");
    check_input("SrmdsNet::forward_train", x);
    ensure_activations(ctx, x.shape());
    m_train_saved = false;
    m_x = x.view();
    forward_body(ctx, x, Mode::Train);
    for (int s = 0; s < kNumScales; ++s)
      conv2d_forward(ctx, m_dec[s], m_heads[s].weight.value, &m_heads[s].bias.value, m_z[s]);
    m_train_saved = true;
    return m_z;
  }

  // Called during backward with the parameters of a head or block (state() entries, unnamed) as
  // soon as their gradients are final, so that their reduction across processes can start while the
  // pass goes on (dist/gradient_reducer.hpp). Order: head 0, decoder stages from d0 up (block 1, then
  // block 0) with head s before stage d_s, then the encoder stages from e4 down: the reverse of
  // state()'s stage order, heads interleaved.
  using GradsFinal = std::function<void(const StateList<T, D>&)>;

  // Gradients of the last forward_train given dL/dz_s (an empty tensor: zero gradient at that scale).
  // Every parameter gradient is written with param_mode; dx (N, in_channels, H, W), if given,
  // receives dL/dx (overwritten). on_final (may be null): see GradsFinal.
  void backward(Context<D>& ctx, const std::array<Tensor<T, D>, kNumScales>& dz, WriteMode param_mode,
                Tensor<T, D>* dx = nullptr, const GradsFinal* on_final = nullptr) {
    SRMDS_CHECK(m_form == NetForm::Train && m_train_saved,
                "SrmdsNet::backward: no training-mode forward to differentiate (forward_train first)");
    for (int s = 0; s < kNumScales; ++s)
      if (!dz[s].empty())
        SRMDS_CHECK(dz[s].shape() == m_z[s].shape(),
                    "SrmdsNet::backward: dz[" << s << "] " << dz[s].shape() << " expected " << m_z[s].shape());
    if (dx) detail::check_same_shape("SrmdsNet::backward", "x", m_x, "dx", *dx);
    const auto c = m_cfg.widths();
    const auto hc = head_channels(m_cfg);
    for (int s = 0; s < kNumScales; ++s) ensure_shape(ctx, m_dcat[s], m_cat[s].shape());

    // Decoder, d0 first: dL/dd_s = head_s^T dz_s + up^T (upper channels of dL/dcat_{s-1}).
    for (int s = 0; s < kNumScales; ++s) {
      Head& h = m_heads[s];
      const bool has_dz = !dz[s].empty();
      Tensor<T, D> dd = m_grad_scratch.get(ctx, kSlotStageOut, m_dec[s].shape());
      if (s == 0) {
        if (has_dz)
          conv2d_backward_data(ctx, dz[0], h.weight.value, dd, WriteMode::Overwrite);
        else
          fill(ctx, dd, T(0));
      } else {
        const Tensor<T, D> dup = m_dcat[s - 1].channels(c[s - 1], hc[s]);
        upsample_bilinear_backward(ctx, dup, dd, m_cfg.align_corners, WriteMode::Overwrite);
        if (has_dz) conv2d_backward_data(ctx, dz[s], h.weight.value, dd, WriteMode::Accumulate);
      }
      if (has_dz) {
        conv2d_backward_filter(ctx, m_dec[s], dz[s], h.weight.grad, param_mode);
        conv2d_backward_bias(ctx, dz[s], h.bias.grad, param_mode);
      } else if (param_mode == WriteMode::Overwrite) {
        h.weight.zero_grad(ctx);
        h.bias.zero_grad(ctx);
      }
      if (on_final) {
        StateList<T, D> head;
        h.weight.append("", head);
        h.bias.append("", head);
        (*on_final)(head);
      }
      backward_stage(ctx, decoder_stage(s), dd, &m_dcat[s], WriteMode::Overwrite, param_mode, on_final);
    }

    // Encoder, e4 first: dL/de_s = lower channels of dL/dcat_s + maxpool^T dL/dpool_{s+1}.
    Tensor<T, D> de4 = m_grad_scratch.get(ctx, kSlotStageOut, m_e4.shape());
    const Tensor<T, D> dup4 = m_dcat[3].channels(c[3], c[4]);
    upsample_bilinear_backward(ctx, dup4, de4, m_cfg.align_corners, WriteMode::Overwrite);
    for (int s = 4; s >= 0; --s) {
      const Tensor<T, D> dy = s == 4 ? de4.view() : m_dcat[s].channels(0, c[s]);
      if (s > 0) {
        Tensor<T, D> dpool = m_grad_scratch.get(ctx, kSlotPool, m_pool[s].shape());
        backward_stage(ctx, s, dy, &dpool, WriteMode::Overwrite, param_mode, on_final);
        Tensor<T, D> de_prev = m_dcat[s - 1].channels(0, c[s - 1]);
        maxpool2_backward(ctx, dpool, m_argmax[s], de_prev, WriteMode::Accumulate);
      } else {
        backward_stage(ctx, 0, dy, dx, WriteMode::Overwrite, param_mode, on_final);
      }
    }
  }

  // Eval mode (running statistics, or the fused blocks), z_0 only: x (N, in, H, W) -> z0 (N, 1, H, W).
  void forward_eval(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& z0) {
    check_input("SrmdsNet::forward_eval", x);
    const Shape& s = x.shape();
    detail::check_shape("SrmdsNet::forward_eval", "z0", z0, Shape{s.n(), 1, s.h(), s.w()});
    ensure_activations(ctx, s);
    m_train_saved = false;
    forward_body(ctx, x, Mode::Eval);
    conv2d_forward(ctx, m_dec[0], m_heads[0].weight.value, &m_heads[0].bias.value, z0);
  }

  // Every tensor of the state_dict with SPEC §6 names: stages in order (enc0.b0. ...), then heads.
  StateList<T, D> state() {
    StateList<T, D> out;
    for (int i = 0; i < kNumStages; ++i)
      for (int j = 0; j < 2; ++j) {
        const std::string prefix = m_specs[i].name + ".b" + std::to_string(j) + ".";
        if (m_form == NetForm::Train)
          m_blocks[2 * i + j].append_state(prefix, out);
        else
          m_fused[2 * i + j].append_state(prefix, out);
      }
    for (size_t s = 0; s < m_heads.size(); ++s) {
      m_heads[s].weight.append("head" + std::to_string(s) + ".weight", out);
      m_heads[s].bias.append("head" + std::to_string(s) + ".bias", out);
    }
    return out;
  }

  // The equivalent fused network (fusion in double from the running statistics); training form only.
  SrmdsNet fused(Context<D>& ctx) const {
    SRMDS_CHECK(m_form == NetForm::Train, "SrmdsNet::fused: the network is already fused");
    SrmdsNet out(m_cfg, NetForm::Fused);
    for (const auto& b : m_blocks) out.m_fused.push_back(b.fused(ctx));
    Head h;
    h.weight = copy_param(ctx, m_heads[0].weight);
    h.bias = copy_param(ctx, m_heads[0].bias);
    out.m_heads.push_back(std::move(h));
    return out;
  }

  // Frees the activation, gradient and scratch buffers (they are rebuilt on the next forward).
  void release_buffers() {
    m_act_shape = Shape{};
    for (auto& t : m_pool) t = Tensor<T, D>();
    for (auto& t : m_argmax) t = Tensor<int32_t, D>();
    for (auto& t : m_mid) t = Tensor<T, D>();
    for (auto& t : m_cat) t = Tensor<T, D>();
    for (auto& t : m_dec) t = Tensor<T, D>();
    for (auto& t : m_z) t = Tensor<T, D>();
    for (auto& t : m_dcat) t = Tensor<T, D>();
    m_e4 = Tensor<T, D>();
    m_scratch = Scratch<T, D>();
    m_grad_scratch = Scratch<T, D>();
    m_train_saved = false;
  }

private:
  enum class Mode { Train, Eval };
  // Network-level gradient slots (the blocks use m_scratch, so these never alias a block's).
  static constexpr int kSlotStageOut = 0, kSlotMid = 1, kSlotPool = 2;
  // Slot of m_scratch (shared with the blocks, blocks/scratch.hpp) for eval-mode intermediates.
  static constexpr int kSlotEvalMid = ScratchSlot::kNetEvalMid;

  struct Head {
    Param<T, D> weight;  // (1, C, 1, 1)
    Param<T, D> bias;    // (1)
  };

  SrmdsNet(const NetConfig& cfg, NetForm form) : m_cfg(cfg), m_form(form), m_specs(stage_specs(cfg)) {}

  // The blocks in the order enc0.b0 .. dec0.b1, then the heads, each taking its parameters from init.
  void build(Context<D>& ctx, ParamInit init) {
    check_config(m_cfg);
    for (const StageSpec& st : m_specs) {
      const std::array<std::pair<int64_t, int64_t>, 2> io{{{st.cin, st.cmid}, {st.cmid, st.cout}}};
      for (const auto& p : io) {
        if (m_form == NetForm::Train)
          m_blocks.emplace_back(ctx, m_cfg, p.first, p.second, init);
        else
          m_fused.emplace_back(ctx, m_cfg, p.first, p.second, init);
      }
    }
    const auto hc = head_channels(m_cfg);
    for (int s = 0; s < (m_form == NetForm::Train ? kNumScales : 1); ++s) {
      const double fan_in = static_cast<double>(hc[s]);
      Head h;
      h.weight = init.uniform_fan_in<T>(ctx, Shape{1, hc[s], 1, 1}, fan_in);
      h.bias = init.uniform_fan_in<T>(ctx, Shape{1}, fan_in);
      m_heads.push_back(std::move(h));
    }
  }

  static void check_config(const NetConfig& cfg) {
    SRMDS_CHECK(cfg.base > 0 && cfg.in_channels > 0 && cfg.se_reduction > 0,
                "SrmdsNet: base " << cfg.base << ", in_channels " << cfg.in_channels << " and se_reduction "
                                  << cfg.se_reduction << " must be positive");
    check_branch_names(cfg);
  }

  void check_input(const char* op, const Tensor<T, D>& x) const {
    detail::check_rank4(op, "x", x);
    const Shape& s = x.shape();
    SRMDS_CHECK(s.n() > 0 && s.c() == m_cfg.in_channels && s.h() > 0 && s.w() > 0 && s.h() % 16 == 0 &&
                    s.w() % 16 == 0,
                op << ": x " << s << " must be (N, " << m_cfg.in_channels
                   << ", H, W) with H and W positive multiples of 16");
  }

  // (Re)allocates the activation buffers for input shape (N, in, H, W) when it changes.
  void ensure_activations(Context<D>& ctx, const Shape& in) {
    if (in == m_act_shape) return;
    release_buffers();
    const auto c = m_cfg.widths();
    const auto hc = head_channels(m_cfg);
    const int64_t n = in.n();
    auto level = [&](int l, int64_t ch) { return Shape{n, ch, in.h() >> l, in.w() >> l}; };
    for (int s = 1; s <= 4; ++s) {
      m_pool[s] = Tensor<T, D>(level(s, c[s - 1]), ctx);
      m_argmax[s] = Tensor<int32_t, D>(level(s, c[s - 1]), ctx);
    }
    // cat_s = (e_s, up(below)): below is e4 for s = 3, d_{s+1} otherwise (hc[s + 1] channels).
    for (int s = 0; s < kNumScales; ++s) {
      const int64_t up = s == 3 ? c[4] : hc[s + 1];
      m_cat[s] = Tensor<T, D>(level(s, c[s] + up), ctx);
      SRMDS_CHECK(m_cat[s].shape().c() == m_specs[decoder_stage(s)].cin, "SrmdsNet: layout mismatch at cat" << s);
      m_dec[s] = Tensor<T, D>(level(s, hc[s]), ctx);
      m_z[s] = Tensor<T, D>(level(s, 1), ctx);
    }
    m_e4 = Tensor<T, D>(level(4, c[4]), ctx);
    m_act_shape = in;
  }

  void run_block(Context<D>& ctx, int idx, const Tensor<T, D>& in, Tensor<T, D>& out, Mode mode) {
    if (m_form == NetForm::Fused)
      m_fused[idx].forward_eval(ctx, in, out, m_scratch);
    else if (mode == Mode::Train)
      m_blocks[idx].forward_train(ctx, in, out, m_scratch);
    else
      m_blocks[idx].forward_eval(ctx, in, out, m_scratch);
  }

  // The b0 -> b1 intermediate: kept per stage in training mode (backward reads it), one shared
  // scratch buffer in eval mode.
  void run_stage(Context<D>& ctx, int i, const Tensor<T, D>& in, Tensor<T, D>& out, Mode mode) {
    const Shape& os = out.shape();
    const Shape mid_shape{os.n(), m_specs[i].cmid, os.h(), os.w()};
    Tensor<T, D> mid;
    if (mode == Mode::Train) {
      ensure_shape(ctx, m_mid[i], mid_shape);
      mid = m_mid[i].view();
    } else {
      mid = m_scratch.get(ctx, kSlotEvalMid, mid_shape);
    }
    run_block(ctx, 2 * i, in, mid, mode);
    run_block(ctx, 2 * i + 1, mid, out, mode);
  }

  // dy: gradient of the stage output; dx (stage input) written with dx_mode, may be nullptr.
  void backward_stage(Context<D>& ctx, int i, const Tensor<T, D>& dy, Tensor<T, D>* dx, WriteMode dx_mode,
                      WriteMode param_mode, const GradsFinal* on_final) {
    Tensor<T, D> dmid = m_grad_scratch.get(ctx, kSlotMid, m_mid[i].shape());
    m_blocks[2 * i + 1].backward(ctx, dy, &dmid, WriteMode::Overwrite, param_mode, m_scratch);
    if (on_final) (*on_final)(m_blocks[2 * i + 1].state());
    m_blocks[2 * i].backward(ctx, dmid, dx, dx_mode, param_mode, m_scratch);
    if (on_final) (*on_final)(m_blocks[2 * i].state());
  }

  Tensor<T, D> encoder_output(int s) const {
    return s < 4 ? m_cat[s].channels(0, m_cfg.widths()[s]) : m_e4.view();
  }

  void forward_body(Context<D>& ctx, const Tensor<T, D>& x, Mode mode) {
    const auto c = m_cfg.widths();
    const auto hc = head_channels(m_cfg);
    for (int s = 0; s <= 4; ++s) {
      if (s > 0) maxpool2_forward(ctx, encoder_output(s - 1), m_pool[s], m_argmax[s]);
      Tensor<T, D> e = encoder_output(s);
      run_stage(ctx, s, s == 0 ? x : m_pool[s], e, mode);
    }
    Tensor<T, D> up4 = m_cat[3].channels(c[3], c[4]);
    upsample_bilinear_forward(ctx, m_e4, up4, m_cfg.align_corners);
    for (int s = 3; s >= 0; --s) {
      run_stage(ctx, decoder_stage(s), m_cat[s], m_dec[s], mode);
      if (s > 0) {
        Tensor<T, D> up = m_cat[s - 1].channels(c[s - 1], hc[s]);
        upsample_bilinear_forward(ctx, m_dec[s], up, m_cfg.align_corners);
      }
    }
  }

  NetConfig m_cfg;
  NetForm m_form;
  Precision m_precision = Precision::Fp32;
  std::array<StageSpec, kNumStages> m_specs;
  std::vector<SrfvBlock<T, D>> m_blocks;  // training form: stage i, block j at 2 i + j
  std::vector<FusedBlock<T, D>> m_fused;  // fused form, same indexing
  std::vector<Head> m_heads;              // 4 (training form) or 1 (fused form)

  Shape m_act_shape;                                // input shape the buffers are built for
  std::array<Tensor<T, D>, 5> m_pool;               // [s] = maxpool2(e_{s-1}), s = 1..4
  std::array<Tensor<int32_t, D>, 5> m_argmax;       // its argmax
  std::array<Tensor<T, D>, kNumStages> m_mid;       // output of each stage's b0 (training mode)
  std::array<Tensor<T, D>, kNumScales> m_cat;       // decoder inputs (e_s, up(..)), e_s written in place
  std::array<Tensor<T, D>, kNumScales> m_dec;       // d_s
  std::array<Tensor<T, D>, kNumScales> m_z;         // logits z_s
  std::array<Tensor<T, D>, kNumScales> m_dcat;      // dL/dcat_s
  Tensor<T, D> m_e4;
  Tensor<T, D> m_x;  // view of the last training input
  Scratch<T, D> m_scratch, m_grad_scratch;
  bool m_train_saved = false;
};

}  // namespace srmds
