// Host memory: what the library holds (every host_buffer is counted: live bytes and the peak since
// reset_host_memory_peak) and the budget a run must fit in (SPEC §9: a run that cannot fit is refused
// before it allocates, naming the options that size it).
//
// run_memory_budget_bytes(): SRMDS_RUN_MEMORY_MB MiB when set, else the memory available now
// (MemAvailable of /proc/meminfo; the physical memory where that cannot be read). require_memory
// throws srmds::Error when a run's estimate exceeds it. (core/limits.hpp's memory_budget_bytes is
// another bound: the most one decoded input may take.)
#pragma once

#include <cstdint>
#include <string>

namespace srmds {

struct HostMemoryStats {
  int64_t live = 0;  // bytes held by host buffers now
  int64_t peak = 0;  // the most held at once since the last reset
};

HostMemoryStats host_memory_stats() noexcept;
void reset_host_memory_peak() noexcept;  // peak = live
void count_host_allocation(int64_t bytes) noexcept;  // host_buffer's bookkeeping (negative: freed)

int64_t run_memory_budget_bytes();
std::string format_bytes(int64_t bytes);  // "3.91 GiB", "512.0 MiB", "812 bytes"

// Throws srmds::Error "<what> needs about <bytes> of memory, more than the <budget> ...: <advice>"
// when bytes exceeds run_memory_budget_bytes().
void require_memory(int64_t bytes, const std::string& what, const std::string& advice);

}  // namespace srmds
