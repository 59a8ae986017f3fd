// One Adam update of one element, shared by the CPU loop and the CUDA kernel.
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * (m / c1) / (sqrt(v / c2) + eps),  c1 = 1 - b1^t, c2 = 1 - b2^t
// Weight decay: L2 (g += wd p, PyTorch Adam) or decoupled (p -= lr wd p first, PyTorch AdamW).
#pragma once

#include <cmath>

#include "srmds/ops/math/scalar.hpp"

namespace srmds {

// The optimizer's options, defined once (optim/adam.hpp's Adam, train/trainer.hpp's TrainOptions
// and the command line use this struct). Hyper-parameters are double so that 1 - beta is formed
// exactly before rounding to T (1 - 0.999f would be 0.00099998713, a 1.3e-5 relative error in v
// against PyTorch).
struct AdamOptions {
  double lr = 5e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  // AdamW-style (decoupled) weight decay
};

// One update's constants: the options (lr as scheduled for this step) and the bias corrections.
struct AdamStep : AdamOptions {
  double bias_correction1 = 1.0;  // 1 - beta1^t
  double bias_correction2 = 1.0;  // 1 - beta2^t
};

// A step's values that change from step to step, as a captured training step reads them from memory
// (train/trainer.hpp, TrainOptions::cuda_graph): {lr, bias_correction1, bias_correction2}.
inline constexpr int kAdamDeviceScalars = 3;
SRMDS_HOST_DEVICE void set_step_scalars(AdamStep& s, const double* scalars) {
  s.lr = scalars[0];
  s.bias_correction1 = scalars[1];
  s.bias_correction2 = scalars[2];
}

template <class T>
SRMDS_HOST_DEVICE void adam_update(T& p, T g, T& m, T& v, const AdamStep& s) {
  if (s.weight_decay != 0.0) {
    if (s.decoupled)
      p -= T(s.lr) * T(s.weight_decay) * p;
    else
      g += T(s.weight_decay) * p;
  }
  m = T(s.beta1) * m + T(1 - s.beta1) * g;
  v = T(s.beta2) * v + T(1 - s.beta2) * g * g;
  const T mhat = m / T(s.bias_correction1);
  const T vhat = v / T(s.bias_correction2);
  p -= T(s.lr) * mhat / (math::sqrt(vhat) + T(s.eps));
}

}  // namespace srmds
