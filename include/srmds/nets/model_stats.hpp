// Parameter and multiply-accumulate counts of SR&MDS-Net (SPEC §1), from the config alone.
//
// MACs: convolutions only, for one image of H x W, through head0 only (side heads are training
// aids): a k_h x k_w conv Cin -> Cout at h x w costs Cout Cin k_h k_w h w. The attention's
// convolutions count on the maps SPEC §2 applies them to (C = Cout of the block, h its hidden width):
//   se    fc1, fc2 on the 1x1 squeezed map                      2 h C
//   sge   none (no convolution)                                 0
//   cbam  fc1, fc2 on the avg and on the max vector; 7x7 spatial conv (2 -> 1) on the H x W map
//                                                               4 h C + 98 h w
//   psa   ch_wv, sp_wv, sp_wq (C -> C/2) and ch_wq (C -> 1) on the h x w map, ch_wz (C/2 -> C) on z
//                                                               (3 C (C/2) + C) h w + (C/2) C
//         (the op computes the same function with O(C h w) work, ops/math/psa.hpp; this is what the
//         convolutions of the definition cost, as a profiler of the PyTorch twin counts them)
// BN, LayerNorm, ReLU, pooling, upsampling, softmax and the gating products are not counted.
// Parameters: training form = conv weights, BN gamma and beta (per inner branch and identity, or the
// one external BN), the attention's parameters, all four heads; running statistics excluded. Fused
// form = fused weight and bias, the attention's parameters, head0.
// Check figures (base 64, 512 x 512): fused 17,469,461 parameters and 159,618,640,384 MAC;
// training form 30,923,864 parameters and 283,753,261,568 MAC.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

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
// The attention of a block with c output channels at hw pixels (see the header).
inline ModelStats attention_stats(const NetConfig& cfg, int64_t c, int64_t hw) {
  const int64_t h = cfg.se_hidden(static_cast<int>(c)), half = c / 2;
  switch (cfg.attention) {
    case Attention::Se: return {2 * h * c + h + c, 2 * h * c};
    case Attention::Sge: return {2 * std::min<int64_t>(8, c), 0};
    case Attention::Cbam: return {2 * h * c + 2 * 49 + 1, 4 * h * c + 2 * 49 * hw};
    case Attention::Psa:
      return {3 * (c * half + half) + (c + 1) + (half * c + c) + 2 * c, (3 * c * half + c) * hw + half * c};
    case Attention::None: return {};
  }
  SRMDS_THROW("model_stats: invalid attention value " << static_cast<int>(cfg.attention));
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
