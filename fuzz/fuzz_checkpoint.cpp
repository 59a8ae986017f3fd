// libFuzzer target: a training checkpoint as `train --resume` reads it: safetensors bytes, the
// weights metadata (format, form, config), then Trainer::resume on a tiny network of the seed's
// configuration (tensors by name and shape, optimizer moments, epoch, step, best_dice). Configs
// asking for a larger network than the tiny one are refused by resume's config comparison, so
// each input costs little.
#include <cstdint>

#include "fuzz_input_file.hpp"
#include "srmds/core/context.hpp"
#include "srmds/core/error.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/train/trainer.hpp"
#include "tiny_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static srmds::Context<srmds::Cpu> ctx;
  static srmds::SrmdsNet<float, srmds::Cpu> net(ctx, srmds::fuzz::tiny_config(), srmds::NetForm::Train, 1);
  try {
    const srmds::io::SafetensorsFile file = srmds::io::parse_safetensors(data, size, "fuzz.safetensors");
    (void)srmds::io::read_weights_info(file, "fuzz.safetensors");
    const std::string path = srmds::fuzz::input_file(data, size, ".safetensors");
    srmds::TrainOptions to;
    to.epochs = 1;
    srmds::Trainer<float, srmds::Cpu> trainer(ctx, net, to);
    trainer.resume(path);
  } catch (const srmds::Error&) {
  }
  return 0;
}
