// Host memory accounting and the run's memory budget (see core/memory.hpp).
#include "srmds/core/memory.hpp"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "srmds/core/error.hpp"

namespace srmds {

namespace {

std::atomic<int64_t> g_live{0}, g_peak{0};

// SRMDS_RUN_MEMORY_MB: a whole number of MiB, at least 1.
int64_t parse_budget_mb(const char* text) {
  char* end = nullptr;
  const long long mb = std::strtoll(text, &end, 10);
  SRMDS_CHECK(end != text && *end == '\0' && mb >= 1 && mb < (1LL << 40),
              "SRMDS_RUN_MEMORY_MB: \"" << text << "\" is not a whole number of MiB (at least 1)");
  return static_cast<int64_t>(mb) << 20;
}

const char* budget_env() {
  const char* v = std::getenv("SRMDS_RUN_MEMORY_MB");
  return v != nullptr && *v != '\0' ? v : nullptr;
}

}  // namespace

HostMemoryStats host_memory_stats() noexcept { return {g_live.load(), g_peak.load()}; }

void reset_host_memory_peak() noexcept { g_peak.store(g_live.load()); }

void count_host_allocation(int64_t bytes) noexcept {
  const int64_t now = g_live.fetch_add(bytes) + bytes;
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

int64_t run_memory_budget_bytes() {
  if (const char* env = budget_env()) return parse_budget_mb(env);
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    long long kib = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %lld kB", &kib) == 1 && kib > 0) return static_cast<int64_t>(kib) * 1024;
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : INT64_MAX;
}

std::string format_bytes(int64_t bytes) {
  char buf[48];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(bytes));
  return buf;
}

void require_memory(int64_t bytes, const std::string& what, const std::string& advice) {
  const int64_t budget = run_memory_budget_bytes();
  if (bytes <= budget) return;
  const bool env = budget_env() != nullptr;
  SRMDS_THROW(what << " needs about " << format_bytes(bytes) << " of memory, more than the "
                   << (env ? "budget SRMDS_RUN_MEMORY_MB sets, " : "memory available now, ") << format_bytes(budget)
                   << (env ? "" : " (SRMDS_RUN_MEMORY_MB sets another budget)") << ": " << advice);
}

}  // namespace srmds
