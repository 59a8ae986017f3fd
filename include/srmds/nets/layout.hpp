// The SR&MDS-Net layout of SPEC §1 as data: nine stages of two SRFV blocks and four 1x1 heads.
// With widths c = [b, 2b, 4b, 8b, 8b]:
//   enc0  Stage(in, c0, c0)   on x                 level 0 (1/1)
//   encs  Stage(c_{s-1}, c_s, c_s) on maxpool2(e_{s-1}), s = 1..4, level s
//   dec3  Stage(c4 + c3, c2, (c4 + c3) / 2) on cat(e3, up(e4))   level 3
//   dec2  Stage(2 c2, c1, c2)  on cat(e2, up(d3))                 level 2
//   dec1  Stage(2 c1, c0, c1)  on cat(e1, up(d2))                 level 1
//   dec0  Stage(2 c0, c0, c0)  on cat(e0, up(d1))                 level 0
//   head_s: 1x1 conv with bias on d_s (channels c0, c0, c1, c2), logits z_s.
// A stage is b0: cin -> cmid, b1: cmid -> cout.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "srmds/nets/config.hpp"

namespace srmds {

struct StageSpec {
  std::string name;  // "enc0" .. "enc4", "dec3" .. "dec0"
  int64_t cin, cout, cmid;
  int level;  // resolution 1 / 2^level
};

inline constexpr int kNumStages = 9;
inline constexpr int kNumScales = 4;

// Stages in forward order: enc0..enc4 (indices 0..4), dec3..dec0 (indices 5..8).
inline std::array<StageSpec, kNumStages> stage_specs(const NetConfig& cfg) {
  const auto c = cfg.widths();
  return {{{"enc0", cfg.in_channels, c[0], c[0], 0},
           {"enc1", c[0], c[1], c[1], 1},
           {"enc2", c[1], c[2], c[2], 2},
           {"enc3", c[2], c[3], c[3], 3},
           {"enc4", c[3], c[4], c[4], 4},
           {"dec3", c[4] + c[3], c[2], (c[4] + c[3]) / 2, 3},
           {"dec2", 2 * c[2], c[1], c[2], 2},
           {"dec1", 2 * c[1], c[0], c[1], 1},
           {"dec0", 2 * c[0], c[0], c[0], 0}}};
}

// Index in stage_specs of the decoder stage producing d_s.
inline constexpr int decoder_stage(int s) { return 8 - s; }

// Input channels of head_s (the channels of d_s).
inline std::array<int64_t, kNumScales> head_channels(const NetConfig& cfg) {
  const auto c = cfg.widths();
  return {c[0], c[0], c[1], c[2]};
}

}  // namespace srmds
