// Ensembles (infer/ensemble.hpp): the ensemble's probability is the members' mean (checked against
// each member's own prediction, with and without flip TTA), one member is that member exactly,
// evaluate() of an ensemble counts the mask mean >= 1/2 per slice (checked against a naive count)
// and feeds the mean to the Inf-Net metrics, members that read their input differently are refused
// by name, and a member with non-finite logits is named by its position.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "srmds/data/phantom.hpp"
#include "srmds/infer/ensemble.hpp"
#include "srmds/infer/evaluate.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

using namespace srmds;
using Catch::Matchers::Contains;

namespace {

NetConfig tiny(int h, int w) {
  NetConfig c;
  c.base = 4;
  c.input_size = {h, w};
  return c;
}

std::vector<SrmdsNet<float, Cpu>> members(Context<Cpu>& ctx, const NetConfig& c, uint64_t seed, int n) {
  std::vector<SrmdsNet<float, Cpu>> nets;
  for (int m = 0; m < n; ++m) nets.emplace_back(ctx, c, NetForm::Train, seed + static_cast<uint64_t>(m));
  return nets;
}

}  // namespace

TEST_CASE("ensemble: the probability is the members' mean, with and without TTA", "[infer][ensemble]") {
  const uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  Context<Cpu> ctx;
  const Tensor<float, Cpu> x = test::random_tensor<float>(Shape{3, 1, 16, 32}, rng, 0.0, 1.0);
  std::vector<SrmdsNet<float, Cpu>> nets = members(ctx, tiny(16, 32), seed, 3);
  for (const bool tta : {false, true}) {
    INFO("tta " << tta);
    std::vector<Tensor<float, Cpu>> single;
    for (SrmdsNet<float, Cpu>& net : nets) single.push_back(predict_probability(ctx, net, x, 2, tta));
    const Tensor<float, Cpu> p = predict_probability(ctx, nets, x, 2, tta);
    REQUIRE(p.shape() == single[0].shape());
    bool members_differ = false;
    for (int64_t i = 0; i < p.numel(); ++i) {
      // the same sums in the same order: exact
      REQUIRE(p[i] == (single[0][i] + single[1][i] + single[2][i]) / 3.0f);
      members_differ = members_differ || single[0][i] != single[1][i];
    }
    REQUIRE(members_differ);  // three different networks, or the mean would prove nothing

    std::vector<SrmdsNet<float, Cpu>> one;
    one.push_back(std::move(nets[0]));
    const Tensor<float, Cpu> p1 = predict_probability(ctx, one, x, 2, tta);
    for (int64_t i = 0; i < p1.numel(); ++i) REQUIRE(p1[i] == single[0][i]);
    nets[0] = std::move(one[0]);
  }
}

TEST_CASE("ensemble: evaluate counts the mean probability's mask and scores it", "[infer][ensemble][metrics]") {
  const uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  test::TempDir dir("ensemble");
  std::vector<std::string> images, masks;
  for (const PhantomFiles& f : write_phantom_dataset(dir.file("data"), 3, 32, seed, 2)) {
    images.push_back(f.image);
    masks.push_back(f.mask);
  }
  Context<Cpu> ctx;
  const NetConfig cfg = tiny(32, 32);
  const SliceDataset data(images, masks, SliceDataOptions::from_config(cfg));
  std::vector<SrmdsNet<float, Cpu>> nets = members(ctx, cfg, seed, 2);
  for (const bool tta : {false, true}) {
    INFO("tta " << tta);
    InfNetMetrics literature, naive_literature;
    const MetricsAccumulator acc = evaluate(ctx, nets, data, 4, &literature, tta);
    const SliceBatch all = data.batch(0, static_cast<int>(data.size()));
    const Tensor<float, Cpu> p = predict_probability(ctx, nets, all.images, 4, tta);
    const int64_t hw = p.shape().h() * p.shape().w();
    REQUIRE(acc.images() == data.size());
    for (int64_t s = 0; s < data.size(); ++s) {
      Confusion c;
      for (int64_t q = 0; q < hw; ++q) {
        const bool pred = p[s * hw + q] >= 0.5f, truth = all.masks[s * hw + q] != 0.0f;
        (pred ? (truth ? c.tp : c.fp) : (truth ? c.fn : c.tn)) += 1;
      }
      const Confusion& got = acc.per_image()[static_cast<size_t>(s)];
      REQUIRE(got.tp == c.tp);
      REQUIRE(got.fp == c.fp);
      REQUIRE(got.tn == c.tn);
      REQUIRE(got.fn == c.fn);
    }
    naive_literature.add_slices(p.data(), all.masks.data(), p.shape().n(), hw);
    REQUIRE(literature.values().dice_at_half == naive_literature.values().dice_at_half);
    REQUIRE(literature.values().mean_dice == naive_literature.values().mean_dice);
  }
}

TEST_CASE("ensemble: members must read their input the same way", "[infer][ensemble][errors]") {
  Context<Cpu> ctx;
  std::vector<SrmdsNet<float, Cpu>> nets = members(ctx, tiny(32, 32), 1, 1);
  const std::vector<std::string> names = {"a.safetensors", "b.safetensors"};
  SECTION("input size") {
    nets.emplace_back(ctx, tiny(32, 48), NetForm::Train, 2);
    REQUIRE_THROWS_WITH(check_same_inputs(nets, names),
                        Contains("'b.safetensors' differs from 'a.safetensors' in its input size"));
  }
  SECTION("window") {
    NetConfig c = tiny(32, 32);
    c.window = std::nullopt;
    nets.emplace_back(ctx, c, NetForm::Train, 2);
    REQUIRE_THROWS_WITH(check_same_inputs(nets, names), Contains("'b.safetensors'") && Contains("HU window"));
  }
  SECTION("labels") {
    NetConfig c = tiny(32, 32);
    c.lesion_labels = {1};
    nets.emplace_back(ctx, c, NetForm::Train, 2);
    REQUIRE_THROWS_WITH(check_same_inputs(nets, names), Contains("lesion labels"));
  }
  SECTION("the same input, other widths: accepted") {
    NetConfig c = tiny(32, 32);
    c.base = 8;
    nets.emplace_back(ctx, c, NetForm::Train, 2);
    REQUIRE_NOTHROW(check_same_inputs(nets, names));
  }
}

TEST_CASE("ensemble: a member with non-finite logits is named", "[infer][ensemble][finite]") {
  Context<Cpu> ctx;
  NetConfig c = tiny(32, 32);
  c.window = std::nullopt;
  c.attention = Attention::None;  // as test_finite_logits: SE gates could keep huge activations finite
  std::vector<SrmdsNet<float, Cpu>> nets = members(ctx, c, 5, 2);
  for (const auto& nt : nets[1].state())
    if (nt.name.size() > 11 && nt.name.compare(nt.name.size() - 11, 11, "conv.weight") == 0)
      for (int64_t i = 0; i < nt.value->numel(); ++i) (*nt.value)[i] *= 1e12f;
  Rng rng(7);
  const Tensor<float, Cpu> x = test::random_tensor<float>(Shape{2, 1, 32, 32}, rng, 0.0, 1.0);
  REQUIRE_THROWS_AS(predict_probability(ctx, nets, x, 2), NonFiniteLogits);
  REQUIRE_THROWS_WITH(predict_probability(ctx, nets, x, 2), Contains("model 2 of the ensemble of 2"));
}
