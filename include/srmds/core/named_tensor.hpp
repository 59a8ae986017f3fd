// NamedTensor: one entry of a module's state, named as in PyTorch's state_dict() (SPEC §6).
// Parameters have a gradient tensor; buffers (BN running statistics) have grad == nullptr.
#pragma once

#include <string>
#include <vector>

#include "srmds/core/tensor.hpp"

namespace srmds {

template <class T, class D>
struct NamedTensor {
  std::string name;
  Tensor<T, D>* value = nullptr;
  Tensor<T, D>* grad = nullptr;  // nullptr for buffers
  bool is_parameter() const { return grad != nullptr; }
};

template <class T, class D>
using StateList = std::vector<NamedTensor<T, D>>;

}  // namespace srmds
