// Declarations of the CUDA attention ops behind ops/sge.hpp, ops/cbam.hpp and ops/psa.hpp
// (kernels/sge.cu, kernels/cbam.cu, kernels/psa.cu). Float tensors, already validated by the
// checked op; all run on the context's stream.
#pragma once

#include "srmds/core/device.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/ops/attention_state.hpp"

namespace srmds::cuda {

using ACtx = Context<Cuda>;
using ATF = Tensor<float, Cuda>;

void sge_forward(ACtx& ctx, const ATF& x, const ATF& weight, const ATF& bias, ATF& y, ATF& mean, ATF& norm, ATF& stdev);
void sge_backward(ACtx& ctx, const ATF& x, const ATF& dy, const ATF& weight, const ATF& bias, const ATF& mean,
                  const ATF& norm, const ATF& stdev, ATF& dx, WriteMode dx_mode, ATF& dweight, ATF& dbias,
                  WriteMode param_mode);

void cbam_forward(ACtx& ctx, const ATF& x, const ATF& w1, const ATF& w2, const ATF& ws, const ATF& bs, ATF& y,
                  CbamSaved<float, Cuda>& saved);
void cbam_backward(ACtx& ctx, const ATF& x, const ATF& dy, const ATF& w1, const ATF& w2, const ATF& ws,
                   const CbamSaved<float, Cuda>& saved, ATF& dx, WriteMode dx_mode, ATF& dw1, ATF& dw2, ATF& dws,
                   ATF& dbs, WriteMode param_mode);

void psa_forward(ACtx& ctx, const ATF& x, const PsaWeights<float, Cuda>& p, ATF& y, PsaSaved<float, Cuda>& saved);
void psa_backward(ACtx& ctx, const ATF& x, const ATF& dy, const PsaWeights<float, Cuda>& p,
                  const PsaSaved<float, Cuda>& saved, ATF& dx, WriteMode dx_mode, const PsaGrads<float, Cuda>& g,
                  WriteMode param_mode);

}  // namespace srmds::cuda
