// Synthetic phantoms (SPEC §7): determinism, HU ranges of the tissues, lesion presence and
// variety, and the NIfTI files written for them.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/io/nifti.hpp"

using namespace srmds;
namespace fs = std::filesystem;
using srmds::test::fresh_seed;

namespace {

double fraction_in(const std::vector<float>& v, double lo, double hi) {
  return static_cast<double>(std::count_if(v.begin(), v.end(), [&](float x) { return x >= lo && x <= hi; })) /
         static_cast<double>(v.size());
}

double median(std::vector<float> v) {
  if (v.empty()) return NAN;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("phantoms are deterministic per seed and differ between seeds", "[phantom]") {
  const uint64_t seed = fresh_seed();
  for (auto hw : {std::array<int, 2>{64, 64}, std::array<int, 2>{96, 128}, std::array<int, 2>{17, 16}}) {
    const PhantomSlice a = generate_phantom(hw[0], hw[1], seed), b = generate_phantom(hw[0], hw[1], seed);
    REQUIRE(a.hu.size() == static_cast<size_t>(hw[0] * hw[1]));
    REQUIRE(a.labels.size() == a.hu.size());
    CHECK(std::memcmp(a.hu.data(), b.hu.data(), a.hu.size() * sizeof(float)) == 0);
    CHECK(a.labels == b.labels);
    const PhantomSlice c = generate_phantom(hw[0], hw[1], seed + 1);
    CHECK(c.hu != a.hu);
  }
  CHECK_THROWS_WITH(generate_phantom(8, 64, 1), Catch::Contains("generate_phantom") && Catch::Contains("8 x 64"));
}

TEST_CASE("phantom tissues have chest-CT values; lesions have their HU ranges and labels", "[phantom]") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  std::vector<float> ggo, cons;
  int with_lesion = 0;
  std::vector<double> areas, centroid_x, centroid_y;
  const int n_slices = 40, S = 64;
  for (int i = 0; i < n_slices; ++i) {
    const PhantomSlice s = generate_phantom(S, S, seed * 1000 + static_cast<uint64_t>(i));
    CHECK(s.noise_sigma >= 20.0);
    CHECK(s.noise_sigma <= 40.0);
    for (float v : s.hu) {
      REQUIRE(v == std::nearbyint(v));
      REQUIRE(v >= -1024.0f);
      REQUIRE(v <= 3071.0f);
    }
    // Air around the body, lungs, soft tissue, bone: each a real part of the picture.
    CHECK(fraction_in(s.hu, -1024, -950) > 0.10);
    CHECK(fraction_in(s.hu, -950, -700) > 0.08);
    CHECK(fraction_in(s.hu, -30, 110) > 0.10);
    CHECK(fraction_in(s.hu, 300, 3071) > 0.003);
    // The top-left 4 x 4 pixels are air: -1000 HU plus noise N(0, sigma^2) clamped at -1024, whose
    // mean lies at most 0.17 sigma above -1000 (E max(X, -1024) for sigma <= 40) with a standard
    // deviation of at most sigma / 4 over 16 pixels: 6 of those above is a 1e-9 event, and still
    // far below the lungs' -850 (a fixed -960 failed for 3 of 1,000 seeds, about 4 sigma).
    double corner = 0;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) corner += s.hu[static_cast<size_t>(y * S + x)] / 16.0;
    CHECK(corner < -1000.0 + 0.17 * s.noise_sigma + 6.0 * s.noise_sigma / 4.0);
    double area = 0, cx = 0, cy = 0;
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const uint8_t l = s.labels[static_cast<size_t>(y * S + x)];
        REQUIRE(l <= 2);
        if (l == 0) continue;
        (l == 1 ? ggo : cons).push_back(s.hu[static_cast<size_t>(y * S + x)]);
        area += 1;
        cx += x;
        cy += y;
      }
    if (s.lesion_count == 0) CHECK(area == 0);
    if (area > 0) {
      ++with_lesion;
      areas.push_back(area);
      centroid_x.push_back(cx / area);
      centroid_y.push_back(cy / area);
    }
  }
  // Lesions on many slices (the generator draws them for 85 % of slices, a few end up under bone):
  // at p = 0.8 fewer than 15 of 40 has probability 8e-10. Some slices without any (P(none of
  // 120) = 0.85^120 = 3e-9; 40 alone failed for 2 of 1,000 seeds).
  CHECK(with_lesion >= 15);
  int lesion_free = n_slices - with_lesion;
  for (int i = n_slices; i < 3 * n_slices && lesion_free == 0; ++i)
    lesion_free += generate_phantom(S, S, seed * 1000 + static_cast<uint64_t>(i)).lesion_count == 0;
  CHECK(lesion_free > 0);
  REQUIRE(areas.size() >= 2);
  CHECK(*std::max_element(areas.begin(), areas.end()) > 3 * *std::min_element(areas.begin(), areas.end()));
  auto spread = [](const std::vector<double>& v) {
    return *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end());
  };
  CHECK(spread(centroid_x) > S / 4.0);
  CHECK(spread(centroid_y) > S / 8.0);
  // Ground-glass -700..-300, consolidation -100..50 (plus texture, noise and soft edges).
  REQUIRE(ggo.size() > 50);
  REQUIRE(cons.size() > 50);
  CHECK(median(ggo) > -720);
  CHECK(median(ggo) < -280);
  CHECK(median(cons) > -130);
  CHECK(median(cons) < 80);
}

TEST_CASE("phantoms at 512 x 512 are generated quickly and look the same as small ones", "[phantom]") {
  const PhantomSlice s = generate_phantom(512, 512, 7);
  CHECK(fraction_in(s.hu, -950, -700) > 0.08);
  CHECK(fraction_in(s.hu, -30, 110) > 0.10);
  const PhantomSlice small = generate_phantom(64, 64, 7);
  CHECK(s.lesion_count == small.lesion_count);  // same parameters, another raster
}

TEST_CASE("write_phantom_dataset writes int16 image / uint8 mask NIfTI pairs", "[phantom][nifti]") {
  const fs::path dir = fs::temp_directory_path() / ("srmds_phantom_" + std::to_string(::getpid()) + "_" + std::to_string(fresh_seed()));
  const uint64_t seed = fresh_seed();
  for (int per_volume : {1, 2}) {
    const std::string out = (dir / ("set" + std::to_string(per_volume))).string();
    const auto files = write_phantom_dataset(out, 3, 48, seed, per_volume);
    REQUIRE(files.size() == 3);
    CHECK(files[2].image == (fs::path(out) / "phantom_002_image.nii.gz").string());
    CHECK(files[2].mask == (fs::path(out) / "phantom_002_mask.nii.gz").string());
    for (int v = 0; v < 3; ++v) {
      const auto pair = io::read_nifti_pair(files[static_cast<size_t>(v)].image, files[static_cast<size_t>(v)].mask);
      const io::NiftiVolume& img = pair.first;
      const io::NiftiVolume& msk = pair.second;
      CHECK(img.datatype == 4);  // int16
      CHECK(msk.datatype == 2);  // uint8
      REQUIRE(img.ni() == 48);
      REQUIRE(img.nj() == 48);
      REQUIRE(img.nk() == per_volume);
      CHECK(img.geometry.pixdim[0] == Approx(350.0 / 48).epsilon(1e-6));
      CHECK(img.geometry.pixdim[2] == Approx(5.0));
      CHECK(img.geometry.qform_code == 1);
      CHECK(img.geometry.sform_code == 1);
      for (int k = 0; k < per_volume; ++k) {
        const PhantomSlice s = generate_phantom(48, 48, phantom_slice_seed(seed, v, k));
        REQUIRE(std::equal(s.hu.begin(), s.hu.end(), img.slice(k)));
        for (size_t i = 0; i < s.labels.size(); ++i) REQUIRE(msk.slice(k)[i] == static_cast<float>(s.labels[i]));
      }
    }
    // Same seed -> byte-identical files.
    const auto again = write_phantom_dataset((dir / "again").string(), 1, 48, seed, per_volume);
    CHECK(file_bytes(again[0].image) == file_bytes(files[0].image));
    CHECK(file_bytes(again[0].mask) == file_bytes(files[0].mask));
  }
  CHECK_THROWS_WITH(write_phantom_dataset((dir / "x").string(), 1, 8, 1), Catch::Contains("size 8"));
  CHECK_THROWS_WITH(write_phantom_dataset((dir / "x").string(), -1, 64, 1), Catch::Contains("count -1"));
  std::ofstream((dir / "plainfile").string()) << "x";
  CHECK_THROWS_WITH(write_phantom_dataset((dir / "plainfile").string(), 1, 64, 1), Catch::Contains("cannot create folder"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}
