// cuDNN convolutions (see kernels/cudnn.hpp). The legacy cudnnConvolution* API is
// deprecated in cuDNN 9; its deprecation warnings are silenced here, the only file that uses it.
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

#include "cudnn.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "check.hpp"
#include "cudnn_limits.hpp"
#include "srmds/cuda/counters.hpp"

namespace srmds::cuda {
namespace detail {
namespace {

enum class ConvDirection : int { Forward = 0, BackwardData = 1, BackwardFilter = 2 };

const char* direction_name(ConvDirection d) {
  switch (d) {
    case ConvDirection::Forward: return "conv2d_forward";
    case ConvDirection::BackwardData: return "conv2d_backward_data";
    case ConvDirection::BackwardFilter: return "conv2d_backward_filter";
  }
  return "conv2d";
}

// Upper bound on the workspace an algorithm may use.
constexpr size_t kMaxWorkspace = size_t(256) << 20;

// Everything that determines which algorithm is valid and fastest.
struct ConvKey {
  int direction;
  int64_t n, cin, cout, h, w, kh, kw;
  int64_t x_batch_stride, y_batch_stride;  // x: (N, Cin, H, W), y: (N, Cout, H, W)
  int alignment;                           // min over the three data pointers of (ptr % 16 == 0 ? 16 : 4)
  int data_type;                           // cudnnDataType_t
  bool tf32;
  bool deterministic;  // only CUDNN_DETERMINISTIC algorithms

  bool operator==(const ConvKey& o) const {
    return direction == o.direction && n == o.n && cin == o.cin && cout == o.cout && h == o.h && w == o.w &&
           kh == o.kh && kw == o.kw && x_batch_stride == o.x_batch_stride && y_batch_stride == o.y_batch_stride &&
           alignment == o.alignment && data_type == o.data_type && tf32 == o.tf32 &&
           deterministic == o.deterministic;
  }
};

struct ConvKeyHash {
  size_t operator()(const ConvKey& k) const {
    size_t h = 0;
    auto mix = [&h](int64_t v) { h ^= std::hash<int64_t>()(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
    for (int64_t v : {int64_t(k.direction), k.n, k.cin, k.cout, k.h, k.w, k.kh, k.kw, k.x_batch_stride,
                      k.y_batch_stride, int64_t(k.alignment), int64_t(k.data_type), int64_t(k.tf32),
                      int64_t(k.deterministic)})
      mix(v);
    return h;
  }
};

// RAII cuDNN descriptors.
class TensorDesc {
public:
  TensorDesc() { SRMDS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&m_d)); }
  ~TensorDesc() { SRMDS_CUDNN_WARN(cudnnDestroyTensorDescriptor(m_d)); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return m_d; }

private:
  cudnnTensorDescriptor_t m_d = nullptr;
};

class FilterDesc {
public:
  FilterDesc() { SRMDS_CUDNN_CHECK(cudnnCreateFilterDescriptor(&m_d)); }
  ~FilterDesc() { SRMDS_CUDNN_WARN(cudnnDestroyFilterDescriptor(m_d)); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return m_d; }

private:
  cudnnFilterDescriptor_t m_d = nullptr;
};

class ConvDesc {
public:
  ConvDesc() { SRMDS_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&m_d)); }
  ~ConvDesc() { SRMDS_CUDNN_WARN(cudnnDestroyConvolutionDescriptor(m_d)); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  cudnnConvolutionDescriptor_t get() const { return m_d; }

private:
  cudnnConvolutionDescriptor_t m_d = nullptr;
};

// A chosen algorithm with the descriptors it runs with.
struct ConvPlan {
  TensorDesc x;  // (N, Cin, H, W), strided
  TensorDesc y;  // (N, Cout, H, W), strided
  FilterDesc w;  // (Cout, Cin, kh, kw)
  ConvDesc conv;
  int algo = 0;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  size_t workspace = 0;
};

int as_int(int64_t v, const char* what, const ConvKey& k) {
  SRMDS_CHECK(v >= 0 && v <= INT_MAX, direction_name(static_cast<ConvDirection>(k.direction))
                                          << ": " << what << " = " << v << " does not fit cuDNN's int");
  return static_cast<int>(v);
}

int alignment_of(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0 ? 16 : 4; }

}  // namespace

struct ConvPlanCache::Impl {
  std::unordered_map<ConvKey, std::unique_ptr<ConvPlan>, ConvKeyHash> plans;
};

ConvPlanCache::ConvPlanCache() : m_impl(std::make_unique<Impl>()) {}
ConvPlanCache::~ConvPlanCache() = default;
size_t ConvPlanCache::size() const { return m_impl->plans.size(); }
void ConvPlanCache::clear() noexcept { m_impl->plans.clear(); }

namespace {

// Describes the key's tensors on a fresh plan.
std::unique_ptr<ConvPlan> describe(const ConvKey& k) {
  auto plan = std::make_unique<ConvPlan>();
  const int n = as_int(k.n, "N", k), h = as_int(k.h, "H", k), w = as_int(k.w, "W", k);
  const int cin = as_int(k.cin, "Cin", k), cout = as_int(k.cout, "Cout", k);
  const int hw = as_int(k.h * k.w, "H*W", k);
  SRMDS_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(plan->x.get(), CUDNN_DATA_FLOAT, n, cin, h, w,
                                                 as_int(k.x_batch_stride, "x batch stride", k), hw, w, 1));
  SRMDS_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(plan->y.get(), CUDNN_DATA_FLOAT, n, cout, h, w,
                                                 as_int(k.y_batch_stride, "y batch stride", k), hw, w, 1));
  SRMDS_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, cout, cin,
                                               static_cast<int>(k.kh), static_cast<int>(k.kw)));
  SRMDS_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv.get(), static_cast<int>(k.kh / 2),
                                                    static_cast<int>(k.kw / 2), 1, 1, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // TF32 off: FMA-only kernels. On: tensor-core (TF32) kernels are allowed.
  SRMDS_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv.get(), k.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  return plan;
}

// Scratch output for the timed candidates with the same offset modulo 256 bytes as the real output,
// so they see the same alignment.
struct Scratch {
  Buffer buffer;
  void* ptr = nullptr;
};
Scratch scratch_like(Context<Cuda>& ctx, const void* real, size_t extent_bytes) {
  Scratch s;
  const size_t offset = reinterpret_cast<uintptr_t>(real) % 256;
  s.buffer = ctx.allocate(extent_bytes + 256);
  s.ptr = static_cast<char*>(s.buffer.get()) + offset;
  return s;
}

size_t find_workspace_limit() {
  size_t free_bytes = 0, total = 0;
  SRMDS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return std::min(kMaxWorkspace, free_bytes / 4);
}

// cuDNN's heuristics rank every algorithm without running any (cudnnGetConvolution*Algorithm_v7);
// the usable ones (status success, workspace within the limit, deterministic when the key asks for
// it) are run in that order until kTimedCandidates have run, timed on the call's own inputs with
// the output going to scratch, and the fastest is kept. (An exhaustive cudnnFind*AlgorithmEx runs
// every algorithm, slow ones included, for each of the ~220 configurations of a training step:
// minutes before the benchmark's first timed pass.)
constexpr size_t kTimedCandidates = 3;

template <class Perf>
std::vector<Perf> candidates(const ConvKey& k, const std::vector<Perf>& ranked, int returned, size_t ws_limit) {
  std::vector<Perf> out;
  for (int i = 0; i < returned; ++i) {
    const Perf& r = ranked[static_cast<size_t>(i)];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > ws_limit) continue;
    if (k.deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
    out.push_back(r);
  }
  return out;
}

// A pair of CUDA events (destroyed even when a check throws).
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    SRMDS_CUDA_CHECK(cudaEventCreate(&start));
    SRMDS_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~EventPair() {
    SRMDS_CUDA_WARN(cudaEventDestroy(start));
    SRMDS_CUDA_WARN(cudaEventDestroy(stop));
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

// Runs candidates in rank order, each once to warm up (its first run may load or compile kernels)
// and once between two CUDA events on the context's stream, with run(algo, workspace bytes) ->
// cudnnStatus_t, until kTimedCandidates have run; a candidate whose run fails is passed over.
// Records the fastest in the plan (with TF32 on, with the math type cuDNN ranked it with).
template <class Perf, class Run>
void time_and_choose(Context<Cuda>& ctx, ConvPlan& plan, const ConvKey& k, const std::vector<Perf>& cands,
                     int ranked, size_t ws_limit, const Run& run) {
  EventPair ev;
  float best_ms = 0;
  const Perf* best = nullptr;
  size_t timed = 0;
  for (const Perf& r : cands) {
    if (timed == kTimedCandidates) break;
    if (k.tf32) SRMDS_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), r.mathType));
    if (run(static_cast<int>(r.algo), r.memory) != CUDNN_STATUS_SUCCESS) continue;
    SRMDS_CUDA_CHECK(cudaEventRecord(ev.start, ctx.stream()));
    const cudnnStatus_t st = run(static_cast<int>(r.algo), r.memory);
    SRMDS_CUDA_CHECK(cudaEventRecord(ev.stop, ctx.stream()));
    SRMDS_CUDA_CHECK(cudaEventSynchronize(ev.stop));
    float ms = 0;
    SRMDS_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
    if (st != CUDNN_STATUS_SUCCESS) continue;
    ++timed;
    if (!best || ms < best_ms) {
      best = &r;
      best_ms = ms;
    }
  }
  SRMDS_CHECK(best, direction_name(static_cast<ConvDirection>(k.direction))
                        << ": cuDNN found no usable algorithm for N=" << k.n << " Cin=" << k.cin << " Cout=" << k.cout
                        << " H=" << k.h << " W=" << k.w << " kernel " << k.kh << "x" << k.kw << " (" << ranked
                        << " ranked, " << cands.size() << " usable, none ran; workspace limit " << ws_limit
                        << " bytes" << (k.deterministic ? ", deterministic algorithms only" : "") << ")");
  plan.algo = static_cast<int>(best->algo);
  plan.workspace = best->memory;
  if (k.tf32) SRMDS_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), best->mathType));
}

const ConvPlan& plan_for(Context<Cuda>& ctx, const ConvKey& key, const void* x, const void* w, const void* y) {
  auto& plans = ctx.conv_plans().impl().plans;
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;

  std::unique_ptr<ConvPlan> plan = describe(key);
  const ConvPlan& p = *plan;
  const size_t ws_limit = std::max(ctx.workspace_bytes(), find_workspace_limit());
  void* ws = ctx.workspace(ws_limit);  // the arena grows once to the limit and serves every later call
  cudnnHandle_t h = ctx.cudnn();
  int returned = 0;
  const float one = 1.0f, zero = 0.0f;
  const size_t x_extent = static_cast<size_t>((key.n - 1) * key.x_batch_stride + key.cin * key.h * key.w) * 4;
  const size_t y_extent = static_cast<size_t>((key.n - 1) * key.y_batch_stride + key.cout * key.h * key.w) * 4;
  const size_t w_extent = static_cast<size_t>(key.cout * key.cin * key.kh * key.kw) * 4;
  switch (static_cast<ConvDirection>(key.direction)) {
    case ConvDirection::Forward: {
      int count = 0;
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> ranked(static_cast<size_t>(std::max(count, 1)));
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.get(), p.w.get(), p.conv.get(), p.y.get(),
                                                               count, &returned, ranked.data()));
      Scratch out = scratch_like(ctx, y, y_extent);
      time_and_choose(ctx, *plan, key, candidates(key, ranked, returned, ws_limit), returned, ws_limit,
                      [&](int algo, size_t bytes) {
                        return cudnnConvolutionForward(h, &one, p.x.get(), x, p.w.get(), w, p.conv.get(),
                                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes,
                                                       &zero, p.y.get(), out.ptr);
                      });
      break;
    }
    case ConvDirection::BackwardData: {
      int count = 0;
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> ranked(static_cast<size_t>(std::max(count, 1)));
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w.get(), p.y.get(), p.conv.get(),
                                                                    p.x.get(), count, &returned, ranked.data()));
      Scratch out = scratch_like(ctx, x, x_extent);  // dx
      time_and_choose(ctx, *plan, key, candidates(key, ranked, returned, ws_limit), returned, ws_limit,
                      [&](int algo, size_t bytes) {
                        return cudnnConvolutionBackwardData(h, &one, p.w.get(), w, p.y.get(), y, p.conv.get(),
                                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws,
                                                            bytes, &zero, p.x.get(), out.ptr);
                      });
      break;
    }
    case ConvDirection::BackwardFilter: {
      int count = 0;
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> ranked(static_cast<size_t>(std::max(count, 1)));
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x.get(), p.y.get(), p.conv.get(),
                                                                      p.w.get(), count, &returned, ranked.data()));
      Scratch out = scratch_like(ctx, w, w_extent);  // dw
      time_and_choose(ctx, *plan, key, candidates(key, ranked, returned, ws_limit), returned, ws_limit,
                      [&](int algo, size_t bytes) {
                        return cudnnConvolutionBackwardFilter(h, &one, p.x.get(), x, p.y.get(), y, p.conv.get(),
                                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                                              ws, bytes, &zero, p.w.get(), out.ptr);
                      });
      break;
    }
  }
  plans.emplace(key, std::move(plan));
  return p;
}

// The key's shapes and strides, each tensor checked against cuDNN's limit first; the direction
// names the tensors in messages: (x, w, y), (dx, w, dy) or (x, dw, dy).
ConvKey shape_key(ConvDirection dir, const Shape& x, int64_t x_batch_stride,  // (N, Cin, H, W)
                  const Shape& w, const Shape& y, int64_t y_batch_stride) {   // (Cout, Cin, kh, kw), (N, Cout, H, W)
  const char* op = direction_name(dir);
  check_cudnn_tensor(op, dir == ConvDirection::BackwardData ? "dx" : "x", x, x_batch_stride);
  check_cudnn_tensor(op, dir == ConvDirection::Forward ? "y" : "dy", y, y_batch_stride);
  check_cudnn_tensor(op, dir == ConvDirection::BackwardFilter ? "dw" : "weight", w, w[1] * w[2] * w[3]);
  ConvKey k{};
  k.direction = static_cast<int>(dir);
  k.n = x.n();
  k.cin = x.c();
  k.cout = y.c();
  k.h = x.h();
  k.w = x.w();
  k.kh = w[2];
  k.kw = w[3];
  k.x_batch_stride = x_batch_stride;
  k.y_batch_stride = y_batch_stride;
  k.data_type = static_cast<int>(CUDNN_DATA_FLOAT);
  return k;
}

// A batch of one has no meaningful batch stride; it is described as contiguous.
int64_t described_stride(const Tensor<float, Cuda>& t) {
  return t.shape().n() > 1 ? t.batch_stride() : t.sample_numel();
}

ConvKey make_key(ConvDirection dir, Context<Cuda>& ctx, const Tensor<float, Cuda>& x,  // (N, Cin, H, W)
                 const Tensor<float, Cuda>& w, const Tensor<float, Cuda>& y) {             // (N, Cout, H, W)
  SRMDS_CHECK(w.is_contiguous(), direction_name(dir) << ": weight " << w.shape() << " is a strided view");
  ConvKey k = shape_key(dir, x.shape(), described_stride(x), w.shape(), y.shape(), described_stride(y));
  k.alignment = std::min({alignment_of(x.data()), alignment_of(w.data()), alignment_of(y.data())});
  k.tf32 = ctx.tf32();
  k.deterministic = ctx.deterministic();
  return k;
}

void check_beta(const char* op, float beta) {
  SRMDS_CHECK(beta == 0.0f || beta == 1.0f, op << ": beta " << beta << " must be 0 or 1");
}

}  // namespace

void check_conv_descriptors(const Shape& x, int64_t x_batch_stride, const Shape& w, const Shape& y,
                            int64_t y_batch_stride) {
  const ConvKey k = shape_key(ConvDirection::Forward, x, x_batch_stride, w, y, y_batch_stride);
  for (bool tf32 : {false, true}) {
    ConvKey kt = k;
    kt.tf32 = tf32;
    const std::unique_ptr<ConvPlan> plan = describe(kt);
    int n = 0, c = 0, h = 0, wd = 0;
    SRMDS_CUDNN_CHECK(
        cudnnGetConvolution2dForwardOutputDim(plan->conv.get(), plan->x.get(), plan->w.get(), &n, &c, &h, &wd));
    SRMDS_CHECK(n == y.n() && c == y.c() && h == y.h() && wd == y.w(),
                "conv2d: cuDNN's output for x " << x << " and weight " << w << " is [" << n << ", " << c << ", " << h
                                                << ", " << wd << "], not y " << y);
  }
}

}  // namespace detail

void cudnn_conv_forward(Context<Cuda>& ctx, const Tensor<float, Cuda>& x, const Tensor<float, Cuda>& w,
                        Tensor<float, Cuda>& y, float beta) {
  using namespace detail;
  check_beta("conv2d_forward", beta);
  if (y.numel() == 0) return;
  const ConvKey key = make_key(ConvDirection::Forward, ctx, x, w, y);
  const ConvPlan& p = plan_for(ctx, key, x.data(), w.data(), y.data());
  void* ws = p.workspace ? ctx.workspace(p.workspace) : nullptr;
  const float alpha = 1.0f;
  detail::count_library_call();
  SRMDS_CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &alpha, p.x.get(), x.data(), p.w.get(), w.data(),
                                            p.conv.get(), static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), ws,
                                            p.workspace, &beta, p.y.get(), y.data()));
}

void cudnn_conv_backward_data(Context<Cuda>& ctx, const Tensor<float, Cuda>& dy, const Tensor<float, Cuda>& w,
                              Tensor<float, Cuda>& dx, float beta) {
  using namespace detail;
  check_beta("conv2d_backward_data", beta);
  if (dx.numel() == 0) return;
  SRMDS_CHECK(dy.numel() > 0, "conv2d_backward_data: dy " << dy.shape() << " is empty");
  const ConvKey key = make_key(ConvDirection::BackwardData, ctx, dx, w, dy);
  const ConvPlan& p = plan_for(ctx, key, dx.data(), w.data(), dy.data());
  void* ws = p.workspace ? ctx.workspace(p.workspace) : nullptr;
  const float alpha = 1.0f;
  detail::count_library_call();
  SRMDS_CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &alpha, p.w.get(), w.data(), p.y.get(), dy.data(),
                                                 p.conv.get(), static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo),
                                                 ws, p.workspace, &beta, p.x.get(), dx.data()));
}

void cudnn_conv_backward_filter(Context<Cuda>& ctx, const Tensor<float, Cuda>& x, const Tensor<float, Cuda>& dy,
                                Tensor<float, Cuda>& dw, float beta) {
  using namespace detail;
  check_beta("conv2d_backward_filter", beta);
  if (dw.numel() == 0) return;
  if (x.numel() == 0) {  // empty batch: the filter gradient is zero
    if (beta == 0.0f) SRMDS_CUDA_CHECK(cudaMemsetAsync(dw.data(), 0, sizeof(float) * dw.numel(), ctx.stream()));
    return;
  }
  const ConvKey key = make_key(ConvDirection::BackwardFilter, ctx, x, dw, dy);
  const ConvPlan& p = plan_for(ctx, key, x.data(), dw.data(), dy.data());
  void* ws = p.workspace ? ctx.workspace(p.workspace) : nullptr;
  const float alpha = 1.0f;
  detail::count_library_call();
  SRMDS_CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &alpha, p.x.get(), x.data(), p.y.get(), dy.data(),
                                                   p.conv.get(),
                                                   static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo), ws,
                                                   p.workspace, &beta, p.w.get(), dw.data()));
}

}  // namespace srmds::cuda
