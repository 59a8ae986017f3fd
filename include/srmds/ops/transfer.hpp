// Host <-> device copies, all in one place. Each takes the context of the device side, and either
// side may be a strided channel view unless stated otherwise.
//
//   to_host(ctx, t)               a contiguous host copy of t
//   from_host(ctx, h)             a contiguous copy of host tensor h on the context's device
//   copy_to_device(ctx, h, t)     h -> existing t (same shape)
//   copy_to_host(ctx, t, h)       t -> existing host tensor h (same shape)
//   device_from_double(ctx, h)    host doubles -> T on the device (parameter initialisation)
//   double_from_device(ctx, t)    T on the device -> contiguous host doubles (fusion, export)
//
// Batches (data -> network -> results) are copied at most once each way:
//   device_view_as<T>(ctx, h)     host float data as T on the device: on the CPU with T = float a
//                                 view of h itself (no copy; h must outlive the result and stay
//                                 unchanged while it is read), else one converting copy
//   host_view(ctx, t)             t's values in host memory: on the CPU a view of t when it is
//                                 contiguous (no copy; t must outlive the result), else one copy
//   copy_to_host_as(ctx, t, h)    t -> existing host tensor h of another element type (one pass,
//                                 converting; on the CPU straight from t)
#pragma once

#include <type_traits>

#include "srmds/cpu/tensor_ops.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

namespace detail {
// dst = U(src) element by element on the host (same shape; either may be a strided view).
template <class U, class T>
void convert_on_host(const Tensor<T, Cpu>& src, Tensor<U, Cpu>& dst) {
  const Shape& s = src.shape();
  if (s.numel() == 0) return;
  const int64_t rows = s.rank() == 4 ? s.n() : 1;
  const int64_t len = s.rank() == 4 ? src.sample_numel() : s.numel();
  for (int64_t r = 0; r < rows; ++r) {
    const T* a = src.data() + r * src.batch_stride();
    U* b = dst.data() + r * dst.batch_stride();
    for (int64_t i = 0; i < len; ++i) b[i] = static_cast<U>(a[i]);
  }
}
}  // namespace detail

template <class T, class D>
void copy_to_device(Context<D>& ctx, const Tensor<T, Cpu>& h, Tensor<T, D>& t) {
  (void)ctx;
  detail::check_same_shape("copy_to_device", "host", h, "device", t);
  SRMDS_DISPATCH(D, cpu::copy(h, t), cuda::copy_host_to_device(ctx, h, t));
}

template <class T, class D>
void copy_to_host(Context<D>& ctx, const Tensor<T, D>& t, Tensor<T, Cpu>& h) {
  (void)ctx;
  detail::check_same_shape("copy_to_host", "device", t, "host", h);
  SRMDS_DISPATCH(D, cpu::copy(t, h), cuda::copy_device_to_host(ctx, t, h));
}

template <class T, class D>
Tensor<T, Cpu> to_host(Context<D>& ctx, const Tensor<T, D>& t) {
  Tensor<T, Cpu> h(t.shape());
  copy_to_host(ctx, t, h);
  return h;
}

template <class T, class D>
Tensor<T, D> from_host(Context<D>& ctx, const Tensor<T, Cpu>& h) {
  Tensor<T, D> t(h.shape(), ctx);
  copy_to_device(ctx, h, t);
  return t;
}

template <class T, class D>
Tensor<T, D> device_from_double(Context<D>& ctx, const Tensor<double, Cpu>& h) {
  if constexpr (is_cpu_v<D> && std::is_same_v<T, double>) {
    return from_host(ctx, h);
  } else {
    Tensor<T, Cpu> ht(h.shape());
    detail::convert_on_host(h, ht);
    if constexpr (is_cpu_v<D>)
      return ht;
    else
      return from_host(ctx, ht);
  }
}

template <class T, class D>
Tensor<T, D> device_view_as(Context<D>& ctx, const Tensor<float, Cpu>& h) {
  if constexpr (is_cpu_v<D> && std::is_same_v<T, float>) {
    (void)ctx;
    return h.view();
  } else if constexpr (std::is_same_v<T, float>) {
    return from_host(ctx, h);
  } else {
    Tensor<T, Cpu> typed(h.shape());
    detail::convert_on_host(h, typed);
    if constexpr (is_cpu_v<D>)
      return typed;
    else
      return from_host(ctx, typed);
  }
}

template <class T, class D>
Tensor<T, Cpu> host_view(Context<D>& ctx, const Tensor<T, D>& t) {
  if constexpr (is_cpu_v<D>) {
    if (t.is_contiguous()) return t.view();
  }
  return to_host(ctx, t);
}

template <class U, class T, class D>
void copy_to_host_as(Context<D>& ctx, const Tensor<T, D>& t, Tensor<U, Cpu>& h) {
  detail::check_same_shape("copy_to_host_as", "device", t, "host", h);
  if constexpr (std::is_same_v<T, U>) {
    copy_to_host(ctx, t, h);
  } else if constexpr (is_cpu_v<D>) {
    (void)ctx;
    detail::convert_on_host(t, h);
  } else {
    detail::convert_on_host(to_host(ctx, t), h);
  }
}

template <class T, class D>
Tensor<double, Cpu> double_from_device(Context<D>& ctx, const Tensor<T, D>& t) {
  Tensor<double, Cpu> h(t.shape());
  copy_to_host_as(ctx, t, h);
  return h;
}

}  // namespace srmds
