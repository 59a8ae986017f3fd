// SRFV block: fused == training form in eval mode (float32, 1e-5 relative) for every option
// combination; finite-difference checks in double of the training-mode backward (input and every
// parameter); write modes; strided channel views; state names; bad configurations.
#include "support/testing.hpp"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "support/block_testing.hpp"
#include "srmds/blocks/srfv_block.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

namespace {

struct Combo {
  std::vector<std::string> branches;
  BnPlacement bn;
  Attention att;
  int cin, cout;
  std::string str() const {
    std::string s = "branches {";
    for (const auto& b : branches) s += b + " ";
    s += "} bn ";
    s += bn == BnPlacement::Inner ? "inner" : "external";
    s += std::string(" ") + attention_name(att) + " ";
    return s + std::to_string(cin) + "->" + std::to_string(cout);
  }
  NetConfig config() const {
    NetConfig c;
    c.branches = branches;
    c.bn = bn;
    c.attention = att;
    return c;
  }
};

// Every combination: branch subsets with and without id, bn inner/external, every attention, cin == cout
// and not (a subset of only "id" exists only where cin == cout).
std::vector<Combo> all_combos() {
  const std::vector<std::vector<std::string>> subsets = {
      {"3x3", "1x3", "3x1", "1x1", "id"}, {"3x3", "1x3", "3x1", "1x1"}, {"3x3"}, {"3x3", "id"},
      {"1x3", "3x1"},                     {"1x1", "id"},                {"1x3", "1x1", "id"}, {"id"}};
  std::vector<Combo> out;
  for (const auto& s : subsets)
    for (BnPlacement bn : {BnPlacement::Inner, BnPlacement::External})
      for (Attention att : {Attention::Se, Attention::Sge, Attention::Cbam, Attention::Psa, Attention::None})
        for (auto io : {std::pair<int, int>{4, 4}, std::pair<int, int>{3, 5}}) {
          if (s.size() == 1 && s[0] == "id" && io.first != io.second) continue;
          out.push_back({s, bn, att, io.first, io.second});
        }
  return out;
}

// Parameter tensors of a block's attention (SPEC §2).
int attention_params(Attention a) {
  switch (a) {
    case Attention::Se: return 4;    // fc1, fc2 weight and bias
    case Attention::Sge: return 2;   // weight, bias
    case Attention::Cbam: return 4;  // fc1, fc2, spatial weight and bias
    case Attention::Psa: return 12;  // five 1x1 convs with bias, LayerNorm
    case Attention::None: return 0;
  }
  return -1;
}

double max_abs(const Tensor<double, Cpu>& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t[i]));
  return m;
}

}  // namespace

TEST_CASE("fused block == training form in eval mode, float32, every option combination", "[block][fusion]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Combo& combo : all_combos()) {
    INFO(combo.str());
    SrfvBlock<float, Cpu> block(ctx, combo.config(), combo.cin, combo.cout, rng);
    auto st = block.state("");
    srmds::test::randomize_bn_and_biases(st, rng);
    // A training step first, so that running statistics also come from the real update.
    const auto x = random_tensor<float>(Shape{2, combo.cin, 6, 9}, rng, -2, 2);
    Tensor<float> y(Shape{2, combo.cout, 6, 9}), yf(y.shape());
    Scratch<float, Cpu> scratch;
    block.forward_train(ctx, x, y, scratch);
    block.forward_eval(ctx, x, y, scratch);
    FusedBlock<float, Cpu> fused = block.fused(ctx);
    REQUIRE(fused.cin() == combo.cin);
    REQUIRE(fused.cout() == combo.cout);
    fused.forward_eval(ctx, x, yf, scratch);
    double scale = 0;
    for (int64_t i = 0; i < y.numel(); ++i) scale = std::max(scale, std::abs(static_cast<double>(y[i])));
    REQUIRE(scale > 0.05);
    srmds::test::require_close(yf, y, 1e-5, 1e-5 * scale, "fused vs training form");
  }
}

TEST_CASE("training-form backward matches finite differences, every option combination", "[block][gradient]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Combo& combo : all_combos()) {
    INFO(combo.str());
    SrfvBlock<double, Cpu> block(ctx, combo.config(), combo.cin, combo.cout, rng);
    auto st = block.state("");
    srmds::test::randomize_bn_and_biases(st, rng);
    auto x = random_tensor<double>(Shape{2, combo.cin, 4, 5}, rng, -2, 2);
    const auto w = random_tensor<double>(Shape{2, combo.cout, 4, 5}, rng);
    Tensor<double> y(w.shape()), dx(x.shape());
    Scratch<double, Cpu> scratch;
    block.forward_train(ctx, x, y, scratch);
    REQUIRE(max_abs(y) > 0.05);
    block.backward(ctx, w, &dx, WriteMode::Overwrite, WriteMode::Overwrite, scratch);
    auto loss = [&] {
      Tensor<double> yy(w.shape());
      block.forward_train(ctx, x, yy, scratch);
      return srmds::test::weighted_sum(yy, w);
    };
    srmds::test::check_gradient_kinks(x, dx, loss, "dx", rng, 24);
    int params = 0;
    for (auto& e : st) {
      if (!e.is_parameter()) continue;
      ++params;
      const auto analytic = srmds::test::contiguous(*e.grad);
      srmds::test::check_gradient_kinks(*e.value, analytic, loss, e.name, rng, 12);
    }
    const size_t conv_branches = combo.branches.size() - (combo.config().has_branch("id") ? 1 : 0);
    const bool has_bn_id = combo.bn == BnPlacement::Inner && combo.cin == combo.cout && combo.config().has_branch("id");
    const int expected = static_cast<int>(conv_branches) * (combo.bn == BnPlacement::Inner ? 3 : 1) +
                         (has_bn_id ? 2 : 0) + (combo.bn == BnPlacement::External ? 2 : 0) +
                         attention_params(combo.att);
    REQUIRE(params == expected);
  }
}

TEST_CASE("block write modes: Accumulate adds, Overwrite replaces", "[block]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (BnPlacement bn : {BnPlacement::Inner, BnPlacement::External})
  for (Attention att : {Attention::Se, Attention::Sge, Attention::Cbam, Attention::Psa}) {
    INFO(attention_name(att));
    NetConfig cfg;
    cfg.bn = bn;
    cfg.attention = att;
    SrfvBlock<double, Cpu> block(ctx, cfg, 4, 4, rng);
    auto st = block.state("");
    const auto x = random_tensor<double>(Shape{2, 4, 4, 6}, rng);
    const auto dy = random_tensor<double>(Shape{2, 4, 4, 6}, rng);
    Tensor<double> y(dy.shape()), dx(x.shape());
    Scratch<double, Cpu> scratch;
    block.forward_train(ctx, x, y, scratch);
    block.backward(ctx, dy, &dx, WriteMode::Overwrite, WriteMode::Overwrite, scratch);
    const auto dx1 = srmds::test::contiguous(dx);
    std::vector<Tensor<double>> g1;
    for (auto& e : st)
      if (e.is_parameter()) g1.push_back(srmds::test::contiguous(*e.grad));
    block.backward(ctx, dy, &dx, WriteMode::Accumulate, WriteMode::Accumulate, scratch);
    for (int64_t i = 0; i < dx.numel(); ++i) REQUIRE(dx[i] == Approx(2 * dx1[i]).epsilon(1e-12).margin(1e-15));
    size_t k = 0;
    for (auto& e : st) {
      if (!e.is_parameter()) continue;
      for (int64_t i = 0; i < e.grad->numel(); ++i)
        REQUIRE((*e.grad)[i] == Approx(2 * g1[k][i]).epsilon(1e-12).margin(1e-15));
      ++k;
    }
    // Overwrite again gives the first values back; without dx the parameters still get gradients.
    block.backward(ctx, dy, nullptr, WriteMode::Overwrite, WriteMode::Overwrite, scratch);
    k = 0;
    for (auto& e : st) {
      if (!e.is_parameter()) continue;
      for (int64_t i = 0; i < e.grad->numel(); ++i) REQUIRE((*e.grad)[i] == Approx(g1[k][i]).epsilon(1e-12).margin(1e-15));
      ++k;
    }
  }
}

TEST_CASE("block input and output may be strided channel views", "[block]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  NetConfig cfg;
  SrfvBlock<double, Cpu> block(ctx, cfg, 3, 5, rng);
  const auto big_x = random_tensor<double>(Shape{3, 7, 4, 6}, rng);
  const Tensor<double> xv = big_x.channels(2, 3);
  const auto x = srmds::test::contiguous(xv);
  REQUIRE(x.is_contiguous());
  const auto dy = random_tensor<double>(Shape{3, 5, 4, 6}, rng);
  Scratch<double, Cpu> scratch;

  Tensor<double> y(dy.shape()), dx(x.shape());
  block.forward_train(ctx, x, y, scratch);
  block.backward(ctx, dy, &dx, WriteMode::Overwrite, WriteMode::Overwrite, scratch);

  Tensor<double> big_y(Shape{3, 9, 4, 6}), big_dx(Shape{3, 7, 4, 6});
  Tensor<double> yv = big_y.channels(4, 5), dxv = big_dx.channels(2, 3);
  block.forward_train(ctx, xv, yv, scratch);
  block.backward(ctx, dy, &dxv, WriteMode::Overwrite, WriteMode::Overwrite, scratch);
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 9; ++c)
      for (int h = 0; h < 4; ++h)
        for (int w = 0; w < 6; ++w) {
          if (c >= 4) REQUIRE(big_y.at(n, c, h, w) == Approx(y.at(n, c - 4, h, w)).epsilon(1e-12).margin(1e-14));
          else REQUIRE(big_y.at(n, c, h, w) == 0.0);
          if (c < 7) {
            if (c >= 2 && c < 5) REQUIRE(big_dx.at(n, c, h, w) == Approx(dx.at(n, c - 2, h, w)).epsilon(1e-12).margin(1e-14));
            else REQUIRE(big_dx.at(n, c, h, w) == 0.0);
          }
        }
  // Eval mode through views as well.
  block.forward_eval(ctx, x, y, scratch);
  block.forward_eval(ctx, xv, yv, scratch);
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 5; ++c)
      for (int h = 0; h < 4; ++h)
        for (int w = 0; w < 6; ++w) REQUIRE(big_y.at(n, c + 4, h, w) == Approx(y.at(n, c, h, w)).epsilon(1e-12).margin(1e-14));
}

TEST_CASE("block running statistics follow PyTorch's update", "[block]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  NetConfig cfg;
  cfg.branches = {"1x1"};
  cfg.attention = Attention::None;
  SrfvBlock<double, Cpu> block(ctx, cfg, 2, 3, rng);
  auto st = block.state("");
  REQUIRE(st.size() == 5);
  REQUIRE(st[0].name == "br.1x1.conv.weight");
  const auto x = random_tensor<double>(Shape{2, 2, 3, 4}, rng);
  Tensor<double> y(Shape{2, 3, 3, 4});
  Scratch<double, Cpu> scratch;
  block.forward_train(ctx, x, y, scratch);
  const Tensor<double>& wt = *st[0].value;
  for (int o = 0; o < 3; ++o) {
    double s = 0, s2 = 0;
    for (int n = 0; n < 2; ++n)
      for (int h = 0; h < 3; ++h)
        for (int w = 0; w < 4; ++w) {
          const double v = wt.at(o, 0, 0, 0) * x.at(n, 0, h, w) + wt.at(o, 1, 0, 0) * x.at(n, 1, h, w);
          s += v;
          s2 += v * v;
        }
    const double mean = s / 24, var_unbiased = (s2 - 24 * mean * mean) / 23;
    REQUIRE((*st[3].value)[o] == Approx(0.1 * mean).epsilon(1e-10).margin(1e-14));
    REQUIRE((*st[4].value)[o] == Approx(0.9 + 0.1 * var_unbiased).epsilon(1e-10));
  }
}

TEST_CASE("block state names follow SPEC §6", "[block][state]") {
  Context<Cpu> ctx;
  Rng rng(1);
  auto names = [&](const NetConfig& cfg, int cin, int cout) {
    SrfvBlock<float, Cpu> b(ctx, cfg, cin, cout, rng);
    std::vector<std::string> out;
    for (auto& e : b.state("enc0.b1.")) out.push_back(e.name + (e.is_parameter() ? "" : " (buffer)"));
    return out;
  };
  NetConfig cfg;
  const std::vector<std::string> inner = {
      "enc0.b1.br.3x3.conv.weight",  "enc0.b1.br.3x3.bn.weight",       "enc0.b1.br.3x3.bn.bias",
      "enc0.b1.br.3x3.bn.running_mean (buffer)", "enc0.b1.br.3x3.bn.running_var (buffer)",
      "enc0.b1.br.1x3.conv.weight",  "enc0.b1.br.1x3.bn.weight",       "enc0.b1.br.1x3.bn.bias",
      "enc0.b1.br.1x3.bn.running_mean (buffer)", "enc0.b1.br.1x3.bn.running_var (buffer)",
      "enc0.b1.br.3x1.conv.weight",  "enc0.b1.br.3x1.bn.weight",       "enc0.b1.br.3x1.bn.bias",
      "enc0.b1.br.3x1.bn.running_mean (buffer)", "enc0.b1.br.3x1.bn.running_var (buffer)",
      "enc0.b1.br.1x1.conv.weight",  "enc0.b1.br.1x1.bn.weight",       "enc0.b1.br.1x1.bn.bias",
      "enc0.b1.br.1x1.bn.running_mean (buffer)", "enc0.b1.br.1x1.bn.running_var (buffer)",
      "enc0.b1.br.id.weight",        "enc0.b1.br.id.bias",             "enc0.b1.br.id.running_mean (buffer)",
      "enc0.b1.br.id.running_var (buffer)",
      "enc0.b1.se.fc1.weight",       "enc0.b1.se.fc1.bias",            "enc0.b1.se.fc2.weight",
      "enc0.b1.se.fc2.bias"};
  REQUIRE(names(cfg, 8, 8) == inner);
  cfg.bn = BnPlacement::External;
  cfg.attention = Attention::None;
  cfg.branches = {"1x1", "3x3", "id"};
  const std::vector<std::string> external = {"enc0.b1.br.1x1.conv.weight", "enc0.b1.br.3x3.conv.weight",
                                             "enc0.b1.bn.weight", "enc0.b1.bn.bias",
                                             "enc0.b1.bn.running_mean (buffer)", "enc0.b1.bn.running_var (buffer)"};
  REQUIRE(names(cfg, 8, 8) == external);

  // Shapes of SE (h = max(cout / 16, 4)) and of the fused form.
  NetConfig def;
  SrfvBlock<float, Cpu> b(ctx, def, 3, 80, rng);
  auto st = b.state("x.");
  for (auto& e : st) {
    if (e.name == "x.se.fc1.weight") REQUIRE(e.value->shape() == Shape({5, 80, 1, 1}));
    if (e.name == "x.se.fc2.weight") REQUIRE(e.value->shape() == Shape({80, 5, 1, 1}));
    if (e.name == "x.br.1x3.conv.weight") REQUIRE(e.value->shape() == Shape({80, 3, 1, 3}));
    if (e.name == "x.br.3x1.conv.weight") REQUIRE(e.value->shape() == Shape({80, 3, 3, 1}));
    REQUIRE(e.name.find("br.id") == std::string::npos);  // cin != cout: no identity
  }
  StateList<float, Cpu> fs;
  auto fb = b.fused(ctx);
  fb.append_state("x.", fs);
  REQUIRE(fs.size() == 6);
  REQUIRE(fs[0].name == "x.fused.weight");
  REQUIRE(fs[0].value->shape() == Shape({80, 3, 3, 3}));
  REQUIRE(fs[1].name == "x.fused.bias");
  REQUIRE(fs[1].value->shape() == Shape({80}));
  REQUIRE(fs[2].name == "x.se.fc1.weight");
}

TEST_CASE("attention state names, shapes and initial values follow SPEC §2, in both forms", "[block][state]") {
  Context<Cpu> ctx;
  Rng rng(3);
  const int64_t cout = 40;  // h = max(40 / 16, 4) = 4, G = 8, C / 2 = 20
  struct Expect {
    Attention att;
    std::vector<std::pair<std::string, Shape>> tensors;
  };
  const std::vector<Expect> expect = {
      {Attention::Sge, {{"att.weight", Shape{1, 8, 1, 1}}, {"att.bias", Shape{1, 8, 1, 1}}}},
      {Attention::Cbam,
       {{"att.fc1.weight", Shape{4, 40, 1, 1}},
        {"att.fc2.weight", Shape{40, 4, 1, 1}},
        {"att.spatial.weight", Shape{1, 2, 7, 7}},
        {"att.spatial.bias", Shape{1}}}},
      {Attention::Psa,
       {{"att.ch_wv.weight", Shape{20, 40, 1, 1}}, {"att.ch_wv.bias", Shape{20}},
        {"att.ch_wq.weight", Shape{1, 40, 1, 1}},  {"att.ch_wq.bias", Shape{1}},
        {"att.ch_wz.weight", Shape{40, 20, 1, 1}}, {"att.ch_wz.bias", Shape{40}},
        {"att.ch_ln.weight", Shape{40}},           {"att.ch_ln.bias", Shape{40}},
        {"att.sp_wv.weight", Shape{20, 40, 1, 1}}, {"att.sp_wv.bias", Shape{20}},
        {"att.sp_wq.weight", Shape{20, 40, 1, 1}}, {"att.sp_wq.bias", Shape{20}}}},
  };
  for (const Expect& e : expect) {
    INFO(attention_name(e.att));
    NetConfig cfg;
    cfg.attention = e.att;
    cfg.branches = {"3x3"};
    SrfvBlock<float, Cpu> b(ctx, cfg, 6, cout, rng);
    FusedBlock<float, Cpu> f = b.fused(ctx);
    StateList<float, Cpu> fs;
    f.append_state("enc1.b0.", fs);
    for (const auto& [st, first] : {std::pair<StateList<float, Cpu>, size_t>{b.state("enc1.b0."), 5}, {std::move(fs), 2}}) {
      REQUIRE(st.size() == first + e.tensors.size());  // br.3x3.conv.weight and its BN (5 entries) or fused.{weight,bias}
      for (size_t i = 0; i < e.tensors.size(); ++i) {
        const auto& nt = st[first + i];
        REQUIRE(nt.name == "enc1.b0." + e.tensors[i].first);
        REQUIRE(nt.value->shape() == e.tensors[i].second);
        const Tensor<float>& v = *nt.value;
        const std::string& n = e.tensors[i].first;
        // SPEC §5 / the task: SGE weight 0 and bias 1, LayerNorm 1 and 0, convolutions PyTorch-default.
        const std::string wname = srmds::test::ends_with(n, ".bias") ? n.substr(0, n.size() - 4) + "weight" : n;
        double fan_in = 0;
        for (const auto& t : e.tensors)
          if (t.first == wname && t.second.rank() == 4) fan_in = static_cast<double>(t.second[1] * t.second[2] * t.second[3]);
        for (int64_t k = 0; k < v.numel(); ++k) {
          if (n == "att.weight") REQUIRE(v[k] == 0.0f);
          else if (n == "att.bias") REQUIRE(v[k] == 1.0f);
          else if (n == "att.ch_ln.weight") REQUIRE(v[k] == 1.0f);
          else if (n == "att.ch_ln.bias") REQUIRE(v[k] == 0.0f);
          else {
            REQUIRE(fan_in > 0);
            REQUIRE(std::abs(v[k]) <= 1.0 / std::sqrt(fan_in) + 1e-7);
          }
        }
      }
    }
    REQUIRE(b.attention() == e.att);
    REQUIRE(f.attention() == e.att);
  }
}

TEST_CASE("block rejects bad configurations and shapes", "[block][errors]") {
  Context<Cpu> ctx;
  Rng rng(1);
  NetConfig cfg;
  cfg.branches = {"id"};
  REQUIRE_THROWS_WITH((SrfvBlock<float, Cpu>(ctx, cfg, 3, 4, rng)), Catch::Contains("no branch"));
  cfg.branches = {"3x3", "5x5"};
  REQUIRE_THROWS_WITH((SrfvBlock<float, Cpu>(ctx, cfg, 3, 4, rng)), Catch::Contains("5x5"));
  cfg.branches = {"3x3", "1x1", "3x3"};
  REQUIRE_THROWS_WITH((SrfvBlock<float, Cpu>(ctx, cfg, 3, 4, rng)), Catch::Contains("twice"));
  NetConfig def;
  SrfvBlock<float, Cpu> b(ctx, def, 3, 4, rng);
  Scratch<float, Cpu> scratch;
  Tensor<float> x(Shape{2, 2, 4, 4}), y(Shape{2, 4, 4, 4});
  REQUIRE_THROWS_WITH(b.forward_train(ctx, x, y, scratch),
                      Catch::Contains("SrfvBlock::forward_train") && Catch::Contains("[2, 2, 4, 4]"));
  Tensor<float> dy(Shape{2, 4, 4, 4});
  REQUIRE_THROWS_WITH(b.backward(ctx, dy, nullptr, WriteMode::Overwrite, WriteMode::Overwrite, scratch),
                      Catch::Contains("forward_train first"));
}
