// Phantom data sets on disk (data/phantom.hpp's write_phantom_dataset), apart from the generator so
// that a program that only generates slices in memory (the GPU bundle's tests) links no NIfTI code.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>

#include "srmds/core/error.hpp"
#include "srmds/cpu/parallel.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/io/nifti.hpp"

namespace srmds {

namespace {
std::vector<PhantomFiles> write_phantom_files(const std::string& dir, int count, int size, uint64_t seed,
                                              int slices_per_volume, std::vector<std::string>& created);
}  // namespace

std::vector<PhantomFiles> write_phantom_dataset(const std::string& dir, int count, int size, uint64_t seed,
                                                int slices_per_volume) {
  SRMDS_CHECK(count >= 0, "write_phantom_dataset: count " << count << " must be >= 0");
  SRMDS_CHECK(size >= 16 && size <= 8192, "write_phantom_dataset: size " << size << " must be in [16, 8192]");
  SRMDS_CHECK(slices_per_volume >= 1, "write_phantom_dataset: slices_per_volume " << slices_per_volume << " must be >= 1");
  namespace fs = std::filesystem;
  std::error_code ec;
  // What this run creates (the folders and files that did not exist) is removed again if it fails.
  std::vector<fs::path> new_dirs;
  for (fs::path p = fs::absolute(dir, ec).lexically_normal(); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    new_dirs.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::vector<std::string> created;
  auto undo = [&] {
    std::error_code ignored;
    for (const std::string& f : created) fs::remove(f, ignored);
    for (const fs::path& d : new_dirs) fs::remove(d, ignored);  // innermost first; only if empty
  };
  std::filesystem::create_directories(dir, ec);
  SRMDS_CHECK(!ec && std::filesystem::is_directory(dir), "write_phantom_dataset: cannot create folder '" << dir << "'"
                                                                                                        << (ec ? ": " + ec.message() : ""));
  try {
    return write_phantom_files(dir, count, size, seed, slices_per_volume, created);
  } catch (...) {
    undo();
    throw;
  }
}

namespace {

std::vector<PhantomFiles> write_phantom_files(const std::string& dir, int count, int size, uint64_t seed,
                                              int slices_per_volume, std::vector<std::string>& created) {
  const double pix = 350.0 / size;
  const io::NiftiGeometry geometry = io::make_nifti_geometry(size, size, slices_per_volume, pix, pix, 5.0);
  const size_t plane = static_cast<size_t>(size) * static_cast<size_t>(size);
  std::vector<PhantomFiles> files;
  // Volumes in groups: the group's slices are generated in parallel (each from its own seed, so
  // the result does not depend on the thread count), then its files are written in order.
  const int group = 8;
  for (int v0 = 0; v0 < count; v0 += group) {
    const int nv = std::min(group, count - v0);
    const int64_t jobs = static_cast<int64_t>(nv) * slices_per_volume;
    std::vector<PhantomSlice> slices(static_cast<size_t>(jobs));
    std::vector<std::exception_ptr> errors(static_cast<size_t>(jobs));
    cpu::parallel_for(
        jobs,
        [&](int64_t j) {
          try {
            const int v = v0 + static_cast<int>(j / slices_per_volume), k = static_cast<int>(j % slices_per_volume);
            slices[static_cast<size_t>(j)] = generate_phantom(size, size, phantom_slice_seed(seed, v, k));
          } catch (...) {
            errors[static_cast<size_t>(j)] = std::current_exception();
          }
        },
        int64_t{1} << 20);
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    for (int dv = 0; dv < nv; ++dv) {
      std::vector<float> hu(plane * static_cast<size_t>(slices_per_volume));
      std::vector<uint8_t> labels(hu.size());
      for (int k = 0; k < slices_per_volume; ++k) {
        const PhantomSlice& s = slices[static_cast<size_t>(dv * slices_per_volume + k)];
        std::copy(s.hu.begin(), s.hu.end(), hu.begin() + static_cast<std::ptrdiff_t>(plane * static_cast<size_t>(k)));
        std::copy(s.labels.begin(), s.labels.end(),
                  labels.begin() + static_cast<std::ptrdiff_t>(plane * static_cast<size_t>(k)));
      }
      char stem[32];
      std::snprintf(stem, sizeof stem, "phantom_%03d", v0 + dv);
      const std::string base = (std::filesystem::path(dir) / stem).string();
      PhantomFiles f{base + "_image.nii.gz", base + "_mask.nii.gz"};
      for (const std::string& path : {f.image, f.mask})
        if (!std::filesystem::exists(path)) created.push_back(path);
      io::write_nifti(f.image, geometry, hu.data(), io::NiftiType::Int16);
      io::write_nifti_mask(f.mask, geometry, labels);
      files.push_back(std::move(f));
    }
  }
  return files;
}

}  // namespace

}  // namespace srmds
