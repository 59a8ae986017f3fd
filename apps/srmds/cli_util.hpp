// Small argument helpers shared by the phantom/train/eval/segment/demo/bench subcommands:
// comma lists, the window and label options, and running a body on the chosen device.
#pragma once

#include <array>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "usage_error.hpp"
#include "srmds/core/context.hpp"
#include "srmds/core/error.hpp"
#include "srmds/data/image_pairs.hpp"
#include "srmds/io/cleanup.hpp"
#if SRMDS_WITH_CUDA
#include "srmds/cuda/context.hpp"
#endif

namespace srmds::cli {

// OpenMP threads that wait passively (sleep) instead of spinning between parallel regions. With the
// default (spinning) policy, a 2-core machine shared with other work slows training down by 5-40x
// (measured: `srmds demo --quick` 149 s instead of 34 s at load 7; a 9 s training test took 6 min
// at load 5), while passive waiting costs little on an idle machine and keeps results identical
// (the thread count is unchanged). libgomp reads OMP_WAIT_POLICY only when it is loaded, so when
// the variable is unset the program sets it and re-executes itself once; if that fails it simply
// goes on. A user's own OMP_WAIT_POLICY is respected.
inline void use_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || argv == nullptr || argv[0] == nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "passive", 0) != 0) return;
  ::execv("/proc/self/exe", argv);  // returns only on failure: carry on with the current process
}

// "a,b,,c" -> {"a", "b", "c"} (empty items dropped).
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// A comma list of file names, given once or repeated (CLI11 collects repeated options).
inline std::vector<std::string> file_list(const std::vector<std::string>& args, const char* option) {
  std::vector<std::string> out;
  for (const std::string& a : args)
    for (std::string& s : split_list(a)) out.push_back(std::move(s));
  if (out.empty()) SRMDS_USAGE(option << ": no file given");
  return out;
}

inline double parse_number(const std::string& text, const char* option) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
    SRMDS_USAGE(option << ": \"" << text << "\" is not a finite number");
  return v;
}

// Image/mask pairs from --images/--masks (files, DICOM folders, or folders of 2-D images paired by
// file stem: data/image_pairs.hpp).
inline std::vector<InputPair> input_pairs(const std::vector<std::string>& images, const std::vector<std::string>& masks) {
  return expand_input_pairs(file_list(images, "--images"), file_list(masks, "--masks"));
}

// Reader warnings (uneven DICOM spacing, a mask on another grid), one line each on stderr.
inline void print_warnings(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) std::fprintf(stderr, "srmds: warning: %s\n", w.c_str());
}

// "lo,hi" (HU, lo < hi) or "none" (per-volume min-max).
inline std::optional<std::array<double, 2>> parse_window(const std::string& text) {
  if (text == "none") return std::nullopt;
  const std::vector<std::string> parts = split_list(text);
  if (parts.size() != 2) SRMDS_USAGE("--window: \"" << text << "\" is not lo,hi or none");
  const double lo = parse_number(parts[0], "--window"), hi = parse_number(parts[1], "--window");
  if (!(lo < hi)) SRMDS_USAGE("--window: lower bound " << lo << " must be below the upper bound " << hi);
  return std::array<double, 2>{lo, hi};
}

// "1,2" -> {1, 2}; "any" -> {} (any label > 0).
inline std::vector<int> parse_labels(const std::string& text) {
  if (text == "any") return {};
  std::vector<int> out;
  for (const std::string& s : split_list(text)) {
    const double v = parse_number(s, "--labels");
    if (v != std::floor(v) || v < 1 || v > 1e6) SRMDS_USAGE("--labels: \"" << s << "\" is not a positive integer label");
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) SRMDS_USAGE("--labels: \"" << text << "\" names no label (use e.g. 1,2 or any)");
  return out;
}

// Checks, before any work, that an output file can be created where it is named: its folder must
// exist and the name must not be a folder.
inline void require_output_path(const std::string& path, const char* option) {
  namespace fs = std::filesystem;
  if (path.empty()) SRMDS_USAGE(option << ": empty file name");
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    SRMDS_USAGE(option << ": the folder '" << dir.string() << "' of '" << path << "' does not exist");
  if (fs::is_directory(p, ec)) SRMDS_USAGE(option << ": '" << path << "' is a folder");
}

// A NIfTI output name must end in .nii or .nii.gz (checked before any work).
inline void require_nifti_name(const std::string& path, const char* option) {
  auto ends = [&](const std::string& e) { return path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0; };
  if (!ends(".nii") && !ends(".nii.gz"))
    SRMDS_USAGE(option << ": '" << path << "' is not a NIfTI file name (.nii or .nii.gz)");
}

// True when `s` is valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF).
inline bool is_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
    if (n < 0 || s.size() - i <= static_cast<size_t>(n)) return false;  // needs n + 1 bytes
    uint32_t cp = n == 0 ? c : c & (0x3F >> n);
    for (int k = 1; k <= n; ++k) {
      const auto t = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((t >> 6) != 0x2) return false;
      cp = (cp << 6) | (t & 0x3F);
    }
    static const uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}

// `s` with every byte outside printable ASCII written as \xNN (for naming a file in a message).
inline std::string escaped_name(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

// A JSON file (--report, --json) can hold only UTF-8 names: a usage error naming the first file
// whose name is not, before any work.
inline void require_utf8_names(const std::vector<std::string>& paths, const char* option) {
  for (const std::string& p : paths)
    if (!is_utf8(p))
      SRMDS_USAGE(option << ": the name of '" << escaped_name(p) << "' is not UTF-8, which a JSON file cannot hold; "
                         << "rename it or leave out " << option);
}

// Runs body(ctx) with a Context<Cpu> or Context<Cuda>; body is a generic lambda taking `auto& ctx`.
template <class Body>
void with_device(const std::string& device, Body&& body) {
  if (device == "cpu") {
    Context<Cpu> ctx;
    body(ctx);
  } else if (device == "cuda") {
#if SRMDS_WITH_CUDA
    Context<Cuda> ctx;
    body(ctx);
#else
    SRMDS_THROW("--device cuda: this srmds was built without the CUDA backend (configure with -DSRMDS_WITH_CUDA=ON)");
#endif
  } else {
    SRMDS_USAGE("--device: unknown device \"" << device << "\" (cpu or cuda)");
  }
}

// The device tag of a context type: device_of<Context<Cpu>> is Cpu.
template <class C>
struct device_of;
template <class D>
struct device_of<Context<D>> {
  using type = D;
};
template <class C>
using device_of_t = typename device_of<std::decay_t<C>>::type;

}  // namespace srmds::cli

namespace srmds::cli {

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
    m_guards.emplace_back(path, io::CleanupKind::Folder);
  }
  void commit() {
    m_committed = true;
    for (io::CleanupPath& g : m_guards) g.release();
  }

private:
  std::vector<std::string> m_folders;
  std::vector<io::CleanupPath> m_guards;
  bool m_committed = false;
};

}  // namespace srmds::cli
