// The sum of BatchNorms y = sum_k BN_k(x_k) (ops/batchnorm_sum.hpp: an SRFV block's branch BNs as
// one op) against the per-BN CPU reference in double: output, saved and running statistics of every
// term, every dx_k (mixed write modes, one not wanted), dgamma_k, dbeta_k; x_k and dx_k as strided
// channel views. On a GPU it also counts the launches: 3 forward, 3 backward (2 without dx), no
// copy, no host wait; and an SRFV block's BN part costs those 3 + 3 however many branches it has.
// On the stand-in the "GPU" side is the op's per-BN loop in float.
//
// Tolerances (parity.hpp's rtol 1e-4, atol 1e-5 x scale): per term, everything is the single BN's
// arithmetic (test_cuda_batchnorm's bounds); the sum y adds K float terms a_k x_k + b_k, each within
// a few float roundings (~1e-7) of its own size, so y is held against the scale sum_k max|BN_k(x_k)|
// (not max|y|, which the terms may cancel down to).
#include <string>
#include <vector>

#include "parity.hpp"
#include "srmds/blocks/srfv_block.hpp"
#include "srmds/ops/batchnorm_sum.hpp"
#if !SRMDS_CUDA_STANDIN
#include "srmds/cuda/counters.hpp"
#endif

using namespace srmds;
using namespace srmds::test;

namespace {

// One BN's tensors on the device under test and their double references.
struct TermData {
  TH x, gamma, beta, rm0, rv0;
  TD ggamma, gbeta, grm, grv, gmean, ginvstd;
  THd rrm, rrv, rmean, rinvstd;
};

double max_abs_sum(const std::vector<THd>& terms) {
  double s = 0;
  for (const THd& t : terms) s += max_abs(t);
  return s;
}

}  // namespace

TEST_CASE("a sum of BatchNorms matches the per-BN CPU reference", "[cuda][batchnorm]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  const uint64_t seed = fresh_seed();
  Rng rng(seed);
  const double momentum = 0.1, eps = 1e-5;
  for (Shape s : cases({Shape{2, 5, 7, 9}, Shape{3, 16, 12, 10}, Shape{8, 64, 32, 32}}))
    for (int count : {1, 4, 5})
      for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
        INFO("seed " << seed << " shape " << s << " terms " << count << " accumulate "
                     << (mode == WriteMode::Accumulate));
        const Shape cs{s.c()};
        const bool acc = mode == WriteMode::Accumulate;
        std::vector<Slot> slots;  // each term's x; odd terms are strided channel views
        slots.reserve(static_cast<size_t>(count));
        std::vector<TermData> d(static_cast<size_t>(count));
        for (int k = 0; k < count; ++k) {
          TermData& t = d[static_cast<size_t>(k)];
          // offset means, so that the shifted sums' cancellation is exercised
          t.x = random_tensor<float>(s, rng, -1.0 + k, 3.0 + 2 * k);
          t.gamma = random_tensor<float>(cs, rng, 0.5, 1.5);
          t.beta = random_tensor<float>(cs, rng);
          t.rm0 = random_tensor<float>(cs, rng);
          t.rv0 = random_tensor<float>(cs, rng, 0.5, 2.0);
          slots.emplace_back(g, s, k % 2 == 1, rng, &t.x);
          t.ggamma = from_host(g, t.gamma);
          t.gbeta = from_host(g, t.beta);
          t.grm = from_host(g, t.rm0);
          t.grv = from_host(g, t.rv0);
          t.gmean = TD(cs, g);
          t.ginvstd = TD(cs, g);
        }
        const TH y0 = random_tensor<float>(s, rng);

        // forward
        std::vector<BatchNormTerm<float, Dut>> terms(static_cast<size_t>(count));
        for (int k = 0; k < count; ++k) {
          TermData& t = d[static_cast<size_t>(k)];
          BatchNormTerm<float, Dut>& term = terms[static_cast<size_t>(k)];
          term.x = &slots[static_cast<size_t>(k)].t;
          term.gamma = &t.ggamma;
          term.beta = &t.gbeta;
          term.running_mean = &t.grm;
          term.running_var = &t.grv;
          term.save_mean = &t.gmean;
          term.save_invstd = &t.ginvstd;
        }
        Slot gy(g, s, true, rng, acc ? &y0 : nullptr);
#if !SRMDS_CUDA_STANDIN
        cuda::reset_work_counts();
#endif
        batchnorm_sum_forward_train(g, terms, momentum, eps, gy.t, mode);
#if !SRMDS_CUDA_STANDIN
        {
          const cuda::WorkCounts n = cuda::work_counts();
          CHECK(n.kernels == 3);
          CHECK(n.library_calls == 0);
          CHECK(n.copies == 0);
          CHECK(n.host_syncs == 0);
        }
#endif
        THd ry = as_double(y0);
        std::vector<THd> each;  // BN_k(x_k) alone, for the scale of y
        for (int k = 0; k < count; ++k) {
          TermData& t = d[static_cast<size_t>(k)];
          t.rrm = as_double(t.rm0);
          t.rrv = as_double(t.rv0);
          t.rmean = THd(cs);
          t.rinvstd = THd(cs);
          THd rk(s);
          batchnorm_forward_train(cpu, as_double(t.x), as_double(t.gamma), as_double(t.beta), t.rrm, t.rrv, momentum,
                                  eps, rk, WriteMode::Overwrite, t.rmean, t.rinvstd);
          if (!acc && k == 0)
            copy(cpu, rk, ry);
          else
            axpy(cpu, 1.0, rk, ry);
          each.push_back(std::move(rk));
        }
        if (acc) each.push_back(as_double(y0));
        require_parity(download(g, gy.t), ry, "bn sum y", 1e-4, 1e-5, max_abs_sum(each));
        gy.require_outside_untouched(g, "bn sum y");
        for (int k = 0; k < count; ++k) {
          TermData& t = d[static_cast<size_t>(k)];
          const std::string term = "term " + std::to_string(k) + " ";
          require_parity(g, t.gmean, t.rmean, term + "save_mean");
          require_parity(g, t.ginvstd, t.rinvstd, term + "save_invstd");
          require_parity(g, t.grm, t.rrm, term + "running_mean");
          require_parity(g, t.grv, t.rrv, term + "running_var");
        }

        // backward from the device's saved statistics (the reference gets the same float values);
        // term 0 overwrites its dx, the others accumulate (onto y0), the last (if more than one)
        // wants no dx; parameter gradients with `mode`
        const TH dy = random_tensor<float>(s, rng), p0 = random_tensor<float>(cs, rng);
        Slot gdy(g, s, true, rng, &dy);
        std::vector<Slot> gdx;
        gdx.reserve(static_cast<size_t>(count));
        std::vector<TD> gdg, gdb;
        for (int k = 0; k < count; ++k) {
          gdx.emplace_back(g, s, k % 2 == 0, rng, k == 0 ? nullptr : &y0);
          gdg.push_back(acc ? from_host(g, p0) : TD(cs, g));
          gdb.push_back(acc ? from_host(g, p0) : TD(cs, g));
        }
        const bool last_without_dx = count > 1;
        for (int k = 0; k < count; ++k) {
          BatchNormTerm<float, Dut>& term = terms[static_cast<size_t>(k)];
          term.dx = last_without_dx && k == count - 1 ? nullptr : &gdx[static_cast<size_t>(k)].t;
          term.dx_mode = k == 0 ? WriteMode::Overwrite : WriteMode::Accumulate;
          term.dgamma = &gdg[static_cast<size_t>(k)];
          term.dbeta = &gdb[static_cast<size_t>(k)];
        }
#if !SRMDS_CUDA_STANDIN
        cuda::reset_work_counts();
#endif
        batchnorm_sum_backward(g, terms, gdy.t, mode);
#if !SRMDS_CUDA_STANDIN
        {
          const cuda::WorkCounts n = cuda::work_counts();
          CHECK(n.kernels == 3);
          CHECK(n.copies == 0);
          CHECK(n.host_syncs == 0);
        }
#endif
        const THd dyd = as_double(dy);
        for (int k = 0; k < count; ++k) {
          TermData& t = d[static_cast<size_t>(k)];
          const std::string term = "term " + std::to_string(k) + " ";
          const THd smean = as_double(download(g, t.gmean)), sinvstd = as_double(download(g, t.ginvstd));
          const bool wants_dx = terms[static_cast<size_t>(k)].dx != nullptr;
          THd rdx = k == 0 ? THd(s) : as_double(y0), rdg = as_double(p0), rdb = as_double(p0);
          batchnorm_backward(cpu, as_double(t.x), dyd, as_double(t.gamma), smean, sinvstd, wants_dx ? &rdx : nullptr,
                             k == 0 ? WriteMode::Overwrite : WriteMode::Accumulate, &rdg, &rdb, mode);
          if (wants_dx) {
            require_parity(download(g, gdx[static_cast<size_t>(k)].t), rdx, term + "dx");
          } else {  // not written at all: NaN or the initial values as they were
            const TH untouched = download(g, gdx[static_cast<size_t>(k)].t);
            int64_t changed = 0;
            for (int64_t i = 0; i < untouched.numel(); ++i) changed += untouched[i] != y0[i];
            CHECK(changed == 0);
          }
          gdx[static_cast<size_t>(k)].require_outside_untouched(g, term + "dx");
          require_parity(g, gdg[static_cast<size_t>(k)], rdg, term + "dgamma");
          require_parity(g, gdb[static_cast<size_t>(k)], rdb, term + "dbeta");
        }
      }
}

TEST_CASE("a sum of BatchNorms with no gradient wanted but the parameters' runs two launches",
          "[cuda][batchnorm]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  const uint64_t seed = fresh_seed();
  Rng rng(seed);
  INFO("seed " << seed);
  const Shape s{2, 6, 5, 4}, cs{6};
  const TH x = random_tensor<float>(s, rng), dy = random_tensor<float>(s, rng);
  const TH gamma = random_tensor<float>(cs, rng, 0.5, 1.5), mean = random_tensor<float>(cs, rng),
           invstd = random_tensor<float>(cs, rng, 0.5, 2.0);
  TD gx = from_host(g, x), gdy = from_host(g, dy), ggamma = from_host(g, gamma), gmean = from_host(g, mean),
     ginvstd = from_host(g, invstd), gdg(cs, g);
  std::vector<BatchNormTerm<float, Dut>> terms(2);
  for (auto& t : terms) {
    t.x = &gx;
    t.gamma = &ggamma;
    t.save_mean = &gmean;
    t.save_invstd = &ginvstd;
  }
  terms[1].dgamma = &gdg;
#if !SRMDS_CUDA_STANDIN
  cuda::reset_work_counts();
#endif
  batchnorm_sum_backward(g, terms, gdy, WriteMode::Overwrite);
#if !SRMDS_CUDA_STANDIN
  CHECK(cuda::work_counts().kernels == 2);
#endif
  THd rdg(cs);
  batchnorm_backward(cpu, as_double(x), as_double(dy), as_double(gamma), as_double(mean), as_double(invstd), nullptr,
                     WriteMode::Overwrite, &rdg, nullptr, WriteMode::Overwrite);
  require_parity(g, gdg, rdg, "dgamma only");
}

TEST_CASE("a sum of BatchNorms is grouped on the GPU only without a BatchStatsScope (--sync-bn)",
          "[cuda][batchnorm]") {
  struct NoReduction : BatchStatsReducer {
    void sum(double*, int64_t) override {}
  } reducer;
  CHECK(batchnorm_sum_is_grouped<Dut>() == !is_cpu_v<Dut>);
  {
    BatchStatsScope scope(&reducer);  // the per-BN loop, each BN through the reducer
    CHECK_FALSE(batchnorm_sum_is_grouped<Dut>());
  }
  CHECK(batchnorm_sum_is_grouped<Dut>() == !is_cpu_v<Dut>);
}

TEST_CASE("an SRFV block's branch BatchNorms are 3 launches forward and 3 backward", "[cuda][batchnorm][counts]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  const uint64_t seed = fresh_seed();
  Rng rng(seed);
  INFO("seed " << seed);
  NetConfig cfg;
  cfg.attention = Attention::None;  // ReLU alone after the sum: one kernel each way
  for (int64_t cin : {int64_t{3}, int64_t{8}}) {  // 4 branches; 4 branches and the identity
    INFO("cin " << cin);
    const Shape xs{2, cin, 10, 12}, ys{2, 8, 10, 12};
    SrfvBlock<float, Dut> block(g, cfg, cin, 8, rng);
    Scratch<float, Dut> scratch;
    TD x = from_host(g, random_tensor<float>(xs, rng)), y(ys, g), dx(xs, g);
    const TD dy = from_host(g, random_tensor<float>(ys, rng));
#if !SRMDS_CUDA_STANDIN
    cuda::reset_work_counts();
#endif
    block.forward_train(g, x, y, scratch);
#if !SRMDS_CUDA_STANDIN
    {
      const cuda::WorkCounts n = cuda::work_counts();
      CHECK(n.kernels == 3 + 1);    // the sum of BNs and the ReLU
      CHECK(n.library_calls == 4);  // one convolution per branch
      CHECK(n.host_syncs == 0);
    }
    cuda::reset_work_counts();
#endif
    block.backward(g, dy, &dx, WriteMode::Overwrite, WriteMode::Overwrite, scratch);
#if !SRMDS_CUDA_STANDIN
    {
      const cuda::WorkCounts n = cuda::work_counts();
      CHECK(n.kernels == 1 + 3);        // the ReLU's gradient and the sum of BNs (identity included)
      CHECK(n.library_calls == 2 * 4);  // filter and data gradient per branch
      CHECK(n.host_syncs == 0);
    }
#endif
    // the identity's dx goes first on the GPU: dx is finite and not left unwritten either way
    const TH hdx = download(g, dx);
    for (int64_t i = 0; i < hdx.numel(); ++i) REQUIRE(std::isfinite(hdx[i]));
  }
}
