// Run records of training checkpoints (train/run_record.hpp).
#include "srmds/train/run_record.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "srmds/core/error.hpp"

namespace srmds {

using json = nlohmann::json;

std::string run_record_to_json(const RunRecord& record) {
  json j = json::object();
  for (const auto& kv : record) j[kv.first] = kv.second;
  return j.dump();
}

RunRecord run_record_from_json(const std::string& text, const std::string& what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    SRMDS_THROW(what << " is not valid JSON");
  }
  if (!j.is_object()) SRMDS_THROW(what << " is not a JSON object");
  RunRecord out;
  for (const auto& kv : j.items()) {
    if (!kv.value().is_string()) SRMDS_THROW(what << ": the value of '" << kv.key() << "' is not a string");
    out[kv.key()] = kv.value().get<std::string>();
  }
  return out;
}

RunRecord config_record(const std::string& config_json) {
  const json j = json::parse(config_json);
  RunRecord out;
  for (const auto& kv : j.items()) out[kv.key()] = kv.value().dump();
  return out;
}

std::vector<RunChange> run_changes(const RunRecord& stored, const RunRecord& given) {
  std::vector<RunChange> out;
  for (const auto& kv : given) {
    const auto it = stored.find(kv.first);
    if (it != stored.end() && it->second != kv.second) out.push_back({kv.first, it->second, kv.second});
  }
  return out;
}

namespace {

// FNV-1a over 64-bit words (the tail byte by byte), then a final avalanche.
struct Hash64 {
  uint64_t h = 0xcbf29ce484222325ull;
  void word(uint64_t w) { h = (h ^ w) * 0x100000001b3ull; }
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, b + i, 8);
      word(w);
    }
    for (; i < n; ++i) word(b[i]);
  }
  uint64_t value() const {
    uint64_t z = h;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

}  // namespace

uint64_t slices_content_hash(const SliceDataset& data) {
  Hash64 h;
  const size_t pixels = static_cast<size_t>(data.height()) * static_cast<size_t>(data.width());
  h.word(static_cast<uint64_t>(data.size()));
  h.word(static_cast<uint64_t>(data.height()));
  h.word(static_cast<uint64_t>(data.width()));
  for (int64_t i = 0; i < data.size(); ++i) {
    h.bytes(data.image(i), pixels * sizeof(float));
    h.bytes(data.mask(i), pixels);
  }
  return h.value();
}

std::string slices_identity(const SliceDataset& data) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(slices_content_hash(data)));
  return std::to_string(data.size()) + " slices of " + std::to_string(data.height()) + " x " +
         std::to_string(data.width()) + ", content " + hex;
}

std::string shortest_double(double v) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace srmds
