// BatchStatsReducer: the hook through which training-mode BatchNorm takes its statistics over a
// batch spread across processes (synchronised BatchNorm, `srmds train --sync-bn`; issue 23).
//
// While a BatchStatsScope is alive on a thread, every batchnorm_forward_train and batchnorm_backward
// called on that thread (every BN of the network: SRFV branches and identity, external BN,
// attention blocks) computes its per-channel sums on its own part of the batch and passes them to
// the reducer, which sums them over every part (an all-reduce); the op then normalises with the
// statistics of the whole batch (ops/sync_batchnorm.hpp). With no scope alive (the default, and
// always in one process) the ops run their ordinary single-batch kernels, unchanged.
//
// weight: this part's share n_r / n of the global batch's mean loss. The forward sums are the
// data's (weight only decides whether the part contributes: 0 = an empty part, which still makes
// every call, with zero sums, so that no other process waits); the backward sums are weighted by it,
// so that they are the sums of the global loss's gradient (see ops/sync_batchnorm.hpp).
//
// Every process must run the same BN calls in the same order (they do: the same network).
#pragma once

#include <cstdint>

namespace srmds {

class BatchStatsReducer {
public:
  virtual ~BatchStatsReducer() = default;
  // values[i] <- sum over every part of values[i] (every part receives the same sums).
  virtual void sum(double* values, int64_t count) = 0;
  double weight = 1;  // n_r / n, in [0, 1]
};

namespace detail {
inline BatchStatsReducer*& current_batch_stats_reducer() {
  static thread_local BatchStatsReducer* current = nullptr;
  return current;
}
}  // namespace detail

// The reducer of this thread's training-mode BatchNorm, or null (ordinary per-batch statistics).
inline BatchStatsReducer* batch_stats_reducer() { return detail::current_batch_stats_reducer(); }

// Installs `reducer` (may be null: none) for this thread's BN ops until destroyed; scopes nest.
class BatchStatsScope {
public:
  explicit BatchStatsScope(BatchStatsReducer* reducer) : m_previous(detail::current_batch_stats_reducer()) {
    detail::current_batch_stats_reducer() = reducer;
  }
  ~BatchStatsScope() { detail::current_batch_stats_reducer() = m_previous; }
  BatchStatsScope(const BatchStatsScope&) = delete;
  BatchStatsScope& operator=(const BatchStatsScope&) = delete;

private:
  BatchStatsReducer* m_previous;
};

}  // namespace srmds
