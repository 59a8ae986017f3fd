// Context<Device>: what an op needs besides its tensors. On the CPU: nothing but host memory
// (threads come from OpenMP, see cpu/parallel.hpp). The CUDA context (stream, cuDNN handle,
// caching allocator, workspace) is in cuda/context.hpp. One context per thread.
#pragma once

#include "srmds/core/buffer.hpp"
#include "srmds/core/device.hpp"

namespace srmds {

template <>
class Context<Cpu> {
public:
  Buffer allocate(size_t bytes) { return host_buffer(bytes); }
  void synchronize() {}
};

}  // namespace srmds
