// The fixed definition of an SRFV block's parts (SPEC §2), spelled once for the config parser, the
// blocks, the model statistics and the tests:
//   branch table   "3x3", "1x3", "3x1", "1x1": convolutions of kernel kh x kw, stride 1, "same"
//                  padding, no bias; "id": the identity (only where Cin == Cout).
//                  NetConfig::branches lists a subset, each at most once, in any order.
//   BatchNorm      eps 1e-5, momentum 0.1 (PyTorch's BatchNorm2d defaults).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "srmds/core/error.hpp"

namespace srmds {

// A convolution branch: its name and kernel size.
struct BranchKind {
  const char* name;
  int kh, kw;
};
inline constexpr std::array<BranchKind, 4> kConvBranches{
    {{"3x3", 3, 3}, {"1x3", 1, 3}, {"3x1", 3, 1}, {"1x1", 1, 1}}};
inline constexpr const char* kIdentityBranch = "id";

inline constexpr double kBnEps = 1e-5;
inline constexpr double kBnMomentum = 0.1;

// The convolution branch called `name`, or nullptr (also for "id").
inline const BranchKind* find_conv_branch(const std::string& name) {
  for (const BranchKind& k : kConvBranches)
    if (name == k.name) return &k;
  return nullptr;
}

inline bool is_branch_name(const std::string& name) {
  return name == kIdentityBranch || find_conv_branch(name) != nullptr;
}

// Every branch name, table order, identity last (NetConfig's default).
inline std::vector<std::string> all_branch_names() {
  std::vector<std::string> out;
  for (const BranchKind& k : kConvBranches) out.push_back(k.name);
  out.push_back(kIdentityBranch);
  return out;
}

// "3x3, 1x3, 3x1 or 1x1" (convolutions only) or "3x3, 1x3, 3x1, 1x1 or id", for messages.
inline std::string branch_names_text(bool with_identity) {
  std::vector<std::string> names;
  for (const BranchKind& k : kConvBranches) names.push_back(k.name);
  if (with_identity) names.push_back(kIdentityBranch);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

// What is wrong with a branch list ("" when nothing): an unknown name, or a name given twice.
inline std::string branch_list_error(const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (!is_branch_name(names[i]))
      return "unknown branch \"" + names[i] + "\" (expected " + branch_names_text(true) + ")";
    for (size_t j = 0; j < i; ++j)
      if (names[j] == names[i]) return "branch \"" + names[i] + "\" appears twice";
  }
  return "";
}

// The convolution branch called `name`; throws for anything else.
inline BranchKind branch_kind(const std::string& name) {
  const BranchKind* k = find_conv_branch(name);
  if (k == nullptr)
    SRMDS_THROW("NetConfig: unknown convolution branch \"" << name << "\" (expected " << branch_names_text(false)
                                                           << ")");
  return *k;
}

}  // namespace srmds
