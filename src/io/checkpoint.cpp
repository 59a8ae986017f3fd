// A training checkpoint's metadata (see io/checkpoint.hpp).
#include "srmds/io/checkpoint.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "srmds/core/error.hpp"

namespace srmds::io {

namespace {

// A metadata number of a checkpoint: present, a finite number, integral if `integer`, in [lo, hi].
double metadata_number(const SafetensorsFile& f, const std::string& key, const std::string& path, double lo, double hi,
                       bool integer) {
  const auto it = f.metadata.find(key);
  if (it == f.metadata.end()) SRMDS_THROW("resume: checkpoint '" << path << "' has no '" << key << "' in its metadata");
  const std::string& text = it->second;
  const auto fail = [&](const std::string& why) {
    SRMDS_THROW("resume: checkpoint '" << path << "': metadata '" << key << "' = '" << text << "' " << why);
  };
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(text, &used);
    if (used != text.size()) fail("is not a number");
  } catch (const std::logic_error&) {  // invalid_argument, out_of_range ("1e999")
    fail("is not a finite number");
  }
  if (!std::isfinite(v)) fail("is not a finite number");
  if (integer && std::floor(v) != v) fail("is not an integer");
  if (v < lo || v > hi) {
    std::ostringstream os;
    os.precision(17);
    os << "is outside [" << lo << ", " << hi << "]";
    fail(os.str());
  }
  return v;
}

}  // namespace

CheckpointInfo read_checkpoint_info(const SafetensorsFile& file, const std::string& path) {
  CheckpointInfo info;
  info.epoch = static_cast<int>(metadata_number(file, "epoch", path, 0, kMaxCheckpointEpochs, true));
  info.step = static_cast<int64_t>(metadata_number(file, "step", path, 0, kMaxCheckpointSteps, true));
  info.best_dice = metadata_number(file, "best_dice", path, -1, 1, false);
  const auto form = file.metadata.find("form");
  SRMDS_CHECK(form != file.metadata.end() && form->second == "train", "resume: " << path << " is not a training-form checkpoint");
  const auto cfg = file.metadata.find("config");
  SRMDS_CHECK(cfg != file.metadata.end(), "resume: the config stored in " << path << " differs from the network's");
  info.config = config_from_json(cfg->second);
  return info;
}

}  // namespace srmds::io
