// The attention types of an SRFV block (SPEC §2), one traits entry each. The config parser and its
// messages, the model statistics (nets/model_stats.hpp, which the weight loader's size guard trusts),
// the CLI's choices (`srmds info --list-attention` prints the names) and through it the ablation
// script derive from this table; AttentionLayer (blocks/attention.hpp) holds the layer of an entry
// in a std::variant whose alternatives follow the table's order. Per entry, for a block of C output
// channels, hidden width h = max(C / r, 4) (r = se_reduction) and an H x W map of HW pixels:
//   name         the config value and CLI choice
//   prefix       where its state names start after the block's prefix (SPEC §6, a contract)
//   params       its parameters
//   macs         multiply-accumulates of its convolutions, on the maps SPEC §2 applies them to; the
//                gating products, pooling, normalisation and softmax are not counted
//   width_error  why a block of C channels cannot hold it, or "" when it can
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/ops/math/cbam.hpp"
#include "srmds/ops/math/sge.hpp"

namespace srmds {

// The attention of every SRFV block: "se", "sge", "cbam", "psa" or "none".
enum class Attention { Se, Sge, Cbam, Psa, None };

struct AttentionTraits {
  Attention kind;
  const char* name;
  const char* prefix;
  int64_t (*params)(int64_t c, int64_t h);
  int64_t (*macs)(int64_t c, int64_t h, int64_t hw);
  std::string (*width_error)(int64_t c);
};

// In enum order (checked below), so an Attention value is its entry's index.
inline constexpr std::array<AttentionTraits, 5> kAttentionTraits{{
    // Squeeze-and-excitation: fc1 (h, C) and fc2 (C, h) with biases, on the 1x1 squeezed map:
    // 2 h C + h + C parameters, 2 h C MACs.
    {Attention::Se, "se", "se.",
     [](int64_t c, int64_t h) { return 2 * h * c + h + c; },
     [](int64_t c, int64_t h, int64_t) { return 2 * h * c; },
     [](int64_t) { return std::string(); }},
    // Spatial group-wise enhance: a weight and a bias per group, G = min(8, C) groups that must
    // divide C; no convolution: 2 G parameters, 0 MACs.
    {Attention::Sge, "sge", "att.",
     [](int64_t c, int64_t) { return int64_t{2} * sge_groups(static_cast<int>(c)); },
     [](int64_t, int64_t, int64_t) { return int64_t{0}; },
     [](int64_t c) {
       const int64_t groups = sge_groups(static_cast<int>(c));
       return c % groups == 0 ? std::string()
                              : "sge needs the channels of every block to be a multiple of its min(8, C) = " +
                                    std::to_string(groups) + " groups";
     }},
    // CBAM: fc1, fc2 (no bias) on the avg and on the max vector, the 7x7 spatial conv 2 -> 1 with
    // bias on the H x W map: 2 h C + 98 + 1 parameters, 4 h C + 98 HW MACs.
    {Attention::Cbam, "cbam", "att.",
     [](int64_t c, int64_t h) { return 2 * h * c + kCbamTaps + 1; },
     [](int64_t c, int64_t h, int64_t hw) { return 4 * h * c + kCbamTaps * hw; },
     [](int64_t) { return std::string(); }},
    // Polarized self-attention (parallel form), C/2 = floor(C / 2), C >= 2: ch_wv, sp_wv, sp_wq
    // (C -> C/2) and ch_wq (C -> 1) with biases on the H x W map, ch_wz (C/2 -> C) with bias on the
    // vector z, the LayerNorm's weight and bias (C each): (3 C (C/2) + C) HW + (C/2) C MACs. (The op
    // computes the same function with O(C HW) work, ops/math/psa.hpp; this is what the convolutions
    // of the definition cost, as a profiler of the PyTorch twin counts them.)
    {Attention::Psa, "psa", "att.",
     [](int64_t c, int64_t) { return 3 * (c * (c / 2) + c / 2) + (c + 1) + ((c / 2) * c + c) + 2 * c; },
     [](int64_t c, int64_t, int64_t hw) { return (3 * c * (c / 2) + c) * hw + (c / 2) * c; },
     [](int64_t c) { return c >= 2 ? std::string() : std::string("psa needs at least 2 channels per block"); }},
    // No attention: the identity, no state.
    {Attention::None, "none", "",
     [](int64_t, int64_t) { return int64_t{0}; },
     [](int64_t, int64_t, int64_t) { return int64_t{0}; },
     [](int64_t) { return std::string(); }},
}};

namespace detail {
constexpr bool attention_traits_in_enum_order() {
  for (size_t i = 0; i < kAttentionTraits.size(); ++i)
    if (static_cast<size_t>(kAttentionTraits[i].kind) != i) return false;
  return true;
}
static_assert(attention_traits_in_enum_order(), "kAttentionTraits must list the Attention values in enum order");
}  // namespace detail

// The entry of `kind`, or nullptr for a value outside the enum.
inline const AttentionTraits* find_attention(Attention kind) {
  const auto i = static_cast<size_t>(kind);
  return i < kAttentionTraits.size() ? &kAttentionTraits[i] : nullptr;
}

// The entry called `name`, or nullptr.
inline const AttentionTraits* find_attention(const std::string& name) {
  for (const AttentionTraits& t : kAttentionTraits)
    if (name == t.name) return &t;
  return nullptr;
}

// The entry of `kind`; throws srmds::Error for a value outside the enum.
inline const AttentionTraits& attention_traits(Attention kind) {
  const AttentionTraits* t = find_attention(kind);
  if (t == nullptr) SRMDS_THROW("attention: invalid value " << static_cast<int>(kind));
  return *t;
}

// Every name, table order: the CLI's choices.
inline std::vector<std::string> attention_names() {
  std::vector<std::string> out;
  for (const AttentionTraits& t : kAttentionTraits) out.push_back(t.name);
  return out;
}

// "se, sge, cbam, psa, none", for messages and help texts.
inline std::string attention_names_text() {
  std::string out;
  for (const AttentionTraits& t : kAttentionTraits) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

inline const char* attention_name(Attention a) { return attention_traits(a).name; }

// Throws srmds::Error listing the valid names.
inline Attention parse_attention(const std::string& name) {
  const AttentionTraits* t = find_attention(name);
  if (t == nullptr) SRMDS_THROW("attention \"" << name << "\" is not one of " << attention_names_text());
  return t->kind;
}

}  // namespace srmds
