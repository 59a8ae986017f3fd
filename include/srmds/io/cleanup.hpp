// Files to remove if the process is stopped by a signal (SIGINT, SIGTERM, SIGHUP): the temporary
// files of writes in progress (io/atomic_file.hpp), the outputs a command has not yet committed,
// and the folders it created for them. A mutex-guarded registry without a size limit.
//
// install_signal_cleanup() is for programs (the CLI), never called by the library. It blocks the
// three signals in the calling thread, so call it first in main(), before any thread starts (every
// later thread, OpenMP's included, inherits the mask), and starts one thread that waits for them:
// on a signal it removes every registered file, then every registered folder left empty (newest
// first), then the signal takes its default action (so the exit status still says which signal
// stopped the process). A CleanupHold (an AtomicBatch's renames) makes it wait, so a signal never
// lands in the middle of a set of renames: the run ends either with every output or with none.
// SIGXFSZ (a file size limit, `ulimit -f`) is ignored, so the write fails with EFBIG and the
// ordinary error path cleans up.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace srmds::io {

enum class CleanupKind { File, Folder };  // a file is unlinked; a folder is removed only when empty

// A registered path, unregistered again on destruction (or release()). Movable, not copyable.
class CleanupPath {
public:
  CleanupPath() = default;
  explicit CleanupPath(const std::string& path, CleanupKind kind = CleanupKind::File);
  CleanupPath(CleanupPath&& other) noexcept;
  CleanupPath& operator=(CleanupPath&& other) noexcept;
  CleanupPath(const CleanupPath&) = delete;
  CleanupPath& operator=(const CleanupPath&) = delete;
  ~CleanupPath();
  void release() noexcept;  // stop tracking (the file is kept or already gone)
  bool tracked() const noexcept { return m_id != 0; }

private:
  uint64_t m_id = 0;
};

// While one exists, a signal's cleanup waits (and the registry is locked for this thread only).
class CleanupHold {
public:
  CleanupHold();

private:
  std::unique_lock<std::recursive_mutex> m_lock;
};

// Removes every registered path (files, then empty folders) and forgets them.
void remove_registered_paths() noexcept;

// The number of paths registered now (tests).
int registered_path_count() noexcept;

// Blocks SIGINT/SIGTERM/SIGHUP, starts the thread that handles them, ignores SIGXFSZ (see above).
void install_signal_cleanup();

}  // namespace srmds::io
