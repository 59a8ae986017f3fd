// The checkpoint fuzzer's patches (fuzz/checkpoint_patch.hpp, issue 21 item 19) mean what the
// fuzzer relies on: the empty patch is the good checkpoint and resumes; a patch sets metadata,
// replaces and adds tensors, and removes keys and tensors named with '~'; each such change reaches
// the check of resume that it should.
#include <algorithm>
#include <string>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include "fuzz/checkpoint_patch.hpp"
#include "srmds/core/error.hpp"
#include "srmds/io/weights.hpp"

using namespace srmds;
using Catch::Contains;

TEST_CASE("fuzz checkpoint patches: set, replace, add and remove, each reaching resume's checks", "[train][fuzz]") {
  test::TempDir dir("patch");
  const io::SafetensorsFile good = fuzz::good_checkpoint(dir.file("good.safetensors"));
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net(ctx, fuzz::checkpoint_config(), NetForm::Train, 1);
  TrainOptions to;
  to.epochs = 1;
  Trainer<float, Cpu> trainer(ctx, net, to);
  CHECK(good.tensors.size() == 222);
  CHECK_NOTHROW(trainer.resume(fuzz::patched(good, io::SafetensorsFile{}), "p"));
  CHECK(trainer.epoch() == 1);

  io::SafetensorsFile p;
  p.metadata = {{"epoch", "3"}, {"step", "7"}};
  CHECK_NOTHROW(trainer.resume(fuzz::patched(good, p), "p"));
  CHECK(trainer.epoch() == 3);
  CHECK(trainer.step() == 7);

  p = io::SafetensorsFile{};
  p.metadata = {{"~step", ""}};
  CHECK_THROWS_WITH(trainer.resume(fuzz::patched(good, p), "p"), Contains("has no 'step'"));

  p = io::SafetensorsFile{};
  p.tensors = {io::TensorRecord{"~head0.bias", "F32", {0}, {}}};
  const io::SafetensorsFile removed = fuzz::patched(good, p);
  CHECK(removed.tensors.size() == 221);
  CHECK_THROWS_WITH(trainer.resume(removed, "p"), Contains("missing tensor 'head0.bias'"));

  p.tensors = {*good.find("optimizer.v.head0.bias")};
  p.tensors[0].data[0] = -1;
  CHECK_THROWS_WITH(trainer.resume(fuzz::patched(good, p), "p"), Contains("negative second moment"));
  p.tensors = {io::TensorRecord{"head0.bias", "F32", {2}, {0, 0}}};
  CHECK_THROWS_WITH(trainer.resume(fuzz::patched(good, p), "p"), Contains("'head0.bias' has shape [2]"));
  p.tensors = {io::TensorRecord{"extra", "F32", {1}, {0}}};
  const io::SafetensorsFile added = fuzz::patched(good, p);
  CHECK(added.tensors.size() == 223);
  CHECK_THROWS_WITH(trainer.resume(added, "p"), Contains("unexpected tensor 'extra'"));
}
