// CreatedFolders: the output folders a run creates.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/io/cleanup.hpp"

namespace srmds::io {

// The output folders a command created: removed again, when left empty, unless commit() was
// called (the files in them are written through io::AtomicBatch, which removes its own), also when
// a signal stops the run (io::CleanupPath).
class CreatedFolders {
public:
  CreatedFolders() = default;
  CreatedFolders(const CreatedFolders&) = delete;
  CreatedFolders& operator=(const CreatedFolders&) = delete;
  ~CreatedFolders() {
    if (m_committed) return;
    for (auto it = m_folders.rbegin(); it != m_folders.rend(); ++it) {
      std::error_code ec;
      if (std::filesystem::is_empty(*it, ec) && !ec) std::filesystem::remove(*it, ec);
    }
  }
  // Creates `path` (and missing parents) if needed; a folder created here is removed on failure.
  void add(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return;
    std::filesystem::create_directories(path, ec);
    if (ec) SRMDS_THROW("cannot create the folder '" << path << "': " << ec.message());
    m_folders.push_back(path);
    m_guards.emplace_back(path, CleanupKind::Folder);
  }
  void commit() {
    m_committed = true;
    for (CleanupPath& g : m_guards) g.release();
  }

private:
  std::vector<std::string> m_folders;
  std::vector<CleanupPath> m_guards;
  bool m_committed = false;
};

}  // namespace srmds::io
