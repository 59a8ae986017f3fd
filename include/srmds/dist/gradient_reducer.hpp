// GradientReducer: the gradient of a global batch from every rank's gradient of its shard.
//
// Rank r computed g_r, the gradient of the mean loss over its n_r slices of a global batch of
// n = sum n_r slices. The loss of the global batch is sum_r (n_r / n) L_r (the loss is a mean over
// slices), so its gradient is
//     g = sum over ranks of (n_r / n) g_r,
// which every rank ends with in its parameter gradients: each rank scales its own gradient, the
// scaled gradients are summed with the communicator's all-reduce, and every rank gets the same g
// (with equal shards, n_r / n = 1 / N: the average).
//
// The gradients are packed into a host staging vector in REVERSE parameter order (the order in which
// the backward pass finishes them, as PyTorch DDP's buckets), cut into buckets of `bucket_values`
// values (the last one shorter; a tensor may span buckets), each bucket summed with one all-reduce,
// and copied back. Two ways, with the same buckets and so the same results (for 2 ranks bit for
// bit: each value is a + b either way):
//   - after the backward pass: reduce(ctx, scale) packs everything and all-reduces bucket by bucket;
//   - overlapped (overlap = true): begin(scale) before the backward pass; grads_final(list) from the
//     network's hook (SrmdsNet::GradsFinal) marks parameters final, and each bucket whose parameters
//     are all final is packed and its non-blocking all-reduce started (Communicator::all_reduce_start)
//     in bucket order, while the pass goes on; every hook call also drives the requests in flight
//     (MPI_Test on the oldest one: Open MPI progresses them only inside MPI calls); finish() after
//     the pass starts what is left, waits for everything and unpacks. reduce() in this mode is begin + finish (a rank with
//     no slice of a batch), so every rank starts the same non-blocking calls in the same order.
// The overlapped way is for host gradients (CPU): with CUDA gradients each pack would wait for the
// device, so the trainer reduces them after the pass.
//
// Timing: seconds() is the wall time spent inside the reducer (packing, starting, driving, waiting,
// unpacking; waits include waiting for the slowest rank); exposed_seconds() the part after the
// backward pass (reduce(), or finish()): what the step waits for beyond its own computation;
// completed_in_pass() the share of the values whose sums had arrived when the pass ended.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "srmds/core/named_tensor.hpp"
#include "srmds/dist/communicator.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds::dist {

template <class T, class D>
class GradientReducer {
public:
  // 4 MiB of float (PyTorch DDP: 25 MB, the first bucket 1 MB): small enough that a base-16 network
  // (1.94 M values) has two buckets, the first of which can go while the backward pass runs.
  static constexpr int64_t kDefaultBucketValues = int64_t(1) << 20;

  // The parameters of `list` (entries with a gradient); the tensors must outlive the reducer.
  GradientReducer(Communicator& comm, const StateList<T, D>& list, int64_t bucket_values = kDefaultBucketValues,
                  bool overlap = false)
      : m_comm(comm), m_bucket(bucket_values), m_overlap(overlap) {
    SRMDS_CHECK(bucket_values > 0, "GradientReducer: bucket size " << bucket_values << " must be positive");
    SRMDS_CHECK(!comm.device_buffers(), "GradientReducer: the " << comm.name()
                                                                << " communicator reduces device buffers; this "
                                                                   "reducer stages gradients in host memory");
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "GradientReducer: float or double");
    SRMDS_CHECK((!overlap || std::is_same_v<T, float>), "GradientReducer: the overlapped reduction is for float gradients");
    for (const auto& e : list) {
      if (!e.is_parameter()) continue;
      SRMDS_CHECK(e.grad->is_contiguous(), "GradientReducer: the gradient of " << e.name << " is a strided view");
      m_params.push_back(e);
    }
    // Flat layout: the last parameter first.
    int64_t total = 0;
    m_offset.assign(m_params.size(), 0);
    for (size_t k = m_params.size(); k-- > 0;) {
      m_offset[k] = total;
      total += m_params[k].grad->numel();
      if (m_params[k].grad->numel() > 0) m_index[m_params[k].grad->data()] = k;
    }
    m_flat.assign(static_cast<size_t>(total), T(0));
    // Each bucket's pieces of parameters, and the buckets each parameter touches.
    const int64_t nb = buckets();
    m_segments.assign(static_cast<size_t>(nb), {});
    m_param_buckets.assign(m_params.size(), {});
    for (size_t k = m_params.size(); k-- > 0;) {
      const int64_t n = m_params[k].grad->numel();
      for (int64_t at = 0; at < n;) {
        const int64_t flat = m_offset[k] + at, b = flat / m_bucket;
        const int64_t len = std::min(n - at, (b + 1) * m_bucket - flat);
        m_segments[static_cast<size_t>(b)].push_back({k, at, flat, len});
        m_param_buckets[k].push_back(b);
        at += len;
      }
    }
    m_pending_init.assign(static_cast<size_t>(nb), 0);
    for (size_t b = 0; b < m_segments.size(); ++b) m_pending_init[b] = static_cast<int>(m_segments[b].size());
  }

  int64_t values() const { return static_cast<int64_t>(m_flat.size()); }
  int64_t buckets() const { return (values() + m_bucket - 1) / m_bucket; }
  bool overlapped() const { return m_overlap; }

  // Every parameter gradient <- sum over ranks of scale_r * gradient_r (scale: this rank's n_r / n),
  // after the backward pass.
  void reduce(Context<D>& ctx, double scale) {
    if (m_overlap) {
      begin(scale);
      finish(ctx);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    m_scale = static_cast<T>(scale);
    for (int64_t b = 0; b < buckets(); ++b) pack(ctx, b);
    for (int64_t first = 0; first < values(); first += m_bucket)
      m_comm.all_reduce(m_flat.data() + first, std::min(m_bucket, values() - first), ReduceOp::Sum);
    unpack(ctx);
    const double t = since(start);
    m_seconds += t;
    m_exposed += t;
  }

  // The overlapped way (overlap = true): begin before the backward pass, grads_final from its hook,
  // finish after it.
  void begin(double scale) {
    SRMDS_CHECK(m_overlap, "GradientReducer::begin: this reducer reduces after the backward pass");
    SRMDS_CHECK(!m_active, "GradientReducer::begin: the previous reduction was not finished");
    m_active = true;
    m_scale = static_cast<T>(scale);
    m_ready.assign(m_params.size(), 0);
    m_pending = m_pending_init;
    m_requests.clear();
    m_requests.resize(static_cast<size_t>(buckets()));
    m_next = 0;
    m_done = 0;
  }

  // The gradients of `list`'s parameters are final (entries that are not this reducer's parameters,
  // such as BN statistics, are ignored).
  void grads_final(Context<D>& ctx, const StateList<T, D>& list) {
    if (!m_active) return;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& e : list) {
      if (!e.is_parameter() || e.grad->numel() == 0) continue;
      const auto it = m_index.find(e.grad->data());
      if (it != m_index.end()) mark(it->second);
    }
    start_ready(ctx);
    drive();
    m_seconds += since(start);
  }

  void finish(Context<D>& ctx) {
    SRMDS_CHECK(m_active, "GradientReducer::finish: no reduction begun");
    const auto start = std::chrono::steady_clock::now();
    drive();  // the buckets whose sums arrived while the pass ran
    m_values_in_pass += std::min(m_done * m_bucket, values());
    m_values_reduced += values();
    for (size_t k = 0; k < m_params.size(); ++k) mark(k);  // whatever the hook did not report
    start_ready(ctx);
    for (auto& r : m_requests) r->wait();
    m_requests.clear();
    m_active = false;
    unpack(ctx);
    const double t = since(start);
    m_seconds += t;
    m_exposed += t;
  }

  double seconds() const { return m_seconds; }
  double exposed_seconds() const { return m_exposed; }
  // Overlapped way: the fraction of the gradient values (over every finish()) whose sum had arrived
  // before the backward pass ended (0 when nothing was reduced yet).
  double completed_in_pass() const {
    return m_values_reduced > 0 ? static_cast<double>(m_values_in_pass) / static_cast<double>(m_values_reduced) : 0.0;
  }

private:
  struct Segment {
    size_t param;
    int64_t param_offset, flat_offset, len;
  };

  static double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

  void mark(size_t k) {
    if (m_ready[k]) return;
    m_ready[k] = 1;
    for (const int64_t b : m_param_buckets[k]) --m_pending[static_cast<size_t>(b)];
  }

  // Starts the buckets whose parameters are all final, in bucket order.
  void start_ready(Context<D>& ctx) {
    while (m_next < buckets() && m_pending[static_cast<size_t>(m_next)] == 0) {
      pack(ctx, m_next);
      const int64_t first = m_next * m_bucket;
      if constexpr (std::is_same_v<T, float>)
        m_requests[static_cast<size_t>(m_next)] =
            m_comm.all_reduce_start(m_flat.data() + first, std::min(m_bucket, values() - first));
      ++m_next;
    }
  }

  // Tests the oldest request in flight (and the next ones while they are done): one MPI_Test runs
  // Open MPI's progress engine, which moves every outstanding collective on.
  void drive() {
    while (m_done < m_next && m_requests[static_cast<size_t>(m_done)]->test()) ++m_done;
  }

  // Bucket b of the staging vector <- scale * its pieces of the gradients (0 where scale is 0: a
  // stand-in's gradient has no meaning and must not turn the sum into NaN).
  void pack(Context<D>& ctx, int64_t b) {
    for (const Segment& s : m_segments[static_cast<size_t>(b)]) {
      T* dst = m_flat.data() + s.flat_offset;
      if (m_scale == T(0)) {
        std::fill(dst, dst + s.len, T(0));
        continue;
      }
      const Tensor<T, D>& g = *m_params[s.param].grad;
      if constexpr (is_cpu_v<D>) {
        const T* src = g.data() + s.param_offset;
        for (int64_t i = 0; i < s.len; ++i) dst[i] = m_scale * src[i];
      } else {
        const Tensor<T, Cpu> h = to_host(ctx, g);
        const T* src = h.data() + s.param_offset;
        for (int64_t i = 0; i < s.len; ++i) dst[i] = m_scale * src[i];
      }
    }
  }

  void unpack(Context<D>& ctx) {
    for (size_t k = 0; k < m_params.size(); ++k) {
      Tensor<T, D>& g = *m_params[k].grad;
      const int64_t n = g.numel();
      if (n == 0) continue;
      const T* src = m_flat.data() + m_offset[k];
      if constexpr (is_cpu_v<D>) {
        std::memcpy(g.data(), src, static_cast<size_t>(n) * sizeof(T));
      } else {
        Tensor<T, Cpu> h(g.shape());
        std::memcpy(h.data(), src, static_cast<size_t>(n) * sizeof(T));
        copy_to_device(ctx, h, g);
      }
    }
  }

  Communicator& m_comm;
  int64_t m_bucket;
  bool m_overlap;
  StateList<T, D> m_params;
  std::vector<int64_t> m_offset;                     // each parameter's place in m_flat
  std::unordered_map<const void*, size_t> m_index;   // gradient data -> parameter
  std::vector<std::vector<Segment>> m_segments;      // per bucket
  std::vector<std::vector<int64_t>> m_param_buckets;  // per parameter
  std::vector<int> m_pending_init, m_pending;        // per bucket: parameters not final yet
  std::vector<char> m_ready;                         // per parameter
  std::vector<std::unique_ptr<Request>> m_requests;  // per bucket, started ones
  int64_t m_next = 0;                                // the next bucket to start
  int64_t m_done = 0;                                // buckets [0, m_done) are known to be done
  bool m_active = false;
  T m_scale = T(1);
  std::vector<T> m_flat;  // (sum of the parameters' sizes)
  double m_seconds = 0, m_exposed = 0;
  int64_t m_values_in_pass = 0, m_values_reduced = 0;
};

}  // namespace srmds::dist
