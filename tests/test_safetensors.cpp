// safetensors: round trips (bit-exact), interop with files written by an independent Python
// writer (struct + json), one specific error per kind of malformed file, a deterministic mutation
// fuzz test, and atomic writes that leave nothing behind on failure.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/io/safetensors.hpp"
#include "support/temp_dir.hpp"

using namespace srmds;
using namespace srmds::io;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh directory, removed with its contents at the end of the test.
using srmds::test::TempDir;

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

using srmds::test::write_bytes;

// A file from a header text (not padded) and a data section.
std::vector<char> make_file(const std::string& header, const std::vector<char>& data) {
  std::string s(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  s += header;
  s.append(data.begin(), data.end());
  return std::vector<char>(s.begin(), s.end());
}

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TensorRecord record(const std::string& name, std::vector<int64_t> shape, Rng& rng) {
  TensorRecord r;
  r.name = name;
  r.shape = std::move(shape);
  r.data.resize(static_cast<size_t>(r.numel()));
  for (float& v : r.data) v = static_cast<float>(rng.normal());
  return r;
}

void require_same(const TensorRecord& a, const TensorRecord& b) {
  INFO(a.name);
  REQUIRE(a.name == b.name);
  REQUIRE(a.shape == b.shape);
  REQUIRE(a.data.size() == b.data.size());
  for (size_t i = 0; i < a.data.size(); ++i) REQUIRE(bits(a.data[i]) == bits(b.data[i]));
}

// A small valid file: tensors "a" [2, 3] and "b" [4] (F32), metadata {"k": "v"}.
std::vector<char> small_valid_file() {
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}})";
  return make_file(header, std::vector<char>(40, 0));
}

bool have_python() { return std::system("/usr/bin/python3 -c 'import json, struct' >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE("safetensors: write then read is bit-exact and sorted by name", "[io][safetensors]") {
  TempDir dir;
  Rng rng(12345);
  SafetensorsFile f;
  f.metadata = {{"format", "srmds"}, {"quote \"and\" unicode", "é ✓ \\ \n"}, {"empty", ""}};
  f.tensors.push_back(record("z.last", {3, 5, 1, 2}, rng));
  f.tensors.push_back(record("a.scalar", {}, rng));
  f.tensors.push_back(record("m.empty", {0, 4}, rng));
  f.tensors.push_back(record("b.bias", {7}, rng));
  TensorRecord special = record("c.special", {6}, rng);
  special.data = {-0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(), 0.0f};
  f.tensors.push_back(special);
  TensorRecord nan = record("d.nan", {1}, rng);
  const uint32_t nan_bits = 0x7fc01234u;
  std::memcpy(&nan.data[0], &nan_bits, 4);
  f.tensors.push_back(nan);

  const std::string path = dir.file("w.safetensors");
  write_safetensors(path, f);
  const std::vector<char> bytes = read_bytes(path);
  REQUIRE(bytes == serialize_safetensors(f));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes[8] == '{');
  CHECK(bytes[8 + n - 1] != '\0');

  const SafetensorsFile g = read_safetensors(path);
  CHECK(g.metadata == f.metadata);
  REQUIRE(g.tensors.size() == f.tensors.size());
  const std::vector<std::string> order = {"a.scalar", "b.bias", "c.special", "d.nan", "m.empty", "z.last"};
  for (size_t i = 0; i < order.size(); ++i) {
    CHECK(g.tensors[i].name == order[i]);
    CHECK(g.tensors[i].dtype == "F32");
    require_same(g.tensors[i], *f.find(order[i]));
  }
  REQUIRE(g.find("nope") == nullptr);
  // The same through the in-memory parser.
  const SafetensorsFile h = parse_safetensors(bytes.data(), bytes.size(), "mem");
  for (const TensorRecord& t : h.tensors) require_same(t, *g.find(t.name));
  // The header alone: the same metadata, names, dtypes and shapes, no data; a file cut short is
  // refused as read_safetensors refuses it.
  const SafetensorsFile head = read_safetensors_header(path);
  CHECK(head.metadata == f.metadata);
  REQUIRE(head.tensors.size() == g.tensors.size());
  for (size_t i = 0; i < head.tensors.size(); ++i) {
    CHECK(head.tensors[i].name == g.tensors[i].name);
    CHECK(head.tensors[i].dtype == g.tensors[i].dtype);
    CHECK(head.tensors[i].shape == g.tensors[i].shape);
    CHECK(head.tensors[i].data.empty());
  }
  {
    const std::string cut = dir.file("cut.safetensors");
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 4));
    std::string full_error, header_error;
    try {
      read_safetensors(cut);
    } catch (const Error& e) {
      full_error = e.what();
    }
    try {
      read_safetensors_header(cut);
    } catch (const Error& e) {
      header_error = e.what();
    }
    CHECK(!full_error.empty());
    CHECK(header_error == full_error);
  }

  SECTION("an empty file (no tensors, no metadata) round-trips") {
    write_safetensors(path, SafetensorsFile{});
    const SafetensorsFile e = read_safetensors(path);
    CHECK(e.tensors.empty());
    CHECK(e.metadata.empty());
  }
}

TEST_CASE("safetensors: the writer rejects what it cannot write", "[io][safetensors]") {
  TempDir dir;
  Rng rng(1);
  SafetensorsFile f;
  f.tensors.push_back(record("a", {2, 2}, rng));
  f.tensors.push_back(record("a", {3}, rng));
  REQUIRE_THROWS_WITH(serialize_safetensors(f), Contains("tensor 'a' appears twice"));
  f.tensors[1].name = "b";
  f.tensors[1].data.pop_back();
  REQUIRE_THROWS_WITH(serialize_safetensors(f), Contains("tensor 'b' of shape [3] has 2 values, expected 3"));
  f.tensors[1].data.push_back(1.0f);
  f.tensors[1].dtype = "F16";
  REQUIRE_THROWS_WITH(serialize_safetensors(f), Contains("only F32 is written"));
  f.tensors[1].dtype = "F32";
  f.tensors[1].name = "__metadata__";
  REQUIRE_THROWS_WITH(serialize_safetensors(f), Contains("invalid tensor name"));
  f.tensors[1].name = "b";
  f.metadata["bad"] = std::string("\xff\xfe", 2);  // not UTF-8: JSON cannot carry it
  REQUIRE_THROWS_AS(write_safetensors(dir.file("x.safetensors"), f), Error);
  CHECK(dir.entries().empty());
  REQUIRE_THROWS_WITH(write_safetensors(dir.file("no/such/dir/x.safetensors"), SafetensorsFile{}),
                      Contains("no/such/dir/x"));
}

TEST_CASE("safetensors: files written by an independent Python writer", "[io][safetensors][interop]") {
  if (!have_python()) {
    WARN("/usr/bin/python3 not available: interop test skipped");
    return;
  }
  TempDir dir;
  const std::string script = dir.file("fixture.py");
  const std::string from_python = dir.file("from_python.safetensors");
  {
    // Header keys in an arbitrary order, data in another order, no padding, an I64 scalar, and
    // F16 / BF16 / F64 tensors; values v[i] = 0.25 * i - 1.
    std::ofstream py(script);
    py << R"PY(
import json, struct, sys
def vals(n): return [0.25 * i - 1 for i in range(n)]
def bf16(x):
    b = struct.unpack('<I', struct.pack('<f', x))[0]
    return struct.pack('<H', b >> 16)
blobs = [
  ('layer.weight', 'F32', [2, 3, 1, 1], b''.join(struct.pack('<f', v) for v in vals(6))),
  ('bn.num_batches_tracked', 'I64', [], struct.pack('<q', 123456789012)),
  ('half', 'F16', [5], b''.join(struct.pack('<e', v) for v in vals(5))),
  ('bf', 'BF16', [2, 2], b''.join(bf16(v) for v in vals(4))),
  ('dbl', 'F64', [3], b''.join(struct.pack('<d', v) for v in vals(3))),
  ('empty', 'F32', [0], b''),
]
header, data = {}, b''
for name, dtype, shape, blob in blobs:
    header[name] = {'shape': shape, 'data_offsets': [len(data), len(data) + len(blob)], 'dtype': dtype}
    data += blob
header['__metadata__'] = {'format': 'pt', 'note': 'written by python'}
h = json.dumps(dict(reversed(list(header.items())))).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + data)
)PY";
  }
  REQUIRE(std::system(("/usr/bin/python3 " + script + " " + from_python).c_str()) == 0);
  const SafetensorsFile f = read_safetensors(from_python);
  CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"note", "written by python"}});
  REQUIRE(f.tensors.size() == 6);
  CHECK(f.tensors[0].name == "layer.weight");  // offset order
  const auto expect_values = [&](const std::string& name, const std::string& dtype, std::vector<int64_t> shape) {
    INFO(name);
    const TensorRecord* t = f.find(name);
    REQUIRE(t != nullptr);
    CHECK(t->dtype == dtype);
    CHECK(t->shape == shape);
    REQUIRE(t->has_data());
    for (size_t i = 0; i < t->data.size(); ++i) CHECK(t->data[i] == 0.25f * static_cast<float>(i) - 1.0f);
  };
  expect_values("layer.weight", "F32", {2, 3, 1, 1});
  expect_values("half", "F16", {5});
  expect_values("bf", "BF16", {2, 2});
  expect_values("dbl", "F64", {3});
  expect_values("empty", "F32", {0});
  const TensorRecord* nbt = f.find("bn.num_batches_tracked");
  REQUIRE(nbt != nullptr);
  CHECK(nbt->dtype == "I64");
  CHECK(nbt->shape.empty());
  CHECK(nbt->data.empty());
  CHECK(!nbt->has_data());

  // And the other way: Python parses what we write.
  SafetensorsFile ours;
  ours.metadata = {{"format", "srmds"}, {"form", "train"}};
  for (const char* name : {"w2", "w1"}) {
    TensorRecord r;
    r.name = name;
    r.shape = {3, 2};
    for (int i = 0; i < 6; ++i) r.data.push_back(0.25f * static_cast<float>(i) - 1.0f + (name[1] == '2' ? 10.0f : 0.0f));
    ours.tensors.push_back(r);
  }
  const std::string from_cpp = dir.file("from_cpp.safetensors");
  write_safetensors(from_cpp, ours);
  const std::string check = dir.file("check.py");
  {
    std::ofstream py(check);
    py << R"PY(
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
assert n % 8 == 0, n
h = json.loads(b[8:8 + n].decode())
assert h.pop('__metadata__') == {'format': 'srmds', 'form': 'train'}
assert list(h) == ['w1', 'w2'], list(h)
data = b[8 + n:]
end = 0
for name, add in (('w1', 0.0), ('w2', 10.0)):
    e = h[name]
    assert e['dtype'] == 'F32' and e['shape'] == [3, 2], e
    s, t = e['data_offsets']
    assert s == end and t - s == 24, e
    end = t
    vals = struct.unpack('<6f', data[s:t])
    assert vals == tuple(0.25 * i - 1 + add for i in range(6)), vals
assert end == len(data)
)PY";
  }
  REQUIRE(std::system(("/usr/bin/python3 " + check + " " + from_cpp).c_str()) == 0);
}

TEST_CASE("safetensors: malformed files are rejected with a specific message", "[io][safetensors]") {
  TempDir dir;
  const std::vector<char> zeros40(40, 0);
  const std::string a24 = R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
  struct Case {
    const char* what;
    std::vector<char> bytes;
    std::string message;
  };
  const std::vector<char> valid = small_valid_file();
  std::vector<char> too_long = valid;
  too_long[0] = static_cast<char>(0xff);  // header length 255 > file size
  std::vector<char> huge = valid;
  huge[4] = 1;  // header length 2^32 + ...
  std::vector<char> zero_len(8, 0);
  zero_len.push_back('{');
  std::vector<char> nested = make_file(std::string(20, '[') + std::string(20, ']'), {});

  const std::vector<Case> cases = {
      {"empty file", {}, "file too short (0 bytes)"},
      {"truncated length", std::vector<char>(valid.begin(), valid.begin() + 5),
       "file too short (5 bytes)"},
      {"header length 0", zero_len, "header length is 0"},
      {"header length beyond the file", too_long, "header length 255 is beyond the file size"},
      {"absurd header length", huge, "exceeds the limit"},
      {"truncated data", std::vector<char>(valid.begin(), valid.end() - 3),
       "tensor 'b': data_offsets [24, 40] out of range: the data section has 37 bytes"},
      {"non-JSON header", make_file("{\"a\": nope}", {}), "header is not valid JSON"},
      {"header not an object", make_file("[1, 2]", {}), "header is array, not a JSON object"},
      {"deep nesting", nested, "nested deeper than"},
      {"duplicate key", make_file("{" + a24 + "," + a24 + "}", std::vector<char>(24, 0)),
       "key 'a' more than once"},
      {"metadata not a map", make_file(R"({"__metadata__":{"k":1}})", {}), "__metadata__ value of 'k' is number"},
      {"entry not an object", make_file(R"({"a":[1]})", {}), "tensor 'a': entry is [1], not an object"},
      {"missing dtype", make_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", zeros40), "tensor 'a': missing 'dtype'"},
      {"missing shape", make_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", zeros40), "tensor 'a': missing 'shape'"},
      {"missing offsets", make_file(R"({"a":{"dtype":"F32","shape":[1]}})", zeros40), "tensor 'a': missing 'data_offsets'"},
      {"unknown entry key", make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":0}})", zeros40),
       "tensor 'a': unknown entry key 'x'"},
      {"dtype not a string", make_file(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", zeros40),
       "tensor 'a': dtype 4 is not a string"},
      {"wrong dtype", make_file(R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", zeros40),
       "tensor 'a': unsupported dtype 'F33'"},
      {"shape not an array", make_file(R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,16]}})", zeros40),
       "tensor 'a': shape 4 is not an array"},
      {"negative shape", make_file(R"({"a":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})", zeros40),
       "tensor 'a': shape has negative value -1"},
      {"fractional shape", make_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", zeros40),
       "tensor 'a': shape holds 1.5, not an integer"},
      {"overflowing shape",
       make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", zeros40),
       "tensor 'a': shape [4294967296,4294967296] overflows"},
      {"shape overflowing in bytes",
       make_file(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}})", zeros40),
       "overflows"},
      {"offsets not a pair", make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", zeros40),
       "tensor 'a': data_offsets [0] is not [begin, end]"},
      {"offsets reversed", make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", zeros40),
       "end before begin"},
      {"wrong shape for offsets", make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,40]}})", zeros40),
       "tensor 'a': data_offsets [0, 40] hold 40 bytes, but dtype F32 and shape [3] need 12"},
      {"out-of-range offsets", make_file(R"({"a":{"dtype":"F32","shape":[10],"data_offsets":[4,44]}})", zeros40),
       "tensor 'a': data_offsets [4, 44] out of range: the data section has 40 bytes"},
      {"overlapping offsets",
       make_file(R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[5],"data_offsets":[20,40]}})",
                 zeros40),
       "tensor 'b': data_offsets [20, 40] overlap tensor 'a' [0, 24]"},
      {"gap",
       make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}})",
                 zeros40),
       "tensor 'b': data_offsets [24, 40] leave a gap of 8 bytes"},
      {"gap at the start", make_file(R"({"a":{"dtype":"F32","shape":[9],"data_offsets":[4,40]}})", zeros40),
       "tensor 'a': data_offsets [4, 40] leave a gap of 4 bytes"},
      {"trailing bytes", make_file(R"({"a":{"dtype":"F32","shape":[9],"data_offsets":[0,36]}})", zeros40),
       "4 trailing bytes after the last tensor"},
      {"empty name", make_file(R"({"":{"dtype":"F32","shape":[10],"data_offsets":[0,40]}})", zeros40),
       "empty name"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string path = dir.file("bad.safetensors");
    write_bytes(path, c.bytes);
    REQUIRE_THROWS_AS(read_safetensors(path), Error);
    REQUIRE_THROWS_WITH(read_safetensors(path), Contains(c.message) && Contains("safetensors file '" + path + "'"));
    REQUIRE_THROWS_WITH(parse_safetensors(c.bytes.data(), c.bytes.size(), "mem"),
                        Contains(c.message) && Contains("safetensors file 'mem'"));
  }
  REQUIRE_THROWS_WITH(read_safetensors(dir.file("missing.safetensors")), Contains("cannot open"));
  // The valid base of these cases really is valid.
  const std::vector<char> ok = small_valid_file();
  const SafetensorsFile f = parse_safetensors(ok.data(), ok.size(), "mem");
  CHECK(f.tensors.size() == 2);
  CHECK(f.metadata.at("k") == "v");
}

TEST_CASE("safetensors: mutation fuzz: every read succeeds or throws srmds::Error", "[io][safetensors][fuzz]") {
  TempDir dir;
  Rng rng(20240601);  // deterministic
  SafetensorsFile f;
  f.metadata = {{"format", "srmds"}, {"config", R"({"base": 8})"}};
  f.tensors.push_back(record("enc0.b0.fused.weight", {4, 1, 3, 3}, rng));
  f.tensors.push_back(record("enc0.b0.fused.bias", {4}, rng));
  f.tensors.push_back(record("head0.weight", {1, 4, 1, 1}, rng));
  f.tensors.push_back(record("s", {}, rng));
  const std::vector<char> valid = serialize_safetensors(f);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(valid[i]);

  const char interesting[] = {'{', '}', '[', ']', '"', ',', ':', '-', '0', '9', '\\', ' ', '\0', '\xff', 'e', '.'};
  int ok = 0, rejected = 0;
  const int iterations = 4000;
  for (int it = 0; it < iterations; ++it) {
    std::vector<char> b = valid;
    const int kind = static_cast<int>(rng.below(5));
    const int edits = 1 + static_cast<int>(rng.below(3));
    for (int e = 0; e < edits; ++e) {
      if (kind == 0) {  // flip bits anywhere
        b[rng.below(b.size())] ^= static_cast<char>(1 << rng.below(8));
      } else if (kind == 1) {  // syntax characters in the header
        b[8 + rng.below(header_len)] = interesting[rng.below(sizeof(interesting))];
      } else if (kind == 2) {  // truncate or extend
        if (rng.below(2)) b.resize(rng.below(b.size() + 1));
        else b.insert(b.end(), rng.below(16), 'x');
      } else if (kind == 3) {  // edit the length field
        uint64_t n = rng.below(3) == 0 ? rng.next_u64() : header_len + rng.below(33) - 16;
        if (b.size() < 8) b.resize(8);
        for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((n >> (8 * i)) & 0xff);
      } else {  // change a digit in the header (offsets, shapes)
        for (int tries = 0; tries < 64; ++tries) {
          const size_t p = 8 + rng.below(header_len);
          if (p < b.size() && b[p] >= '0' && b[p] <= '9') {
            b[p] = static_cast<char>('0' + rng.below(10));
            break;
          }
        }
      }
    }
    const bool via_file = it % 32 == 0;
    try {
      SafetensorsFile g;
      if (via_file) {
        const std::string path = dir.file("fuzz.safetensors");
        write_bytes(path, b);
        g = read_safetensors(path);
      } else {
        g = parse_safetensors(b.data(), b.size(), "fuzz");
      }
      for (const TensorRecord& t : g.tensors)
        if (t.dtype == "F32") REQUIRE(t.has_data());
      ++ok;
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      FAIL("iteration " << it << " threw a non-srmds exception: " << e.what());
    }
  }
  INFO("accepted " << ok << ", rejected " << rejected);
  CHECK(ok + rejected == iterations);
  CHECK(ok > 20);         // some mutations (e.g. data bytes) stay valid
  CHECK(rejected > 1000); // most are caught
}

TEST_CASE("atomic write: a failing writer leaves neither the target nor a temporary file", "[io][atomic]") {
  TempDir dir;
  const std::string path = dir.file("out.nii.gz");
  std::string seen_tmp;
  REQUIRE_THROWS_WITH(write_file_atomic(path,
                                        [&](const std::string& tmp) {
                                          seen_tmp = tmp;
                                          std::ofstream(tmp) << "partial";
                                          SRMDS_THROW("writer failed half way");
                                        }),
                      Contains("writer failed half way"));
  CHECK(dir.entries().empty());
  // The temporary file sits next to the target, hidden, and matches no output glob (issue 15).
  CHECK(seen_tmp.rfind(dir.file(".out.nii.gz.srmds-tmp-"), 0) == 0);
  CHECK(seen_tmp.size() > 7);
  CHECK(seen_tmp.substr(seen_tmp.size() - 7) != ".nii.gz");

  SECTION("an existing target is kept intact") {
    write_bytes_atomic(path, "old", 3);
    REQUIRE_THROWS_AS(write_file_atomic(path,
                                        [&](const std::string& tmp) {
                                          std::ofstream(tmp) << "new but broken";
                                          throw std::runtime_error("not an srmds error");
                                        }),
                      std::runtime_error);
    CHECK(dir.entries() == std::vector<std::string>{"out.nii.gz"});
    CHECK(read_bytes(path) == std::vector<char>{'o', 'l', 'd'});
    write_bytes_atomic(path, "new", 3);
    CHECK(read_bytes(path) == std::vector<char>{'n', 'e', 'w'});
    CHECK(dir.entries() == std::vector<std::string>{"out.nii.gz"});
  }
  SECTION("a writer that creates nothing is an error") {
    REQUIRE_THROWS_WITH(write_file_atomic(path, [](const std::string&) {}), Contains("did not create"));
    CHECK(dir.entries().empty());
  }
  SECTION("a failed safetensors write keeps the old file") {
    SafetensorsFile good;
    good.tensors.push_back(TensorRecord{"a", "F32", {2}, {1.0f, 2.0f}});
    write_safetensors(path, good);
    SafetensorsFile bad = good;
    bad.tensors[0].data.push_back(3.0f);
    REQUIRE_THROWS_AS(write_safetensors(path, bad), Error);
    CHECK(dir.entries() == std::vector<std::string>{"out.nii.gz"});
    CHECK(read_safetensors(path).tensors.at(0).data == std::vector<float>{1.0f, 2.0f});
  }
  CHECK(atomic_temp_path("ckpt").rfind(".ckpt.srmds-tmp-", 0) == 0);
  CHECK(atomic_temp_path("/a.b/.hidden").rfind("/a.b/.hidden.srmds-tmp-", 0) == 0);
  CHECK(atomic_temp_path("x.safetensors") != atomic_temp_path("x.safetensors"));
}
