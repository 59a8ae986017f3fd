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

// Upper bound on the workspace an algorithm may use (also what cudnnFind* may try).
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

// Scratch output for cudnnFind*Ex with the same offset modulo 256 bytes as the real output, so the
// timed algorithms see the same alignment.
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

// Picks the fastest successful result within the workspace limit (and deterministic, when the key
// asks for it) and records it in the plan. cudnnFind* returns the results fastest first.
template <class Perf>
void choose(ConvPlan& plan, const ConvKey& k, const std::vector<Perf>& results, int returned, size_t ws_limit) {
  for (int i = 0; i < returned; ++i) {
    const Perf& r = results[static_cast<size_t>(i)];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > ws_limit) continue;
    if (k.deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
    plan.algo = static_cast<int>(r.algo);
    plan.workspace = r.memory;
    // With TF32 off the descriptor stays FMA-only; with it on, run with the math type that was timed.
    if (k.tf32) SRMDS_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), r.mathType));
    return;
  }
  SRMDS_THROW(direction_name(static_cast<ConvDirection>(k.direction))
              << ": cuDNN found no usable algorithm for N=" << k.n << " Cin=" << k.cin << " Cout=" << k.cout
              << " H=" << k.h << " W=" << k.w << " kernel " << k.kh << "x" << k.kw << " (" << returned
              << " candidates, workspace limit " << ws_limit << " bytes"
              << (k.deterministic ? ", deterministic algorithms only" : "") << ")");
}

const ConvPlan& plan_for(Context<Cuda>& ctx, const ConvKey& key, const void* x, const void* w, const void* y) {
  auto& plans = ctx.conv_plans().impl().plans;
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;

  std::unique_ptr<ConvPlan> plan = describe(key);
  const size_t ws_limit = std::max(ctx.workspace_bytes(), find_workspace_limit());
  void* ws = ctx.workspace(ws_limit);  // the arena grows once to the limit and serves every later call
  cudnnHandle_t h = ctx.cudnn();
  int returned = 0;
  const size_t x_extent = static_cast<size_t>((key.n - 1) * key.x_batch_stride + key.cin * key.h * key.w) * 4;
  const size_t y_extent = static_cast<size_t>((key.n - 1) * key.y_batch_stride + key.cout * key.h * key.w) * 4;
  const size_t w_extent = static_cast<size_t>(key.cout * key.cin * key.kh * key.kw) * 4;
  switch (static_cast<ConvDirection>(key.direction)) {
    case ConvDirection::Forward: {
      int count = 0;
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> results(static_cast<size_t>(std::max(count, 1)));
      Scratch out = scratch_like(ctx, y, y_extent);
      SRMDS_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, plan->x.get(), x, plan->w.get(), w,
                                                               plan->conv.get(), plan->y.get(), out.ptr, count,
                                                               &returned, results.data(), ws, ws_limit));
      choose(*plan, key, results, returned, ws_limit);
      break;
    }
    case ConvDirection::BackwardData: {
      int count = 0;
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> results(static_cast<size_t>(std::max(count, 1)));
      Scratch out = scratch_like(ctx, x, x_extent);  // dx
      SRMDS_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, plan->w.get(), w, plan->y.get(), y,
                                                                    plan->conv.get(), plan->x.get(), out.ptr, count,
                                                                    &returned, results.data(), ws, ws_limit));
      choose(*plan, key, results, returned, ws_limit);
      break;
    }
    case ConvDirection::BackwardFilter: {
      int count = 0;
      SRMDS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> results(static_cast<size_t>(std::max(count, 1)));
      Scratch out = scratch_like(ctx, w, w_extent);  // dw
      SRMDS_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
          h, plan->x.get(), x, plan->y.get(), y, plan->conv.get(), plan->w.get(), out.ptr, count, &returned,
          results.data(), ws, ws_limit));
      choose(*plan, key, results, returned, ws_limit);
      break;
    }
  }
  const ConvPlan& ref = *plan;
  plans.emplace(key, std::move(plan));
  return ref;
}

ConvKey make_key(ConvDirection dir, Context<Cuda>& ctx, const Tensor<float, Cuda>& x,  // (N, Cin, H, W)
                 const Tensor<float, Cuda>& w, const Tensor<float, Cuda>& y) {             // (N, Cout, H, W)
  const char* op = direction_name(dir);
  SRMDS_CHECK(w.is_contiguous(), op << ": weight " << w.shape() << " is a strided view");
  // The three tensors as cuDNN will see them: (x, w, y), (dx, w, dy) or (x, dw, dy).
  const char* x_name = dir == ConvDirection::BackwardData ? "dx" : "x";
  const char* y_name = dir == ConvDirection::Forward ? "y" : "dy";
  const char* w_name = dir == ConvDirection::BackwardFilter ? "dw" : "weight";
  check_cudnn_tensor(op, x_name, x.shape(), x.shape().n() > 1 ? x.batch_stride() : x.sample_numel());
  check_cudnn_tensor(op, y_name, y.shape(), y.shape().n() > 1 ? y.batch_stride() : y.sample_numel());
  check_cudnn_tensor(op, w_name, w.shape(), w.batch_stride());
  ConvKey k{};
  k.direction = static_cast<int>(dir);
  k.n = x.shape().n();
  k.cin = x.shape().c();
  k.cout = y.shape().c();
  k.h = x.shape().h();
  k.w = x.shape().w();
  k.kh = w.shape()[2];
  k.kw = w.shape()[3];
  // A batch of one has no meaningful batch stride; describe it as contiguous.
  k.x_batch_stride = k.n > 1 ? x.batch_stride() : x.sample_numel();
  k.y_batch_stride = k.n > 1 ? y.batch_stride() : y.sample_numel();
  k.alignment = std::min({alignment_of(x.data()), alignment_of(w.data()), alignment_of(y.data())});
  k.data_type = static_cast<int>(CUDNN_DATA_FLOAT);
  k.tf32 = ctx.tf32();
  k.deterministic = ctx.deterministic();
  return k;
}

void check_beta(const char* op, float beta) {
  SRMDS_CHECK(beta == 0.0f || beta == 1.0f, op << ": beta " << beta << " must be 0 or 1");
}

}  // namespace
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
  SRMDS_CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &alpha, p.x.get(), x.data(), p.y.get(), dy.data(),
                                                   p.conv.get(),
                                                   static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo), ws,
                                                   p.workspace, &beta, p.w.get(), dw.data()));
}

}  // namespace srmds::cuda
