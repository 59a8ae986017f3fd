// Issue 15 items 1 and 8, library side: weight files whose values are non-finite, absurd or
// impossible (negative BN variance, negative Adam second moment) are rejected at load by tensor
// name; a small file whose config asks for a huge network fails before the network is built;
// config and model-size bounds; a volume's model-size stack is checked against the memory budget.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "srmds/core/limits.hpp"
#include "srmds/data/volume_slices.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/model_stats.hpp"
#include "support/testing.hpp"

using namespace srmds;
using namespace srmds::io;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

NetConfig tiny() {
  NetConfig c;
  c.base = 4;
  c.input_size = {32, 32};
  return c;
}

SafetensorsFile saved_tiny(Context<Cpu>& ctx, NetForm form = NetForm::Train) {
  SrmdsNet<float, Cpu> net(ctx, tiny(), form, 3);
  SafetensorsFile f;
  f.metadata = weights_metadata(net.config(), net.form());
  f.tensors = state_records(ctx, net.state());
  return f;
}

TensorRecord& find(SafetensorsFile& f, const std::string& suffix) {
  for (TensorRecord& r : f.tensors)
    if (r.name.size() >= suffix.size() && r.name.compare(r.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return r;
  FAIL("no tensor ending in " << suffix);
  return f.tensors.front();
}

long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

TEST_CASE("weights values: non-finite and absurd values are rejected by tensor name", "[io][weights][values]") {
  Context<Cpu> ctx;
  const SafetensorsFile good = saved_tiny(ctx);
  REQUIRE_NOTHROW(load_weights<float>(ctx, good, "w.st"));
  const std::string name = "enc1.b0.br.3x3.conv.weight";
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(), 3e38f}) {
    INFO(bad);
    SafetensorsFile f = good;
    TensorRecord& r = find(f, name);
    r.data[r.data.size() / 2] = bad;
    REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "w.st"),
                        Contains("weights file 'w.st': tensor '" + name + "' holds ") &&
                            Contains(std::isfinite(bad) ? "absurd value" : "non-finite value"));
  }
  SECTION("a finite but large value below the bound still loads") {
    SafetensorsFile f = good;
    find(f, name).data[0] = 1e20f;
    REQUIRE_NOTHROW(load_weights<float>(ctx, f, "w.st"));
  }
  SECTION("the fused form is checked too") {
    SafetensorsFile f = saved_tiny(ctx, NetForm::Fused);
    find(f, "head0.bias").data[0] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "f.st"), Contains("tensor 'head0.bias' holds a non-finite value"));
  }
}

TEST_CASE("weights values: a negative BN running variance is rejected by tensor name", "[io][weights][values]") {
  Context<Cpu> ctx;
  SafetensorsFile f = saved_tiny(ctx);
  TensorRecord& r = find(f, "enc2.b1.br.1x1.bn.running_var");
  r.data[1] = -0.25f;
  REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "w.st"),
                      Contains("weights file 'w.st': tensor 'enc2.b1.br.1x1.bn.running_var' holds a negative variance"));
  r.data[1] = 0.0f;  // zero is a valid (degenerate) variance
  REQUIRE_NOTHROW(load_weights<float>(ctx, f, "w.st"));
}

TEST_CASE("weights values: a negative Adam second moment is rejected by tensor name", "[io][weights][values]") {
  Context<Cpu> ctx;
  SafetensorsFile f = saved_tiny(ctx);
  TensorRecord v{"optimizer.v.head0.bias", "F32", {1}, {-1e-3f}};
  TensorRecord m{"optimizer.m.head0.bias", "F32", {1}, {-1e-3f}};  // first moments may be negative
  f.tensors.push_back(m);
  f.tensors.push_back(v);
  REQUIRE_NOTHROW(load_weights<float>(ctx, f, "c.st"));  // as a model, optimizer tensors are ignored
  Tensor<float> tm(Shape{1}), tv(Shape{1});
  SrmdsNet<float, Cpu> net(ctx, tiny(), NetForm::Train, 3);
  StateList<float, Cpu> all = net.state();
  all.push_back({"optimizer.m.head0.bias", &tm, nullptr});
  all.push_back({"optimizer.v.head0.bias", &tv, nullptr});
  REQUIRE_THROWS_WITH(load_state(ctx, f, all, "c.st"),
                      Contains("tensor 'optimizer.v.head0.bias' holds a negative second moment"));
  f.tensors.back().data[0] = 2e-3f;
  REQUIRE_NOTHROW(load_state(ctx, f, all, "c.st"));
  REQUIRE(tm[0] == -1e-3f);
}

TEST_CASE("weights values: a small file whose config asks for a huge network fails before allocating",
          "[io][weights][values][memory]") {
  Context<Cpu> ctx;
  SafetensorsFile f = saved_tiny(ctx);
  NetConfig big = tiny();
  big.base = 256;
  f.metadata["config"] = config_to_json(big);
  const long before = peak_rss_kb();
  REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "big.st"),
                      Contains("weights file 'big.st': holds ") && Contains("its config (base 256, train form) needs"));
  // A base-256 training-form network is about 2 GB of parameters; nothing near that was allocated.
  REQUIRE(peak_rss_kb() - before < 256 * 1024);
}

TEST_CASE("limits: configs beyond the stated bounds are rejected naming the key", "[config][limits]") {
  REQUIRE_THROWS_WITH(config_from_json(R"({"base": 257})"), Contains("key \"base\": value 257 is outside [1, 256]"));
  REQUIRE_THROWS_WITH(config_from_json(R"({"base": 4096})"), Contains("key \"base\""));
  REQUIRE_THROWS_WITH(config_from_json(R"({"input_size": [4112, 512]})"), Contains("at most 4096"));
  REQUIRE_THROWS_WITH(config_from_json(R"({"input_size": [65536, 65536]})"), Contains("at most 4096"));
  REQUIRE_THROWS_WITH(config_from_json(R"({"in_channels": 65})"), Contains("key \"in_channels\""));
  REQUIRE_NOTHROW(config_from_json(R"({"base": 256, "input_size": [4096, 4096], "in_channels": 64})"));
}

TEST_CASE("limits: model statistics stay positive up to the bounds and refuse beyond them", "[nets][limits]") {
  NetConfig c;
  c.base = kMaxBase;
  const ModelStats s = model_stats(c, NetForm::Train, kMaxInputSize, kMaxInputSize);
  REQUIRE(s.params > 0);
  REQUIRE(s.macs > 0);
  // MACs grow with base^2 and the pixel count: (256/64)^2 * (4096/512)^2 times the base-64 512 figure.
  REQUIRE(s.macs == Approx(283753261568.0 * 16 * 64).epsilon(0.02));
  REQUIRE_THROWS_WITH(model_stats(c, NetForm::Train, 65536, 65536), Contains("larger than 4096 x 4096"));
  c.base = 4096;
  REQUIRE_THROWS_WITH(model_stats(c, NetForm::Train, 512, 512), Contains("base 4096 (at most 256)"));
}

TEST_CASE("limits: a volume of many tiny slices is checked against the memory budget before allocating",
          "[data][limits][memory]") {
  io::NiftiVolume v;
  v.path = "many.nii.gz";
  v.geometry.ni = 1;
  v.geometry.nj = 1;
  v.geometry.nk = 5000;  // 5000 slices of 1 x 1 -> 5000 x 512 x 512 floats = 4.9 GiB
  v.data.assign(5000, 1.0f);
  SliceDataOptions o;
  o.input_size = {512, 512};
  const long before = peak_rss_kb();
  REQUIRE_THROWS_WITH(volume_to_input(v, o), Contains("volume_to_input: 'many.nii.gz': 5000 slices resized to 512 x 512") &&
                                                 Contains("memory budget"));
  REQUIRE_THROWS_WITH(labels_to_target(v, o), Contains("'many.nii.gz'") && Contains("memory budget"));
  REQUIRE(peak_rss_kb() - before < 256 * 1024);
  REQUIRE(checked_product({uint64_t(1) << 40, uint64_t(1) << 30}) == std::nullopt);
  REQUIRE_THROWS_WITH(check_budget(std::nullopt, "x"), Contains("x would need more than 2^64 bytes"));
}
