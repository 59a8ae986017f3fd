// The fused network's inference captured in a CUDA Graph (infer/forward_graph.hpp, cuda/graph.hpp):
// a replay gives the eager forward's output bit for bit on every input and shape, a new shape
// captures again, a replay costs the host one graph launch and no wait, and a capture that would
// allocate or wait is refused. On the CPU stand-in the same body checks the CPU twin (no capture:
// the eager forward, the same shape bookkeeping and errors).

#include "parity.hpp"
#include "srmds/infer/forward_graph.hpp"
#include "srmds/nets/srmds_net.hpp"
#if !SRMDS_CUDA_STANDIN
#include "srmds/cuda/counters.hpp"
#include "srmds/cuda/graph.hpp"
#endif

using namespace srmds;
using namespace srmds::test;

TEST_CASE("a captured fused forward replays the eager forward bit for bit", "[cuda][net][graph]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  const uint64_t seed = fresh_seed();
  Rng rng(seed);
  for (Attention a : cases({Attention::Se, Attention::Psa, Attention::Cbam, Attention::Sge})) {
    INFO("attention " << attention_name(a));
    NetConfig cfg;
    cfg.base = 8;
    cfg.attention = a;
    SrmdsNet<float, Dut> train(g, cfg, NetForm::Train, seed);
    SrmdsNet<float, Dut> eager = train.fused(g);
    ForwardGraph<Dut> graph(train.fused(g));
    // A, then B, then A again: three captures; two different inputs per shape.
    const Shape shapes[] = {Shape{2, 1, 64, 64}, Shape{1, 1, 32, 48}, Shape{2, 1, 64, 64}};
    for (const Shape& s : shapes) {
      INFO("input " << s);
      const Shape zs{s.n(), 1, s.h(), s.w()};
      for (int draw = 0; draw < 2; ++draw) {
        const TD x = from_host(g, random_tensor<float>(s, rng, 0, 1));
        TD ze(zs, g), zg(zs, g);
        eager.forward_eval(g, x, ze);
        graph.forward(g, x, zg);
        CHECK(same_bits(download(g, zg), download(g, ze)));
        // Straight into the graph's own input, no copies.
        copy(g, x, graph.input());
        graph.replay(g);
        CHECK(same_bits(download(g, graph.output()), download(g, ze)));
      }
    }
    CHECK(graph.captures() == 3);
#if !SRMDS_CUDA_STANDIN
    {  // what a replay costs the host: one graph launch, no wait, nothing launched one by one
      const Shape& s = shapes[2];
      const TD x = from_host(g, random_tensor<float>(s, rng, 0, 1));
      TD z(Shape{s.n(), 1, s.h(), s.w()}, g);
      cuda::reset_work_counts();
      graph.forward(g, x, z);
      const cuda::WorkCounts n = cuda::work_counts();
      CHECK(n.graph_launches == 1);
      CHECK(n.host_syncs == 0);
      CHECK(n.kernels == 0);
      CHECK(n.library_calls == 0);
      CHECK(n.copies == 2);  // x into the input, the output into z
      cuda::reset_work_counts();
      graph.replay(g);
      CHECK(cuda::work_counts().graph_launches == 1);
      CHECK(cuda::work_counts().copies == 0);
      CHECK(cuda::work_counts().host_syncs == 0);
      const cuda::WorkCounts inside = graph.captured_work();
      INFO("one replay runs " << inside.kernels << " kernels, " << inside.library_calls << " cuDNN calls, "
                              << inside.copies << " copies");
      CHECK(inside.kernels > 0);
      CHECK(inside.library_calls > 0);
      CHECK(inside.host_syncs == 0);
      g.synchronize();
    }
#endif
  }
}

TEST_CASE("a forward graph refuses misuse with a clear error", "[cuda][graph][misuse]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  NetConfig cfg;
  cfg.base = 4;
  SrmdsNet<float, Dut> train(g, cfg, NetForm::Train, 3);
  ForwardGraph<Dut> graph(train.fused(g));
  REQUIRE_THROWS_WITH(graph.replay(g), Catch::Contains("ForwardGraph::replay") && Catch::Contains("nothing captured"));
  Rng rng(fresh_seed());
  const TD x = from_host(g, random_tensor<float>(Shape{1, 1, 32, 32}, rng, 0, 1));
  TD wrong(Shape{1, 1, 32, 16}, g);
  REQUIRE_THROWS_WITH(graph.forward(g, x, wrong), Catch::Contains("ForwardGraph::forward") &&
                                                      Catch::Contains("[1, 1, 32, 16]") &&
                                                      Catch::Contains("[1, 1, 32, 32]"));
  TD z(Shape{1, 1, 32, 32}, g);
  graph.forward(g, x, z);
  Context<Dut> other;
  TD x2 = from_host(other, random_tensor<float>(Shape{1, 1, 32, 32}, rng, 0, 1));
  TD z2(Shape{1, 1, 32, 32}, other);
  REQUIRE_THROWS_WITH(graph.forward(other, x2, z2), Catch::Contains("another context"));
  REQUIRE_THROWS_WITH(graph.replay(other), Catch::Contains("nothing captured on this context"));
  CHECK(graph.captures() == 1);
#if !SRMDS_CUDA_STANDIN
  // Captures that would wait on the host or allocate are refused, and the stream works afterwards.
  cuda::StreamGraph sg;
  REQUIRE_THROWS_WITH(sg.capture(g, [&] { (void)download(g, z); }), Catch::Contains("StreamGraph::capture"));
  CHECK(!sg.captured());
  REQUIRE_THROWS_WITH(sg.capture(g, [&] { TD big(Shape{1, 1, 1, 12345677}, g); }),
                      Catch::Contains("during CUDA Graph capture"));
  CHECK(!g.allocator().capturing());
  REQUIRE_THROWS_WITH(sg.launch(g), Catch::Contains("nothing was captured"));
  graph.forward(g, x, z);  // the stream still works
  CHECK(download(g, z).numel() == 32 * 32);
  // A capture of work that allocates only what the cache holds is fine and replays.
  sg.capture(g, [&] { fill(g, z, 2.0f); });
  sg.launch(g);
  const TH filled = download(g, z);
  CHECK(filled[0] == 2.0f);
#endif
}
