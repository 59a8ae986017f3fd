// Refusing outputs that would destroy an input or another output (issues 15 and 21), checked before
// anything is written (`srmds segment`, `eval`, `train`, `fuse` and infer/segment_file.hpp):
//   - two names are the same file when both exist and stat(2) gives the same st_dev and st_ino (so
//     hard links, symbolic links and "./x" count), or, when either does not exist yet, when their
//     normal forms are equal (normal_path: absolute, the links of the existing part resolved,
//     lexically normal, no trailing separator: "c/" is "c");
//   - an output must not be an input nor lie inside an input folder (a folder of slices or a DICOM
//     series), nor directly in the folder a DICOM input file's series is read from (input_folder_of);
//   - every file a run generates inside its output folders (a mask per slice image, an overlay per
//     slice) is listed in an OutputPlan, which refuses two outputs of one name and an output that
//     is an input, naming both.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <iterator>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/data/input_volume.hpp"

namespace srmds {

// One named file of a command: the option that named it (or what it is) and the path.
struct NamedFile {
  std::string option;
  std::string path;
};

inline std::filesystem::path normal_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
  if (ec) p = fs::absolute(path).lexically_normal();
  while (!p.has_filename() && p.has_relative_path()) p = p.parent_path();  // "c/" -> "c"
  return p;
}

inline bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return normal_path(a) == normal_path(b);
}

// True when `path` lies inside the folder `folder`, which must exist: at any depth, or (`direct`)
// only as one of its entries.
inline bool lies_inside(const std::string& path, const std::string& folder, bool direct = false) {
  std::error_code ec;
  if (folder.empty() || !std::filesystem::is_directory(folder, ec)) return false;
  const std::filesystem::path p = normal_path(path), f = normal_path(folder);
  auto pi = p.begin();
  for (auto fi = f.begin(); fi != f.end(); ++fi, ++pi)
    if (pi == p.end() || *pi != *fi) return false;
  return pi != p.end() && (!direct || std::next(pi) == p.end());
}

// The folder an input is read from when it is a DICOM file (its series is read from the whole
// folder); empty for anything else.
inline std::string input_folder_of(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::is_regular_file(path, ec)) return "";
  try {
    if (input_kind(path) != InputKind::Dicom) return "";
  } catch (const Error&) {
    return "";  // the reader names the problem later
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// Throws (through `usage`: the CLI's exit-2 error, or RequestError) when an output is an input, lies inside an input folder (at any
// depth) or directly in the folder a DICOM input file's series is read from (whose subfolders no
// reader searches), or two outputs are one file. Empty paths (options not given) are skipped.
template <class UsageThrow>
void refuse_same_files(const std::vector<NamedFile>& inputs, const std::vector<NamedFile>& outputs, UsageThrow&& usage) {
  struct Folder {
    NamedFile named;
    bool direct;
  };
  std::vector<Folder> folders;
  for (const NamedFile& in : inputs) {
    if (in.path.empty()) continue;
    std::error_code ec;
    if (std::filesystem::is_directory(in.path, ec)) folders.push_back({in, false});
    const std::string series = input_folder_of(in.path);
    if (!series.empty()) folders.push_back({{in.option + " (its DICOM series folder)", series}, true});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const NamedFile& o = outputs[i];
    if (o.path.empty()) continue;
    for (const NamedFile& in : inputs)
      if (!in.path.empty() && same_file(o.path, in.path))
        usage(o.option + " '" + o.path + "' is the same file as " + in.option + " '" + in.path +
              "': refusing to overwrite an input");
    for (const Folder& f : folders)
      if (lies_inside(o.path, f.named.path, f.direct))
        usage(o.option + " '" + o.path + "' lies inside the input folder " + f.named.option + " '" + f.named.path +
              "': refusing to write into an input");
    for (size_t j = 0; j < i; ++j)
      if (!outputs[j].path.empty() && same_file(o.path, outputs[j].path))
        usage(o.option + " '" + o.path + "' is the same file as " + outputs[j].option + " '" + outputs[j].path +
              "': two outputs cannot share a file");
  }
}

// Every file a run will write, listed before anything is written: add() each (with what it is:
// "--output (the mask of 'in/s000.jpg')"), then check() against the run's inputs and named
// outputs. Names are compared in their normal form (normal_path), so 10,000 slices cost 10,000
// path normalisations, not pairs of stat calls.
class OutputPlan {
 public:
  void add(std::string what, const std::string& path) { files_.push_back({std::move(what), path}); }

  template <class UsageThrow>
  void check(const std::vector<NamedFile>& inputs, const std::vector<NamedFile>& named_outputs, UsageThrow&& usage) const {
    std::unordered_map<std::string, std::pair<const NamedFile*, bool>> seen;  // normal path -> (file, is an input)
    for (const NamedFile& in : inputs)
      if (!in.path.empty()) seen.emplace(normal_path(in.path).string(), std::make_pair(&in, true));
    for (const NamedFile& o : named_outputs)
      if (!o.path.empty()) seen.emplace(normal_path(o.path).string(), std::make_pair(&o, false));
    for (const NamedFile& f : files_) {
      const auto [it, fresh] = seen.emplace(normal_path(f.path).string(), std::make_pair(&f, false));
      if (fresh) continue;
      const auto [other, is_input] = it->second;
      usage(f.option + " would be written to '" + f.path + "', which is " + (is_input ? "the input " : "also ") +
            other->option + " '" + other->path +
            (is_input ? "': refusing to overwrite an input" : "': two outputs cannot share a file (rename one)"));
    }
  }

 private:
  std::vector<NamedFile> files_;
};

}  // namespace srmds
