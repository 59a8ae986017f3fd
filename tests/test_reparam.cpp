// The fusion math of reparam.hpp: each helper against hand-made cases and a naive convolution,
// and the fused block against the training-form block in double (1e-12).
#include "support/testing.hpp"

#include <cmath>

#include "support/block_testing.hpp"
#include "srmds/blocks/reparam.hpp"
#include "srmds/blocks/srfv_block.hpp"

using namespace srmds;
using reparam::HostTensor;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

namespace {

// Naive "same" convolution with padding (kh/2, kw/2) and optional bias.
HostTensor naive_conv(const HostTensor& x, const HostTensor& w, const HostTensor* bias) {
  const Shape& s = x.shape();
  const int64_t co = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  HostTensor y(Shape{s.n(), co, s.h(), s.w()});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t o = 0; o < co; ++o)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j) {
          double acc = bias ? (*bias)[o] : 0.0;
          for (int64_t c = 0; c < s.c(); ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t ii = i + p - kh / 2, jj = j + q - kw / 2;
                if (ii >= 0 && ii < s.h() && jj >= 0 && jj < s.w()) acc += w.at(o, c, p, q) * x.at(n, c, ii, jj);
              }
          y.at(n, o, i, j) = acc;
        }
  return y;
}

// Eval-mode BN applied to y in place.
void naive_bn(HostTensor& y, const reparam::BnStats& bn) {
  const Shape& s = y.shape();
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j)
          y.at(n, c, i, j) = bn.gamma[c] * (y.at(n, c, i, j) - bn.mean[c]) / std::sqrt(bn.var[c] + bn.eps) + bn.beta[c];
}

reparam::BnStats random_bn(int64_t c, Rng& rng) {
  return reparam::BnStats{random_tensor<double>(Shape{c}, rng, 0.5, 2.0), random_tensor<double>(Shape{c}, rng),
                          random_tensor<double>(Shape{c}, rng), random_tensor<double>(Shape{c}, rng, 0.1, 2.0),
                          1e-5};
}

HostTensor vec(std::initializer_list<double> v) {
  HostTensor t(Shape{static_cast<int64_t>(v.size())});
  int64_t i = 0;
  for (double x : v) t[i++] = x;
  return t;
}

}  // namespace

TEST_CASE("pad_to_3x3 puts 1x3, 3x1, 1x1 kernels in the centre", "[reparam]") {
  HostTensor k13(Shape{1, 1, 1, 3});
  k13[0] = 1, k13[1] = 2, k13[2] = 3;
  HostTensor p = reparam::pad_to_3x3(k13);
  REQUIRE(p.shape() == Shape({1, 1, 3, 3}));
  const double want13[9] = {0, 0, 0, 1, 2, 3, 0, 0, 0};
  for (int i = 0; i < 9; ++i) REQUIRE(p[i] == want13[i]);

  HostTensor k31(Shape{1, 1, 3, 1});
  k31[0] = 4, k31[1] = 5, k31[2] = 6;
  p = reparam::pad_to_3x3(k31);
  const double want31[9] = {0, 4, 0, 0, 5, 0, 0, 6, 0};
  for (int i = 0; i < 9; ++i) REQUIRE(p[i] == want31[i]);

  HostTensor k11(Shape{2, 1, 1, 1});
  k11[0] = 7, k11[1] = -8;
  p = reparam::pad_to_3x3(k11);
  REQUIRE(p.shape() == Shape({2, 1, 3, 3}));
  for (int i = 0; i < 18; ++i) REQUIRE(p[i] == (i == 4 ? 7.0 : i == 13 ? -8.0 : 0.0));

  REQUIRE_THROWS_WITH(reparam::pad_to_3x3(HostTensor(Shape{1, 1, 2, 3})), Catch::Contains("pad_to_3x3") &&
                                                                               Catch::Contains("[1, 1, 2, 3]"));
}

TEST_CASE("a padded kernel convolves like the original one", "[reparam]") {
  Rng rng(fresh_seed());
  const auto x = random_tensor<double>(Shape{2, 3, 5, 6}, rng);
  for (auto k : kConvBranches) {
    const auto w = random_tensor<double>(Shape{4, 3, k.kh, k.kw}, rng);
    srmds::test::require_close(naive_conv(x, reparam::pad_to_3x3(w), nullptr), naive_conv(x, w, nullptr), 1e-14,
                               1e-14, k.name);
  }
}

TEST_CASE("identity_kernel is 1 at [i, i, 1, 1] and reproduces its input", "[reparam]") {
  const HostTensor id = reparam::identity_kernel(3);
  REQUIRE(id.shape() == Shape({3, 3, 3, 3}));
  double total = 0;
  for (int64_t i = 0; i < id.numel(); ++i) total += id[i];
  REQUIRE(total == 3.0);
  for (int c = 0; c < 3; ++c) REQUIRE(id.at(c, c, 1, 1) == 1.0);
  Rng rng(fresh_seed());
  const auto x = random_tensor<double>(Shape{2, 3, 4, 5}, rng);
  const HostTensor y = naive_conv(x, id, nullptr);
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(y[i] == x[i]);
  REQUIRE_THROWS_AS(reparam::identity_kernel(0), Error);
}

TEST_CASE("fold_bn by hand and against conv then BN", "[reparam]") {
  // One output channel: gamma 2, beta 0.5, mean 1, var 3, eps 1  ->  t = 2 / sqrt(4) = 1.
  // Two output channels to see the per-channel scale: second gamma 3, var 8, eps 1 -> t = 1.
  reparam::BnStats bn{vec({2.0, 3.0}), vec({0.5, -1.0}), vec({1.0, 2.0}), vec({3.0, 8.0}), 1.0};
  HostTensor k(Shape{2, 1, 1, 1});
  k[0] = 5, k[1] = -2;
  reparam::ConvBias f = reparam::fold_bn(k, bn);
  REQUIRE(f.weight[0] == 5.0);
  REQUIRE(f.weight[1] == -2.0);
  REQUIRE(f.bias[0] == -0.5);  // 0.5 - 1 * 1
  REQUIRE(f.bias[1] == -3.0);  // -1 - 2 * 1
  bn.var = vec({15.0, 0.0});   // t = 2 / 4 = 0.5, 3 / 1 = 3
  f = reparam::fold_bn(k, bn);
  REQUIRE(f.weight[0] == 2.5);
  REQUIRE(f.weight[1] == -6.0);
  REQUIRE(f.bias[0] == 0.0);   // 0.5 - 1 * 0.5
  REQUIRE(f.bias[1] == -7.0);  // -1 - 2 * 3

  Rng rng(fresh_seed());
  const auto x = random_tensor<double>(Shape{2, 3, 4, 7}, rng);
  const auto w = random_tensor<double>(Shape{5, 3, 3, 3}, rng);
  const auto stats = random_bn(5, rng);
  HostTensor ref = naive_conv(x, w, nullptr);
  naive_bn(ref, stats);
  const reparam::ConvBias g = reparam::fold_bn(w, stats);
  srmds::test::require_close(naive_conv(x, g.weight, &g.bias), ref, 1e-13, 1e-13, "fold_bn");

  REQUIRE_THROWS_WITH(reparam::fold_bn(w, random_bn(4, rng)), Catch::Contains("fold_bn") && Catch::Contains("[4]"));
  auto bad = random_bn(5, rng);
  bad.var[2] = -1.0;
  REQUIRE_THROWS_WITH(reparam::fold_bn(w, bad), Catch::Contains("channel 2"));
}

TEST_CASE("fuse_inner and fuse_external by hand (1 channel)", "[reparam]") {
  // 1 -> 1 channel, eps 0 for exact numbers. Branch 3x3 all ones with t = 2 (gamma 2, var 1),
  // 1x1 = 3 with t = 0.5, identity with t = 8 / sqrt(4) = 4.
  auto bn = [](double g, double b, double m, double v) {
    return reparam::BnStats{vec({g}), vec({b}), vec({m}), vec({v}), 0.0};
  };
  HostTensor k33(Shape{1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) k33[i] = 1.0;
  HostTensor k11(Shape{1, 1, 1, 1});
  k11[0] = 3.0;
  const auto bn33 = bn(2, 1, 0.5, 1), bn11 = bn(0.5, -1, 2, 1), bnid = bn(8, 0.25, 1, 4);
  const reparam::ConvBias f = reparam::fuse_inner({{&k33, &bn33}, {&k11, &bn11}, {nullptr, &bnid}}, 1, 1);
  // centre: 2 * 1 + 0.5 * 3 + 4 * 1 = 7.5; elsewhere 2. bias: (1 - 0.5 * 2) + (-1 - 2 * 0.5) + (0.25 - 1 * 4)
  for (int i = 0; i < 9; ++i) REQUIRE(f.weight[i] == (i == 4 ? 7.5 : 2.0));
  REQUIRE(f.bias[0] == -5.75);

  // External: (k33 + pad(k11) + id) then one BN with t = 2, bias 1 - 0.5 * 2 = 0.
  const reparam::ConvBias e = reparam::fuse_external({&k33, &k11}, true, bn33, 1, 1);
  for (int i = 0; i < 9; ++i) REQUIRE(e.weight[i] == (i == 4 ? 10.0 : 2.0));
  REQUIRE(e.bias[0] == 0.0);

  HostTensor k21(Shape{1, 2, 3, 3});
  REQUIRE_THROWS_WITH(reparam::fuse_inner({{nullptr, &bnid}}, 2, 1), Catch::Contains("identity"));
  REQUIRE_THROWS_WITH(reparam::fuse_external({&k21}, false, bn33, 1, 1), Catch::Contains("[1, 2, 3, 3]"));
  REQUIRE_THROWS_AS(reparam::fuse_inner({}, 1, 1), Error);
}

TEST_CASE("fused block equals the training-form block in eval mode to 1e-12 (double)", "[reparam][block]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (BnPlacement place : {BnPlacement::Inner, BnPlacement::External}) {
    for (Attention att : {Attention::Se, Attention::Sge, Attention::Cbam, Attention::Psa, Attention::None}) {
      for (auto io : {std::pair<int, int>{5, 5}, std::pair<int, int>{3, 6}}) {
        NetConfig cfg;
        cfg.bn = place;
        cfg.attention = att;
        INFO("bn " << (place == BnPlacement::Inner ? "inner" : "external") << " attention " << attention_name(att)
                   << " " << io.first << " -> " << io.second);
        SrfvBlock<double, Cpu> block(ctx, cfg, io.first, io.second, rng);
        auto st = block.state("");
        srmds::test::randomize_bn_and_biases(st, rng);
        const auto x = random_tensor<double>(Shape{2, io.first, 7, 5}, rng, -2, 2);
        Tensor<double> y(Shape{2, io.second, 7, 5}), yf(y.shape());
        Scratch<double, Cpu> scratch;
        block.forward_eval(ctx, x, y, scratch);
        FusedBlock<double, Cpu> fused = block.fused(ctx);
        fused.forward_eval(ctx, x, yf, scratch);
        double scale = 0;
        for (int64_t i = 0; i < y.numel(); ++i) scale = std::max(scale, std::abs(y[i]));
        REQUIRE(scale > 0.1);
        srmds::test::require_close(yf, y, 1e-12, 1e-12 * scale, "fused vs training form");
      }
    }
  }
}
