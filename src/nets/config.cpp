// NetConfig <-> JSON text (SPEC §6). Every key is optional (missing keys keep NetConfig's
// defaults); unknown keys, wrong types and out-of-range values throw srmds::Error naming the key.
// config_to_json validates too, so an invalid configuration is never written into a weight file.
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "srmds/core/error.hpp"
#include "srmds/core/limits.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/layout.hpp"

namespace srmds {

namespace {

using json = nlohmann::json;

#define SRMDS_CONFIG_FAIL(key, msg) SRMDS_THROW("config: key \"" << (key) << "\": " << msg)

const char* const kKeys[] = {"base",          "in_channels", "branches",   "bn",     "attention",    "se_reduction",
                             "align_corners", "input_size",  "window",     "lesion_labels"};

// Integer in [lo, hi] (JSON integers only: 64.0 and "64" are rejected).
int get_int(const json& v, const char* key, int lo, int hi) {
  if (!v.is_number_integer()) SRMDS_CONFIG_FAIL(key, "expected an integer, got " << v.dump());
  const long long x = v.is_number_unsigned() ? static_cast<long long>(std::min<uint64_t>(v.get<uint64_t>(), 1ull << 40))
                                             : v.get<long long>();
  if (x < lo || x > hi) SRMDS_CONFIG_FAIL(key, "value " << v.dump() << " is outside [" << lo << ", " << hi << "]");
  return static_cast<int>(x);
}

std::string get_string(const json& v, const char* key) {
  if (!v.is_string()) SRMDS_CONFIG_FAIL(key, "expected a string, got " << v.dump());
  return v.get<std::string>();
}

}  // namespace

void validate_config(const NetConfig& c) {
  if (c.base <= 0 || c.base > kMaxBase) SRMDS_CONFIG_FAIL("base", "value " << c.base << " is outside [1, " << kMaxBase << "]");
  if (c.in_channels <= 0 || c.in_channels > kMaxInChannels)
    SRMDS_CONFIG_FAIL("in_channels", "value " << c.in_channels << " is outside [1, " << kMaxInChannels << "]");
  const std::string branch_error = branch_list_error(c.branches);
  if (!branch_error.empty()) SRMDS_CONFIG_FAIL("branches", branch_error);
  bool has_conv = false;
  for (const std::string& b : c.branches) has_conv = has_conv || find_conv_branch(b) != nullptr;
  if (!has_conv)
    SRMDS_CONFIG_FAIL("branches", "needs at least one convolution branch (" << branch_names_text(false) << ")");
  if (c.bn != BnPlacement::Inner && c.bn != BnPlacement::External) SRMDS_CONFIG_FAIL("bn", "invalid value");
  const AttentionTraits* attention = find_attention(c.attention);
  if (attention == nullptr) SRMDS_CONFIG_FAIL("attention", "invalid value");
  for (const StageSpec& st : stage_specs(c))
    for (const auto& [block, cout] : {std::pair<const char*, int64_t>{"b0", st.cmid}, {"b1", st.cout}}) {
      const std::string width_error = attention->width_error(cout);
      if (!width_error.empty())
        SRMDS_CONFIG_FAIL("attention", width_error << "; block " << st.name << "." << block << " has " << cout
                                                   << " (base " << c.base << ")");
    }
  if (c.se_reduction <= 0 || c.se_reduction > 4096) SRMDS_CONFIG_FAIL("se_reduction", "value " << c.se_reduction << " is outside [1, 4096]");
  for (int s : c.input_size)
    if (s <= 0 || s % 16 != 0 || s > kMaxInputSize)
      SRMDS_CONFIG_FAIL("input_size", "[" << c.input_size[0] << ", " << c.input_size[1]
                                          << "] must be positive multiples of 16 (at most " << kMaxInputSize << ")");
  if (c.window) {
    const auto& w = *c.window;
    if (!std::isfinite(w[0]) || !std::isfinite(w[1]) || !(w[0] < w[1]))
      SRMDS_CONFIG_FAIL("window", "[" << w[0] << ", " << w[1] << "] must be two finite numbers, low < high (or null for min-max)");
  }
  // An empty list is "any": every label > 0 is lesion (binary masks, SPEC §7).
  for (int l : c.lesion_labels)
    if (l <= 0) SRMDS_CONFIG_FAIL("lesion_labels", "label " << l << " is not positive (0 is background)");
}

namespace {

// A window bound as a JSON integer when it is one (so the default prints as [-1250, 250]).
json number(double x) {
  if (std::floor(x) == x && std::abs(x) < 9e15) return json(static_cast<long long>(x));
  return json(x);
}

}  // namespace

std::string config_to_json(const NetConfig& c) {
  validate_config(c);
  json j = json::object();
  j["base"] = c.base;
  j["in_channels"] = c.in_channels;
  j["branches"] = c.branches;
  j["bn"] = c.bn == BnPlacement::Inner ? "inner" : "external";
  j["attention"] = attention_name(c.attention);
  j["se_reduction"] = c.se_reduction;
  j["align_corners"] = c.align_corners;
  j["input_size"] = {c.input_size[0], c.input_size[1]};
  j["window"] = c.window ? json::array({number((*c.window)[0]), number((*c.window)[1])}) : json(nullptr);
  j["lesion_labels"] = c.lesion_labels.empty() ? json("any") : json(c.lesion_labels);
  return j.dump();
}

NetConfig config_from_json(const std::string& json_text) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    SRMDS_THROW("config: invalid JSON: " << e.what());
  }
  if (!j.is_object()) SRMDS_THROW("config: expected a JSON object, got " << j.type_name());
  for (const auto& kv : j.items()) {
    bool known = false;
    for (const char* k : kKeys) known = known || kv.key() == k;
    if (!known) SRMDS_THROW("config: unknown key \"" << kv.key() << "\"");
  }

  NetConfig c;
  constexpr int kBig = std::numeric_limits<int>::max();
  if (j.contains("base")) c.base = get_int(j["base"], "base", 1, kMaxBase);
  if (j.contains("in_channels")) c.in_channels = get_int(j["in_channels"], "in_channels", 1, kMaxInChannels);
  if (j.contains("branches")) {
    const json& v = j["branches"];
    if (!v.is_array()) SRMDS_CONFIG_FAIL("branches", "expected an array of strings, got " << v.dump());
    c.branches.clear();
    for (const json& b : v) c.branches.push_back(get_string(b, "branches"));
  }
  if (j.contains("bn")) {
    const std::string s = get_string(j["bn"], "bn");
    if (s == "inner") c.bn = BnPlacement::Inner;
    else if (s == "external") c.bn = BnPlacement::External;
    else SRMDS_CONFIG_FAIL("bn", "\"" << s << "\" is neither \"inner\" nor \"external\"");
  }
  if (j.contains("attention")) {
    const std::string s = get_string(j["attention"], "attention");
    const AttentionTraits* a = find_attention(s);
    if (a == nullptr) SRMDS_CONFIG_FAIL("attention", "\"" << s << "\" is not one of " << attention_names_text());
    c.attention = a->kind;
  }
  if (j.contains("se_reduction")) c.se_reduction = get_int(j["se_reduction"], "se_reduction", 1, 4096);
  if (j.contains("align_corners")) {
    const json& v = j["align_corners"];
    if (!v.is_boolean()) SRMDS_CONFIG_FAIL("align_corners", "expected true or false, got " << v.dump());
    c.align_corners = v.get<bool>();
  }
  if (j.contains("input_size")) {
    const json& v = j["input_size"];
    if (!v.is_array() || v.size() != 2) SRMDS_CONFIG_FAIL("input_size", "expected [height, width], got " << v.dump());
    c.input_size = {get_int(v[0], "input_size", 1, kBig), get_int(v[1], "input_size", 1, kBig)};
  }
  if (j.contains("window")) {
    const json& v = j["window"];
    if (v.is_null()) {
      c.window = std::nullopt;
    } else {
      if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
        SRMDS_CONFIG_FAIL("window", "expected [low, high] or null, got " << v.dump());
      c.window = std::array<double, 2>{v[0].get<double>(), v[1].get<double>()};
    }
  }
  if (j.contains("lesion_labels")) {
    const json& v = j["lesion_labels"];
    c.lesion_labels.clear();
    if (v.is_string() && v.get<std::string>() == "any") {
      // any label > 0 (binary masks): kept as the empty list
    } else {
      if (!v.is_array()) SRMDS_CONFIG_FAIL("lesion_labels", "expected an array of integers or \"any\", got " << v.dump());
      if (v.empty()) SRMDS_CONFIG_FAIL("lesion_labels", "must list at least one label (or be \"any\")");
      for (const json& l : v) c.lesion_labels.push_back(get_int(l, "lesion_labels", 1, kBig));
    }
  }
  validate_config(c);
  return c;
}

}  // namespace srmds
