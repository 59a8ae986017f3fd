// Data handling (SPEC §7): windowing, resizing and label selection against naive formulas (and
// PyTorch's F.interpolate when available), the slice dataset's contents, batches, shuffling and
// flips, and mapping predictions back to a volume's grid (SPEC §8).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "support/memory_train_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/train_fixture.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/data/labels.hpp"
#include "srmds/data/resize.hpp"
#include "srmds/data/slice_dataset.hpp"
#include "srmds/data/volume_slices.hpp"
#include "srmds/data/window.hpp"
#include "srmds/io/nifti.hpp"

using namespace srmds;
namespace fs = std::filesystem;
using srmds::test::fresh_seed;

namespace {

using srmds::test::TempDir;

// Naive bilinear (align_corners = false) at one output pixel, written from the formula.
double naive_bilinear(const std::vector<float>& src, int sh, int sw, int dh, int dw, int y, int x) {
  auto coord = [](int d, int in, int out) {
    const double s = (d + 0.5) * in / out - 0.5;
    return s < 0 ? 0.0 : s;
  };
  const double sy = coord(y, sh, dh), sx = coord(x, sw, dw);
  const int y0 = std::min(static_cast<int>(std::floor(sy)), sh - 1), x0 = std::min(static_cast<int>(std::floor(sx)), sw - 1);
  const int y1 = std::min(y0 + 1, sh - 1), x1 = std::min(x0 + 1, sw - 1);
  const double ly = sy - y0, lx = sx - x0;
  auto at = [&](int yy, int xx) { return static_cast<double>(src[static_cast<size_t>(yy * sw + xx)]); };
  return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x1) + ly * (1 - lx) * at(y1, x0) + ly * lx * at(y1, x1);
}

int naive_nearest(int d, int in, int out) {
  return std::min(static_cast<int>(std::floor((d + 0.5) * in / static_cast<double>(out))), in - 1);
}

std::vector<float> random_plane(int h, int w, Rng& rng, double lo = -1, double hi = 1) {
  std::vector<float> v(static_cast<size_t>(h) * static_cast<size_t>(w));
  for (auto& x : v) x = static_cast<float>(rng.uniform(lo, hi));
  return v;
}

}  // namespace

TEST_CASE("apply_window matches the clip-and-scale formula; min-max without a window", "[data][window]") {
  Rng rng(fresh_seed());
  std::vector<float> x(1000);
  for (auto& v : x) v = static_cast<float>(rng.uniform(-2000, 1500));
  x[0] = -1250.0f;
  x[1] = 250.0f;
  std::vector<float> y(x.size());
  apply_window(x.data(), static_cast<int64_t>(x.size()), lung_window(), y.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const double c = std::min(std::max(static_cast<double>(x[i]), -1250.0), 250.0);
    REQUIRE(y[i] == Approx((c + 1250.0) / 1500.0).margin(1e-7));
  }
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 1.0f);

  // Per-volume min-max.
  apply_window(x.data(), static_cast<int64_t>(x.size()), std::nullopt, y.data());
  const double lo = *std::min_element(x.begin(), x.end()), hi = *std::max_element(x.begin(), x.end());
  for (size_t i = 0; i < x.size(); ++i) REQUIRE(y[i] == Approx((x[i] - lo) / (hi - lo)).margin(1e-7));
  CHECK(*std::min_element(y.begin(), y.end()) == 0.0f);
  CHECK(*std::max_element(y.begin(), y.end()) == 1.0f);

  // Non-finite and constant inputs; in place.
  std::vector<float> z{std::nanf(""), INFINITY, -INFINITY, 0.0f};
  apply_window(z.data(), 4, lung_window(), z.data());
  CHECK(z == std::vector<float>{0.0f, 1.0f, 0.0f, static_cast<float>(1250.0 / 1500.0)});
  std::vector<float> c(5, 3.0f);
  apply_window(c.data(), 5, std::nullopt, c.data());
  CHECK(c == std::vector<float>(5, 0.0f));
  std::vector<float> m{std::nanf(""), 2.0f, 4.0f};
  apply_window(m.data(), 3, std::nullopt, m.data());
  CHECK(m == std::vector<float>{0.0f, 0.0f, 1.0f});
  CHECK_THROWS_WITH(apply_window(x.data(), 1, Window(std::array<double, 2>{5, 5}), y.data()),
                    Catch::Contains("apply_window") && Catch::Contains("lo < hi"));
}

TEST_CASE("resize_bilinear (align_corners = false) and resize_nearest match naive formulas", "[data][resize]") {
  Rng rng(fresh_seed());
  const int sizes[][4] = {{8, 8, 16, 16}, {16, 16, 8, 8},  {7, 5, 13, 11}, {13, 11, 7, 5}, {12, 20, 12, 20},
                          {1, 6, 4, 3},   {5, 1, 2, 9},    {9, 7, 1, 1},   {64, 48, 30, 70}, {3, 3, 512, 5}};
  for (const auto& s : sizes) {
    const int sh = s[0], sw = s[1], dh = s[2], dw = s[3];
    INFO(sh << "x" << sw << " -> " << dh << "x" << dw);
    const auto src = random_plane(sh, sw, rng);
    std::vector<float> dst(static_cast<size_t>(dh * dw));
    resize_bilinear(src.data(), sh, sw, dst.data(), dh, dw);
    for (int y = 0; y < dh; ++y)
      for (int x = 0; x < dw; ++x) REQUIRE(dst[static_cast<size_t>(y * dw + x)] == Approx(naive_bilinear(src, sh, sw, dh, dw, y, x)).margin(1e-6));
    std::vector<float> near(static_cast<size_t>(dh * dw));
    resize_nearest(src.data(), sh, sw, near.data(), dh, dw);
    for (int y = 0; y < dh; ++y)
      for (int x = 0; x < dw; ++x)
        REQUIRE(near[static_cast<size_t>(y * dw + x)] ==
                src[static_cast<size_t>(naive_nearest(y, sh, dh) * sw + naive_nearest(x, sw, dw))]);
    // uint8 masks take the same path.
    std::vector<uint8_t> m(src.size()), mo(static_cast<size_t>(dh * dw));
    for (size_t i = 0; i < src.size(); ++i) m[i] = src[i] > 0 ? 1 : 0;
    resize_nearest(m.data(), sh, sw, mo.data(), dh, dw);
    for (size_t i = 0; i < mo.size(); ++i) REQUIRE(mo[i] == (near[i] > 0 ? 1 : 0));
  }
  // Same size: both are the identity, exactly. A constant stays constant.
  const auto src = random_plane(9, 14, rng);
  std::vector<float> same(src.size());
  resize_bilinear(src.data(), 9, 14, same.data(), 9, 14);
  CHECK(same == src);
  resize_nearest(src.data(), 9, 14, same.data(), 9, 14);
  CHECK(same == src);
  std::vector<float> k(35, 0.375f), ko(6 * 11);
  resize_bilinear(k.data(), 5, 7, ko.data(), 6, 11);
  for (float v : ko) REQUIRE(v == Approx(0.375f).epsilon(1e-6));
  // Exactly half-way samples at 2x upsampling: (1 - 1/4) a + 1/4 b etc.
  std::vector<float> two{0.0f, 4.0f}, four(4);
  resize_bilinear(two.data(), 1, 2, four.data(), 1, 4);
  CHECK(four == std::vector<float>{0.0f, 1.0f, 3.0f, 4.0f});
  CHECK_THROWS_WITH(resize_bilinear(two.data(), 1, 2, four.data(), 0, 4), Catch::Contains("resize_bilinear"));
  CHECK_THROWS_WITH(resize_nearest(two.data(), 1, 2, two.data(), 1, 2), Catch::Contains("aliased"));
}

TEST_CASE("resize matches PyTorch F.interpolate (bilinear, nearest-exact)", "[data][resize][torch]") {
  TempDir dir("resize_torch");
  Rng rng(fresh_seed());
  const int sizes[][4] = {{7, 5, 13, 11}, {40, 36, 17, 23}, {64, 64, 512, 512}, {3, 8, 3, 8}};
  std::ofstream list(dir.file("cases.txt"));
  std::vector<std::vector<float>> srcs;
  for (size_t c = 0; c < 4; ++c) {
    const auto& s = sizes[c];
    srcs.push_back(random_plane(s[0], s[1], rng));
    std::ofstream f(dir.file("in" + std::to_string(c) + ".f32"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(srcs.back().data()), static_cast<std::streamsize>(srcs.back().size() * 4));
    list << s[0] << " " << s[1] << " " << s[2] << " " << s[3] << "\n";
  }
  list.close();
  std::ofstream(dir.file("resize.py")) << R"PY(
import sys
try:
    import numpy as np, torch, torch.nn.functional as F
except ImportError:
    sys.exit(77)
d = sys.argv[1]
for c, line in enumerate(open(d + '/cases.txt')):
    sh, sw, dh, dw = map(int, line.split())
    x = torch.from_numpy(np.fromfile('%s/in%d.f32' % (d, c), dtype='<f4').reshape(1, 1, sh, sw)).double()
    F.interpolate(x, size=(dh, dw), mode='bilinear', align_corners=False).float().numpy().tofile('%s/bil%d.f32' % (d, c))
    F.interpolate(x, size=(dh, dw), mode='nearest-exact').float().numpy().tofile('%s/near%d.f32' % (d, c))
)PY";
  const int rc = std::system(("/usr/bin/python3 '" + dir.file("resize.py") + "' '" + dir.path.string() + "'").c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
    WARN("torch is not importable from /usr/bin/python3: skipping the PyTorch resize comparison");
    return;
  }
  REQUIRE(rc == 0);
  for (size_t c = 0; c < 4; ++c) {
    const auto& s = sizes[c];
    INFO("case " << c);
    const size_t n = static_cast<size_t>(s[2]) * static_cast<size_t>(s[3]);
    std::vector<float> bil(n), near(n), ref_bil(n), ref_near(n);
    resize_bilinear(srcs[c].data(), s[0], s[1], bil.data(), s[2], s[3]);
    resize_nearest(srcs[c].data(), s[0], s[1], near.data(), s[2], s[3]);
    std::ifstream(dir.file("bil" + std::to_string(c) + ".f32"), std::ios::binary).read(reinterpret_cast<char*>(ref_bil.data()), static_cast<std::streamsize>(n * 4));
    std::ifstream(dir.file("near" + std::to_string(c) + ".f32"), std::ios::binary).read(reinterpret_cast<char*>(ref_near.data()), static_cast<std::streamsize>(n * 4));
    for (size_t i = 0; i < n; ++i) {
      REQUIRE(bil[i] == Approx(ref_bil[i]).margin(1e-6));
      REQUIRE(near[i] == ref_near[i]);
    }
  }
}

TEST_CASE("label selection: set membership after rounding; empty set means any label > 0", "[data][labels]") {
  const std::vector<float> v{0.0f, 1.0f, 2.0f, 3.0f, -1.0f, 1.2f, 1.7f, 0.4f, 255.0f, std::nanf(""), 2.5f, 1e12f};
  const std::vector<int> set12{1, 2};
  std::vector<uint8_t> out(v.size());
  select_lesions(v.data(), static_cast<int64_t>(v.size()), set12, out.data());
  for (size_t i = 0; i < v.size(); ++i) {
    const double r = std::isnan(v[i]) ? 0 : std::nearbyint(v[i]);
    REQUIRE(out[i] == ((r == 1 || r == 2) ? 1 : 0));
  }
  select_lesions(v.data(), static_cast<int64_t>(v.size()), {}, out.data());
  for (size_t i = 0; i < v.size(); ++i) REQUIRE(out[i] == ((!std::isnan(v[i]) && std::nearbyint(v[i]) > 0) ? 1 : 0));
  CHECK(is_lesion_label(3.0f, {3}));
  CHECK_FALSE(is_lesion_label(1.0f, {3}));
  CHECK(is_lesion_label(255.0f, {}));
}

namespace {

// Two small volumes with known HU and labels: ni x nj x nk = 20 x 12 x nk.
struct Fixture {
  TempDir dir{"slice_ds"};
  std::vector<std::string> images, masks;
  std::vector<io::NiftiVolume> image_vols, mask_vols;
  explicit Fixture(Rng& rng, int ni = 20, int nj = 12, const std::vector<int>& nks = {6, 5}) {
    for (size_t v = 0; v < nks.size(); ++v) {
      const io::NiftiGeometry g = io::make_nifti_geometry(ni, nj, nks[v], 0.8, 0.8, 5);
      std::vector<float> hu(static_cast<size_t>(g.voxels())), lab(hu.size());
      for (auto& h : hu) h = static_cast<float>(std::round(rng.uniform(-1400, 400)));
      for (auto& l : lab) l = static_cast<float>(rng.below(4));  // 0..3; 3 is not a lesion by default
      images.push_back(dir.file("img" + std::to_string(v) + ".nii.gz"));
      masks.push_back(dir.file("msk" + std::to_string(v) + ".nii"));
      io::write_nifti(images.back(), g, hu.data(), io::NiftiType::Int16);
      io::write_nifti(masks.back(), g, lab.data(), io::NiftiType::Uint8);
      image_vols.push_back(io::read_nifti(images.back()));
      mask_vols.push_back(io::read_nifti(masks.back()));
    }
  }
};

}  // namespace

TEST_CASE("SliceDataset holds windowed, resized slices and label masks in load order", "[data][dataset]") {
  Rng rng(fresh_seed());
  Fixture fx(rng);
  for (const std::array<int, 2> size : {std::array<int, 2>{16, 24}, std::array<int, 2>{12, 20}}) {
    SliceDataOptions opt;
    opt.input_size = size;
    const SliceDataset ds(fx.images, fx.masks, opt);
    REQUIRE(ds.size() == 11);
    REQUIRE(ds.height() == size[0]);
    REQUIRE(ds.width() == size[1]);
    const int H = size[0], W = size[1];
    int64_t i = 0;
    for (int v = 0; v < 2; ++v) {
      const io::NiftiVolume& im = fx.image_vols[static_cast<size_t>(v)];
      const io::NiftiVolume& mk = fx.mask_vols[static_cast<size_t>(v)];
      for (int64_t k = 0; k < im.nk(); ++k, ++i) {
        INFO("volume " << v << " slice " << k << " size " << H << "x" << W);
        CHECK(ds.source(i).volume == v);
        CHECK(ds.source(i).k == k);
        // Naive pipeline: window each voxel, then bilinear; labels {1, 2}, then nearest.
        std::vector<float> win(static_cast<size_t>(20 * 12));
        std::vector<float> lab(win.size());
        for (size_t p = 0; p < win.size(); ++p) {
          const double x = im.slice(k)[p];
          win[p] = static_cast<float>((std::min(std::max(x, -1250.0), 250.0) + 1250.0) / 1500.0);
          const float l = mk.slice(k)[p];
          lab[p] = (l == 1.0f || l == 2.0f) ? 1.0f : 0.0f;
        }
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            const size_t o = static_cast<size_t>(y * W + x);
            REQUIRE(ds.image(i)[o] == Approx(naive_bilinear(win, 12, 20, H, W, y, x)).margin(1e-6));
            REQUIRE(ds.mask(i)[o] == lab[static_cast<size_t>(naive_nearest(y, 12, H) * 20 + naive_nearest(x, 20, W))]);
          }
      }
    }
  }
  // Min-max windowing per volume and a custom label set.
  SliceDataOptions opt;
  opt.input_size = {12, 20};
  opt.window = std::nullopt;
  opt.lesion_labels = {3};
  const SliceDataset ds(fx.images, fx.masks, opt);
  const auto& im = fx.image_vols[1];
  const double lo = *std::min_element(im.data.begin(), im.data.end());
  const double hi = *std::max_element(im.data.begin(), im.data.end());
  for (size_t p = 0; p < 240; ++p) {
    REQUIRE(ds.image(6)[p] == Approx((im.slice(0)[p] - lo) / (hi - lo)).margin(1e-6));
    REQUIRE(ds.mask(6)[p] == (fx.mask_vols[1].slice(0)[p] == 3.0f ? 1 : 0));
  }
}

TEST_CASE("SliceDataset batches: sizes, shuffling, flips, determinism, subsets", "[data][dataset]") {
  Rng rng(fresh_seed());
  Fixture fx(rng);
  SliceDataOptions opt;
  opt.input_size = {16, 24};
  const SliceDataset plain(fx.images, fx.masks, opt);
  const int H = 16, W = 24;

  // In order, no flips; 11 slices in batches of 4: 4, 4, 3.
  REQUIRE(plain.num_batches(4) == 3);
  int64_t next = 0;
  for (int64_t b = 0; b < 3; ++b) {
    const SliceBatch batch = plain.batch(b, 4);
    const int64_t n = b < 2 ? 4 : 3;
    REQUIRE(batch.images.shape() == Shape{n, 1, H, W});
    REQUIRE(batch.masks.shape() == Shape{n, 1, H, W});
    for (int64_t s = 0; s < n; ++s, ++next) {
      REQUIRE(batch.indices[static_cast<size_t>(s)] == next);
      REQUIRE(batch.flipped[static_cast<size_t>(s)] == 0);
      for (int64_t p = 0; p < H * W; ++p) {
        REQUIRE(batch.images.sample(s)[p] == plain.image(next)[p]);
        REQUIRE(batch.masks.sample(s)[p] == static_cast<float>(plain.mask(next)[p]));
      }
    }
  }
  CHECK_THROWS_WITH(plain.batch(3, 4), Catch::Contains("batch 3 out of range"));
  CHECK_THROWS_WITH(plain.num_batches(0), Catch::Contains("batch size"));

  // Shuffled and flipped: a permutation per epoch, deterministic in (seed, epoch).
  SliceSampling sampling{true, true, 1234};
  SliceDataset a(fx.images, fx.masks, opt, sampling), b(fx.images, fx.masks, opt, sampling);
  std::set<std::vector<int64_t>> orders;
  int flips = 0, served = 0;
  for (uint64_t epoch = 0; epoch < 6; ++epoch) {
    a.set_epoch(epoch);
    b.set_epoch(epoch);
    std::vector<int64_t> order;
    for (int64_t bi = 0; bi < a.num_batches(3); ++bi) {
      const SliceBatch x = a.batch(bi, 3), y = b.batch(bi, 3);
      REQUIRE(x.indices == y.indices);
      REQUIRE(x.flipped == y.flipped);
      for (size_t s = 0; s < x.indices.size(); ++s) {
        const int64_t idx = x.indices[s];
        order.push_back(idx);
        ++served;
        flips += x.flipped[s];
        for (int yy = 0; yy < H; ++yy)
          for (int xx = 0; xx < W; ++xx) {
            const int sx = x.flipped[s] ? W - 1 - xx : xx;
            REQUIRE(x.images.sample(static_cast<int64_t>(s))[yy * W + xx] == plain.image(idx)[yy * W + sx]);
            REQUIRE(x.masks.sample(static_cast<int64_t>(s))[yy * W + xx] == plain.mask(idx)[yy * W + sx]);
          }
      }
    }
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> all(11);
    for (int i = 0; i < 11; ++i) all[static_cast<size_t>(i)] = i;
    REQUIRE(sorted == all);  // every slice exactly once per epoch
    orders.insert(order);
  }
  CHECK(orders.size() >= 5);  // 6 epochs, 11! orders
  CHECK(flips > served / 5);
  CHECK(flips < served * 4 / 5);
  SliceDataset c(fx.images, fx.masks, opt, SliceSampling{true, true, 99});
  c.set_epoch(0);
  a.set_epoch(0);
  CHECK((c.batch(0, 11).indices != a.batch(0, 11).indices || c.batch(0, 11).flipped != a.batch(0, 11).flipped));

  // Volume split and subsets share pixels and serve only their slices.
  const auto split = plain.split_by_volume(0.5, 7);
  REQUIRE(split.first.size() + split.second.size() == 11);
  std::set<int> val_volumes, train_volumes;
  for (int64_t i : split.second) val_volumes.insert(plain.source(i).volume);
  for (int64_t i : split.first) train_volumes.insert(plain.source(i).volume);
  CHECK(val_volumes.size() == 1);
  CHECK(train_volumes.size() == 1);
  CHECK(*val_volumes.begin() != *train_volumes.begin());
  const SliceDataset val = plain.subset(split.second, {});
  REQUIRE(val.size() == static_cast<int64_t>(split.second.size()));
  for (int64_t i = 0; i < val.size(); ++i) {
    CHECK(val.image(i) == plain.image(split.second[static_cast<size_t>(i)]));
    CHECK(val.source(i).volume == *val_volumes.begin());
  }
  CHECK(plain.split_by_volume(0.0, 1).second.empty());
  CHECK_THROWS_WITH(plain.image(11), Catch::Contains("out of range"));
}

TEST_CASE("SliceDataset::from_memory serves what loading the same slices from files serves", "[data][dataset]") {
  // The GPU bundle's tests build their phantoms in memory (support/memory_train_fixture.hpp);
  // these are the slices TrainFixture writes as NIfTI files and reads back.
  test::TrainFixture files(3, 0);
  test::MemoryTrainFixture memory(3);
  REQUIRE(memory.data.train.size() == files.data.train.size());
  REQUIRE(memory.data.train.image_paths().empty());
  for (uint64_t epoch : {0u, 1u, 5u}) {
    files.data.train.set_epoch(epoch);
    memory.data.train.set_epoch(epoch);
    for (int64_t b = 0; b < files.data.train.num_batches(4); ++b) {
      const SliceBatch a = files.data.train.batch(b, 4), m = memory.data.train.batch(b, 4);
      REQUIRE(a.indices == m.indices);
      REQUIRE(a.flipped == m.flipped);
      REQUIRE(a.images.shape() == m.images.shape());
      for (int64_t i = 0; i < a.images.numel(); ++i) {
        REQUIRE(a.images[i] == m.images[i]);
        REQUIRE(a.masks[i] == m.masks[i]);
      }
    }
  }
  // Every slice is its own volume.
  REQUIRE(memory.data.train.source(5).volume == 5);

  SliceDataOptions o;
  o.input_size = {8, 8};
  Rng rng(7);
  const Tensor<float, Cpu> img = test::random_tensor<float>(Shape{2, 1, 8, 8}, rng, 0.0, 1.0);
  Tensor<float, Cpu> msk(Shape{2, 1, 8, 8});
  for (int64_t i = 0; i < msk.numel(); ++i) msk[i] = 0.0f;
  REQUIRE(SliceDataset::from_memory(img, msk, o).size() == 2);
  msk[70] = 0.5f;
  REQUIRE_THROWS_WITH(SliceDataset::from_memory(img, msk, o), Catch::Contains("mask value 0.5 of slice 1"));
  msk[70] = 1.0f;
  REQUIRE_THROWS_WITH(SliceDataset::from_memory(img, Tensor<float, Cpu>(Shape{1, 1, 8, 8}), o),
                      Catch::Contains("masks [1, 1, 8, 8] must be [2, 1, 8, 8]"));
  o.input_size = {8, 16};
  REQUIRE_THROWS_WITH(SliceDataset::from_memory(img, msk, o), Catch::Contains("not of the options' input size"));
  REQUIRE_THROWS_WITH(SliceDataset::from_memory(Tensor<float, Cpu>(Shape{0, 1, 8, 8}), Tensor<float, Cpu>(Shape{0, 1, 8, 8}), o),
                      Catch::Contains("non-empty (n, 1, H, W)"));
}

TEST_CASE("SliceDataset rejects bad inputs", "[data][dataset][bad]") {
  Rng rng(fresh_seed());
  Fixture fx(rng);
  SliceDataOptions opt;
  opt.input_size = {16, 16};
  CHECK_THROWS_WITH(SliceDataset(fx.images, {fx.masks[0]}, opt), Catch::Contains("2 image files but 1 mask files"));
  CHECK_THROWS_WITH(SliceDataset({}, {}, opt), Catch::Contains("no image files"));
  // Image of volume 0 with the mask of volume 1 (6 vs 5 slices).
  CHECK_THROWS_WITH(SliceDataset({fx.images[0]}, {fx.masks[1]}, opt),
                    Catch::Contains("size mismatch") && Catch::Contains(fx.images[0]) && Catch::Contains(fx.masks[1]));
  CHECK_THROWS_WITH(SliceDataset({fx.images[0]}, {fx.dir.file("none.nii.gz")}, opt), Catch::Contains("file not found"));
  opt.input_size = {0, 16};
  CHECK_THROWS_WITH(SliceDataset(fx.images, fx.masks, opt), Catch::Contains("input_size"));
}

TEST_CASE("volume_to_input and prediction_to_volume (SPEC §8: mask = p >= 0.5 where no resizing)", "[data][volume]") {
  Rng rng(fresh_seed());
  Fixture fx(rng, 20, 12, {3});
  const io::NiftiVolume& vol = fx.image_vols[0];
  const io::NiftiGeometry& g = vol.geometry;

  // Same size: input is the windowed volume, slice by slice; prediction maps back exactly.
  SliceDataOptions same;
  same.input_size = {12, 20};
  const Tensor<float, Cpu> x = volume_to_input(vol, same);
  REQUIRE(x.shape() == Shape{3, 1, 12, 20});
  for (int64_t i = 0; i < x.numel(); ++i)
    REQUIRE(x[i] == Approx((std::min(std::max(static_cast<double>(vol.data[static_cast<size_t>(i)]), -1250.0), 250.0) + 1250.0) / 1500.0).margin(1e-7));
  const Tensor<float, Cpu> t = labels_to_target(fx.mask_vols[0], same);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float l = fx.mask_vols[0].data[static_cast<size_t>(i)];
    REQUIRE(t[i] == ((l == 1.0f || l == 2.0f) ? 1.0f : 0.0f));
  }
  Tensor<float, Cpu> p(Shape{3, 1, 12, 20});
  for (int64_t i = 0; i < p.numel(); ++i) p[i] = static_cast<float>(rng.uniform());
  p[0] = 0.5f;
  p[1] = std::nextafter(0.5f, 0.0f);
  for (MaskResize mode : {MaskResize::Nearest, MaskResize::ThresholdResized}) {
    const VolumePrediction out = prediction_to_volume(p, g, mode);
    for (int64_t i = 0; i < p.numel(); ++i) {
      REQUIRE(out.probability[static_cast<size_t>(i)] == p[i]);
      REQUIRE(out.mask[static_cast<size_t>(i)] == (p[i] >= 0.5f ? 1 : 0));
    }
    CHECK(out.mask[0] == 1);
    CHECK(out.mask[1] == 0);
  }

  // Model size differs: p bilinear back; mask nearest of (p >= 0.5), or threshold of the resized p.
  const int H = 16, W = 8;
  Tensor<float, Cpu> q(Shape{3, 1, H, W});
  for (int64_t i = 0; i < q.numel(); ++i) q[i] = static_cast<float>(rng.uniform());
  const VolumePrediction near = prediction_to_volume(q, g, MaskResize::Nearest);
  const VolumePrediction thr = prediction_to_volume(q, g, MaskResize::ThresholdResized);
  for (int64_t k = 0; k < 3; ++k) {
    std::vector<float> plane(q.sample(k), q.sample(k) + H * W);
    for (int y = 0; y < 12; ++y)
      for (int xx = 0; xx < 20; ++xx) {
        const size_t o = static_cast<size_t>(k * 240 + y * 20 + xx);
        REQUIRE(near.probability[o] == Approx(naive_bilinear(plane, H, W, 12, 20, y, xx)).margin(1e-6));
        REQUIRE(thr.probability[o] == near.probability[o]);
        REQUIRE(near.mask[o] == (plane[static_cast<size_t>(naive_nearest(y, H, 12) * W + naive_nearest(xx, W, 20))] >= 0.5f ? 1 : 0));
        REQUIRE(thr.mask[o] == (thr.probability[o] >= 0.5f ? 1 : 0));
      }
  }
  // The resized input is the naive bilinear of the windowed slice.
  SliceDataOptions model;
  model.input_size = {H, W};
  const Tensor<float, Cpu> xr = volume_to_input(vol, model);
  REQUIRE(xr.shape() == Shape{3, 1, H, W});
  std::vector<float> win(240);
  for (size_t i = 0; i < 240; ++i) win[i] = static_cast<float>((std::min(std::max(static_cast<double>(vol.slice(2)[i]), -1250.0), 250.0) + 1250.0) / 1500.0);
  for (int y = 0; y < H; ++y)
    for (int xx = 0; xx < W; ++xx) REQUIRE(xr.sample(2)[y * W + xx] == Approx(naive_bilinear(win, 12, 20, H, W, y, xx)).margin(1e-6));

  CHECK_THROWS_WITH(prediction_to_volume(Tensor<float, Cpu>(Shape{2, 1, H, W}), g), Catch::Contains("prediction_to_volume") && Catch::Contains("[2, 1, 16, 8]"));
  CHECK_THROWS_WITH(prediction_to_volume(Tensor<float, Cpu>(Shape{3, 2, H, W}), g), Catch::Contains("expected (3, 1, H, W)"));
}
