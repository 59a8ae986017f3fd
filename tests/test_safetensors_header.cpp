// The safetensors header's two readers (src/io/safetensors_header.hpp, issue 21 item 19): the fast
// one, which reads the usual form of header without building a JSON document, must accept and
// reject exactly what the document reader does, with the same result or the same message. Checked
// on headers of every form and on thousands of mutations of them (fixed seed, printed on failure).
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/testing.hpp"

#include "src/io/safetensors_header.hpp"
#include "srmds/core/error.hpp"
#include "srmds/io/safetensors.hpp"

using namespace srmds;
using io::detail::Header;

namespace {

// "ok: <metadata> | <entries>" or "error: <message>".
std::string outcome(Header (*reader)(const char*, size_t, uint64_t, const std::string&), const std::string& text,
                    uint64_t data_size) {
  try {
    const Header h = reader(text.data(), text.size(), data_size, "h.safetensors");
    std::string s = "ok:";
    for (const auto& kv : h.metadata) s += " " + kv.first + "=" + kv.second;
    s += " |";
    for (const auto& e : h.entries)
      s += " " + e.name + " " + e.dtype + " " + io::shape_string(e.shape) + " " + std::to_string(e.begin) + "-" +
           std::to_string(e.end);
    return s;
  } catch (const Error& e) {
    return std::string("error: ") + e.what();
  }
}

void check_same(const std::string& text, uint64_t data_size) {
  INFO("header: " << text << "\ndata section: " << data_size << " bytes");
  CHECK(outcome(io::detail::parse_header, text, data_size) == outcome(io::detail::header_from_document, text, data_size));
}

// Headers of every form (data sections of 40 bytes unless said): the usual one, keys in other
// orders, no metadata, other dtypes, and unusual ones the fast reader hands to the document.
const std::vector<std::pair<std::string, uint64_t>> kHeaders = {
    {R"({"__metadata__":{"format":"srmds","k":"v"},"a.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}})", 40},
    {R"( { "b" : { "data_offsets" : [24, 40], "shape" : [4], "dtype" : "F32" }, "__metadata__" : { "x" : "{\"y\": [1]}" }, "a" : {"shape":[2,3],"dtype":"F32","data_offsets":[0,24]} } )", 40},
    {R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"g":{"dtype":"BF16","shape":[],"data_offsets":[4,6]},"d":{"dtype":"F64","shape":[1],"data_offsets":[6,14]},"n":{"dtype":"I64","shape":[0],"data_offsets":[14,14]},"u":{"dtype":"U8","shape":[2,1],"data_offsets":[14,16]}})", 16},
    {R"({})", 0},
    {R"({"__metadata__":{}})", 0},
    {R"({"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", 4},
    {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4},
    {R"({"__metadata__":{"k":"v","k":"w"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4},
    {R"({"__metadata__":{"k":"v"},"__metadata__":{"k":"v"}})", 0},
    {R"({"__metadata__":{"k":3}})", 0},
    {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8},
    {R"({"b":{"dtype":"X","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":-1,"data_offsets":[4,8]}})", 8},
    {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4},
    {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4},
    {R"([{"a":1}])", 0},
};

}  // namespace

TEST_CASE("safetensors header: the fast reader agrees with the document on headers of every form",
          "[io][safetensors]") {
  for (const auto& h : kHeaders) {
    check_same(h.first, h.second);
    check_same(h.first, h.second + 4);  // trailing bytes
  }
  // The usual form is read by the fast reader: same entries as the document.
  CHECK(outcome(io::detail::parse_header, kHeaders[0].first, 40).rfind("ok: format=srmds k=v | a.weight F32 [2, 3] 0-24", 0) == 0);
}

TEST_CASE("safetensors header: the fast reader agrees with the document on mutated headers", "[io][safetensors]") {
  const uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const std::string alphabet = "{}[]\":,.-+eE0123456789 \\aFI_x";
  for (int i = 0; i < 6000; ++i) {
    const auto& base = kHeaders[rng() % kHeaders.size()];
    std::string text = base.first;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      const size_t at = rng() % text.size();
      const char ch = alphabet[rng() % alphabet.size()];
      switch (rng() % 4) {
        case 0: text[at] = ch; break;
        case 1: text.erase(at, 1); break;
        case 2: text.insert(at, 1, ch); break;
        default: {  // a copy of a piece of the header elsewhere (duplicates, nesting)
          const size_t len = 1 + rng() % 24, from = rng() % text.size();
          text.insert(at, text.substr(from, len));
        }
      }
    }
    const uint64_t data_size = rng() % 4 == 0 ? rng() % 48 : base.second;
    check_same(text, data_size);
  }
}
