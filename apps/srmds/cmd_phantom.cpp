// srmds phantom --out DIR --count N [--size 512] [--seed S] [--slices K]: writes N synthetic chest-CT
// image/mask NIfTI pairs (data/phantom.hpp) of K slices of size x size pixels each.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "usage_error.hpp"
#include "commands.hpp"
#include "validators.hpp"
#include "srmds/core/error.hpp"
#include "srmds/core/memory.hpp"
#include "srmds/data/phantom.hpp"

namespace srmds::cli {

namespace {

struct PhantomOptions {
  std::string out;
  int count = 0;
  int size = 512;
  uint64_t seed = 0;
  int slices = 1;
};

void run_phantom(const PhantomOptions& o) {
  if (o.count < 1 || o.count > 100000) SRMDS_USAGE("phantom: --count must be in [1, 100000], got " << o.count);
  if (o.size < 16 || o.size > 4096) SRMDS_USAGE("phantom: --size must be in [16, 4096], got " << o.size);
  if (o.slices < 1 || o.slices > 4096) SRMDS_USAGE("phantom: --slices must be in [1, 4096], got " << o.slices);
  // Up to 8 volumes are generated at once (4-byte HU and 1-byte labels per voxel), then each is
  // gathered (5 bytes per voxel) and written (a 2-byte int16 copy).
  const double voxels = static_cast<double>(o.size) * o.size * o.slices;
  require_memory(static_cast<int64_t>(voxels * (5.0 * std::min(o.count, 8) + 7.0)),
                 "phantom: " + std::to_string(std::min(o.count, 8)) + " volume(s) of " + std::to_string(o.size) + " x " +
                     std::to_string(o.size) + " x " + std::to_string(o.slices),
                 "lower --size or --slices");
  const auto files = write_phantom_dataset(o.out, o.count, o.size, o.seed, o.slices);
  for (const PhantomFiles& f : files) std::printf("%s %s\n", f.image.c_str(), f.mask.c_str());
  std::printf("wrote %d phantom pairs (%d x %d x %d, seed %llu) in %s\n", o.count, o.size, o.size, o.slices,
              static_cast<unsigned long long>(o.seed), o.out.c_str());
}

}  // namespace

void add_phantom_command(CLI::App& app) {
  auto opts = std::make_shared<PhantomOptions>();
  CLI::App* sub = app.add_subcommand("phantom", "Write synthetic chest-CT phantoms (image/mask NIfTI pairs)");
  sub->add_option("--out", opts->out, "Output folder (created if missing)")->required();
  sub->add_option("--count", opts->count, "Number of image/mask pairs")->required();
  sub->add_option("--size", opts->size, "Slice size in pixels (square)")->capture_default_str();
  sub->add_option("--seed", opts->seed, "Generator seed")->check(seed_value())->capture_default_str();
  sub->add_option("--slices", opts->slices, "Slices per volume")->capture_default_str();
  sub->callback([opts] { run_phantom(*opts); });
}

}  // namespace srmds::cli
