// Bounds on what a configuration, an option or an input file may ask the library to allocate, so
// that a small or hostile input fails with an error naming it instead of an anonymous
// out-of-memory (SPEC §8, README "Limits").
//
//   kMaxBase = 256          base width b (stage widths b .. 8b)
//   kMaxInChannels = 64     input channels
//   kMaxInputSize = 4096    model input height and width (multiples of 16)
//   memory_budget_bytes()   the most one decoded volume or one model-size input stack may take:
//                           4 GiB, or SRMDS_MEMORY_BUDGET_MB from the environment (at least 1),
//                           and never more than the memory available now (core/memory.hpp)
//
// checked_bytes(count, element_size) multiplies with overflow checks (nullopt on overflow);
// check_budget(bytes, what) throws srmds::Error naming `what` when bytes exceed the budget.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>

#include "srmds/core/error.hpp"
#include "srmds/core/memory.hpp"

namespace srmds {

inline constexpr int kMaxBase = 256;
inline constexpr int kMaxInChannels = 64;
inline constexpr int kMaxInputSize = 4096;

inline uint64_t memory_budget_bytes() {
  static const uint64_t budget = [] {
    uint64_t b = uint64_t(4) << 30;
    if (const char* v = std::getenv("SRMDS_MEMORY_BUDGET_MB")) {
      char* end = nullptr;
      const unsigned long long mb = std::strtoull(v, &end, 10);
      if (end != v && *end == '\0' && mb >= 1 && mb < (uint64_t(1) << 40)) b = uint64_t(mb) << 20;
    }
    return b;
  }();
  return budget;
}

// a * b * ... in uint64 with overflow detection.
inline std::optional<uint64_t> checked_product(std::initializer_list<uint64_t> factors) {
  uint64_t p = 1;
  for (uint64_t f : factors) {
    if (f != 0 && p > std::numeric_limits<uint64_t>::max() / f) return std::nullopt;
    p *= f;
  }
  return p;
}

// Throws unless `bytes` (nullopt: overflowed) fit in memory_budget_bytes() and in the memory the
// run may take (core/memory.hpp: the memory available now); `what` names the input.
inline void check_budget(std::optional<uint64_t> bytes, const std::string& what) {
  const uint64_t budget = memory_budget_bytes();
  if (!bytes || *bytes > budget) {
    std::ostringstream os;
    os << what << " would need ";
    if (bytes) os << (*bytes >> 20) << " MiB";
    else os << "more than 2^64 bytes";
    os << ", more than the memory budget of " << (budget >> 20)
       << " MiB (set SRMDS_MEMORY_BUDGET_MB to raise it)";
    throw Error(os.str());
  }
  require_memory(static_cast<int64_t>(*bytes), what, "the input is too large for the memory of this machine");
}

}  // namespace srmds
