// Weight files: the metadata contract and StateList <-> safetensors (names, shapes, dtypes checked
// before anything is copied); then the real network: round trips of both forms with identical outputs,
// mismatched configs, checkpoint extras.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "srmds/io/weights.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

using namespace srmds;
using namespace srmds::io;
using Catch::Matchers::Contains;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
namespace fs = std::filesystem;

namespace {

using srmds::test::TempDir;

// A hand-made state: tensors owned here, listed with PyTorch-style names.
template <class T>
struct FakeState {
  std::vector<std::unique_ptr<Tensor<T>>> tensors;
  StateList<T, Cpu> list;
  void add(const std::string& name, const Shape& s, Rng& rng) {
    // Variances are positive (loading rejects negative ones).
    const bool var = name.size() >= 11 && name.compare(name.size() - 11, 11, "running_var") == 0;
    tensors.push_back(std::make_unique<Tensor<T>>(var ? random_tensor<T>(s, rng, 0.5, 2.0) : random_tensor<T>(s, rng)));
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

// ---- with the real network -----------------------------------------------------------------

namespace {

NetConfig tiny_config() {
  NetConfig c;
  c.base = 4;
  c.input_size = {32, 48};
  return c;
}

// Deterministic non-trivial BN running statistics, so eval outputs depend on them.
void perturb_buffers(Context<Cpu>& ctx, SrmdsNet<float, Cpu>& net, Rng& rng) {
  (void)ctx;
  for (auto& nt : net.state()) {
    if (nt.is_parameter()) continue;
    Tensor<float>& t = *nt.value;
    const bool var = nt.name.find("running_var") != std::string::npos;
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(var ? rng.uniform(0.5, 2.0) : rng.uniform(-0.3, 0.3));
  }
}

void require_same_state(SrmdsNet<float, Cpu>& a, SrmdsNet<float, Cpu>& b) {
  const auto sa = a.state();
  const auto sb = b.state();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].name);
    REQUIRE(sa[i].name == sb[i].name);
    REQUIRE(sa[i].value->shape() == sb[i].value->shape());
    REQUIRE(std::memcmp(sa[i].value->data(), sb[i].value->data(), sizeof(float) * sa[i].value->numel()) == 0);
  }
}

Tensor<float> eval_output(Context<Cpu>& ctx, SrmdsNet<float, Cpu>& net, const Tensor<float>& x) {
  Tensor<float> z(Shape{x.shape().n(), 1, x.shape().h(), x.shape().w()});
  net.forward_eval(ctx, x, z);
  return z;
}

}  // namespace

TEST_CASE("weights: a training-form network round-trips and computes the same outputs", "[io][weights][net]") {
  TempDir dir;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (int variant = 0; variant < 3; ++variant) {
    NetConfig cfg = tiny_config();
    if (variant == 1) {
      cfg.bn = BnPlacement::External;
      cfg.attention = Attention::None;
      cfg.window = std::nullopt;
    } else if (variant == 2) {
      cfg.branches = {"3x3", "1x1", "id"};
      cfg.align_corners = false;
      cfg.se_reduction = 2;
    }
    INFO("variant " << variant << ": " << config_to_json(cfg));
    SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, rng.next_u64());
    perturb_buffers(ctx, net, rng);
    const std::string path = dir.file("train.safetensors");
    save_weights(ctx, path, net);

    SrmdsNet<float, Cpu> back = load_weights<float>(ctx, path);
    CHECK(back.form() == NetForm::Train);
    CHECK(config_to_json(back.config()) == config_to_json(cfg));
    require_same_state(net, back);
    const auto x = random_tensor<float>(Shape{2, 1, 32, 48}, rng);
    const Tensor<float> z1 = eval_output(ctx, net, x);
    const Tensor<float> z2 = eval_output(ctx, back, x);
    REQUIRE(std::memcmp(z1.data(), z2.data(), sizeof(float) * z1.numel()) == 0);

    // The file holds exactly the state's names (SPEC §6) and the metadata contract.
    const SafetensorsFile f = read_safetensors(path);
    CHECK(f.tensors.size() == net.state().size());
    CHECK(f.metadata.at("format") == "srmds");
    CHECK(f.metadata.at("form") == "train");
    const TensorRecord* w = f.find("enc0.b0.br.3x3.conv.weight");
    REQUIRE(w != nullptr);
    CHECK(w->shape == std::vector<int64_t>{4, 1, 3, 3});
    CHECK(f.find("head3.bias") != nullptr);
  }
}

TEST_CASE("weights: a fused network round-trips", "[io][weights][net]") {
  TempDir dir;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  SrmdsNet<float, Cpu> train(ctx, tiny_config(), NetForm::Train, rng.next_u64());
  perturb_buffers(ctx, train, rng);
  SrmdsNet<float, Cpu> fused = train.fused(ctx);
  const std::string path = dir.file("fused.safetensors");
  save_weights(ctx, path, fused);
  SrmdsNet<float, Cpu> back = load_weights<float>(ctx, path);
  CHECK(back.form() == NetForm::Fused);
  require_same_state(fused, back);
  const SafetensorsFile f = read_safetensors(path);
  CHECK(f.metadata.at("form") == "fused");
  REQUIRE(f.find("enc0.b0.fused.weight") != nullptr);
  CHECK(f.find("enc0.b0.fused.weight")->shape == std::vector<int64_t>{4, 1, 3, 3});
  CHECK(f.find("enc0.b0.br.3x3.conv.weight") == nullptr);
  CHECK(f.find("head1.weight") == nullptr);
  const auto x = random_tensor<float>(Shape{1, 1, 32, 48}, rng);
  const Tensor<float> z1 = eval_output(ctx, fused, x);
  const Tensor<float> z2 = eval_output(ctx, back, x);
  REQUIRE(std::memcmp(z1.data(), z2.data(), sizeof(float) * z1.numel()) == 0);
  // The double network loads the same file.
  SrmdsNet<double, Cpu> as_double = load_weights<double>(ctx, path);
  CHECK(as_double.form() == NetForm::Fused);
  CHECK((*as_double.state()[0].value)[5] == static_cast<double>((*back.state()[0].value)[5]));
}

TEST_CASE("weights: load_weights builds the network by shape and reproduces it exactly", "[io][weights][net]") {
  TempDir dir;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (NetForm form : {NetForm::Train, NetForm::Fused}) {
    INFO("form " << form_name(form));
    SrmdsNet<float, Cpu> net(ctx, tiny_config(), NetForm::Train, rng.next_u64());
    perturb_buffers(ctx, net, rng);
    if (form == NetForm::Fused) net = net.fused(ctx);
    const std::string path = dir.file("net.safetensors");
    save_weights(ctx, path, net);

    // By shape: every parameter zero, BN at its initial statistics, nothing drawn.
    SrmdsNet<float, Cpu> empty = SrmdsNet<float, Cpu>::by_shape(ctx, tiny_config(), form);
    const auto se = empty.state();
    REQUIRE(se.size() == net.state().size());
    for (const auto& nt : se) {
      INFO(nt.name);
      const bool ones = nt.name.find("running_var") != std::string::npos ||
                        (nt.name.find("bn.weight") != std::string::npos) ||
                        (nt.name.find("br.id.weight") != std::string::npos);
      for (int64_t i = 0; i < nt.value->numel(); ++i) REQUIRE((*nt.value)[i] == (ones ? 1.0f : 0.0f));
      if (nt.grad)
        for (int64_t i = 0; i < nt.grad->numel(); ++i) REQUIRE((*nt.grad)[i] == 0.0f);
    }

    // Loading gives the saved state and outputs bit for bit, as the former path did (a randomly
    // initialised network whose every tensor is then overwritten).
    SrmdsNet<float, Cpu> loaded = load_weights<float>(ctx, path);
    SrmdsNet<float, Cpu> overwritten(ctx, tiny_config(), form, /*seed=*/0);
    load_state(ctx, read_safetensors(path), overwritten.state(), path);
    require_same_state(net, loaded);
    require_same_state(overwritten, loaded);
    const auto x = random_tensor<float>(Shape{2, 1, 32, 48}, rng);
    const Tensor<float> z = eval_output(ctx, net, x);
    const Tensor<float> z_loaded = eval_output(ctx, loaded, x);
    const Tensor<float> z_overwritten = eval_output(ctx, overwritten, x);
    REQUIRE(std::memcmp(z.data(), z_loaded.data(), sizeof(float) * z.numel()) == 0);
    REQUIRE(std::memcmp(z_overwritten.data(), z_loaded.data(), sizeof(float) * z.numel()) == 0);
  }
}

TEST_CASE("weights: files that do not match their config are rejected by tensor name", "[io][weights][net]") {
  TempDir dir;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  SrmdsNet<float, Cpu> net(ctx, tiny_config(), NetForm::Train, 7);
  const std::string path = dir.file("w.safetensors");
  save_weights(ctx, path, net);
  const SafetensorsFile good = read_safetensors(path);

  SECTION("config says another width") {
    SafetensorsFile f = good;
    NetConfig wider = tiny_config();
    wider.base = 8;
    f.metadata["config"] = config_to_json(wider);
    REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "w.st"),
                        Contains("weights file 'w.st': tensor 'enc0.b0.br.3x3.conv.weight' has shape [4, 1, 3, 3], "
                                 "expected [8, 1, 3, 3]"));
  }
  SECTION("config says the training form lacks a branch") {
    SafetensorsFile f = good;
    NetConfig fewer = tiny_config();
    fewer.branches = {"3x3", "1x3", "3x1", "1x1"};
    f.metadata["config"] = config_to_json(fewer);
    REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "w.st"), Contains("unexpected tensor '") && Contains(".br.id."));
  }
  SECTION("form says fused") {
    SafetensorsFile f = good;
    f.metadata["form"] = "fused";
    REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "w.st"), Contains("missing tensor 'enc0.b0.fused.weight'"));
  }
  SECTION("a tensor is missing") {
    SafetensorsFile f = good;
    f.tensors.erase(std::remove_if(f.tensors.begin(), f.tensors.end(),
                                   [](const TensorRecord& r) { return r.name == "head2.bias"; }),
                    f.tensors.end());
    REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "w.st"), Contains("missing tensor 'head2.bias'"));
  }
  SECTION("PyTorch's num_batches_tracked entries are ignored") {
    SafetensorsFile f = good;
    f.tensors.push_back(TensorRecord{"enc0.b0.br.3x3.bn.num_batches_tracked", "I64", {}, {}});
    SrmdsNet<float, Cpu> back = load_weights<float>(ctx, f, "w.st");
    require_same_state(net, back);
  }
  SECTION("not an srmds file") {
    SafetensorsFile f = good;
    f.metadata.erase("format");
    REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, "w.st"), Contains("metadata has no \"format\""));
  }
}

TEST_CASE("weights: every attention round-trips in both forms; its tensors are checked by name and shape",
          "[io][weights][net]") {
  TempDir dir;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  struct Case {
    Attention att;
    const char* tensor;          // one of its tensors in enc0.b0 (4 channels)
    std::vector<int64_t> shape;  // and its shape
  };
  for (const Case& c : {Case{Attention::Sge, "enc0.b0.att.weight", {1, 4, 1, 1}},
                        Case{Attention::Cbam, "enc0.b0.att.spatial.weight", {1, 2, 7, 7}},
                        Case{Attention::Psa, "enc0.b0.att.ch_wz.weight", {4, 2, 1, 1}}}) {
    NetConfig cfg = tiny_config();
    cfg.attention = c.att;
    INFO(config_to_json(cfg));
    SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, rng.next_u64());
    perturb_buffers(ctx, net, rng);
    for (auto& nt : net.state())  // SGE starts at weight 0, bias 1: make every tensor matter
      if (nt.name.find(".att.") != std::string::npos)
        for (int64_t i = 0; i < nt.value->numel(); ++i) (*nt.value)[i] += static_cast<float>(rng.uniform(-0.3, 0.3));
    SrmdsNet<float, Cpu> fused = net.fused(ctx);
    for (SrmdsNet<float, Cpu>* n : {&net, &fused}) {
      const std::string path = dir.file("att.safetensors");
      save_weights(ctx, path, *n);
      const SafetensorsFile f = read_safetensors(path);
      REQUIRE(f.find(c.tensor) != nullptr);
      CHECK(f.find(c.tensor)->shape == c.shape);
      CHECK(f.find("enc0.b0.se.fc1.weight") == nullptr);
      SrmdsNet<float, Cpu> back = load_weights<float>(ctx, path);
      require_same_state(*n, back);
      const auto x = random_tensor<float>(Shape{2, 1, 32, 48}, rng);
      const Tensor<float> z1 = eval_output(ctx, *n, x);
      const Tensor<float> z2 = eval_output(ctx, back, x);
      REQUIRE(std::memcmp(z1.data(), z2.data(), sizeof(float) * z1.numel()) == 0);

      // A wrong shape, a missing attention tensor, and another attention's file are rejected by name.
      SafetensorsFile bad = f;
      for (TensorRecord& r : bad.tensors)
        if (r.name == c.tensor) {
          r.shape.back() += 1;
          r.data.resize(r.data.size() + r.data.size() / static_cast<size_t>(r.shape.back() - 1));
        }
      REQUIRE_THROWS_WITH(load_weights<float>(ctx, bad, "w.st"),
                          Contains(std::string("tensor '") + c.tensor + "' has shape"));
      SafetensorsFile other = f;
      NetConfig se_cfg = cfg;
      se_cfg.attention = Attention::Se;
      other.metadata["config"] = config_to_json(se_cfg);
      REQUIRE_THROWS_WITH(load_weights<float>(ctx, other, "w.st"), Contains("missing tensor 'enc0.b0.se.fc1.weight'"));
      NetConfig none_cfg = cfg;
      none_cfg.attention = Attention::None;
      other.metadata["config"] = config_to_json(none_cfg);
      REQUIRE_THROWS_WITH(load_weights<float>(ctx, other, "w.st"),
                          Contains("unexpected tensor '") && Contains(".att."));
    }
  }
}

TEST_CASE("weights: checkpoint extras are stored beside the network", "[io][weights][net]") {
  TempDir dir;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  SrmdsNet<float, Cpu> net(ctx, tiny_config(), NetForm::Train, 3);
  Tensor<float> moment = random_tensor<float>(Shape{4, 1, 3, 3}, rng);
  Tensor<float> step(Shape{1});
  step[0] = 42.0f;
  const StateList<float, Cpu> extra{{"optim.m.enc0.b0.br.3x3.conv.weight", &moment, nullptr},
                                    {"optim.step", &step, nullptr}};
  const std::string path = dir.file("ckpt.safetensors");
  save_weights(ctx, path, net, extra, {{"epoch", "3"}});

  const SafetensorsFile f = read_safetensors(path);
  CHECK(f.metadata.at("epoch") == "3");
  CHECK(f.find("optim.step")->data == std::vector<float>{42.0f});
  REQUIRE_THROWS_WITH(load_weights<float>(ctx, f, path), Contains("unexpected tensor 'optim."));
  SrmdsNet<float, Cpu> back = load_weights<float>(ctx, f, path, {"optim."});
  require_same_state(net, back);
  // A trainer restores network and extras together.
  Tensor<float> moment2(Shape{4, 1, 3, 3}), step2(Shape{1});
  StateList<float, Cpu> all = back.state();
  all.push_back({"optim.m.enc0.b0.br.3x3.conv.weight", &moment2, nullptr});
  all.push_back({"optim.step", &step2, nullptr});
  load_state(ctx, f, all, path);
  CHECK(std::memcmp(moment.data(), moment2.data(), sizeof(float) * moment.numel()) == 0);
  CHECK(step2[0] == 42.0f);
}
