// CPU BCE + soft-Dice loss of one scale (SPEC §3). See losses/bce_dice.hpp; the per-element terms
// are bce_with_logits() and bce_dice_grad() in ops/math/bce_dice.hpp.
//
// Pass 1 (reduction): every sample's h w pixels are cut into fixed chunks of 16384; each
// (sample, chunk) task sums, in double, bce(z, y), I = sum p y, P = sum p and Y = sum y. The partial
// sums are then added in task order, so the value does not depend on the number of threads.
// Pass 2 (gradient): dz = weight dL/dz per pixel (double math, rounded once to T), same tasks.
// dz may be z itself (each pixel is read before it is written).
// Declaration only: the kernel (src/cpu/bce_dice.cpp) is compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

// Returns the loss with Dice weight dice_weight; writes weight dL/dz into *dz with mode unless dz is
// nullptr.
template <class T>
double bce_dice_loss(const Tensor<T, Cpu>& z,  // (N, 1, h, w) logits
                     const Tensor<T, Cpu>& y,  // (N, 1, h, w) targets in [0, 1]
                     double weight, double dice_weight, Tensor<T, Cpu>* dz, WriteMode mode);

}  // namespace srmds::cpu
