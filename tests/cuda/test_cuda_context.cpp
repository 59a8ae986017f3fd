// Context<Dut>, the caching allocator, error macros, host/device copies, tensor_ops and the
// elementwise ops (ReLU, sigmoid) against the CPU backend.
#include <cstdint>

#include "parity.hpp"
#include "srmds/cuda/counters.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/relu.hpp"
#include "srmds/ops/sigmoid.hpp"

using namespace srmds;
using namespace srmds::test;

#if !SRMDS_CUDA_STANDIN  // the allocator, the workspace and the error macros exist on a GPU only
TEST_CASE("bucket sizes round up by at most 25 % and are stable", "[cuda][allocator]") {
  using cuda::CachingAllocator;
  CHECK(CachingAllocator::bucket_size(1) == 512);
  CHECK(CachingAllocator::bucket_size(512) == 512);
  CHECK(CachingAllocator::bucket_size(513) == 1024);
  CHECK(CachingAllocator::bucket_size(4096) == 4096);
  for (size_t b : {size_t(5000), size_t(1) << 20, (size_t(1) << 20) + 1, size_t(123456789)}) {
    const size_t k = CachingAllocator::bucket_size(b);
    CHECK(k >= b);
    CHECK(k <= b + b / 4 + 1);
    CHECK(CachingAllocator::bucket_size(k) == k);
  }
}

TEST_CASE("the allocator reuses freed blocks: no cudaMalloc in steady state", "[cuda][allocator]") {
  Context<Dut> g;
  auto round = [&] {
    TD a(Shape{2, 3, 64, 64}, g), b(Shape{7}, g), c(Shape{1, 1, 1000, 999}, g);
    fill(g, a, 1.0f);
    fill(g, b, 2.0f);
    fill(g, c, 3.0f);
  };
  round();
  const auto after_first = g.allocator_stats();
  for (int i = 0; i < 5; ++i) round();
  const auto after = g.allocator_stats();
  CHECK(after.device_allocations == after_first.device_allocations);
  CHECK(after.cache_hits >= after_first.cache_hits + 15);
  CHECK(after.bytes_in_use == 0);
  CHECK(after.bytes_cached >= 3 * 512);
  g.release_cached_memory();
  CHECK(g.allocator_stats().bytes_cached == 0);
}

TEST_CASE("tensors may outlive their context", "[cuda][allocator]") {
  TD survivor;
  {
    Context<Dut> g;
    survivor = TD(Shape{4, 4}, g);
  }
  survivor = TD();  // freed by the orphaned allocator, no crash
  SUCCEED();
}

TEST_CASE("workspace grows and is reused; TF32 switch", "[cuda][context]") {
  Context<Dut> g;
  CHECK(g.tf32());
  g.set_tf32(false);
  CHECK_FALSE(g.tf32());
  CHECK_FALSE(g.deterministic());  // off by default: the fastest cuDNN algorithm wins
  g.set_deterministic(true);
  CHECK(g.deterministic());
  void* a = g.workspace(1000);
  REQUIRE(a != nullptr);
  CHECK(g.workspace(500) == a);
  CHECK(g.workspace_bytes() >= 1000);
  g.workspace(1 << 20);
  CHECK(g.workspace_bytes() >= (1u << 20));
  CHECK(g.sm_count() > 0);
  g.synchronize();
}

TEST_CASE("check macros throw srmds::Error with the call and the status", "[cuda][errors]") {
  REQUIRE_THROWS_WITH([] { SRMDS_CUDA_CHECK(cudaErrorInvalidValue); }(),
                      Catch::Contains("cudaErrorInvalidValue") && Catch::Contains("CUDA error"));
  REQUIRE_THROWS_WITH([] { SRMDS_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); }(), Catch::Contains("CUDNN_STATUS_BAD_PARAM"));
  Context<Dut> g;
  TD x(Shape{1, 2, 3, 4}, g), y(Shape{1, 2, 3, 5}, g);
  REQUIRE_THROWS_WITH(relu_forward(g, x, y), Catch::Contains("relu_forward") && Catch::Contains("[1, 2, 3, 5]"));
}

TEST_CASE("work counters count launches, cuDNN calls, copies and host waits", "[cuda][context]") {
  Context<Dut> g;
  const Shape s{2, 3, 8, 8};
  Rng rng(1);
  const TH xh = random_tensor<float>(s, rng), wh = random_tensor<float>(Shape{4, 3, 3, 3}, rng);
  TD x = from_host(g, xh), w = from_host(g, wh), y(s, g), z(Shape{2, 4, 8, 8}, g);
  conv2d_forward(g, x, w, nullptr, z);  // the algorithm search runs here, uncounted below
  g.synchronize();
  cuda::reset_work_counts();
  relu_forward(g, x, y);                // one kernel
  conv2d_forward(g, x, w, nullptr, z);  // one cuDNN call
  const TH back = download(g, y);       // one copy, one wait
  const cuda::WorkCounts n = cuda::work_counts();
  CHECK(n.kernels == 1);
  CHECK(n.library_calls == 1);
  CHECK(n.copies == 1);
  CHECK(n.host_syncs == 1);
  cuda::reset_work_counts();
  const cuda::WorkCounts zero = cuda::work_counts();
  CHECK(zero.kernels + zero.library_calls + zero.copies + zero.host_syncs == 0);
  CHECK(back.numel() == s.numel());
}
#endif

TEST_CASE("host/device copies round-trip, strided views and integer tensors included", "[cuda][copy]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Rng rng(fresh_seed());
  for (bool strided : {false, true}) {
    const Shape s{3, 5, 4, 7};
    const TH h = random_tensor<float>(s, rng);
    Slot slot(g, s, strided, rng, &h);
    const TH back = download(g, slot.t);
    for (int64_t i = 0; i < h.numel(); ++i) REQUIRE(back[i] == h[i]);
    slot.require_outside_untouched(g, "copy_host_to_device");

    // device-to-device copy between views, fill, axpy
    Slot dst(g, s, !strided, rng);
    copy(g, slot.t, dst.t);
    const TH copied = download(g, dst.t);
    for (int64_t i = 0; i < h.numel(); ++i) REQUIRE(copied[i] == h[i]);
    const TH y0 = random_tensor<float>(s, rng);
    Slot y(g, s, strided, rng, &y0);
    axpy(g, -0.75f, slot.t, y.t);
    THd ref = as_double(y0);
    for (int64_t i = 0; i < ref.numel(); ++i) ref[i] += -0.75 * static_cast<double>(h[i]);
    require_parity(g, y.t, ref, "axpy");
    y.require_outside_untouched(g, "axpy");
    fill(g, y.t, 2.5f);
    const TH filled = download(g, y.t);
    for (int64_t i = 0; i < filled.numel(); ++i) REQUIRE(filled[i] == 2.5f);
    y.require_outside_untouched(g, "fill");
  }
  Tensor<int32_t> hi(Shape{2, 3, 4, 5});
  for (int64_t i = 0; i < hi.numel(); ++i) hi[i] = static_cast<int32_t>(rng.below(1000)) - 500;
  Tensor<int32_t, Dut> di = from_host(g, hi);
  Tensor<int32_t> hi2 = to_host(g, di);
  for (int64_t i = 0; i < hi.numel(); ++i) REQUIRE(hi2[i] == hi[i]);
  Tensor<int64_t> hl(Shape{3, 4});
  for (int64_t i = 0; i < hl.numel(); ++i) hl[i] = static_cast<int64_t>(rng.next_u64() >> 3);
  Tensor<int64_t, Dut> dl = from_host(g, hl);
  Tensor<int64_t> hl2 = to_host(g, dl);
  for (int64_t i = 0; i < hl.numel(); ++i) REQUIRE(hl2[i] == hl[i]);
}

TEST_CASE("relu and sigmoid forward/backward match the CPU backend", "[cuda][relu][sigmoid]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  for (Shape s : cases({Shape{1, 3, 5, 7}, Shape{4, 17, 9, 13}, Shape{2, 64, 32, 48}}))
    for (bool strided : {false, true})
      for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
        INFO("shape " << s << " strided " << strided << " accumulate " << (mode == WriteMode::Accumulate));
        const TH x = random_tensor<float>(s, rng, -6, 6), dy = random_tensor<float>(s, rng), d0 = random_tensor<float>(s, rng);
        const THd xd = as_double(x), dyd = as_double(dy);
        Slot gx(g, s, strided, rng, &x), gdy(g, s, strided, rng, &dy);

        // relu
        Slot gy(g, s, strided, rng);
        relu_forward(g, gx.t, gy.t);
        THd ry(s);
        relu_forward(cpu, xd, ry);
        require_parity(g, gy.t, ry, "relu y", 0, 0);  // exact
        gy.require_outside_untouched(g, "relu y");
        Slot gdx(g, s, strided, rng, mode == WriteMode::Accumulate ? &d0 : nullptr);
        relu_backward(g, gy.t, gdy.t, gdx.t, mode);
        THd rdx = as_double(d0);
        relu_backward(cpu, ry, dyd, rdx, mode);
        require_parity(g, gdx.t, rdx, "relu dx");
        gdx.require_outside_untouched(g, "relu dx");

        // sigmoid
        Slot gs(g, s, strided, rng);
        sigmoid_forward(g, gx.t, gs.t);
        THd rs(s);
        sigmoid_forward(cpu, xd, rs);
        require_parity(g, gs.t, rs, "sigmoid y", 1e-5, 1e-6);
        gs.require_outside_untouched(g, "sigmoid y");
        Slot gsx(g, s, strided, rng, mode == WriteMode::Accumulate ? &d0 : nullptr);
        sigmoid_backward(g, gs.t, gdy.t, gsx.t, mode);
        THd rsx = as_double(d0);
        // the CPU backward from the GPU's float y, so only the backward is compared
        sigmoid_backward(cpu, as_double(download(g, gs.t)), dyd, rsx, mode);
        require_parity(g, gsx.t, rsx, "sigmoid dx");
        gsx.require_outside_untouched(g, "sigmoid dx");
      }
}
