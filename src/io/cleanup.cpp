// Signal-time removal of this run's temporary and uncommitted files (see io/cleanup.hpp).
#include "srmds/io/cleanup.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace srmds::io {

namespace {

constexpr int kSlots = 256;
constexpr size_t kPathBytes = 4096;

// state: 0 free, 1 being filled or emptied, 2 armed (the handler unlinks it).
struct Slot {
  std::atomic<int> state{0};
  char path[kPathBytes];
};
Slot g_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "signal handler needs lock-free atomics");

void on_fatal_signal(int sig) {
  remove_registered_paths();
  // SA_RESETHAND restored the default action; the re-raised signal is delivered when we return.
  ::raise(sig);
}

}  // namespace

CleanupPath::CleanupPath(const std::string& path) {
  if (path.empty() || path.size() >= kPathBytes) return;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(2, std::memory_order_release);
    m_slot = i;
    return;
  }
}

CleanupPath::CleanupPath(CleanupPath&& other) noexcept : m_slot(other.m_slot) { other.m_slot = -1; }

CleanupPath& CleanupPath::operator=(CleanupPath&& other) noexcept {
  if (this != &other) {
    release();
    m_slot = other.m_slot;
    other.m_slot = -1;
  }
  return *this;
}

CleanupPath::~CleanupPath() { release(); }

void CleanupPath::release() noexcept {
  if (m_slot < 0) return;
  g_slots[m_slot].state.store(0, std::memory_order_release);
  m_slot = -1;
}

void remove_registered_paths() noexcept {
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
}

int registered_path_count() noexcept {
  int n = 0;
  for (const Slot& s : g_slots) n += s.state.load(std::memory_order_acquire) == 2 ? 1 : 0;
  return n;
}

void install_signal_cleanup() {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&sa.sa_mask, sig);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ::sigaction(SIGXFSZ, &ign, nullptr);
}

}  // namespace srmds::io
