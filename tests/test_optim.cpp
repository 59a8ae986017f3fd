// Adam / AdamW against a naive reimplementation of PyTorch's update rule, the optimizer state and
// its names, zero_grad, the warm-up + cosine learning-rate schedule (SPEC §5), and the moving
// average of the weights against a naive loop.
#include "support/testing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "srmds/optim/adam.hpp"
#include "srmds/optim/ema.hpp"
#include "srmds/optim/schedule.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

namespace {

// torch.optim.Adam / AdamW (single tensor, no amsgrad), written as in PyTorch, in double:
//   AdamW: p *= 1 - lr wd;  Adam: g += wd p
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g g
//   step_size = lr / (1 - b1^t);  denom = sqrt(v) / sqrt(1 - b2^t) + eps;  p -= step_size m / denom
struct TorchAdam {
  AdamOptions o;
  std::vector<double> m, v;
  int t = 0;
  void step(std::vector<double>& p, std::vector<double> g, double lr) {
    if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
    ++t;
    const double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
    for (size_t i = 0; i < p.size(); ++i) {
      if (o.weight_decay != 0) {
        if (o.decoupled)
          p[i] *= 1 - lr * o.weight_decay;
        else
          g[i] += o.weight_decay * p[i];
      }
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
      const double denom = std::sqrt(v[i]) / std::sqrt(bc2) + o.eps;
      p[i] -= lr / bc1 * m[i] / denom;
    }
  }
};

template <class T>
std::vector<double> values(const Tensor<T>& t) {
  std::vector<double> r(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) r[static_cast<size_t>(i)] = static_cast<double>(t[i]);
  return r;
}

template <class T>
void require_values(const Tensor<T>& t, const std::vector<double>& ref, double rtol, double atol, const char* what) {
  REQUIRE(static_cast<size_t>(t.numel()) == ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    INFO(what << "[" << i << "]: " << t[static_cast<int64_t>(i)] << " vs " << ref[i]);
    REQUIRE(std::abs(static_cast<double>(t[static_cast<int64_t>(i)]) - ref[i]) <= atol + rtol * std::abs(ref[i]));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("Adam matches PyTorch's Adam and AdamW over several steps", "[optim][adam]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  // float: parameters ~1 change by ~lr per step; 1e-6 absolute is ~1e-4 of one update.
  const double rtol = std::is_same_v<T, float> ? 2e-6 : 1e-12;
  const double atol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  std::vector<AdamOptions> variants(4);
  variants[1].weight_decay = 0.05;                                // L2 (torch.optim.Adam)
  variants[2].weight_decay = 0.05, variants[2].decoupled = true;  // torch.optim.AdamW
  variants[3].beta1 = 0.5, variants[3].beta2 = 0.9, variants[3].eps = 1e-3;
  for (size_t k = 0; k < variants.size(); ++k) {
    const AdamOptions o = variants[k];
    INFO("variant " << k);
    // Two parameters (one 4-D, one 1-D) and a buffer that must not be touched.
    auto w = random_tensor<T>(Shape{3, 2, 3, 3}, rng);
    auto b = random_tensor<T>(Shape{5}, rng);
    auto run_mean = random_tensor<T>(Shape{3}, rng);
    Tensor<T> dw(w.shape()), db(b.shape());
    StateList<T, Cpu> list{{"conv.weight", &w, &dw}, {"bn.running_mean", &run_mean, nullptr}, {"conv.bias", &b, &db}};
    const auto saved_buffer = values(run_mean);
    Adam<T, Cpu> opt(ctx, list, o);
    TorchAdam ref_w{o, {}, {}, 0}, ref_b{o, {}, {}, 0};
    auto pw = values(w), pb = values(b);
    const double lrs[5] = {1e-2, 2e-2, 5e-3, 0.0, 1e-2};
    for (int step = 0; step < 5; ++step) {
      for (int64_t i = 0; i < dw.numel(); ++i) dw[i] = static_cast<T>(rng.normal(0, step == 2 ? 1e-3 : 1.0));
      for (int64_t i = 0; i < db.numel(); ++i) db[i] = static_cast<T>(rng.normal());
      db[0] = T(0);  // a zero gradient
      opt.step(ctx, lrs[step]);
      ref_w.step(pw, values(dw), lrs[step]);
      ref_b.step(pb, values(db), lrs[step]);
      REQUIRE(opt.step_count() == step + 1);
      require_values(w, pw, rtol, atol, "weight");
      require_values(b, pb, rtol, atol, "bias");
    }
    const auto state = opt.state();
    REQUIRE(state.size() == 4);
    REQUIRE(state[0].name == "optimizer.m.conv.weight");
    REQUIRE(state[1].name == "optimizer.m.conv.bias");
    REQUIRE(state[2].name == "optimizer.v.conv.weight");
    REQUIRE(state[3].name == "optimizer.v.conv.bias");
    for (const auto& e : state) REQUIRE_FALSE(e.is_parameter());
    require_values(*state[0].value, ref_w.m, rtol, 1e-7, "m");
    require_values(*state[2].value, ref_w.v, rtol, 1e-9, "v");
    require_values(*state[3].value, ref_b.v, rtol, 1e-9, "v bias");
    require_values(run_mean, saved_buffer, 0, 0, "buffer");
  }
}

TEST_CASE("Adam resumes from saved moments and step count", "[optim][adam]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  auto w1 = random_tensor<double>(Shape{2, 3, 1, 1}, rng);
  Tensor<double> g(w1.shape()), w2(w1.shape());
  for (int64_t i = 0; i < w1.numel(); ++i) w2[i] = w1[i];
  StateList<double, Cpu> l1{{"w", &w1, &g}}, l2{{"w", &w2, &g}};
  Adam<double, Cpu> a(ctx, l1), b(ctx, l2);
  std::vector<std::vector<double>> grads(6);
  for (auto& gr : grads)
    for (int i = 0; i < 6; ++i) gr.push_back(rng.normal());
  auto set_grad = [&](int s) {
    for (int i = 0; i < 6; ++i) g[i] = grads[static_cast<size_t>(s)][static_cast<size_t>(i)];
  };
  for (int s = 0; s < 3; ++s) set_grad(s), a.step(ctx), b.step(ctx);
  // "Checkpoint" a into a fresh optimizer c over w3 = w1.
  Tensor<double> w3(w1.shape());
  for (int64_t i = 0; i < w1.numel(); ++i) w3[i] = w1[i];
  StateList<double, Cpu> l3{{"w", &w3, &g}};
  Adam<double, Cpu> c(ctx, l3);
  auto sa = a.state(), sc = c.state();
  for (size_t k = 0; k < sa.size(); ++k)
    for (int64_t i = 0; i < sa[k].value->numel(); ++i) (*sc[k].value)[i] = (*sa[k].value)[i];
  c.set_step_count(a.step_count());
  for (int s = 3; s < 6; ++s) set_grad(s), b.step(ctx), c.step(ctx);
  for (int64_t i = 0; i < w2.numel(); ++i) REQUIRE(w3[i] == w2[i]);
  REQUIRE(c.step_count() == 6);
}

TEST_CASE("adam_step op on strided views; zero_grad; bad input", "[optim][adam][errors]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  auto pw = random_tensor<float>(Shape{2, 4, 3, 3}, rng);
  auto gw = random_tensor<float>(Shape{2, 4, 3, 3}, rng);
  Tensor<float> p = pw.channels(1, 2), g = gw.channels(0, 2);
  Tensor<float> m(p.shape()), v(p.shape());
  const auto before = values(pw);
  AdamStep s;
  s.lr = 0.1;
  s.bias_correction1 = 1 - 0.9;
  s.bias_correction2 = 1 - 0.999;
  adam_step(ctx, p, g, m, v, s);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          const double old = before[static_cast<size_t>(((n * 4 + c) * 3 + i) * 3 + j)];
          if (c == 1 || c == 2) {
            // First step: m / c1 = g, v / c2 = g^2: p -= lr g / (|g| + eps).
            const double gg = gw.at(n, c - 1, i, j);
            REQUIRE(pw.at(n, c, i, j) == Approx(old - 0.1 * gg / (std::abs(gg) + 1e-8)).epsilon(1e-6).margin(2e-7));
          } else {
            REQUIRE(pw.at(n, c, i, j) == static_cast<float>(old));
          }
        }
  Tensor<float> bad(Shape{2, 2, 3, 4});
  REQUIRE_THROWS_WITH(adam_step(ctx, p, g, bad, v, s),
                      Catch::Contains("adam_step") && Catch::Contains("[2, 2, 3, 3]") && Catch::Contains("[2, 2, 3, 4]"));
  AdamStep s0;
  s0.bias_correction1 = 0;
  REQUIRE_THROWS_WITH(adam_step(ctx, p, g, m, v, s0), Catch::Contains("adam_step") && Catch::Contains("bias"));

  using AdamF = Adam<float, Cpu>;
  Tensor<float> w(Shape{4}), dw(Shape{4}), dw_bad(Shape{5}), buf(Shape{2});
  fill(ctx, dw, 3.0f);
  fill(ctx, buf, 7.0f);
  StateList<float, Cpu> list{{"w", &w, &dw}, {"buf", &buf, nullptr}};
  zero_grad(ctx, list);
  for (int i = 0; i < 4; ++i) REQUIRE(dw[i] == 0.0f);
  REQUIRE(buf[0] == 7.0f);
  StateList<float, Cpu> mismatched{{"w", &w, &dw_bad}};
  REQUIRE_THROWS_WITH(AdamF(ctx, mismatched), Catch::Contains("Adam") && Catch::Contains("w value"));
  AdamOptions o;
  o.beta2 = 1.0;
  REQUIRE_THROWS_WITH(AdamF(ctx, list, o), Catch::Contains("beta2"));
  Adam<float, Cpu> opt(ctx, list);
  REQUIRE_THROWS_WITH(opt.step(ctx, std::nan("")), Catch::Contains("lr"));
}

TEST_CASE("adam_step_all equals adam_step on each tensor and checks the whole list first", "[optim][adam]") {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const std::vector<Shape> shapes{{3, 2, 3, 3}, {0}, {1}, {7}, {4, 5, 1, 3}, {2, 1, 1, 1}};
  std::vector<Tensor<float>> p, g, m, v;
  for (const Shape& s : shapes) {
    p.push_back(random_tensor<float>(s, rng));
    g.push_back(random_tensor<float>(s, rng));
    m.push_back(random_tensor<float>(s, rng, -0.1, 0.1));
    v.push_back(random_tensor<float>(s, rng, 0.0, 0.01));
  }
  AdamStep s;
  s.lr = 1e-2;
  s.weight_decay = 0.01;
  s.bias_correction1 = 1 - 0.9 * 0.9;
  s.bias_correction2 = 1 - 0.999 * 0.999;
  std::vector<Tensor<float>> pe, me, ve;  // expected: adam_step tensor by tensor
  for (size_t i = 0; i < shapes.size(); ++i) {
    pe.push_back(random_tensor<float>(shapes[i], rng));
    me.push_back(random_tensor<float>(shapes[i], rng));
    ve.push_back(random_tensor<float>(shapes[i], rng));
    copy(ctx, p[i], pe[i]);
    copy(ctx, m[i], me[i]);
    copy(ctx, v[i], ve[i]);
    adam_step(ctx, pe[i], g[i], me[i], ve[i], s);
  }
  std::vector<AdamSlot<float, Cpu>> slots;
  for (size_t i = 0; i < shapes.size(); ++i) slots.push_back({&p[i], &g[i], &m[i], &v[i]});
  adam_step_all(ctx, slots, s);
  for (size_t i = 0; i < shapes.size(); ++i)
    for (int64_t k = 0; k < p[i].numel(); ++k) {
      INFO("tensor " << i << " element " << k);
      REQUIRE(p[i][k] == pe[i][k]);
      REQUIRE(m[i][k] == me[i][k]);
      REQUIRE(v[i][k] == ve[i][k]);
    }
  // A bad last tensor: the error names it, and no tensor of the list has moved.
  Tensor<float> bad(Shape{8});
  slots.back().v = &bad;
  const std::vector<double> first = values(p[0]);
  REQUIRE_THROWS_WITH(adam_step_all(ctx, slots, s), Catch::Contains("adam_step_all (tensor 5)") &&
                                                         Catch::Contains("[2, 1, 1, 1]") && Catch::Contains("[8]"));
  for (int64_t k = 0; k < p[0].numel(); ++k) REQUIRE(static_cast<double>(p[0][k]) == first[static_cast<size_t>(k)]);
  slots.back().v = &v.back();
  slots[2].grad = nullptr;
  REQUIRE_THROWS_WITH(adam_step_all(ctx, slots, s), Catch::Contains("adam_step_all (tensor 2)"));
}

TEST_CASE("warm-up + cosine schedule values", "[optim][schedule]") {
  const double base = 5e-4;
  const WarmupCosineSchedule s(base, 10, 110);
  // Warm-up: base (step + 1) / W.
  REQUIRE(s.lr(0) == Approx(base / 10));
  REQUIRE(s.lr(4) == Approx(base * 5 / 10));
  REQUIRE(s.lr(9) == Approx(base));
  // Cosine: base at the end of warm-up, base / 2 halfway, 0 at the end.
  REQUIRE(s.lr(10) == Approx(base));
  REQUIRE(s.lr(35) == Approx(base * 0.5 * (1 + std::cos(M_PI * 0.25))));
  REQUIRE(s.lr(60) == Approx(base / 2));
  REQUIRE(s.lr(109) == Approx(base * 0.5 * (1 + std::cos(M_PI * 0.99))));
  REQUIRE(s.lr(110) == 0.0);
  REQUIRE(s.lr(1000) == 0.0);
  // Monotone: up during warm-up, down after.
  for (int64_t t = 1; t < 10; ++t) REQUIRE(s.lr(t) > s.lr(t - 1));
  for (int64_t t = 11; t <= 110; ++t) REQUIRE(s.lr(t) < s.lr(t - 1));
  // No warm-up.
  const WarmupCosineSchedule nw(1.0, 0, 4);
  REQUIRE(nw.lr(0) == 1.0);
  REQUIRE(nw.lr(2) == Approx(0.5));
  // From epochs (SPEC: 2 warm-up epochs of 300).
  const auto e = WarmupCosineSchedule::from_epochs(base, 2, 300, 35);
  REQUIRE(e.warmup_steps() == 70);
  REQUIRE(e.total_steps() == 10500);
  REQUIRE(e.lr(69) == Approx(base));
  REQUIRE(e.lr(70 + (10500 - 70) / 2) == Approx(base / 2));
  REQUIRE_THROWS_WITH(WarmupCosineSchedule(base, 20, 10), Catch::Contains("warmup_steps"));
  REQUIRE_THROWS_WITH(s.lr(-1), Catch::Contains("step -1"));
}

TEMPLATE_TEST_CASE("WeightAverage follows a naive moving average; swap exchanges in place", "[optim][ema]", float,
                   double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  Tensor<T> w = random_tensor<T>(Shape{3, 5}, rng), b = random_tensor<T>(Shape{4}, rng), gw(Shape{3, 5});
  StateList<T, Cpu> list{{"layer.weight", &w, &gw}, {"bn.running_mean", &b, nullptr}};
  const double decay = 0.9;
  WeightAverage<T, Cpu> ema(ctx, list, decay);
  std::vector<double> aw(w.data(), w.data() + w.numel()), ab(b.data(), b.data() + b.numel());
  for (int t = 1; t <= 30; ++t) {
    for (int64_t i = 0; i < w.numel(); ++i) w[i] = static_cast<T>(rng.uniform(-1, 1));
    for (int64_t i = 0; i < b.numel(); ++i) b[i] = static_cast<T>(rng.uniform(-1, 1));
    const double d = std::min(decay, (1.0 + t) / (10.0 + t));
    CHECK(ema.decay_at(t) == d);
    ema.update(ctx, t);
    for (size_t i = 0; i < aw.size(); ++i) aw[i] = d * aw[i] + (1 - d) * static_cast<double>(w[static_cast<int64_t>(i)]);
    for (size_t i = 0; i < ab.size(); ++i) ab[i] = d * ab[i] + (1 - d) * static_cast<double>(b[static_cast<int64_t>(i)]);
  }
  // 30 steps of two roundings each: a few eps of the type over values of size 1.
  const double tol = 30 * 4 * std::numeric_limits<T>::epsilon();
  const StateList<T, Cpu> avg = ema.state();
  REQUIRE(avg.size() == 2);
  CHECK(avg[0].name == "ema.layer.weight");
  CHECK(avg[1].name == "ema.bn.running_mean");
  CHECK_FALSE(avg[0].is_parameter());
  for (size_t i = 0; i < aw.size(); ++i) CHECK(std::abs(static_cast<double>((*avg[0].value)[static_cast<int64_t>(i)]) - aw[i]) <= tol);
  for (size_t i = 0; i < ab.size(); ++i) CHECK(std::abs(static_cast<double>((*avg[1].value)[static_cast<int64_t>(i)]) - ab[i]) <= tol);

  const std::vector<T> live(w.data(), w.data() + w.numel());
  const std::vector<T> averaged(avg[0].value->data(), avg[0].value->data() + w.numel());
  ema.swap(ctx);
  for (int64_t i = 0; i < w.numel(); ++i) CHECK(w[i] == averaged[static_cast<size_t>(i)]);
  ema.swap(ctx);
  for (int64_t i = 0; i < w.numel(); ++i) CHECK(w[i] == live[static_cast<size_t>(i)]);
  CHECK_THROWS_WITH((WeightAverage<T, Cpu>(ctx, list, 1.0)), Catch::Contains("decay"));
}
