// srmds: SR&MDS-Net in C++17/CUDA — the umbrella header. Include the narrower headers where compile
// time matters; this one pulls in the whole public API (the CUDA context too, when it was built).
#pragma once

#include "srmds/version.hpp"

// core
#include "srmds/core/context.hpp"
#include "srmds/core/error.hpp"
#include "srmds/core/memory.hpp"
#include "srmds/core/named_tensor.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/core/shape.hpp"
#include "srmds/core/tensor.hpp"

// ops: the only door to a backend (checked entries; CPU in cpu/, CUDA kernels in kernels/)
#include "srmds/ops/adam.hpp"
#include "srmds/ops/batchnorm.hpp"
#include "srmds/ops/bce_dice.hpp"
#include "srmds/ops/confusion_counts.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/conv2d_branches.hpp"
#include "srmds/ops/downsample_target.hpp"
#include "srmds/ops/maxpool.hpp"
#include "srmds/ops/relu.hpp"
#include "srmds/ops/se.hpp"
#include "srmds/ops/sigmoid.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "srmds/ops/transfer.hpp"
#include "srmds/ops/upsample.hpp"
#if SRMDS_WITH_CUDA
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/graph.hpp"
#endif

// model
#include "srmds/blocks/reparam.hpp"
#include "srmds/blocks/srfv_block.hpp"
#include "srmds/blocks/fused_block.hpp"
#include "srmds/nets/block_spec.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/nets/memory_probe.hpp"
#include "srmds/nets/srmds_net.hpp"

// training
#include "srmds/losses/deep_supervision.hpp"
#include "srmds/metrics/accumulator.hpp"
#include "srmds/metrics/inf_net.hpp"
#include "srmds/metrics/table.hpp"
#include "srmds/optim/adam.hpp"
#include "srmds/optim/ema.hpp"
#include "srmds/optim/schedule.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"
#include "srmds/dist/communicator.hpp"
#include "srmds/dist/gather_metrics.hpp"
#include "srmds/dist/gradient_reducer.hpp"
#include "srmds/dist/state_sync.hpp"

// inference
#include "srmds/infer/evaluate.hpp"
#include "srmds/infer/forward_graph.hpp"
#include "srmds/infer/segment.hpp"
#include "srmds/infer/segment_file.hpp"
#include "srmds/infer/throughput.hpp"

// files and data
#include "srmds/data/augment.hpp"
#include "srmds/data/image_pairs.hpp"
#include "srmds/data/input_volume.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/data/slice_dataset.hpp"
#include "srmds/data/volume_slices.hpp"
#include "srmds/infer/lesion_burden.hpp"
#include "srmds/io/dicom.hpp"
#include "srmds/io/dicom_seg.hpp"
#include "srmds/io/image2d.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/io/nifti_affine.hpp"
#include "srmds/io/onnx_export.hpp"
#include "srmds/io/png.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/io/weights.hpp"
