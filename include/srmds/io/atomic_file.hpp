// Atomic file replacement: a writer fills a temporary file next to the target, which is then
// flushed to disk (fsync) and renamed over the target. Readers see either the old file or the
// complete new one, never a partial file; if anything fails, the temporary file is removed and the
// target is left untouched (SPEC §5, §8: "no partial output file is left behind").
//
// The temporary name is hidden and matches no output glob (it never ends in .nii.gz, .safetensors
// or .png), so a half-written file is never mistaken for an output:
//     out/mask.nii.gz  ->  out/.mask.nii.gz.srmds-tmp-<pid>-<n>
// Writers that choose a format by suffix must take it from the target path, not the temporary one.
// While it exists, the temporary file is registered for removal on a fatal signal (io/cleanup.hpp).
//
// The target must be absent or a regular file: a device node, folder, pipe or socket is refused
// before anything is written (as root, rename would otherwise replace /dev/sda's node by a file).
//
// AtomicBatch makes several files appear together: while a batch is active on the thread, each
// write_file_atomic writes and fsyncs its temporary file but defers the rename to commit(), which
// renames them all under a CleanupHold (io/cleanup.hpp: a signal's cleanup waits until they are
// done, so the files appear all or none). A batch destroyed without commit() removes its
// temporary files and leaves every target as it was (an interrupted `segment` never leaves a new
// mask beside an old or missing probability map).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "srmds/io/cleanup.hpp"

namespace srmds::io {

// The temporary path write_file_atomic uses for `path` (unique per process and call).
std::string atomic_temp_path(const std::string& path);

// Throws srmds::Error unless `path` is absent or (after following links) a regular file.
void require_replaceable_file(const std::string& path);

// Calls write(tmp_path), which must create and fill tmp_path; then fsyncs it and renames it to
// `path` (or hands it to the active AtomicBatch). On any failure (write throws, the file is
// missing, fsync or rename fails) the temporary file is removed and the exception propagates (I/O
// failures as srmds::Error naming `path`).
void write_file_atomic(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// write_file_atomic for a byte string.
void write_bytes_atomic(const std::string& path, const void* data, size_t size);

class AtomicBatch {
public:
  AtomicBatch();  // becomes the thread's active batch (batches do not nest)
  AtomicBatch(const AtomicBatch&) = delete;
  AtomicBatch& operator=(const AtomicBatch&) = delete;
  ~AtomicBatch();  // without commit(): removes the temporary files; targets untouched
  // Renames every staged file to its target, in the order written. If a rename fails, the targets
  // this batch created are removed again (targets it replaced keep their new content) and the
  // error names the file.
  void commit();
  void stage(const std::string& tmp, const std::string& path);  // used by write_file_atomic

private:
  struct Staged {
    std::string tmp, path;
    CleanupPath guard;
  };
  std::vector<Staged> m_staged;
  bool m_done = false;
};

}  // namespace srmds::io
