// Removal of this run's temporary and uncommitted files when a signal stops it (see io/cleanup.hpp).
#include "srmds/io/cleanup.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <thread>
#include <utility>

namespace srmds::io {

namespace {

struct Registry {
  std::recursive_mutex mutex;
  std::map<uint64_t, std::pair<std::string, CleanupKind>> paths;  // by registration order
  uint64_t next = 1;
};

// Never destroyed: a signal may arrive while static objects are being torn down at exit.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

sigset_t cleanup_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

// The signal thread: waits for a cleanup signal, removes the registered paths (waiting for a
// CleanupHold, such as a batch's renames, to end), then lets the signal take its default action.
void signal_thread(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (::sigwait(&set, &sig) != 0) continue;
    remove_registered_paths();
    ::signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    ::raise(sig);      // default action: the process ends with this signal as its status
    ::_exit(128 + sig);  // not reached
  }
}

}  // namespace

CleanupPath::CleanupPath(const std::string& path, CleanupKind kind) {
  if (path.empty()) return;
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mutex);
  m_id = r.next++;
  r.paths.emplace(m_id, std::make_pair(path, kind));
}

CleanupPath::CleanupPath(CleanupPath&& other) noexcept : m_id(other.m_id) { other.m_id = 0; }

CleanupPath& CleanupPath::operator=(CleanupPath&& other) noexcept {
  if (this != &other) {
    release();
    m_id = other.m_id;
    other.m_id = 0;
  }
  return *this;
}

CleanupPath::~CleanupPath() { release(); }

void CleanupPath::release() noexcept {
  if (m_id == 0) return;
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mutex);
  r.paths.erase(m_id);
  m_id = 0;
}

CleanupHold::CleanupHold() : m_lock(registry().mutex) {}

void remove_registered_paths() noexcept {
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mutex);
  for (const auto& [id, entry] : r.paths)
    if (entry.second == CleanupKind::File) ::unlink(entry.first.c_str());
  for (auto it = r.paths.rbegin(); it != r.paths.rend(); ++it)  // the newest (innermost) folder first
    if (it->second.second == CleanupKind::Folder) ::rmdir(it->second.first.c_str());  // only when empty
  r.paths.clear();
}

int registered_path_count() noexcept {
  Registry& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mutex);
  return static_cast<int>(r.paths.size());
}

void install_signal_cleanup() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ::sigaction(SIGXFSZ, &ign, nullptr);
  const sigset_t set = cleanup_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread started from here on
  std::thread(signal_thread, set).detach();
}

}  // namespace srmds::io
