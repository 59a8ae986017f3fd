// Host memory accounting, the memory budget and the memory probe (core/memory.hpp,
// nets/memory_probe.hpp): the probe's linear model, fitted at 64 x 64 and 128 x 128, must predict
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
      const int64_t got_train = detail::train_step_peak(cfg, {}, {}, 2, 256), want_train = train.bytes(2, 256, 256);
      const int64_t got_fused = detail::eval_peak(cfg, NetForm::Fused, 3, 192), want_fused = fused.bytes(3, 192, 192);
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
