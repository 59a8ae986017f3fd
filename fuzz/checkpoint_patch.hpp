// The checkpoint fuzzer's inputs (fuzz_checkpoint.cpp, make_fuzz_seeds.cpp). A whole checkpoint is
// too large to fuzz quickly (its header alone holds every tensor's entry), so an input is also read
// as a patch of a fixed good checkpoint of the fuzzer's network: the patch's metadata keys are set
// and its tensors added or replaced by name; a key or tensor name that starts with '~' removes
// the rest of the name from the checkpoint instead. Any checkpoint of that network is some patch of
// the good one.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>

#include "srmds/core/context.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/train/trainer.hpp"
#include "tiny_config.hpp"

namespace srmds::fuzz {

// A good checkpoint of checkpoint_config()'s network (seed 1, epoch 1), as train writes it.
inline io::SafetensorsFile good_checkpoint(const std::string& scratch_path) {
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net(ctx, checkpoint_config(), NetForm::Train, 1);
  TrainOptions to;
  to.epochs = 1;
  Trainer<float, Cpu> trainer(ctx, net, to);
  trainer.save_checkpoint(scratch_path, 1);
  io::SafetensorsFile file = io::read_safetensors(scratch_path);
  std::remove(scratch_path.c_str());
  return file;
}

inline io::SafetensorsFile patched(const io::SafetensorsFile& base, const io::SafetensorsFile& patch) {
  io::SafetensorsFile out = base;
  for (const auto& kv : patch.metadata) {
    if (!kv.first.empty() && kv.first[0] == '~') out.metadata.erase(kv.first.substr(1));
    else out.metadata[kv.first] = kv.second;
  }
  for (const io::TensorRecord& r : patch.tensors) {
    const bool remove = !r.name.empty() && r.name[0] == '~';
    const std::string name = remove ? r.name.substr(1) : r.name;
    const auto it = std::find_if(out.tensors.begin(), out.tensors.end(),
                                 [&](const io::TensorRecord& t) { return t.name == name; });
    if (it == out.tensors.end()) {
      if (!remove) out.tensors.push_back(r);
    } else if (remove) {
      out.tensors.erase(it);
    } else {
      *it = r;
    }
  }
  return out;
}

}  // namespace srmds::fuzz
