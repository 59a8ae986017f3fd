// Host memory accounting, the memory budget and the memory probe (core/memory.hpp,
// nets/memory_probe.hpp): the probe's linear model, fitted at 32 x 32 and 64 x 64, must predict
// the measured peak of a real step at a larger batch and size.
#include <cstdlib>

#include "support/testing.hpp"
#include "srmds/core/limits.hpp"
#include "srmds/core/memory.hpp"
#include "srmds/nets/memory_probe.hpp"

using namespace srmds;

namespace {

// SRMDS_RUN_MEMORY_MB set for one scope.
struct BudgetEnv {
  explicit BudgetEnv(const char* v) { ::setenv("SRMDS_RUN_MEMORY_MB", v, 1); }
  ~BudgetEnv() { ::unsetenv("SRMDS_RUN_MEMORY_MB"); }
};

int64_t measured_train_peak(const NetConfig& cfg, int n, int size) {
  return detail::measured_peak([&] {
    Context<Cpu> ctx;
    SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, 3);
    DeepSupervisionLoss<float, Cpu> loss(cfg);
    Adam<float, Cpu> adam(ctx, net.state());
    Tensor<float, Cpu> x(Shape{n, 1, size, size}, ctx), y(Shape{n, 1, size, size}, ctx);
    for (int64_t i = 0; i < x.numel(); ++i) {
      x[i] = static_cast<float>(i % 17) / 17.0f;
      y[i] = (i % 5) == 0 ? 1.0f : 0.0f;
    }
    typename DeepSupervisionLoss<float, Cpu>::Logits dlogits;
    loss.forward_backward(ctx, net.forward_train(ctx, x), y, dlogits);
    net.backward(ctx, dlogits, WriteMode::Overwrite);
    adam.step(ctx, 1e-3);
  });
}

int64_t measured_eval_peak(const NetConfig& cfg, NetForm form, int n, int size) {
  return detail::measured_peak([&] {
    Context<Cpu> ctx;
    SrmdsNet<float, Cpu> net(ctx, cfg, form, 3);
    Tensor<float, Cpu> x(Shape{n, 1, size, size}, ctx), z(Shape{n, 1, size, size}, ctx);
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 13) / 13.0f;
    net.forward_eval(ctx, x, z);
  });
}

}  // namespace

TEST_CASE("host memory: every host buffer is counted while it lives", "[memory]") {
  const int64_t before = host_memory_stats().live;
  reset_host_memory_peak();
  {
    Tensor<float, Cpu> t(Shape{3, 5, 7, 11});
    CHECK(host_memory_stats().live - before == 3 * 5 * 7 * 11 * 4);
  }
  CHECK(host_memory_stats().live == before);
  CHECK(host_memory_stats().peak - before == 3 * 5 * 7 * 11 * 4);
}

TEST_CASE("memory budget: SRMDS_RUN_MEMORY_MB, refusals that name the advice", "[memory]") {
  {
    BudgetEnv env("8192");
    CHECK(run_memory_budget_bytes() == 8LL << 30);
  }
  {
    BudgetEnv env("3");
    CHECK_NOTHROW(require_memory(3 << 20, "phantom", "lower --size"));
    CHECK_THROWS_WITH(require_memory(4 << 20, "phantom", "lower --size"),
                      Catch::Contains("phantom needs about 4.0 MiB") && Catch::Contains("3.0 MiB") &&
                          Catch::Contains("SRMDS_RUN_MEMORY_MB") && Catch::Contains("lower --size"));
  }
  for (const char* bad : {"8G", "x", "-1", "0", "1.5", "99999999999999"}) {
    BudgetEnv env(bad);
    INFO(bad);
    CHECK_THROWS_WITH(run_memory_budget_bytes(), Catch::Contains("SRMDS_RUN_MEMORY_MB"));
  }
  CHECK(run_memory_budget_bytes() > 0);  // the memory available now
}

TEST_CASE("memory probe: the linear model predicts a larger step's peak", "[memory]") {
  for (const char* att : {"se", "psa"}) {
    for (int base : {4, 8, 16}) {
      NetConfig cfg;
      cfg.base = base;
      cfg.attention = parse_attention(att);
      const MemoryModel train = probe_train_memory(cfg);
      const MemoryModel fused = probe_eval_memory(cfg, NetForm::Fused);
      const int64_t got_train = measured_train_peak(cfg, 2, 256), want_train = train.bytes(2, 256, 256);
      const int64_t got_fused = measured_eval_peak(cfg, NetForm::Fused, 3, 192), want_fused = fused.bytes(3, 192, 192);
      INFO(att << " base " << base << ": train " << got_train << " measured, " << want_train << " predicted; fused "
               << got_fused << " measured, " << want_fused << " predicted");
      CHECK(std::abs(static_cast<double>(want_train - got_train)) <= 0.2 * static_cast<double>(got_train));
      CHECK(std::abs(static_cast<double>(want_fused - got_fused)) <= 0.2 * static_cast<double>(got_fused));
    }
  }
}

TEST_CASE("memory budget: an input's budget is also bounded by the run's memory", "[memory]") {
  BudgetEnv env("10");
  CHECK_NOTHROW(check_budget(uint64_t(9) << 20, "NIfTI 'a.nii'"));
  CHECK_THROWS_WITH(check_budget(uint64_t(20) << 20, "NIfTI 'a.nii'"),
                    Catch::Contains("NIfTI 'a.nii' needs about 20.0 MiB") && Catch::Contains("SRMDS_RUN_MEMORY_MB"));
}
