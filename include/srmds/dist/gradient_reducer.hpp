// GradientReducer: the gradient of a global batch from every rank's gradient of its shard.
//
// Rank r computed g_r, the gradient of the mean loss over its n_r slices of a global batch of
// n = sum n_r slices. The loss of the global batch is sum_r (n_r / n) L_r (the loss is a mean over
// slices), so its gradient is
//     g = sum over ranks of (n_r / n) g_r,
// which reduce(ctx, n_r / n) leaves in every rank's parameter gradients: each rank scales its own
// gradient, the scaled gradients are summed with the communicator's all-reduce, and every rank gets
// the same g (with equal shards, n_r / n = 1 / N: the average).
//
// The gradients are packed, in parameter order, into one host staging vector (copied from the device
// first on CUDA), reduced in buckets of `bucket_values` values (the last bucket is shorter; a tensor
// may span buckets) and copied back. The buckets are reduced after the whole backward pass, not
// while it runs (no overlap yet). seconds() is the wall time spent in reduce(): packing, the
// all-reduces (which include waiting for the slowest rank) and unpacking.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "srmds/core/named_tensor.hpp"
#include "srmds/dist/communicator.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds::dist {

template <class T, class D>
class GradientReducer {
public:
  static constexpr int64_t kDefaultBucketValues = int64_t(1) << 22;  // 16 MiB of float, as DDP's 25 MB order

  // The parameters of `list` (entries with a gradient); the tensors must outlive the reducer.
  GradientReducer(Communicator& comm, const StateList<T, D>& list, int64_t bucket_values = kDefaultBucketValues)
      : m_comm(comm), m_bucket(bucket_values) {
    SRMDS_CHECK(bucket_values > 0, "GradientReducer: bucket size " << bucket_values << " must be positive");
    SRMDS_CHECK(!comm.device_buffers(), "GradientReducer: the " << comm.name()
                                                                << " communicator reduces device buffers; this "
                                                                   "reducer stages gradients in host memory");
    int64_t total = 0;
    for (const auto& e : list) {
      if (!e.is_parameter()) continue;
      SRMDS_CHECK(e.grad->is_contiguous(), "GradientReducer: the gradient of " << e.name << " is a strided view");
      m_params.push_back(e);
      total += e.grad->numel();
    }
    m_flat.assign(static_cast<size_t>(total), T(0));
  }

  int64_t values() const { return static_cast<int64_t>(m_flat.size()); }
  int64_t buckets() const { return (values() + m_bucket - 1) / m_bucket; }

  // Every parameter gradient <- sum over ranks of scale_r * gradient_r (scale: this rank's n_r / n).
  void reduce(Context<D>& ctx, double scale) {
    const auto start = std::chrono::steady_clock::now();
    const T s = static_cast<T>(scale);
    int64_t offset = 0;
    for (const auto& e : m_params) {
      const int64_t n = e.grad->numel();
      T* dst = m_flat.data() + offset;
      if constexpr (is_cpu_v<D>) {
        const T* src = e.grad->data();
        for (int64_t i = 0; i < n; ++i) dst[i] = s * src[i];
      } else {
        const Tensor<T, Cpu> h = to_host(ctx, *e.grad);
        for (int64_t i = 0; i < n; ++i) dst[i] = s * h.data()[i];
      }
      offset += n;
    }
    for (int64_t first = 0; first < values(); first += m_bucket)
      m_comm.all_reduce(m_flat.data() + first, std::min(m_bucket, values() - first), ReduceOp::Sum);
    offset = 0;
    for (const auto& e : m_params) {
      const int64_t n = e.grad->numel();
      if (n > 0) {
        if constexpr (is_cpu_v<D>) {
          std::memcpy(e.grad->data(), m_flat.data() + offset, static_cast<size_t>(n) * sizeof(T));
        } else {
          Tensor<T, Cpu> h(e.grad->shape());
          std::memcpy(h.data(), m_flat.data() + offset, static_cast<size_t>(n) * sizeof(T));
          copy_to_device(ctx, h, *e.grad);
        }
      }
      offset += n;
    }
    m_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  double seconds() const { return m_seconds; }

private:
  Communicator& m_comm;
  int64_t m_bucket;
  StateList<T, D> m_params;
  std::vector<T> m_flat;  // (sum of the parameters' sizes)
  double m_seconds = 0;
};

}  // namespace srmds::dist
