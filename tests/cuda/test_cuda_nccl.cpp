// The NCCL gradient path (issue 23) on the GPU: training with the NCCL communicator of one rank (what
// `mpirun -np 1 srmds train --device cuda` runs; bootstrapped here over the one-process communicator,
// so the test needs no mpirun) ends bit for bit where the single-process run ends: one rank's
// pre-multiplied sum with the factor 1 is the gradient itself, and NCCL's all-reduce runs on its own
// stream, ordered after the backward pass and before Adam by events (a missing order shows up as
// other weights). Deterministic cuDNN algorithms, no TF32 (parity.hpp's Gpu). Skipped (a line says
// so) in a build without NCCL or where libnccl.so.2 cannot be loaded; not built on the CPU stand-in.
#if !SRMDS_CUDA_STANDIN
#include <cstdio>
#include <cstring>
#include <vector>

#include "parity.hpp"
#include "support/memory_train_fixture.hpp"
#include "srmds/dist/nccl_communicator.hpp"

using namespace srmds;
using namespace srmds::test;

namespace {

std::vector<float> trained_state(Context<Dut>& g, MemoryTrainFixture& f, dist::Communicator* comm,
                                 dist::NcclCommunicator* nccl) {
  TrainOptions o = f.to;
  o.epochs = 2;
  o.checkpoint_path.clear();
  o.best_path.clear();
  o.communicator = comm;
  o.device_communicator = nccl;
  SrmdsNet<float, Dut> net(g, f.cfg, NetForm::Train, 4);
  Trainer<float, Dut> t(g, net, o);
  t.fit(f.data.train, nullptr);
  std::vector<float> out;
  for (const auto& e : net.state()) {
    const Tensor<float, Cpu> h = to_host(g, *e.value);
    out.insert(out.end(), h.data(), h.data() + h.numel());
  }
  for (const auto& e : t.optimizer_state()) {
    const Tensor<float, Cpu> h = to_host(g, *e.value);
    out.insert(out.end(), h.data(), h.data() + h.numel());
  }
  return out;
}

// A one-rank NCCL communicator on the test's GPU, or null (printed why) where this build or machine has none.
std::unique_ptr<dist::NcclCommunicator> one_rank_nccl(dist::Communicator& boot, int device) {
  if (!dist::built_with_nccl()) {
    std::printf("test_cuda_nccl: skipped: this build has no NCCL (SRMDS_WITH_NCCL)\n");
    return nullptr;
  }
  try {
    return dist::make_nccl_communicator(boot, device);
  } catch (const Error& e) {
    std::printf("test_cuda_nccl: skipped: %s\n", e.what());
    return nullptr;
  }
}

}  // namespace

TEST_CASE("training with the NCCL communicator of one rank equals the single-process run", "[cuda][nccl]") {
  Gpu gpu;
  const auto boot = dist::make_single_process_communicator();
  const std::unique_ptr<dist::NcclCommunicator> nccl = one_rank_nccl(*boot, gpu.ctx.device());
  if (!nccl) return;
  std::printf("test_cuda_nccl: NCCL %d on device %d\n", nccl->nccl_version(), nccl->device());
  MemoryTrainFixture f(4);  // 8 slices of 32 x 32, batch 2: 4 steps per epoch
  const std::vector<float> alone = trained_state(gpu.ctx, f, nullptr, nullptr);
  const std::vector<float> with_nccl = trained_state(gpu.ctx, f, boot.get(), nccl.get());
  REQUIRE(alone.size() == with_nccl.size());
  CHECK(std::memcmp(alone.data(), with_nccl.data(), alone.size() * sizeof(float)) == 0);
}

TEST_CASE("the NCCL communicator's reduce_gradients scales and sums device buffers on the caller's stream",
          "[cuda][nccl]") {
  Gpu gpu;
  const auto boot = dist::make_single_process_communicator();
  const std::unique_ptr<dist::NcclCommunicator> nccl = one_rank_nccl(*boot, gpu.ctx.device());
  if (!nccl) return;
  // Two tensors and an empty one, scale 0.25 (exact): each value becomes a quarter of itself.
  Tensor<float, Cpu> ha(Shape{1000}), hb(Shape{3}), hc(Shape{0});
  for (int64_t i = 0; i < 1000; ++i) ha[i] = static_cast<float>(i) - 500.0f;
  for (int64_t i = 0; i < 3; ++i) hb[i] = static_cast<float>(i + 1);
  Tensor<float, Dut> a = from_host(gpu.ctx, ha), b = from_host(gpu.ctx, hb), c = from_host(gpu.ctx, hc);
  nccl->reduce_gradients(gpu.ctx.stream(), {{a.data(), 1000}, {b.data(), 3}, {c.data(), 0}}, 0.25);
  const Tensor<float, Cpu> ra = to_host(gpu.ctx, a), rb = to_host(gpu.ctx, b);
  for (int64_t i = 0; i < 1000; ++i) CHECK(ra[i] == 0.25f * ha[i]);
  for (int64_t i = 0; i < 3; ++i) CHECK(rb[i] == 0.25f * hb[i]);
}
#endif
