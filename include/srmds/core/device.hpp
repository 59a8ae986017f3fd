// Device tags and the write mode shared by every op.
#pragma once

#include <type_traits>

namespace srmds {

struct Cpu {
  static constexpr const char* name = "cpu";
};
struct Cuda {
  static constexpr const char* name = "cuda";
};

template <class D>
inline constexpr bool is_cpu_v = std::is_same_v<D, Cpu>;
template <class D>
inline constexpr bool is_cuda_v = std::is_same_v<D, Cuda>;

// How an op writes an output or gradient: replace its contents, or add to them.
// Parameter gradients are overwritten or accumulated explicitly, never implicitly.
enum class WriteMode { Overwrite, Accumulate };

template <class D>
class Context;

}  // namespace srmds

namespace srmds {
// How a full-resolution mask becomes the target at a coarser scale (SPEC §3).
enum class TargetMode { Average, Nearest, Max };
}  // namespace srmds
