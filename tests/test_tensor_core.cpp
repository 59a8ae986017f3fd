// Core types: Tensor views (channels, samples), reshaping, strides and move semantics; Shape errors;
// Rng determinism and moments; fill/copy/axpy/concat/split; host/device transfers (views on the
// CPU, one copy otherwise); shape errors from ops name the op and both shapes.
#include <cmath>
#include <utility>
#include <vector>

#include "srmds/core/rng.hpp"
#include "srmds/ops/batchnorm.hpp"
#include "srmds/ops/maxpool.hpp"
#include "srmds/ops/se.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "srmds/ops/transfer.hpp"
#include "srmds/ops/upsample.hpp"
#include "support/testing.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

TEST_CASE("Shape reports extents and rejects bad ones", "[core][shape]") {
  const Shape s{2, 3, 4, 5};
  REQUIRE(s.rank() == 4);
  REQUIRE((s.n() == 2 && s.c() == 3 && s.h() == 4 && s.w() == 5));
  REQUIRE(s.numel() == 120);
  REQUIRE(s.str() == "[2, 3, 4, 5]");
  REQUIRE(Shape{7}.numel() == 7);
  REQUIRE(Shape{}.numel() == 1);
  REQUIRE(s != Shape{2, 3, 4, 6});
  REQUIRE(Shape{2, 3} != Shape{2, 3, 1});
  const std::vector<int> dims{4, 1, 2};
  REQUIRE(Shape::from_range(dims.begin(), dims.end()) == Shape{4, 1, 2});
  REQUIRE_THROWS_WITH((Shape{1, 2, 3, 4, 5}), Catch::Contains("rank 5"));
  REQUIRE_THROWS_WITH((Shape{2, -1}), Catch::Contains("negative extent -1"));
  const std::vector<int> neg{3, -2};
  REQUIRE_THROWS_AS(Shape::from_range(neg.begin(), neg.end()), Error);
}

TEST_CASE("SRMDS_CHECK names the expression, file and line", "[core][error]") {
  try {
    SRMDS_CHECK(1 + 1 == 3, "arithmetic " << 42);
    FAIL("no throw");
  } catch (const Error& e) {
    const std::string what = e.what();
    REQUIRE_THAT(what, Catch::Contains("arithmetic 42") && Catch::Contains("1 + 1 == 3") &&
                           Catch::Contains("test_tensor_core.cpp:"));
  }
}

TEST_CASE("Tensor channel views share their parent's memory and stride", "[core][tensor]") {
  Rng rng(fresh_seed());
  auto t = random_tensor<float>(Shape{3, 6, 4, 5}, rng);
  REQUIRE(t.owns_data());
  REQUIRE(t.is_contiguous());
  REQUIRE(t.batch_stride() == 6 * 20);
  auto v = t.channels(2, 3);
  REQUIRE_FALSE(v.owns_data());
  REQUIRE(v.shape() == Shape{3, 3, 4, 5});
  REQUIRE(v.batch_stride() == t.batch_stride());
  REQUIRE(v.sample_numel() == 60);
  REQUIRE_FALSE(v.is_contiguous());
  REQUIRE(v.data() == t.data() + 2 * 20);
  REQUIRE(v.sample(2) == t.data() + 2 * 120 + 40);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 3; ++c) REQUIRE(v.at(n, c, 1, 2) == t.at(n, c + 2, 1, 2));
  v.at(1, 0, 3, 4) = 123.0f;
  REQUIRE(t.at(1, 2, 3, 4) == 123.0f);
  // A view of a view offsets again; one sample or the full channel range stays contiguous.
  auto vv = v.channels(1, 2);
  REQUIRE(vv.data() == t.data() + 3 * 20);
  REQUIRE(t.channels(0, 6).is_contiguous());
  Tensor<float> single(Shape{1, 6, 2, 2});
  REQUIRE(single.channels(1, 2).is_contiguous());
  REQUIRE(t.view().data() == t.data());
  REQUIRE_THROWS_WITH(t.channels(4, 3), Catch::Contains("Tensor::channels") && Catch::Contains("[3, 6, 4, 5]"));
  REQUIRE_THROWS_AS(t.channels(-1, 2), Error);
  Tensor<float> flat(Shape{5});
  REQUIRE_THROWS_WITH(flat.channels(0, 1), Catch::Contains("not NCHW"));
}

TEST_CASE("Tensor::samples views a range of samples with the parent's stride", "[core][tensor]") {
  Rng rng(fresh_seed());
  auto t = random_tensor<float>(Shape{5, 3, 2, 4}, rng);
  const auto s = t.samples(1, 3);
  REQUIRE_FALSE(s.owns_data());
  REQUIRE(s.shape() == Shape{3, 3, 2, 4});
  REQUIRE(s.data() == t.data() + 24);
  REQUIRE(s.is_contiguous());
  REQUIRE(s.at(2, 1, 1, 3) == t.at(3, 1, 1, 3));
  const auto cv = t.channels(1, 2).samples(4, 1);  // of a channel view: the parent's batch stride
  REQUIRE(cv.batch_stride() == 24);
  REQUIRE(cv.data() == t.data() + 4 * 24 + 8);
  REQUIRE(t.samples(5, 0).shape() == Shape{0, 3, 2, 4});
  REQUIRE_THROWS_WITH(t.samples(3, 3), Catch::Contains("Tensor::samples") && Catch::Contains("[5, 3, 2, 4]"));
  Tensor<float> flat(Shape{5});
  REQUIRE_THROWS_WITH(flat.samples(0, 1), Catch::Contains("not NCHW"));
}

TEST_CASE("host/device transfers: CPU batches are read in place, other copies happen once", "[core][transfer]") {
  Rng rng(fresh_seed());
  Context<Cpu> ctx;
  auto h = random_tensor<float>(Shape{3, 2, 4, 4}, rng);
  // The network's input on the CPU in float is the host batch itself; in double one converted copy.
  const Tensor<float, Cpu> xf = device_view_as<float>(ctx, h);
  REQUIRE(xf.data() == h.data());
  REQUIRE_FALSE(xf.owns_data());
  const Tensor<double, Cpu> xd = device_view_as<double>(ctx, h);
  REQUIRE(xd.owns_data());
  for (int64_t i = 0; i < h.numel(); ++i) REQUIRE(xd[i] == static_cast<double>(h[i]));
  // Results on the CPU are read in place when contiguous, copied (contiguously) when strided.
  REQUIRE(host_view(ctx, h).data() == h.data());
  const Tensor<float, Cpu> strided = host_view(ctx, h.channels(1, 1));
  REQUIRE(strided.owns_data());
  REQUIRE(strided.is_contiguous());
  for (int64_t n = 0; n < 3; ++n) REQUIRE(strided.at(n, 0, 2, 3) == h.at(n, 1, 2, 3));
  // Converting into a host view (e.g. one batch's rows of a larger result) touches only the view.
  Tensor<float, Cpu> out(Shape{3, 2, 4, 4});
  fill(ctx, out, -7.0f);
  Tensor<float, Cpu> rows = out.samples(1, 2).channels(1, 1);
  const Tensor<double, Cpu> src = device_view_as<double>(ctx, h.samples(0, 2).channels(0, 1));
  copy_to_host_as(ctx, src, rows);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < 16; ++i) {
        const float got = out.at(n, c, i / 4, i % 4);
        if (n >= 1 && c == 1)
          REQUIRE(got == h.at(n - 1, 0, i / 4, i % 4));
        else
          REQUIRE(got == -7.0f);
      }
  // Parameters: double host data to T and back.
  const Tensor<double, Cpu> d = random_tensor<double>(Shape{6}, rng);
  const Tensor<float, Cpu> f = device_from_double<float>(ctx, d);
  const Tensor<double, Cpu> back = double_from_device(ctx, f);
  for (int64_t i = 0; i < 6; ++i) REQUIRE(back[i] == static_cast<double>(static_cast<float>(d[i])));
  Tensor<float, Cpu> wrong(Shape{2, 2, 4, 4});
  REQUIRE_THROWS_WITH(copy_to_host_as(ctx, src, wrong), Catch::Contains("copy_to_host_as"));
  REQUIRE_THROWS_WITH(copy_to_device(ctx, h, wrong), Catch::Contains("copy_to_device"));
}

TEST_CASE("Tensor::reshaped is a contiguous view and refuses strided tensors", "[core][tensor]") {
  Rng rng(fresh_seed());
  auto t = random_tensor<double>(Shape{2, 3, 4, 1}, rng);
  auto r = t.reshaped(Shape{6, 4});
  REQUIRE(r.shape() == Shape{6, 4});
  REQUIRE(r.data() == t.data());
  REQUIRE_FALSE(r.owns_data());
  REQUIRE(r[5] == t[5]);
  auto r4 = t.reshaped(Shape{1, 24, 1, 1});
  REQUIRE(r4.batch_stride() == 24);
  REQUIRE_THROWS_WITH(t.reshaped(Shape{5, 5}), Catch::Contains("changes numel"));
  REQUIRE_THROWS_WITH(t.channels(0, 2).reshaped(Shape{16}), Catch::Contains("strided view"));
}

TEST_CASE("Tensor moves transfer ownership", "[core][tensor]") {
  Context<Cpu> ctx;
  Tensor<float> a(Shape{2, 2, 2, 2}, ctx);
  float* p = a.data();
  REQUIRE(p != nullptr);
  Tensor<float> b(std::move(a));
  REQUIRE(b.data() == p);
  REQUIRE(b.owns_data());
  REQUIRE(b.shape() == Shape{2, 2, 2, 2});
  Tensor<float> c;
  REQUIRE(c.empty());
  c = std::move(b);
  REQUIRE(c.data() == p);
  REQUIRE(c.owns_data());
  // Assigning over an owning tensor releases the old buffer and takes the new one.
  Tensor<float> d(Shape{3});
  d = std::move(c);
  REQUIRE(d.data() == p);
  REQUIRE(d.numel() == 16);
  // Zero-initialised host constructor.
  Tensor<double> z(Shape{3, 1, 2, 2});
  for (int64_t i = 0; i < z.numel(); ++i) REQUIRE(z[i] == 0.0);
  // Buffers are 64-byte aligned.
  REQUIRE(reinterpret_cast<uintptr_t>(z.data()) % 64 == 0);
}

TEST_CASE("Rng is deterministic for a seed and has the right moments", "[core][rng]") {
  Rng a(1234), b(1234), c(1235);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    REQUIRE(x == b.next_u64());
    differs = differs || x != c.next_u64();
  }
  REQUIRE(differs);
  a.reseed(99);
  b.reseed(99);
  for (int i = 0; i < 10; ++i) REQUIRE(a.normal() == b.normal());
  // Same seed, same first value, regardless of history.
  Rng d(7);
  const double first = d.uniform();
  d.normal();
  d.reseed(7);
  REQUIRE(d.uniform() == first);

  Rng r(fresh_seed());
  const int count = 40000;
  double sum = 0, sq = 0, usum = 0;
  for (int i = 0; i < count; ++i) {
    const double z = r.normal(2.0, 3.0);
    sum += z;
    sq += z * z;
    const double u = r.uniform();
    REQUIRE((u >= 0.0 && u < 1.0));
    usum += u;
    REQUIRE(r.below(7) < 7u);
  }
  const double mean = sum / count, sd = std::sqrt(sq / count - mean * mean);
  // Standard errors: mean 3/200 = 0.015, sd about 0.011; allow five of them.
  REQUIRE(mean == Approx(2.0).margin(0.08));
  REQUIRE(sd == Approx(3.0).margin(0.06));
  REQUIRE(usum / count == Approx(0.5).margin(0.01));
  REQUIRE(r.below(0) == 0u);
}

TEMPLATE_TEST_CASE("concat_channels and split_channels round-trip; copy, fill and axpy respect views",
                   "[core][tensor_ops]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  auto a = random_tensor<T>(Shape{3, 2, 4, 5}, rng);
  auto b = random_tensor<T>(Shape{3, 5, 4, 5}, rng);
  Tensor<T> cat(Shape{3, 7, 4, 5});
  concat_channels(ctx, a, b, cat);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 7; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w)
          REQUIRE(cat.at(n, c, h, w) == (c < 2 ? a.at(n, c, h, w) : b.at(n, c - 2, h, w)));
  Tensor<T> a2(a.shape()), b2(b.shape());
  split_channels(ctx, cat, a2, b2);
  for (int64_t i = 0; i < a.numel(); ++i) REQUIRE(a2[i] == a[i]);
  for (int64_t i = 0; i < b.numel(); ++i) REQUIRE(b2[i] == b[i]);

  // fill and axpy on a view touch only the view's channels.
  auto v = cat.channels(1, 3);
  fill(ctx, v, T(2));
  auto x = random_tensor<T>(v.shape(), rng);
  axpy(ctx, T(0.5), x, v);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 7; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w) {
          const T expected = c == 0  ? a.at(n, 0, h, w)
                             : c < 4 ? T(2) + T(0.5) * x.at(n, c - 1, h, w)
                                     : b.at(n, c - 2, h, w);
          REQUIRE(cat.at(n, c, h, w) == expected);
        }
  // copy between two views of different parents.
  auto other = random_tensor<T>(Shape{3, 4, 4, 5}, rng);
  auto ov = other.channels(0, 3);
  copy(ctx, ov, v);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 3; ++c) REQUIRE(cat.at(n, c + 1, 3, 4) == other.at(n, c, 3, 4));
  // to_host / from_host on the CPU are contiguous copies.
  auto h = to_host(ctx, v);
  REQUIRE(h.is_contiguous());
  REQUIRE(h.at(2, 2, 1, 1) == v.at(2, 2, 1, 1));
  auto back = from_host(ctx, h);
  REQUIRE(back.at(1, 0, 2, 3) == h.at(1, 0, 2, 3));
}

namespace {
// Runs f, which must throw srmds::Error whose message contains every part.
template <class F>
void require_error_naming(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const Error& e) {
    for (const auto& part : parts) CHECK_THAT(std::string(e.what()), Catch::Contains(part));
    return;
  } catch (...) {
    FAIL("threw something other than srmds::Error");
  }
  FAIL("did not throw; expected an error naming " << parts.front());
}
}  // namespace

TEST_CASE("shape mismatches throw srmds::Error naming the op and both shapes", "[core][errors]") {
  Context<Cpu> ctx;
  Tensor<float> a(Shape{2, 3, 4, 4}), b(Shape{2, 3, 4, 5}), c(Shape{3, 3, 4, 4});
  REQUIRE_THROWS_AS(copy(ctx, a, b), Error);
  require_error_naming([&] { copy(ctx, a, b); }, {"copy", "[2, 3, 4, 4]", "[2, 3, 4, 5]"});
  require_error_naming([&] { axpy(ctx, 1.0f, a, c); }, {"axpy", "[2, 3, 4, 4]", "[3, 3, 4, 4]"});
  Tensor<float> out(Shape{2, 6, 4, 4});
  require_error_naming([&] { concat_channels(ctx, a, b, out); }, {"concat_channels", "[2, 3, 4, 4]", "[2, 3, 4, 5]"});
  Tensor<float> out_bad(Shape{2, 5, 4, 4});
  require_error_naming([&] { concat_channels(ctx, a, a, out_bad); },
                       {"concat_channels", "[2, 5, 4, 4]", "[2, 6, 4, 4]"});
  Tensor<float> p(Shape{2, 2, 4, 4}), q(Shape{2, 2, 4, 4});
  require_error_naming([&] { split_channels(ctx, a, p, q); }, {"split_channels", "[2, 2, 4, 4]", "[2, 3, 4, 4]"});

  Tensor<float> g(Shape{3}), rm(Shape{3}), rv(Shape{3}), sm(Shape{3}), si(Shape{3});
  require_error_naming([&] { batchnorm_forward_eval(ctx, a, g, g, rm, rv, 1e-5, b, WriteMode::Overwrite); },
                       {"batchnorm_forward_eval", "[2, 3, 4, 4]", "[2, 3, 4, 5]"});
  Tensor<float> y(Shape{2, 3, 2, 2});
  Tensor<int32_t> arg(Shape{2, 3, 2, 3});
  require_error_naming([&] { maxpool2_forward(ctx, a, y, arg); }, {"maxpool2_forward", "[2, 3, 2, 3]", "[2, 3, 2, 2]"});
  Tensor<float> up(Shape{3, 3, 8, 8});
  require_error_naming([&] { upsample_bilinear_forward(ctx, a, up, true); },
                       {"upsample_bilinear_forward", "[2, 3, 4, 4]", "[3, 3, 8, 8]"});
  Tensor<float> w1(Shape{4, 3, 1, 1}), b1(Shape{4}), w2(Shape{3, 4, 1, 1}), b2(Shape{3});
  auto saved = se_saved_for<float>(ctx, a.shape(), 4);
  require_error_naming([&] { se_forward(ctx, a, w1, b1, w2, b2, b, saved); },
                       {"se_forward", "[2, 3, 4, 4]", "[2, 3, 4, 5]"});
}
