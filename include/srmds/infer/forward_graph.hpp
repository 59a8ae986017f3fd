// ForwardGraph: a network's eval-mode forward (SrmdsNet::forward_eval, usually the fused form)
// captured once per input shape into a CUDA Graph and replayed with one launch (cuda/graph.hpp).
//
//   ForwardGraph<Cuda> g(std::move(fused_net));
//   g.forward(ctx, x, z0);   // first call for x's shape: one eager run (cuDNN's algorithm search,
//                            // every buffer sized), then the capture; every call: copy x into the
//                            // graph's input, one graph launch, copy the graph's output to z0
//
// The graph bakes in the addresses of everything the forward touches, so it owns the network (it is
// moved in; net() reads it) and its input and output tensors: nothing else can run the network with
// another shape and reallocate its buffers under the graph. Write straight into input() and read
// output() to save the two device copies (x may be input() and z0 output() themselves). A new input
// shape, or a context whose cuDNN workspace moved (another network's larger convolution), captures
// again; captures() counts them. One graph serves one context: another context is an error.
//
// On the CPU there is nothing to capture: forward() runs the network's forward_eval directly, and
// captures() counts the input shapes seen, as on the GPU (the CUDA test bodies run on both).
#pragma once

#include <utility>

#include "srmds/core/tensor.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/tensor_ops.hpp"
#if SRMDS_WITH_CUDA
#include "srmds/cuda/graph.hpp"
#endif

namespace srmds {

template <class D>
class ForwardGraph {
public:
  using Net = SrmdsNet<float, D>;

  explicit ForwardGraph(Net&& net) : m_net(std::move(net)) {}

  // z0 (N, 1, H, W) = the network's forward_eval of x (N, in, H, W).
  void forward(Context<D>& ctx, const Tensor<float, D>& x, Tensor<float, D>& z0) {
    const Shape& s = x.shape();
    SRMDS_CHECK(s.rank() == 4 && s.numel() > 0 && !x.empty(),
                "ForwardGraph::forward: input " << s << " must be a non-empty (N, C, H, W) tensor");
    const Shape out{s.n(), 1, s.h(), s.w()};
    SRMDS_CHECK(z0.shape() == out && !z0.empty(),
                "ForwardGraph::forward: output " << z0.shape() << " must be " << out << " for input " << s);
    SRMDS_CHECK(m_ctx == nullptr || m_ctx == &ctx,
                "ForwardGraph::forward: the graph belongs to another context (one graph per context)");
    if (s != m_input.shape() || !valid_for(ctx)) prepare(ctx, x);
    copy(ctx, x, m_input);
    replay(ctx);
    copy(ctx, m_output, z0);
  }

  // One replay on input() into output() (after a forward() of this shape).
  void replay(Context<D>& ctx) {
    SRMDS_CHECK(m_ctx == &ctx && !m_input.empty(), "ForwardGraph::replay: nothing captured on this context yet");
#if SRMDS_WITH_CUDA
    if constexpr (!is_cpu_v<D>) {
      m_graph.launch(ctx);
      return;
    }
#endif
    m_net.forward_eval(ctx, m_input, m_output);
  }

  Tensor<float, D>& input() { return m_input; }
  const Tensor<float, D>& output() const { return m_output; }
  const Net& net() const { return m_net; }
  int captures() const { return m_captures; }
#if SRMDS_WITH_CUDA
  // What one replay runs (kernels, cuDNN calls, copies), counted when it was captured (GPU only).
  cuda::WorkCounts captured_work() const {
    if constexpr (is_cpu_v<D>)
      return {};
    else
      return m_graph.captured_work();
  }
#endif

private:
  bool valid_for(Context<D>& ctx) {
#if SRMDS_WITH_CUDA
    if constexpr (!is_cpu_v<D>) return m_graph.valid_for(ctx);
#endif
    return m_ctx == &ctx;
  }

  // New input and output tensors of x's shape, one eager forward of x (algorithm search, buffers
  // sized), then the capture.
  void prepare(Context<D>& ctx, const Tensor<float, D>& x) {
    const Shape& s = x.shape();
#if SRMDS_WITH_CUDA
    if constexpr (!is_cpu_v<D>) m_graph.reset();
#endif
    m_ctx = nullptr;
    m_input = Tensor<float, D>(s, ctx);
    m_output = Tensor<float, D>(Shape{s.n(), 1, s.h(), s.w()}, ctx);
    copy(ctx, x, m_input);
    m_net.forward_eval(ctx, m_input, m_output);  // the warm-up
#if SRMDS_WITH_CUDA
    if constexpr (!is_cpu_v<D>) m_graph.capture(ctx, [&] { m_net.forward_eval(ctx, m_input, m_output); });
#endif
    m_ctx = &ctx;
    ++m_captures;
  }

  Net m_net;
  Tensor<float, D> m_input, m_output;  // (N, in, H, W), (N, 1, H, W): the graph reads and writes these
  Context<D>* m_ctx = nullptr;         // the context captured on (null: nothing captured)
  int m_captures = 0;
#if SRMDS_WITH_CUDA
  cuda::StreamGraph m_graph;  // unused on the CPU
#endif
};

}  // namespace srmds
