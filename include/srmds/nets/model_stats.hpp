// Parameter and multiply-accumulate counts of SR&MDS-Net (SPEC §1), from the config alone.
//
// MACs: convolutions only, for one image of H x W, through head0 only (side heads are training
// aids): a k_h x k_w conv Cin -> Cout at h x w costs Cout Cin k_h k_w h w. The attention's
// parameters and convolutions: its entry in blocks/attention_traits.hpp (C = Cout of the block).
// BN, LayerNorm, ReLU, pooling, upsampling, softmax and the gating products are not counted.
// Parameters: training form = conv weights, BN gamma and beta (per inner branch and identity, or the
// one external BN), the attention's parameters, all four heads; running statistics excluded. Fused
// form = fused weight and bias, the attention's parameters, head0.
// Check figures (base 64, 512 x 512): fused 17,469,461 parameters and 159,618,640,384 MAC;
// training form 30,923,864 parameters and 283,753,261,568 MAC.
#pragma once

#include <cstdint>
#include <string>

#include "srmds/blocks/attention_traits.hpp"
#include "srmds/core/error.hpp"
#include "srmds/core/limits.hpp"
#include "srmds/nets/block_spec.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/layout.hpp"

namespace srmds {

struct ModelStats {
  int64_t params = 0;
  int64_t macs = 0;
};

namespace detail {
// The attention of a block with c output channels at hw pixels (blocks/attention_traits.hpp).
inline ModelStats attention_stats(const NetConfig& cfg, int64_t c, int64_t hw) {
  const AttentionTraits& a = attention_traits(cfg.attention);
  const int64_t h = cfg.se_hidden(static_cast<int>(c));
  return {a.params(c, h), a.macs(c, h, hw)};
}

inline ModelStats block_stats(const NetConfig& cfg, NetForm form, int64_t cin, int64_t cout, int64_t hw) {
  ModelStats s = attention_stats(cfg, cout, hw);
  if (form == NetForm::Fused) {
    s.params += 9 * cin * cout + cout;
    s.macs += 9 * cin * cout * hw;
    return s;
  }
  const bool inner = cfg.bn == BnPlacement::Inner;
  for (const auto& b : cfg.branches) {
    if (b == kIdentityBranch) {
      if (cin == cout && inner) s.params += 2 * cout;
      continue;
    }
    const BranchKind kind = branch_kind(b);
    const int64_t k = static_cast<int64_t>(kind.kh) * kind.kw;
    s.params += k * cin * cout + (inner ? 2 * cout : 0);
    s.macs += k * cin * cout * hw;
  }
  if (!inner) s.params += 2 * cout;
  return s;
}
}  // namespace detail

inline ModelStats model_stats(const NetConfig& cfg, NetForm form, int64_t height, int64_t width) {
  SRMDS_CHECK(height > 0 && width > 0 && height % 16 == 0 && width % 16 == 0,
              "model_stats: size " << height << " x " << width << " is not a positive multiple of 16");
  // Within these bounds every count fits int64 (at most about 3e14 MAC).
  SRMDS_CHECK(height <= kMaxInputSize && width <= kMaxInputSize,
              "model_stats: size " << height << " x " << width << " is larger than " << kMaxInputSize << " x "
                                   << kMaxInputSize);
  SRMDS_CHECK(cfg.base <= kMaxBase && cfg.in_channels <= kMaxInChannels,
              "model_stats: base " << cfg.base << " (at most " << kMaxBase << ") or in_channels " << cfg.in_channels
                                   << " (at most " << kMaxInChannels << ") is too large");
  SRMDS_CHECK(cfg.base > 0 && cfg.in_channels > 0 && cfg.se_reduction > 0,
              "model_stats: base " << cfg.base << ", in_channels " << cfg.in_channels << ", se_reduction "
                                   << cfg.se_reduction << " must be positive");
  ModelStats total;
  for (const StageSpec& st : stage_specs(cfg)) {
    const int64_t hw = (height >> st.level) * (width >> st.level);
    for (auto io : {std::pair<int64_t, int64_t>{st.cin, st.cmid}, std::pair<int64_t, int64_t>{st.cmid, st.cout}}) {
      const ModelStats b = detail::block_stats(cfg, form, io.first, io.second, hw);
      total.params += b.params;
      total.macs += b.macs;
    }
  }
  const auto hc = head_channels(cfg);
  for (int s = 0; s < (form == NetForm::Train ? kNumScales : 1); ++s) total.params += hc[s] + 1;
  total.macs += hc[0] * height * width;
  return total;
}

// 12345678 -> "12,345,678".
inline std::string with_thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

}  // namespace srmds
