// Training augmentation (data/augment.hpp) and test-time augmentation (infer/segment.hpp): the
// option parser, properties of each transform (identity when off, bilinear values stay within the
// input's range, masks stay binary, intensity maps are monotone, near-zero parameters are near the
// identity), determinism of served batches in (seed, epoch), and flip-TTA's mirror equivariance.
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "srmds/core/rng.hpp"
#include "srmds/data/augment.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/data/slice_dataset.hpp"
#include "srmds/infer/segment.hpp"
#include "srmds/nets/srmds_net.hpp"

using namespace srmds;
using srmds::test::fresh_seed;

namespace {

struct Plane {
  int h = 0, w = 0;
  std::vector<float> image;
  std::vector<uint8_t> mask;
};

// A smooth image with a random disk as the lesion.
Plane random_plane(Rng& rng, int h, int w) {
  Plane p{h, w, std::vector<float>(static_cast<size_t>(h * w)), std::vector<uint8_t>(static_cast<size_t>(h * w))};
  const double cy = rng.uniform(0.3, 0.7) * h, cx = rng.uniform(0.3, 0.7) * w, r = rng.uniform(0.1, 0.3) * std::min(h, w);
  const double fy = rng.uniform(0.1, 0.5), fx = rng.uniform(0.1, 0.5);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y * w + x);
      p.image[i] = static_cast<float>(0.5 + 0.4 * std::sin(fy * y) * std::cos(fx * x) + 0.05 * rng.uniform());
      p.mask[i] = (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r ? 1 : 0;
    }
  return p;
}

struct Out {
  std::vector<float> image, mask;
};

Out run(const Augmentation& a, uint64_t seed, const Plane& p) {
  Out o{std::vector<float>(p.image.size()), std::vector<float>(p.image.size())};
  Rng rng(seed);
  augment_slice(a, rng, p.image.data(), p.mask.data(), p.h, p.w, o.image.data(), o.mask.data());
  return o;
}

}  // namespace

TEST_CASE("augmentation options: presets, key=value, bad values", "[data][augment]") {
  CHECK_FALSE(parse_augmentation("none").any());
  CHECK_FALSE(parse_augmentation("").any());
  const Augmentation d = parse_augmentation("default");
  CHECK(d.rotate_deg == 15);
  CHECK(d.spatial());
  CHECK(d.intensity());
  const Augmentation a = parse_augmentation("rotate=10,scale=0.1,gamma=0.2,spatial_p=1");
  CHECK(a.rotate_deg == 10);
  CHECK(a.scale == 0.1);
  CHECK(a.gamma == 0.2);
  CHECK(a.spatial_p == 1);
  CHECK(a.deform == 0);
  CHECK(parse_augmentation(augmentation_to_string(a)).rotate_deg == 10);
  CHECK(augmentation_to_string(Augmentation{}) == "none");
  CHECK_THROWS_WITH(parse_augmentation("spin=3"), Catch::Contains("unknown key 'spin'"));
  CHECK_THROWS_WITH(parse_augmentation("rotate"), Catch::Contains("not key=value"));
  CHECK_THROWS_WITH(parse_augmentation("rotate=x"), Catch::Contains("not a number"));
  CHECK_THROWS_WITH(parse_augmentation("rotate=200"), Catch::Contains("rotate 200 must be in [0, 180]"));
  CHECK_THROWS_WITH(parse_augmentation("scale=nan"), Catch::Contains("scale"));
}

TEST_CASE("augment_slice: properties of each transform", "[data][augment]") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const Plane p = random_plane(rng, 24 + static_cast<int>(rng.below(20)), 24 + static_cast<int>(rng.below(20)));
  const float lo = *std::min_element(p.image.begin(), p.image.end());
  const float hi = *std::max_element(p.image.begin(), p.image.end());

  // Off: the identity.
  const Out off = run(Augmentation{}, seed, p);
  for (size_t i = 0; i < p.image.size(); ++i) {
    REQUIRE(off.image[i] == p.image[i]);
    REQUIRE(off.mask[i] == p.mask[i]);
  }

  // Spatial, always applied: deterministic in the Rng, values inside the input's range (bilinear
  // weights are convex), masks binary and not empty for a moderate warp of a central disk.
  Augmentation spatial = parse_augmentation("rotate=30,scale=0.2,deform=0.05,spatial_p=1");
  for (int trial = 0; trial < 10; ++trial) {
    const Out a = run(spatial, seed + trial, p), b = run(spatial, seed + trial, p);
    REQUIRE(a.image == b.image);
    REQUIRE(a.mask == b.mask);
    double lesion = 0;
    for (size_t i = 0; i < a.image.size(); ++i) {
      REQUIRE(a.image[i] >= lo - 1e-6f);
      REQUIRE(a.image[i] <= hi + 1e-6f);
      REQUIRE((a.mask[i] == 0.0f || a.mask[i] == 1.0f));
      lesion += a.mask[i];
    }
    CHECK(lesion > 0);
  }

  // Near-zero parameters: the identity up to the interpolation of a tiny shift.
  const Out tiny = run(parse_augmentation("rotate=1e-7,scale=1e-8,spatial_p=1"), seed, p);
  for (size_t i = 0; i < p.image.size(); ++i) REQUIRE(std::abs(tiny.image[i] - p.image[i]) <= 1e-5f);

  // Intensity only: the mask is untouched and the image a monotone function of the input.
  const Out in = run(parse_augmentation("gamma=0.5,contrast=0.3,brightness=0.2,intensity_p=1"), seed, p);
  std::vector<size_t> order(p.image.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p.image[a] < p.image[b]; });
  for (size_t k = 1; k < order.size(); ++k) REQUIRE(in.image[order[k - 1]] <= in.image[order[k]] + 1e-6f);
  for (size_t i = 0; i < p.image.size(); ++i) REQUIRE(in.mask[i] == p.mask[i]);
  bool changed = false;
  for (size_t i = 0; i < p.image.size(); ++i) changed = changed || in.image[i] != p.image[i];
  CHECK(changed);
}

TEST_CASE("flip TTA: mirror_w, and the prediction of a mirrored input is the mirrored prediction",
          "[infer][tta]") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  Tensor<float, Cpu> x(Shape{2, 1, 16, 32});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform());
  const Tensor<float, Cpu> m = mirror_w(x);
  for (int64_t r = 0; r < 2 * 16; ++r)
    for (int64_t c = 0; c < 32; ++c) REQUIRE(m[r * 32 + c] == x[r * 32 + 31 - c]);

  Context<Cpu> ctx;
  NetConfig cfg;
  cfg.base = 4;
  cfg.input_size = {16, 32};
  SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, seed);
  const Tensor<float, Cpu> p = predict_probability(ctx, net, x, 2, true);
  const Tensor<float, Cpu> pm = predict_probability(ctx, net, m, 2, true);
  const Tensor<float, Cpu> plain = predict_probability(ctx, net, x, 2, false);
  const Tensor<float, Cpu> plain_m = predict_probability(ctx, net, m, 2, false);
  const Tensor<float, Cpu> back = mirror_w(pm), plain_back = mirror_w(plain_m);
  for (int64_t i = 0; i < p.numel(); ++i) {
    REQUIRE(back[i] == p[i]);  // the same two terms, summed in the other order: exact
    REQUIRE(p[i] == 0.5f * (plain[i] + plain_back[i]));
  }
}

TEST_CASE("augmented batches depend only on (seed, epoch, position)", "[data][augment][dataset]") {
  srmds::test::TempDir dir("augment");
  std::vector<std::string> images, masks;
  for (const PhantomFiles& f : write_phantom_dataset(dir.file("data"), 4, 32, 3)) {
    images.push_back(f.image);
    masks.push_back(f.mask);
  }
  SliceDataOptions opt;
  opt.input_size = {32, 32};
  const SliceSampling sampling{true, true, 21, parse_augmentation("default")};
  SliceDataset a(images, masks, opt, sampling), b(images, masks, opt, sampling);
  const SliceDataset plain(images, masks, opt);
  int differs = 0;
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    a.set_epoch(epoch);
    b.set_epoch(epoch);
    const SliceBatch x = a.batch(0, 4), y = b.batch(0, 4);
    REQUIRE(x.indices == y.indices);
    for (int64_t i = 0; i < x.images.numel(); ++i) {
      REQUIRE(x.images[i] == y.images[i]);
      REQUIRE(x.masks[i] == y.masks[i]);
    }
    for (int64_t s = 0; s < 4; ++s) {
      const float* served = x.images.sample(s);
      const float* orig = plain.image(x.indices[static_cast<size_t>(s)]);
      bool same = true, mirrored = true;
      for (int r = 0; r < 32; ++r)
        for (int c = 0; c < 32; ++c) {
          same = same && served[r * 32 + c] == orig[r * 32 + c];
          mirrored = mirrored && served[r * 32 + c] == orig[r * 32 + 31 - c];
        }
      differs += !(same || mirrored);
    }
  }
  CHECK(differs >= 4);  // with p = 0.5 per kind, most of the 12 served slices are changed
}
