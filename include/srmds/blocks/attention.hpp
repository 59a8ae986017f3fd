// AttentionLayer<T, D>: the attention of an SRFV block (SPEC §2), a std::variant with one
// alternative per entry of blocks/attention_traits.hpp, in its order:
//   se    SeLayer    (state under <block>.se.)
//   sge   SgeLayer   (under <block>.att.)
//   cbam  CbamLayer  (under <block>.att.)
//   psa   PsaLayer   (under <block>.att.)
//   none  std::monostate: the identity
// Every layer is built as L(ctx, channels, hidden, init) and has forward, backward, append_state and
// copy_params; a layer that also has forward_relu (SE) computes attention and ReLU in one op.
// It sits after the branch sum and before the ReLU, in the training form and unchanged in the
// fused form. forward_relu() computes y = ReLU(A(x)) and saves what backward() needs; backward()
// differentiates A only (the block differentiates the ReLU from its output).
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "srmds/blocks/attention_traits.hpp"
#include "srmds/blocks/cbam_layer.hpp"
#include "srmds/blocks/psa_layer.hpp"
#include "srmds/blocks/se_layer.hpp"
#include "srmds/blocks/sge_layer.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/ops/relu.hpp"

namespace srmds {

namespace detail {
template <class L>
inline constexpr bool is_no_attention_v = std::is_same_v<L, std::monostate>;
template <class L, class = void>
inline constexpr bool fuses_relu_v = false;
template <class L>
inline constexpr bool fuses_relu_v<L, std::void_t<decltype(&L::forward_relu)>> = true;
}  // namespace detail

template <class T, class D>
class AttentionLayer {
 public:
  using Layer = std::variant<SeLayer<T, D>, SgeLayer<T, D>, CbamLayer<T, D>, PsaLayer<T, D>, std::monostate>;
  static_assert(std::variant_size_v<Layer> == kAttentionTraits.size(), "one layer type per attention type");

  AttentionLayer() : m_layer(std::in_place_type<std::monostate>) {}  // attention: none

  // Parameters per SPEC §5 (see the layer headers) for a block with `channels` outputs.
  // With ParamInit::by_shape() every tensor is allocated by shape without drawing a number. A kind
  // outside the table throws (attention_traits); a kind's alternative is its entry's index.
  AttentionLayer(Context<D>& ctx, const NetConfig& cfg, int64_t channels, ParamInit init)
      : m_layer(make(static_cast<size_t>(attention_traits(cfg.attention).kind), ctx, channels,
                     cfg.se_hidden(static_cast<int>(channels)), init)) {}

  Attention kind() const { return traits().kind; }
  bool active() const { return !std::holds_alternative<std::monostate>(m_layer); }

  // y = ReLU(A(x)) (N, C, H, W). y may be x (in place); otherwise they must not overlap.
  void forward_relu(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {
    std::visit(
        [&](auto& a) {
          using L = std::decay_t<decltype(a)>;
          if constexpr (detail::fuses_relu_v<L>) {
            a.forward_relu(ctx, x, y);
          } else {
            if constexpr (detail::is_no_attention_v<L>) {
              if (x.data() != y.data()) copy(ctx, x, y);
            } else {
              a.forward(ctx, x, y);
            }
            relu_forward(ctx, y, y);
          }
        },
        m_layer);
  }

  // dx = A'(x)^T dy (dx_mode), parameter gradients with param_mode; x is the forward input.
  void backward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& dy, Tensor<T, D>& dx, WriteMode dx_mode,
                WriteMode param_mode) {
    std::visit(
        [&](auto& a) {
          if constexpr (detail::is_no_attention_v<std::decay_t<decltype(a)>>) {
            if (dx_mode == WriteMode::Overwrite)
              copy(ctx, dy, dx);
            else
              axpy(ctx, T(1), dy, dx);
          } else {
            a.backward(ctx, x, dy, dx, dx_mode, param_mode);
          }
        },
        m_layer);
  }

  // prefix names the block and ends with '.', e.g. "enc0.b0."; the layer's names follow its
  // traits' prefix ("se." or "att.").
  void append_state(const std::string& prefix, StateList<T, D>& out) {
    std::visit(
        [&](auto& a) {
          if constexpr (!detail::is_no_attention_v<std::decay_t<decltype(a)>>)
            a.append_state(prefix + traits().prefix, out);
        },
        m_layer);
  }

  // A copy of the parameters (gradients zero), for the fused form.
  AttentionLayer copy_params(Context<D>& ctx) const {
    return AttentionLayer(std::visit(
        [&](const auto& a) -> Layer {
          if constexpr (detail::is_no_attention_v<std::decay_t<decltype(a)>>)
            return a;
          else
            return a.copy_params(ctx);
        },
        m_layer));
  }

 private:
  explicit AttentionLayer(Layer layer) : m_layer(std::move(layer)) {}

  const AttentionTraits& traits() const { return kAttentionTraits[m_layer.index()]; }

  // The alternative at `index` (the kind's position in kAttentionTraits), built with the uniform
  // layer constructor.
  template <size_t I = 0>
  static Layer make(size_t index, Context<D>& ctx, int64_t channels, int64_t hidden, ParamInit init) {
    if constexpr (I + 1 < std::variant_size_v<Layer>) {
      if (index != I) return make<I + 1>(index, ctx, channels, hidden, init);
    }
    if constexpr (detail::is_no_attention_v<std::variant_alternative_t<I, Layer>>)
      return Layer(std::in_place_index<I>);
    else
      return Layer(std::in_place_index<I>, ctx, channels, hidden, init);
  }

  Layer m_layer;
};

}  // namespace srmds
