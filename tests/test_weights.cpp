// Weight files: the metadata contract and StateList <-> safetensors (names, shapes, dtypes checked
// before anything is copied). Tests with the real network are at the end of this file.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "srmds/io/weights.hpp"
#include "support/testing.hpp"

using namespace srmds;
using namespace srmds::io;
using Catch::Matchers::Contains;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("srmds_test_w_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// A hand-made state: tensors owned here, listed with PyTorch-style names.
template <class T>
struct FakeState {
  std::vector<std::unique_ptr<Tensor<T>>> tensors;
  StateList<T, Cpu> list;
  void add(const std::string& name, const Shape& s, Rng& rng) {
    tensors.push_back(std::make_unique<Tensor<T>>(random_tensor<T>(s, rng)));
    list.push_back(NamedTensor<T, Cpu>{name, tensors.back().get(), nullptr});
  }
  static FakeState make(Rng& rng) {
    FakeState f;
    f.add("enc0.b0.fused.weight", Shape{4, 1, 3, 3}, rng);
    f.add("enc0.b0.fused.bias", Shape{4}, rng);
    f.add("enc0.b0.se.fc1.weight", Shape{4, 4, 1, 1}, rng);
    f.add("enc0.b0.br.id.running_var", Shape{4}, rng);
    f.add("head0.weight", Shape{1, 4, 1, 1}, rng);
    f.add("head0.bias", Shape{1}, rng);
    return f;
  }
};

NetConfig small_config() {
  NetConfig c;
  c.base = 4;
  c.input_size = {32, 48};
  c.window = std::nullopt;
  return c;
}

}  // namespace

TEST_CASE("weights: metadata carries format, form and config", "[io][weights]") {
  const auto meta = weights_metadata(small_config(), NetForm::Fused, {{"step", "17"}});
  CHECK(meta.at("format") == "srmds");
  CHECK(meta.at("form") == "fused");
  CHECK(meta.at("step") == "17");
  SafetensorsFile f;
  f.metadata = meta;
  const WeightsInfo info = read_weights_info(f, "w.st");
  CHECK(info.form == NetForm::Fused);
  CHECK(info.config.base == 4);
  CHECK(info.config.input_size == std::array<int, 2>{32, 48});
  CHECK(!info.config.window.has_value());

  REQUIRE_THROWS_WITH(weights_metadata(small_config(), NetForm::Train, {{"form", "x"}}), Contains("reserved key 'form'"));
  f.metadata["format"] = "pt";
  REQUIRE_THROWS_WITH(read_weights_info(f, "w.st"), Contains("weights file 'w.st': metadata format is \"pt\", not \"srmds\""));
  f.metadata = meta;
  f.metadata["form"] = "eval";
  REQUIRE_THROWS_WITH(read_weights_info(f, "w.st"), Contains("unknown form \"eval\""));
  f.metadata = meta;
  f.metadata.erase("config");
  REQUIRE_THROWS_WITH(read_weights_info(f, "w.st"), Contains("metadata has no \"config\""));
  f.metadata = meta;
  f.metadata["config"] = R"({"base": -1})";
  REQUIRE_THROWS_WITH(read_weights_info(f, "w.st"), Contains("weights file 'w.st'") && Contains("key \"base\""));
  f.metadata.clear();
  REQUIRE_THROWS_WITH(read_weights_info(f, "w.st"), Contains("metadata has no \"format\""));
}

TEMPLATE_TEST_CASE("weights: a state list round-trips through a file", "[io][weights]", float, double) {
  using T = TestType;
  TempDir dir;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  FakeState<T> src = FakeState<T>::make(rng);
  const std::string path = dir.file("state.safetensors");
  save_state(ctx, path, src.list, weights_metadata(small_config(), NetForm::Train));

  const SafetensorsFile file = read_safetensors(path);
  CHECK(read_weights_info(file, path).form == NetForm::Train);
  for (const auto& nt : src.list) {
    const TensorRecord* r = file.find(nt.name);
    REQUIRE(r != nullptr);
    CHECK(r->dtype == "F32");
    CHECK(Shape::from_range(r->shape.begin(), r->shape.end()) == nt.value->shape());
  }

  Rng other(fresh_seed());
  FakeState<T> dst = FakeState<T>::make(other);
  load_state(ctx, file, dst.list, path);
  for (size_t i = 0; i < src.list.size(); ++i) {
    const Tensor<T>& a = *src.list[i].value;
    const Tensor<T>& b = *dst.list[i].value;
    INFO(src.list[i].name);
    for (int64_t k = 0; k < a.numel(); ++k) REQUIRE(b[k] == static_cast<T>(static_cast<float>(a[k])));
  }
}

TEST_CASE("weights: load_state names the first missing, unexpected or mis-shaped tensor", "[io][weights]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  FakeState<float> src = FakeState<float>::make(rng);
  SafetensorsFile file;
  file.tensors = state_records(ctx, src.list);

  FakeState<float> dst = FakeState<float>::make(rng);
  const std::vector<float> before(dst.list[0].value->data(), dst.list[0].value->data() + dst.list[0].value->numel());
  const auto unchanged = [&] {
    for (size_t k = 0; k < before.size(); ++k) REQUIRE(dst.list[0].value->data()[k] == before[k]);
  };

  SECTION("missing tensor") {
    file.tensors.erase(file.tensors.begin() + 3);
    REQUIRE_THROWS_WITH(load_state(ctx, file, dst.list, "w.st"),
                        Contains("weights file 'w.st': missing tensor 'enc0.b0.br.id.running_var'"));
    unchanged();
  }
  SECTION("unexpected tensor") {
    file.tensors.push_back(TensorRecord{"enc0.b0.br.3x3.conv.weight", "F32", {1}, {0.5f}});
    REQUIRE_THROWS_WITH(load_state(ctx, file, dst.list, "w.st"),
                        Contains("unexpected tensor 'enc0.b0.br.3x3.conv.weight' of shape [1]"));
    unchanged();
  }
  SECTION("wrong shape, with the same number of elements") {
    file.tensors[2].shape = {4, 4};
    REQUIRE_THROWS_WITH(load_state(ctx, file, dst.list, "w.st"),
                        Contains("tensor 'enc0.b0.se.fc1.weight' has shape [4, 4], expected [4, 4, 1, 1]"));
    unchanged();
  }
  SECTION("wrong shape") {
    file.tensors[5].shape = {2};
    file.tensors[5].data = {1.0f, 2.0f};
    REQUIRE_THROWS_WITH(load_state(ctx, file, dst.list, "w.st"),
                        Contains("tensor 'head0.bias' has shape [2], expected [1]"));
    unchanged();
  }
  SECTION("integer dtype for a weight") {
    file.tensors[5].dtype = "I64";
    file.tensors[5].data.clear();
    REQUIRE_THROWS_WITH(load_state(ctx, file, dst.list, "w.st"), Contains("tensor 'head0.bias' has dtype I64, expected F32"));
    unchanged();
  }
  SECTION("a state listing a name twice") {
    StateList<float, Cpu> twice = dst.list;
    twice.push_back(dst.list[0]);
    REQUIRE_THROWS_WITH(load_state(ctx, file, twice, "w.st"), Contains("'enc0.b0.fused.weight' is listed twice"));
  }
  SECTION("num_batches_tracked and ignored prefixes are skipped") {
    file.tensors.push_back(TensorRecord{"enc0.b0.br.id.num_batches_tracked", "I64", {}, {}});
    file.tensors.push_back(TensorRecord{"optim.m.head0.bias", "F32", {1}, {3.0f}});
    REQUIRE_THROWS_WITH(load_state(ctx, file, dst.list, "w.st"), Contains("unexpected tensor 'optim.m.head0.bias'"));
    load_state(ctx, file, dst.list, "w.st", {"optim."});
    for (size_t i = 0; i < src.list.size(); ++i)
      for (int64_t k = 0; k < src.list[i].value->numel(); ++k)
        REQUIRE(dst.list[i].value->data()[k] == src.list[i].value->data()[k]);
  }
  SECTION("another floating dtype (converted to float by the reader) is accepted") {
    file.tensors[5].dtype = "F16";
    load_state(ctx, file, dst.list, "w.st");
    CHECK((*dst.list[5].value)[0] == src.list[5].value->data()[0]);
  }
}
