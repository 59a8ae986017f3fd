// Atomic file replacement: write a temporary file, fsync, rename (see io/atomic_file.hpp).
#include "srmds/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "srmds/core/error.hpp"

namespace srmds::io {

namespace {

std::string errno_text() { return std::strerror(errno); }

// fsync a file (or directory) by path; returns false with errno set on failure.
bool fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return rc == 0;
}

}  // namespace

std::string atomic_temp_path(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  const std::string tag = ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" + std::to_string(counter++);
  const size_t slash = path.find_last_of('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  // First dot of the file name that is not its first character: everything from it on is kept.
  const size_t dot = path.find('.', base + 1);
  if (base >= path.size() || dot == std::string::npos) return path + tag;
  return path.substr(0, dot) + tag + path.substr(dot);
}

void write_file_atomic(const std::string& path, const std::function<void(const std::string& tmp_path)>& write) {
  SRMDS_CHECK(!path.empty(), "write_file_atomic: empty output path");
  {  // Errors name the user's path, never the temporary one: check its folder first.
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      SRMDS_THROW("cannot write '" << path << "': the folder '" << dir << "' does not exist");
    if (::access(dir.c_str(), W_OK) != 0)
      SRMDS_THROW("cannot write '" << path << "': the folder '" << dir << "' is not writable: " << errno_text());
  }
  const std::string tmp = atomic_temp_path(path);
  try {
    write(tmp);
    SRMDS_CHECK(::access(tmp.c_str(), F_OK) == 0,
                "cannot write '" << path << "': the writer did not create its temporary file " << tmp);
    if (!fsync_path(tmp, O_RDONLY)) SRMDS_THROW("cannot write '" << path << "': fsync failed: " << errno_text());
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      SRMDS_THROW("cannot write '" << path << "': rename from " << tmp << " failed: " << errno_text());
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  // Make the rename itself durable (best effort: some file systems refuse fsync on directories).
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

void write_bytes_atomic(const std::string& path, const void* data, size_t size) {
  write_file_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) SRMDS_THROW("cannot write '" << path << "': cannot create a file in its folder: " << errno_text());
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) SRMDS_THROW("cannot write '" << path << "': write to " << tmp << " failed: " << errno_text());
  });
}

}  // namespace srmds::io
