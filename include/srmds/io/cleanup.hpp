// Files to remove if the process is stopped by a signal (SIGINT, SIGTERM, SIGHUP): the temporary
// files of writes in progress (io/atomic_file.hpp) and the outputs a command created but has not yet
// committed. A fixed table of path slots that the handler walks with unlink(2) only, so it is
// async-signal-safe; registration copies the path into a free slot before publishing it with an
// atomic store. When the table is full (or a path is longer than a slot), the path is simply not
// tracked: the normal error path still removes it, only a signal would leave it behind.
//
// install_signal_cleanup() is for programs (the CLI), never called by the library: on SIGINT,
// SIGTERM or SIGHUP it unlinks every registered path, then the signal takes its default action
// (so the exit status still says which signal stopped the process). SIGXFSZ (a file size limit,
// `ulimit -f`) is ignored, so the write fails with EFBIG and the ordinary error path cleans up.
#pragma once

#include <string>

namespace srmds::io {

// A registered path, unregistered again on destruction (or release()). Movable, not copyable.
class CleanupPath {
public:
  CleanupPath() = default;
  explicit CleanupPath(const std::string& path);
  CleanupPath(CleanupPath&& other) noexcept;
  CleanupPath& operator=(CleanupPath&& other) noexcept;
  CleanupPath(const CleanupPath&) = delete;
  CleanupPath& operator=(const CleanupPath&) = delete;
  ~CleanupPath();
  void release() noexcept;                       // stop tracking (the file is kept or already gone)
  bool tracked() const noexcept { return m_slot >= 0; }

private:
  int m_slot = -1;
};

// Unlinks every registered path (async-signal-safe: called from the signal handler).
void remove_registered_paths() noexcept;

// The number of paths registered now (tests).
int registered_path_count() noexcept;

// Installs the SIGINT/SIGTERM/SIGHUP handlers and ignores SIGXFSZ (see above).
void install_signal_cleanup();

}  // namespace srmds::io
