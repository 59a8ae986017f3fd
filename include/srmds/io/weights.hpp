// Saving and loading networks as safetensors weight files (SPEC §6).
//
// A weight file holds the tensors of a StateList (names as PyTorch's state_dict()) as F32, and
// metadata {"format": "srmds", "form": "train" | "fused", "config": config_to_json(config)}.
// Training checkpoints add their own tensors (optimizer moments) and metadata keys through the
// `extra` arguments. Loading checks, before anything is copied, that every expected tensor is
// present with the expected shape and a floating dtype, and that the file holds no unexpected
// tensor (`*.num_batches_tracked` and names under `ignored_prefixes` excepted); the error names the
// file and the first offending tensor, with expected and actual shapes. A fused file may also hold
// head1..head3 (PyTorch's state_dict() of a fused module keeps them, SPEC §6): they are checked
// (shape [1, c_s, 1, 1] and [1], F32) and not used.
// Values are checked too
// (check_values): every value finite and of magnitude at most kMaxWeightMagnitude (1e30: larger
// values overflow float in the first product, so no trained network holds them), and BN
// `*.running_var` and Adam second moments `optimizer.v.*` non-negative. Before the network is
// built, load_weights compares the number of values the file holds with the parameter count its
// config implies, so a small file whose config asks for a huge network fails before allocating.
//
// Pieces usable on their own:
//   weights_metadata / read_weights_info    the metadata contract
//   state_records                           StateList -> host F32 records
//   save_state / load_state                 StateList <-> file
//   save_weights / load_weights             SrmdsNet <-> file
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <new>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/core/named_tensor.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds::io {

inline const char* form_name(NetForm form) { return form == NetForm::Train ? "train" : "fused"; }

// What a weight file's metadata says.
struct WeightsInfo {
  NetConfig config;
  NetForm form = NetForm::Train;
};

// The metadata of a weight file; `extra` keys (checkpoint data) must not collide with the three
// reserved ones.
inline std::map<std::string, std::string> weights_metadata(const NetConfig& config, NetForm form,
                                                           std::map<std::string, std::string> extra = {}) {
  for (const char* key : {"format", "form", "config"})
    SRMDS_CHECK(extra.count(key) == 0, "weights_metadata: extra metadata may not set the reserved key '" << key << "'");
  extra["format"] = "srmds";
  extra["form"] = form_name(form);
  extra["config"] = config_to_json(config);
  return extra;
}

// Validates and decodes the metadata of a weight file (format, form, config).
inline WeightsInfo read_weights_info(const SafetensorsFile& file, const std::string& file_name) {
  const auto get = [&](const char* key) -> const std::string& {
    const auto it = file.metadata.find(key);
    if (it == file.metadata.end()) SRMDS_THROW("weights file '" << file_name << "': metadata has no \"" << key << "\"");
    return it->second;
  };
  if (get("format") != "srmds")
    SRMDS_THROW("weights file '" << file_name << "': metadata format is \"" << get("format") << "\", not \"srmds\"");
  WeightsInfo info;
  const std::string& form = get("form");
  if (form == "train") info.form = NetForm::Train;
  else if (form == "fused") info.form = NetForm::Fused;
  else SRMDS_THROW("weights file '" << file_name << "': unknown form \"" << form << "\" (expected train or fused)");
  try {
    info.config = config_from_json(get("config"));
  } catch (const Error& e) {
    SRMDS_THROW("weights file '" << file_name << "': " << e.what());
  }
  return info;
}

namespace detail {
inline std::vector<int64_t> dims_of(const Shape& s) {
  std::vector<int64_t> d;
  for (int i = 0; i < s.rank(); ++i) d.push_back(s[i]);
  return d;
}
inline bool is_ignored_name(const std::string& name, const std::vector<std::string>& ignored_prefixes) {
  static const std::string nbt = "num_batches_tracked";
  if (name == nbt || (name.size() > nbt.size() && name.compare(name.size() - nbt.size() - 1, std::string::npos, "." + nbt) == 0))
    return true;
  for (const std::string& p : ignored_prefixes)
    if (name.compare(0, p.size(), p) == 0) return true;
  return false;
}
inline bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace detail

// Values above this magnitude are rejected at load: any product with one overflows float.
inline constexpr double kMaxWeightMagnitude = 1e30;

// Throws unless every value of the tensor `r` is finite and |v| <= kMaxWeightMagnitude, and, for
// BN running variances and Adam second moments, >= 0. The error names the file, tensor and index.
inline void check_values(const TensorRecord& r, const std::string& file_name) {
  const bool non_negative = detail::ends_with(r.name, "running_var") || r.name.compare(0, 12, "optimizer.v.") == 0;
  for (size_t i = 0; i < r.data.size(); ++i) {
    const float v = r.data[i];
    const char* bad = nullptr;
    if (!std::isfinite(v)) bad = "a non-finite value";
    else if (std::fabs(static_cast<double>(v)) > kMaxWeightMagnitude) bad = "an absurd value (magnitude above 1e30)";
    else if (non_negative && v < 0) bad = detail::ends_with(r.name, "running_var") ? "a negative variance" : "a negative second moment";
    if (bad)
      SRMDS_THROW("weights file '" << file_name << "': tensor '" << r.name << "' holds " << bad << " (" << v
                                   << " at index " << i << "); the file is corrupt");
  }
}

// Host F32 copies of the state's tensors (any device, float or double).
template <class T, class D>
std::vector<TensorRecord> state_records(Context<D>& ctx, const StateList<T, D>& state) {
  std::vector<TensorRecord> out;
  out.reserve(state.size());
  for (const NamedTensor<T, D>& nt : state) {
    SRMDS_CHECK(nt.value != nullptr, "state_records: tensor '" << nt.name << "' has no value");
    const Tensor<T, Cpu> h = host_view(ctx, *nt.value);
    TensorRecord r;
    r.name = nt.name;
    r.shape = detail::dims_of(h.shape());
    r.data.resize(static_cast<size_t>(h.numel()));
    for (int64_t i = 0; i < h.numel(); ++i) r.data[static_cast<size_t>(i)] = static_cast<float>(h[i]);
    out.push_back(std::move(r));
  }
  return out;
}

// Writes a state list with the given metadata (atomically).
template <class T, class D>
void save_state(Context<D>& ctx, const std::string& path, const StateList<T, D>& state,
                std::map<std::string, std::string> metadata) {
  SafetensorsFile f;
  f.metadata = std::move(metadata);
  f.tensors = state_records(ctx, state);
  write_safetensors(path, f);
}

// A tensor a file may hold that is checked (name, shape, F32) and then not used.
struct UnusedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// The tensors a fused file may hold besides the fused network's: heads 1..3 of the training form.
inline std::vector<UnusedTensor> fused_unused_heads(const NetConfig& cfg) {
  std::vector<UnusedTensor> out;
  const auto hc = head_channels(cfg);
  for (int s = 1; s < kNumScales; ++s) {
    out.push_back({"head" + std::to_string(s) + ".weight", {1, hc[s], 1, 1}});
    out.push_back({"head" + std::to_string(s) + ".bias", {1}});
  }
  return out;
}

// Copies the file's tensors into `into`, after checking names, dtypes and shapes of all of them.
// Tensors named in `accepted_unused` may be present (with that shape, F32) and are not copied.
template <class T, class D>
void load_state(Context<D>& ctx, const SafetensorsFile& file, const StateList<T, D>& into, const std::string& file_name,
                const std::vector<std::string>& ignored_prefixes = {},
                const std::vector<UnusedTensor>& accepted_unused = {}) {
  std::unordered_map<std::string, const TensorRecord*> by_name;
  for (const TensorRecord& r : file.tensors) by_name.emplace(r.name, &r);
  std::unordered_map<std::string, bool> expected;
  std::vector<const TensorRecord*> source(into.size());
  for (size_t i = 0; i < into.size(); ++i) {
    const NamedTensor<T, D>& nt = into[i];
    SRMDS_CHECK(nt.value != nullptr, "load_state: tensor '" << nt.name << "' has no value");
    SRMDS_CHECK(expected.emplace(nt.name, true).second, "load_state: tensor '" << nt.name << "' is listed twice");
    const auto it = by_name.find(nt.name);
    if (it == by_name.end()) SRMDS_THROW("weights file '" << file_name << "': missing tensor '" << nt.name << "'");
    const TensorRecord& r = *it->second;
    const std::vector<int64_t> want = detail::dims_of(nt.value->shape());
    if (r.shape != want)
      SRMDS_THROW("weights file '" << file_name << "': tensor '" << nt.name << "' has shape " << shape_string(r.shape)
                                   << ", expected " << shape_string(want));
    if (!r.has_data())
      SRMDS_THROW("weights file '" << file_name << "': tensor '" << nt.name << "' has dtype " << r.dtype
                                   << ", expected F32");
    check_values(r, file_name);
    source[i] = &r;
  }
  for (const UnusedTensor& u : accepted_unused) {
    SRMDS_CHECK(!expected.count(u.name), "load_state: tensor '" << u.name << "' is both expected and unused");
    const auto it = by_name.find(u.name);
    if (it == by_name.end()) continue;
    const TensorRecord& r = *it->second;
    if (r.shape != u.shape)
      SRMDS_THROW("weights file '" << file_name << "': tensor '" << u.name << "' has shape " << shape_string(r.shape)
                                   << ", expected " << shape_string(u.shape) << " (accepted, not used)");
    if (!r.has_data())
      SRMDS_THROW("weights file '" << file_name << "': tensor '" << u.name << "' has dtype " << r.dtype
                                   << ", expected F32");
    expected.emplace(u.name, false);
  }
  for (const TensorRecord& r : file.tensors)
    if (!expected.count(r.name) && !detail::is_ignored_name(r.name, ignored_prefixes))
      SRMDS_THROW("weights file '" << file_name << "': unexpected tensor '" << r.name << "' of shape "
                                   << shape_string(r.shape));

  for (size_t i = 0; i < into.size(); ++i) {
    Tensor<T, D>& value = *into[i].value;
    Tensor<T, Cpu> h(value.shape());
    const std::vector<float>& data = source[i]->data;
    for (int64_t k = 0; k < h.numel(); ++k) h[k] = static_cast<T>(data[static_cast<size_t>(k)]);
    copy_to_device(ctx, h, value);
  }
}

// Writes a network (and optional checkpoint tensors and metadata) to `path`, atomically.
template <class T, class D>
void save_weights(Context<D>& ctx, const std::string& path, SrmdsNet<T, D>& net, const StateList<T, D>& extra = {},
                  std::map<std::string, std::string> extra_metadata = {}) {
  StateList<T, D> all = net.state();
  all.insert(all.end(), extra.begin(), extra.end());
  save_state(ctx, path, all, weights_metadata(net.config(), net.form(), std::move(extra_metadata)));
}

// Builds the network a weight file describes, by shape (no random initialisation), and loads its
// tensors. Tensors whose names start with one of `ignored_prefixes` are skipped: by default a
// training checkpoint's optimizer state and weight averages, so a checkpoint loads as a model (its
// live weights).
template <class T, class D>
SrmdsNet<T, D> load_weights(Context<D>& ctx, const SafetensorsFile& file, const std::string& file_name,
                            const std::vector<std::string>& ignored_prefixes = {"optimizer.", "ema."}) {
  const WeightsInfo info = read_weights_info(file, file_name);
  // Cheap check before anything is allocated: a network of more than 64 MiB of parameters must
  // find at least that many values in the file (smaller ones are built and then checked tensor by
  // tensor, which names the first mismatch).
  int64_t held = 0;
  for (const TensorRecord& r : file.tensors)
    if (!detail::is_ignored_name(r.name, ignored_prefixes)) held += static_cast<int64_t>(r.data.size());
  const int64_t needed = model_stats(info.config, info.form, 16, 16).params;
  if (needed * static_cast<int64_t>(sizeof(T)) > (int64_t{64} << 20) && held < needed)
    SRMDS_THROW("weights file '" << file_name << "': holds " << held << " values but its config (base "
                                 << info.config.base << ", " << form_name(info.form) << " form) needs " << needed
                                 << " parameters; the file does not match its config");
  try {
    SrmdsNet<T, D> net = SrmdsNet<T, D>::by_shape(ctx, info.config, info.form);
    const std::vector<UnusedTensor> unused =
        info.form == NetForm::Fused ? fused_unused_heads(info.config) : std::vector<UnusedTensor>{};
    load_state(ctx, file, net.state(), file_name, ignored_prefixes, unused);
    return net;
  } catch (const std::bad_alloc&) {
    SRMDS_THROW("weights file '" << file_name << "': out of memory building its base-" << info.config.base << " "
                                 << form_name(info.form) << "-form network (" << needed << " parameters)");
  }
}

template <class T, class D>
SrmdsNet<T, D> load_weights(Context<D>& ctx, const std::string& path,
                            const std::vector<std::string>& ignored_prefixes = {"optimizer.", "ema."}) {
  return load_weights<T, D>(ctx, read_safetensors(path), path, ignored_prefixes);
}

}  // namespace srmds::io
