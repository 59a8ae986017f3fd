// Atomic file replacement: a writer fills a temporary file next to the target, which is then
// flushed to disk (fsync) and renamed over the target. Readers see either the old file or the
// complete new one, never a partial file; if anything fails, the temporary file is removed and the
// target is left untouched (SPEC §5, §8: "no partial output file is left behind").
//
// The temporary name keeps the target's extensions, so writers that choose a format by suffix
// (nifti_clib's ".nii.gz", PNG) behave as for the target:
//     out/mask.nii.gz  ->  out/mask.tmp-<pid>-<n>.nii.gz
//     ckpt             ->  ckpt.tmp-<pid>-<n>
#pragma once

#include <functional>
#include <string>

namespace srmds::io {

// The temporary path write_file_atomic uses for `path` (unique per process and call).
std::string atomic_temp_path(const std::string& path);

// Calls write(tmp_path), which must create and fill tmp_path; then fsyncs it and renames it to
// `path`. On any failure (write throws, the file is missing, fsync or rename fails) the temporary
// file is removed and the exception propagates (I/O failures as srmds::Error naming `path`).
void write_file_atomic(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// write_file_atomic for a byte string.
void write_bytes_atomic(const std::string& path, const void* data, size_t size);

}  // namespace srmds::io
