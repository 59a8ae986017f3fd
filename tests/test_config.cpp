// NetConfig <-> JSON: defaults, round trips, and one specific error per kind of bad value.
#include <catch2/catch.hpp>

#include "srmds/core/error.hpp"
#include "srmds/nets/config.hpp"

using namespace srmds;
using Catch::Matchers::Contains;

namespace {
void require_equal(const NetConfig& a, const NetConfig& b) {
  CHECK(a.base == b.base);
  CHECK(a.in_channels == b.in_channels);
  CHECK(a.branches == b.branches);
  CHECK(a.bn == b.bn);
  CHECK(a.attention == b.attention);
  CHECK(a.se_reduction == b.se_reduction);
  CHECK(a.align_corners == b.align_corners);
  CHECK(a.input_size == b.input_size);
  CHECK(a.window == b.window);
  CHECK(a.lesion_labels == b.lesion_labels);
}
}  // namespace

TEST_CASE("config: an empty object gives the defaults of SPEC §6", "[io][config]") {
  const NetConfig c = config_from_json("{}");
  require_equal(c, NetConfig{});
  CHECK(c.base == 64);
  CHECK(c.branches == std::vector<std::string>{"3x3", "1x3", "3x1", "1x1", "id"});
  CHECK(c.input_size == std::array<int, 2>{512, 512});
  REQUIRE(c.window.has_value());
  CHECK((*c.window)[0] == -1250.0);
  CHECK((*c.window)[1] == 250.0);
}

TEST_CASE("config: the default config is written with every key, integers as integers", "[io][config]") {
  const std::string text = config_to_json(NetConfig{});
  CHECK(text ==
        R"({"align_corners":true,"attention":"se","base":64,"bn":"inner","branches":["3x3","1x3","3x1","1x1","id"],)"
        R"("in_channels":1,"input_size":[512,512],"lesion_labels":[1,2],"se_reduction":16,"window":[-1250,250]})");
}

TEST_CASE("config: round trip of non-default values", "[io][config]") {
  NetConfig c;
  c.base = 8;
  c.in_channels = 3;
  c.branches = {"1x1", "3x3"};
  c.bn = BnPlacement::External;
  c.attention = Attention::None;
  c.se_reduction = 4;
  c.align_corners = false;
  c.input_size = {64, 96};
  c.window = std::array<double, 2>{-1000.5, 400.25};
  c.lesion_labels = {1, 2, 3};
  require_equal(config_from_json(config_to_json(c)), c);

  c.window = std::nullopt;
  const std::string text = config_to_json(c);
  CHECK_THAT(text, Contains("\"window\":null"));
  require_equal(config_from_json(text), c);
}

TEST_CASE("config: lesion_labels \"any\" (binary masks) is the empty list and round-trips", "[io][config]") {
  NetConfig c;
  c.lesion_labels = {};  // what --labels any sets
  const std::string text = config_to_json(c);
  CHECK_THAT(text, Contains("\"lesion_labels\":\"any\""));
  require_equal(config_from_json(text), c);
  CHECK(config_from_json(R"({"lesion_labels": "any"})").lesion_labels.empty());
  CHECK_THROWS_WITH(config_from_json(R"({"lesion_labels": "all"})"), Contains("key \"lesion_labels\""));
}

TEST_CASE("config: partial objects keep the other defaults", "[io][config]") {
  const NetConfig c = config_from_json(R"({"base": 16, "window": null, "attention": "none"})");
  CHECK(c.base == 16);
  CHECK(!c.window.has_value());
  CHECK(c.attention == Attention::None);
  CHECK(c.bn == BnPlacement::Inner);
  CHECK(c.lesion_labels == std::vector<int>{1, 2});
}

TEST_CASE("config: bad input is rejected naming the key", "[io][config]") {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"base": 0})", "key \"base\": value 0 is outside"},
      {R"({"base": -64})", "key \"base\": value -64 is outside"},
      {R"({"base": 64.5})", "key \"base\": expected an integer"},
      {R"({"base": "64"})", "key \"base\": expected an integer"},
      {R"({"in_channels": 0})", "key \"in_channels\""},
      {R"({"branches": ["3x3", "5x5"]})", "key \"branches\": unknown branch \"5x5\""},
      {R"({"branches": ["3x3", "1x1", "3x3"]})", "key \"branches\": branch \"3x3\" appears twice"},
      {R"({"branches": ["id"]})", "key \"branches\": needs at least one convolution branch"},
      {R"({"branches": "3x3"})", "key \"branches\": expected an array"},
      {R"({"branches": [3]})", "key \"branches\": expected a string"},
      {R"({"bn": "outer"})", "key \"bn\": \"outer\" is neither"},
      {R"({"bn": 1})", "key \"bn\": expected a string"},
      {R"({"attention": "senet"})", "key \"attention\": \"senet\" is not one of se, sge, cbam, psa, none"},
      {R"({"attention": "sge", "base": 6})", "key \"attention\": sge needs"},
      {R"({"attention": "psa", "base": 1})", "key \"attention\": psa needs at least 2 channels"},
      {R"({"se_reduction": 0})", "key \"se_reduction\""},
      {R"({"align_corners": 1})", "key \"align_corners\": expected true or false"},
      {R"({"input_size": [500, 512]})", "key \"input_size\": [500, 512] must be positive multiples of 16"},
      {R"({"input_size": [0, 512]})", "key \"input_size\""},
      {R"({"input_size": [512]})", "key \"input_size\": expected [height, width]"},
      {R"({"window": [250, -1250]})", "key \"window\""},
      {R"({"window": [-1250]})", "key \"window\": expected [low, high] or null"},
      {R"({"window": "lung"})", "key \"window\": expected [low, high] or null"},
      {R"({"lesion_labels": []})", "key \"lesion_labels\": must list at least one label"},
      {R"({"lesion_labels": [0, 1]})", "key \"lesion_labels\""},
      {R"({"lesion_labels": [1.5]})", "key \"lesion_labels\": expected an integer"},
      {R"({"base": 64, "depth": 5})", "unknown key \"depth\""},
      {R"([64])", "expected a JSON object"},
      {R"({"base": 64)", "config: invalid JSON"},
      {"", "config: invalid JSON"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    REQUIRE_THROWS_AS(config_from_json(c.json), Error);
    REQUIRE_THROWS_WITH(config_from_json(c.json), Contains(c.message));
  }
}

TEST_CASE("config: every attention of SPEC §2 round-trips", "[io][config]") {
  for (Attention a : {Attention::Se, Attention::Sge, Attention::Cbam, Attention::Psa, Attention::None}) {
    NetConfig c;
    c.base = 8;
    c.attention = a;
    const std::string text = config_to_json(c);
    INFO(text);
    CHECK_THAT(text, Contains(std::string("\"attention\":\"") + attention_name(a) + "\""));
    require_equal(config_from_json(text), c);
    CHECK(parse_attention(attention_name(a)) == a);
  }
  REQUIRE_THROWS_WITH(parse_attention("SE"), Contains("\"SE\" is not one of se, sge, cbam, psa, none"));
}

TEST_CASE("config: the attention table's names round-trip through the parser", "[io][config]") {
  std::vector<std::string> names;
  for (const AttentionTraits& t : kAttentionTraits) {
    INFO(t.name);
    names.push_back(t.name);
    CHECK(find_attention(t.kind) == &t);
    CHECK(find_attention(std::string(t.name)) == &t);
    CHECK(std::string(attention_name(t.kind)) == t.name);
    CHECK(parse_attention(t.name) == t.kind);
    const NetConfig c = config_from_json(std::string(R"({"base": 8, "attention": ")") + t.name + "\"}");
    CHECK(c.attention == t.kind);
    CHECK_THAT(config_to_json(c), Contains(std::string("\"attention\":\"") + t.name + "\""));
    // SPEC §6: SE's state lies under <block>.se., every other type's under <block>.att., none has none.
    CHECK(std::string(t.prefix) == (t.kind == Attention::Se ? "se." : t.kind == Attention::None ? "" : "att."));
    // none is the identity: no parameter, no MAC, any width.
    if (t.kind == Attention::None) CHECK((t.params(64, 4) == 0 && t.macs(64, 4, 256) == 0 && t.width_error(1).empty()));
  }
  CHECK(attention_names() == names);
  CHECK(attention_names_text() == "se, sge, cbam, psa, none");
  for (size_t i = 0; i < names.size(); ++i)
    for (size_t j = 0; j < i; ++j) CHECK(names[i] != names[j]);
  CHECK(find_attention(std::string("SE")) == nullptr);
  CHECK(find_attention(static_cast<Attention>(kAttentionTraits.size())) == nullptr);
  REQUIRE_THROWS_WITH(attention_name(static_cast<Attention>(kAttentionTraits.size())), Contains("invalid value"));
  NetConfig bad;
  bad.attention = static_cast<Attention>(kAttentionTraits.size());
  REQUIRE_THROWS_WITH(config_to_json(bad), Contains("key \"attention\": invalid value"));
}

TEST_CASE("config: sge and psa reject widths they cannot split, naming the block", "[io][config]") {
  // base 6: enc1 blocks have 12 channels, not a multiple of min(8, 12) = 8 groups.
  REQUIRE_THROWS_WITH(config_from_json(R"({"attention": "sge", "base": 6})"),
                      Contains("block enc1.b0 has 12"));
  // base 3: 3, 6, 12, ... channels: 12 % 8 != 0 again (enc2), while 3 and 6 use 3 and 6 groups.
  REQUIRE_THROWS_WITH(config_from_json(R"({"attention": "sge", "base": 3})"), Contains("block enc2.b0 has 12"));
  for (int base : {1, 2, 4, 8, 16, 64}) CHECK(config_from_json("{\"attention\": \"sge\", \"base\": " + std::to_string(base) + "}").base == base);
  REQUIRE_THROWS_WITH(config_from_json(R"({"attention": "psa", "base": 1})"), Contains("block enc0.b0 has 1"));
  CHECK(config_from_json(R"({"attention": "psa", "base": 3})").attention == Attention::Psa);
  NetConfig c;
  c.base = 5;
  c.attention = Attention::Sge;
  REQUIRE_THROWS_WITH(config_to_json(c), Contains("block enc1.b0 has 10"));
}

TEST_CASE("config: an invalid config is not written", "[io][config]") {
  NetConfig c;
  c.input_size = {100, 512};
  REQUIRE_THROWS_WITH(config_to_json(c), Contains("key \"input_size\""));
  c = NetConfig{};
  c.branches = {"3x3", "3x3"};
  REQUIRE_THROWS_WITH(config_to_json(c), Contains("appears twice"));
}

TEST_CASE("config: lesion_labels \"any\" (every label > 0) round-trips", "[io][config]") {
  NetConfig c;
  c.lesion_labels = {};
  const std::string json = config_to_json(c);
  CHECK_THAT(json, Contains(R"("lesion_labels":"any")"));
  require_equal(config_from_json(json), c);
  CHECK(config_from_json(R"({"lesion_labels": "any"})").lesion_labels.empty());
  REQUIRE_THROWS_WITH(config_from_json(R"({"lesion_labels": "some"})"), Contains("key \"lesion_labels\""));
}
