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

void fsync_parent(const std::string& path) {
  // Makes a rename durable (best effort: some file systems refuse fsync on directories).
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

thread_local AtomicBatch* t_batch = nullptr;

}  // namespace

std::string atomic_temp_path(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  const std::string tag =
      ".srmds-tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" + std::to_string(counter++);
  const size_t slash = path.find_last_of('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const std::string name = path.substr(base);
  return path.substr(0, base) + (name.empty() || name[0] != '.' ? "." : "") + name + tag;
}

void require_replaceable_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // absent (or unreachable: the write reports it)
  if (S_ISREG(st.st_mode)) return;
  const char* kind = S_ISDIR(st.st_mode)                             ? "a folder"
                     : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)    ? "a device"
                     : S_ISFIFO(st.st_mode)                          ? "a pipe"
                     : S_ISSOCK(st.st_mode)                          ? "a socket"
                                                                     : "not a regular file";
  SRMDS_THROW("cannot write '" << path << "': it exists and is " << kind
                               << " (an output must be a regular file or not exist yet)");
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
  require_replaceable_file(path);
  const std::string tmp = atomic_temp_path(path);
  CleanupPath guard(tmp);
  try {
    write(tmp);
    SRMDS_CHECK(::access(tmp.c_str(), F_OK) == 0,
                "cannot write '" << path << "': the writer did not create its temporary file " << tmp);
    if (!fsync_path(tmp, O_RDONLY)) SRMDS_THROW("cannot write '" << path << "': fsync failed: " << errno_text());
    if (t_batch != nullptr) {
      t_batch->stage(tmp, path);  // the batch owns the temporary file from here on
      return;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      SRMDS_THROW("cannot write '" << path << "': rename from " << tmp << " failed: " << errno_text());
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  fsync_parent(path);
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

AtomicBatch::AtomicBatch() {
  SRMDS_CHECK(t_batch == nullptr, "AtomicBatch: a batch is already active on this thread");
  t_batch = this;
}

AtomicBatch::~AtomicBatch() {
  if (t_batch == this) t_batch = nullptr;
  if (m_done) return;
  for (Staged& s : m_staged) ::unlink(s.tmp.c_str());
}

void AtomicBatch::stage(const std::string& tmp, const std::string& path) {
  m_staged.push_back(Staged{tmp, path, CleanupPath(tmp)});
}

void AtomicBatch::commit() {
  SRMDS_CHECK(!m_done, "AtomicBatch: committed twice");
  if (t_batch == this) t_batch = nullptr;
  CleanupHold hold;  // a signal waits until every rename is done (or undone)
  std::vector<std::string> created;
  for (size_t i = 0; i < m_staged.size(); ++i) {
    const Staged& s = m_staged[i];
    const bool existed = ::access(s.path.c_str(), F_OK) == 0;
    if (std::rename(s.tmp.c_str(), s.path.c_str()) != 0) {
      const std::string why = errno_text();
      for (const std::string& c : created) ::unlink(c.c_str());
      for (size_t j = i; j < m_staged.size(); ++j) ::unlink(m_staged[j].tmp.c_str());
      m_done = true;
      SRMDS_THROW("cannot write '" << s.path << "': rename from " << s.tmp << " failed: " << why);
    }
    if (!existed) created.push_back(s.path);
  }
  m_done = true;
  for (Staged& s : m_staged) s.guard.release();
  if (!m_staged.empty()) fsync_parent(m_staged.back().path);
}

}  // namespace srmds::io
