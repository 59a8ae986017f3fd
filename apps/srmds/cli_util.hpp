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
#include "srmds/io/created_folders.hpp"
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

// "a, b, c": names for a message.
inline std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
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

// Runs body(ctx) with a Context<Cpu> or Context<Cuda> (on GPU cuda_device; -1: the current one);
// body is a generic lambda taking `auto& ctx`.
template <class Body>
void with_device(const std::string& device, Body&& body, int cuda_device = -1) {
  if (device == "cpu") {
    Context<Cpu> ctx;
    body(ctx);
  } else if (device == "cuda") {
#if SRMDS_WITH_CUDA
    Context<Cuda> ctx(cuda_device);
    body(ctx);
#else
    (void)cuda_device;
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

using io::CreatedFolders;

}  // namespace srmds::cli
