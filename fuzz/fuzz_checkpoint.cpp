// libFuzzer target: a training checkpoint as `train --resume` reads it: the file reader
// (read_safetensors), the weights metadata (format, form, config), then Trainer::resume on a small
// network (epoch, step, best_dice, the config, tensors by name, shape, dtype and value, optimizer
// moments). Each input is tried twice: as a whole checkpoint, and as a patch of a good checkpoint
// of that network (checkpoint_patch.hpp), which reaches the checks behind a valid header at a
// small input's cost. The network and the trainer are built once: resume checks everything before
// it copies anything, so a rejected input leaves them as they were.
#include <cstdint>

#include "checkpoint_patch.hpp"
#include "fuzz_input_file.hpp"
#include "srmds/core/context.hpp"
#include "srmds/core/error.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/train/trainer.hpp"
#include "tiny_config.hpp"

namespace {

using namespace srmds;

void resume(Trainer<float, Cpu>& trainer, const io::SafetensorsFile& file, const std::string& path) {
  try {
    (void)io::read_weights_info(file, path);
    trainer.resume(file, path);
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const io::SafetensorsFile good = fuzz::good_checkpoint(fuzz::input_file(nullptr, 0, ".good.safetensors"));
  static Context<Cpu> ctx;
  static SrmdsNet<float, Cpu> net(ctx, fuzz::checkpoint_config(), NetForm::Train, 1);
  static Trainer<float, Cpu> trainer(ctx, net, [] {
    TrainOptions to;
    to.epochs = 1;
    return to;
  }());
  const std::string path = fuzz::input_file(data, size, ".safetensors");
  io::SafetensorsFile file;
  try {
    file = io::read_safetensors(path);
  } catch (const Error&) {
    return 0;
  }
  resume(trainer, file, path);
  resume(trainer, fuzz::patched(good, file), path + " (patched)");
  return 0;
}
