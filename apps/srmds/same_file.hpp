// Refusing outputs that name an input or another output (issue 15): two names are the same file
// when both exist and stat(2) gives the same st_dev and st_ino (so hard links, symbolic links and
// "./x" count), or, when either does not exist yet, when their absolute, lexically normal forms
// (after resolving the links of the existing part, std::filesystem::weakly_canonical) are equal.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "srmds/core/error.hpp"

namespace srmds::cli {

// One named file of a command: the option that named it and the path.
struct NamedFile {
  std::string option;
  std::string path;
};

inline bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  namespace fs = std::filesystem;
  std::error_code ea, eb;
  fs::path pa = fs::weakly_canonical(fs::absolute(a), ea), pb = fs::weakly_canonical(fs::absolute(b), eb);
  if (ea) pa = fs::absolute(a).lexically_normal();
  if (eb) pb = fs::absolute(b).lexically_normal();
  return pa == pb;
}

// Throws (a usage error, exit 2) when an output is an input or two outputs are one file. Empty
// paths (options not given) are skipped.
template <class UsageThrow>
void refuse_same_files(const std::vector<NamedFile>& inputs, const std::vector<NamedFile>& outputs,
                       UsageThrow&& usage) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const NamedFile& o = outputs[i];
    if (o.path.empty()) continue;
    for (const NamedFile& in : inputs)
      if (!in.path.empty() && same_file(o.path, in.path))
        usage(o.option + " '" + o.path + "' is the same file as " + in.option + " '" + in.path +
              "': refusing to overwrite an input");
    for (size_t j = 0; j < i; ++j)
      if (!outputs[j].path.empty() && same_file(o.path, outputs[j].path))
        usage(o.option + " '" + o.path + "' is the same file as " + outputs[j].option + " '" + outputs[j].path +
              "': two outputs cannot share a file");
  }
}

}  // namespace srmds::cli
