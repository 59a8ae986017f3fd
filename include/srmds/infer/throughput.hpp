// Inference speed of a network (srmds bench, demo): images per second of eval-mode forward passes
// of z_0 on one fixed batch, after `warmup` untimed passes, over at least `min_iterations` passes
// and at least `min_seconds` of wall time (the context is synchronised before the clock stops, so
// asynchronous devices are timed correctly).
#pragma once

#include <chrono>

#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds {

struct Throughput {
  double images_per_s = 0;
  double ms_per_batch = 0;
  int iterations = 0;
  int batch = 0;
};

template <class T, class D>
Throughput measure_throughput(Context<D>& ctx, SrmdsNet<T, D>& net, const Tensor<float, Cpu>& x, double min_seconds,
                              int min_iterations = 3, int warmup = 1) {
  SRMDS_CHECK(x.shape().rank() == 4 && x.shape().n() > 0, "measure_throughput: input " << x.shape()
                                                                                       << " must be a non-empty (N, C, H, W) batch");
  SRMDS_CHECK(min_iterations > 0 && warmup >= 0 && min_seconds >= 0,
              "measure_throughput: min_iterations " << min_iterations << ", warmup " << warmup << ", min_seconds "
                                                    << min_seconds << " out of range");
  const Shape& s = x.shape();
  const Tensor<T, D> dx = device_view_as<T>(ctx, x);
  Tensor<T, D> z(Shape{s.n(), 1, s.h(), s.w()}, ctx);
  for (int i = 0; i < warmup; ++i) net.forward_eval(ctx, dx, z);
  ctx.synchronize();
  const auto start = std::chrono::steady_clock::now();
  Throughput out;
  out.batch = static_cast<int>(s.n());
  double secs = 0;
  while (out.iterations < min_iterations || secs < min_seconds) {
    net.forward_eval(ctx, dx, z);
    ctx.synchronize();
    ++out.iterations;
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  out.images_per_s = secs > 0 ? static_cast<double>(out.iterations) * static_cast<double>(s.n()) / secs : 0;
  out.ms_per_batch = 1e3 * secs / out.iterations;
  return out;
}

}  // namespace srmds
