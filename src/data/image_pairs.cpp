// Image/mask pairs from command-line lists and folders (see data/image_pairs.hpp).
#include "srmds/data/image_pairs.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "srmds/core/error.hpp"
#include "srmds/io/dicom.hpp"
#include "srmds/io/image2d.hpp"

namespace srmds {

namespace fs = std::filesystem;

namespace {

std::string stem_of(const std::string& path) { return fs::path(path).stem().string(); }

std::string name_list(const std::vector<std::string>& names) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size() && i < 5; ++i) os << (i ? ", " : "") << names[i];
  if (names.size() > 5) os << ", ... (" << names.size() << " in all)";
  return os.str();
}

std::map<std::string, std::string> by_stem(const std::string& folder, const char* what) {
  std::map<std::string, std::string> out;
  std::vector<std::string> dup;
  for (const std::string& f : list_image_files(folder)) {
    const std::string s = stem_of(f);
    if (!out.emplace(s, f).second) dup.push_back(fs::path(f).filename().string());
  }
  if (!dup.empty())
    SRMDS_THROW(what << " folder '" << folder << "': more than one image of the same name: " << name_list(dup));
  if (out.empty()) SRMDS_THROW(what << " folder '" << folder << "': no PNG or JPEG files");
  return out;
}

}  // namespace

// True when the file starts like a DICOM file (io::looks_like_dicom on its first 132 bytes).
static bool starts_like_dicom(const fs::path& file) {
  uint8_t head[132];
  std::ifstream f(file, std::ios::binary);
  f.read(reinterpret_cast<char*>(head), sizeof head);
  return f.gcount() > 0 && io::looks_like_dicom(head, static_cast<size_t>(f.gcount()));
}

bool is_image_folder(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  bool images = false;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_regular_file(fec)) continue;
    if (io::has_image_extension(name))
      images = true;
    else if (starts_like_dicom(it->path()))
      return false;  // a DICOM series with stray images: the series reader warns about them
  }
  return images;
}

std::vector<std::string> list_image_files(const std::string& folder) {
  std::error_code ec;
  std::vector<std::string> out;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != '.' && it->is_regular_file(fec) && io::has_image_extension(name))
      out.push_back(it->path().string());
  }
  if (ec) SRMDS_THROW("folder '" << folder << "': cannot list it (" << ec.message() << ")");
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<InputPair> pair_by_stem(const std::string& image_folder, const std::string& mask_folder) {
  const auto images = by_stem(image_folder, "image");
  const auto masks = by_stem(mask_folder, "mask");
  std::vector<std::string> no_mask, no_image;
  std::vector<InputPair> out;
  for (const auto& [stem, path] : images) {
    auto it = masks.find(stem);
    if (it == masks.end())
      no_mask.push_back(fs::path(path).filename().string());
    else
      out.push_back({path, it->second});
  }
  for (const auto& [stem, path] : masks)
    if (!images.count(stem)) no_image.push_back(fs::path(path).filename().string());
  if (!no_mask.empty())
    SRMDS_THROW("images in '" << image_folder << "' without a mask of the same name in '" << mask_folder
                              << "': " << name_list(no_mask));
  if (!no_image.empty())
    SRMDS_THROW("masks in '" << mask_folder << "' without an image of the same name in '" << image_folder
                             << "': " << name_list(no_image));
  return out;
}

std::vector<InputPair> expand_input_pairs(const std::vector<std::string>& images, const std::vector<std::string>& masks) {
  if (images.empty()) SRMDS_THROW("no images given");
  if (images.size() != masks.size())
    SRMDS_THROW(images.size() << " image files (or folders) but " << masks.size() << " mask files (they pair one to one)");
  std::vector<InputPair> out;
  for (size_t i = 0; i < images.size(); ++i) {
    if (is_image_folder(images[i])) {
      std::error_code ec;
      if (!fs::is_directory(masks[i], ec))
        SRMDS_THROW("'" << images[i] << "' is a folder of images, so its masks '" << masks[i] << "' must be a folder too");
      for (InputPair& p : pair_by_stem(images[i], masks[i])) out.push_back(std::move(p));
    } else {
      out.push_back({images[i], masks[i]});
    }
  }
  return out;
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const std::string& in : inputs) {
    if (is_image_folder(in)) {
      for (std::string& f : list_image_files(in)) out.push_back(std::move(f));
    } else {
      out.push_back(in);
    }
  }
  return out;
}

}  // namespace srmds
