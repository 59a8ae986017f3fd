// NetConfig: the architecture and data options stored in every weight file's metadata (SPEC §6).
// A key missing from a JSON config takes the default shown here.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "srmds/blocks/attention_traits.hpp"  // Attention, attention_name, parse_attention
#include "srmds/nets/block_spec.hpp"

namespace srmds {

enum class BnPlacement { Inner, External };  // "inner": one BN per branch; "external": one BN after the sum
enum class NetForm { Train, Fused };  // multi-branch training form, or one 3x3 conv per block

struct NetConfig {
  int base = 64;
  int in_channels = 1;
  // Any subset of the branch table (nets/block_spec.hpp; id applies only where cin == cout).
  std::vector<std::string> branches = all_branch_names();
  BnPlacement bn = BnPlacement::Inner;
  Attention attention = Attention::Se;  // SPEC §2; the types: blocks/attention_traits.hpp
  int se_reduction = 16;
  bool align_corners = true;
  std::array<int, 2> input_size{512, 512};  // H, W
  std::optional<std::array<double, 2>> window = std::array<double, 2>{-1250.0, 250.0};  // nullopt: min-max
  std::vector<int> lesion_labels{1, 2};  // empty: any label > 0 ("lesion_labels": "any" in JSON)

  bool has_branch(const std::string& b) const {
    for (const auto& x : branches)
      if (x == b) return true;
    return false;
  }
  // Stage widths c = [b, 2b, 4b, 8b, 8b].
  std::array<int, 5> widths() const { return {base, 2 * base, 4 * base, 8 * base, 8 * base}; }
  // SE hidden width for a block with cout channels: max(cout / r, 4).
  int se_hidden(int cout) const { return cout / se_reduction > 4 ? cout / se_reduction : 4; }
};

// JSON text <-> NetConfig (src/nets/config.cpp). Parsing validates every key and value and throws
// srmds::Error naming the bad key; unknown keys are rejected.
std::string config_to_json(const NetConfig& c);
NetConfig config_from_json(const std::string& json_text);
// The checks both make: throws srmds::Error naming the first bad key.
void validate_config(const NetConfig& c);

}  // namespace srmds
