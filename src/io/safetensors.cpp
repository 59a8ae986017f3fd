// safetensors reader and writer (see io/safetensors.hpp for the format).
//
// Reading validates in this order, stopping at the first problem: file size, header length
// (non-zero, <= 100 MB, inside the file), JSON syntax (nesting depth <= 8, no duplicate keys), the
// header being an object, "__metadata__" being a string map, then each tensor in name order
// (entry keys, dtype, shape, data_offsets size and range), then coverage of the data section in
// offset order (no overlap, no gap, no trailing bytes). Only then is tensor data read. A header of
// the usual form is read without building a JSON document (safetensors_header.hpp).
#include "srmds/io/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <new>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "srmds/core/error.hpp"
#include "srmds/io/atomic_file.hpp"
#include "safetensors_header.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "srmds reads and writes safetensors data by memcpy, which assumes a little-endian host"
#endif

namespace srmds::io {

using detail::Header;
using Entry = detail::HeaderEntry;

namespace {

using json = nlohmann::json;

constexpr int kMaxHeaderDepth = 8;

#define SRMDS_ST_FAIL(file, msg) SRMDS_THROW("safetensors file '" << (file) << "': " << msg)

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Rejects nesting deeper than kMaxHeaderDepth before the JSON parser sees the text.
void check_depth(const char* text, size_t n, const std::string& file) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < n; ++i) {
    const char ch = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (ch == '\\') escaped = true;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      if (++depth > kMaxHeaderDepth) SRMDS_ST_FAIL(file, "header JSON is nested deeper than " << kMaxHeaderDepth);
    } else if (ch == '}' || ch == ']') {
      --depth;
    }
  }
}

// Parses the header text, rejecting invalid JSON and duplicate keys in any object.
json parse_json(const char* text, size_t n, const std::string& file) {
  check_depth(text, n, file);
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string duplicate;
  const json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == json::parse_event_t::key && !keys.empty() && parsed.is_string()) {
      if (!keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json h;
  try {
    h = json::parse(text, text + n, callback, /*allow_exceptions=*/true);
  } catch (const json::exception& e) {
    SRMDS_ST_FAIL(file, "header is not valid JSON: " << e.what());
  }
  if (!duplicate.empty()) SRMDS_ST_FAIL(file, "header has the key '" << duplicate << "' more than once");
  return h;
}

// A JSON number as a non-negative integer, or throws naming the tensor and field.
uint64_t as_size(const json& v, const std::string& file, const std::string& name, const char* field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) SRMDS_ST_FAIL(file, "tensor '" << name << "': " << field << " has negative value " << v.dump());
  SRMDS_ST_FAIL(file, "tensor '" << name << "': " << field << " holds " << v.dump() << ", not an integer");
}

// A header entry whose fields have the expected JSON types; checked_entry checks their values.
struct RawEntry {
  std::string name, dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;
};

// The type checks of one entry of the JSON document: an object of exactly dtype (a string), shape
// (an array of non-negative integers) and data_offsets (two of them).
RawEntry typed_entry(const std::string& name, const json& v, const std::string& file) {
  if (name.empty()) SRMDS_ST_FAIL(file, "a tensor has an empty name");
  if (!v.is_object()) SRMDS_ST_FAIL(file, "tensor '" << name << "': entry is " << v.dump() << ", not an object");
  for (const auto& kv : v.items())
    if (kv.key() != "dtype" && kv.key() != "shape" && kv.key() != "data_offsets")
      SRMDS_ST_FAIL(file, "tensor '" << name << "': unknown entry key '" << kv.key() << "'");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) SRMDS_ST_FAIL(file, "tensor '" << name << "': missing '" << key << "'");
  RawEntry r;
  r.name = name;
  const json& dtype = v.at("dtype");
  if (!dtype.is_string()) SRMDS_ST_FAIL(file, "tensor '" << name << "': dtype " << dtype.dump() << " is not a string");
  r.dtype = dtype.get<std::string>();
  const json& shape = v.at("shape");
  if (!shape.is_array()) SRMDS_ST_FAIL(file, "tensor '" << name << "': shape " << shape.dump() << " is not an array");
  for (const json& d : shape) r.shape.push_back(as_size(d, file, name, "shape"));
  const json& offsets = v.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2)
    SRMDS_ST_FAIL(file, "tensor '" << name << "': data_offsets " << offsets.dump() << " is not [begin, end]");
  r.begin = as_size(offsets[0], file, name, "data_offsets");
  r.end = as_size(offsets[1], file, name, "data_offsets");
  return r;
}

// The value checks of a well-typed entry: a known dtype, a shape whose size fits int64, offsets
// inside the data section that hold exactly the tensor's bytes.
Entry checked_entry(RawEntry r, uint64_t data_size, const std::string& file) {
  const std::string& name = r.name;
  if (name.empty()) SRMDS_ST_FAIL(file, "a tensor has an empty name");
  Entry e;
  e.name = std::move(r.name);
  e.dtype = std::move(r.dtype);
  const uint64_t item = safetensors_dtype_size(e.dtype);
  if (item == 0) SRMDS_ST_FAIL(file, "tensor '" << e.name << "': unsupported dtype '" << e.dtype << "'");
  const auto shape_json = [&] {  // as the JSON text has it: [1,2,3]
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < r.shape.size(); ++i) os << (i ? "," : "") << r.shape[i];
    os << ']';
    return os.str();
  };
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  for (const uint64_t extent : r.shape) {
    if (extent > kMax || (extent != 0 && numel > kMax / extent))
      SRMDS_ST_FAIL(file, "tensor '" << e.name << "': shape " << shape_json() << " overflows");
    numel *= extent;
    e.shape.push_back(static_cast<int64_t>(extent));
  }
  if (numel > kMax / item) SRMDS_ST_FAIL(file, "tensor '" << e.name << "': shape " << shape_json() << " overflows");
  const uint64_t bytes = numel * item;
  e.begin = r.begin;
  e.end = r.end;
  if (e.end < e.begin)
    SRMDS_ST_FAIL(file, "tensor '" << e.name << "': data_offsets [" << e.begin << ", " << e.end << "] end before begin");
  if (e.end > data_size)
    SRMDS_ST_FAIL(file, "tensor '" << e.name << "': data_offsets [" << e.begin << ", " << e.end
                                    << "] out of range: the data section has " << data_size << " bytes");
  if (e.end - e.begin != bytes)
    SRMDS_ST_FAIL(file, "tensor '" << e.name << "': data_offsets [" << e.begin << ", " << e.end << "] hold "
                                    << e.end - e.begin << " bytes, but dtype " << e.dtype << " and shape "
                                    << shape_string(e.shape) << " need " << bytes);
  return e;
}

// The fast path (issue 21 item 19): a SAX handler that reads a header of the usual form,
//     {"__metadata__": {string: string}, name: {"dtype": string, "shape": [n, ...], "data_offsets": [b, e]}, ...}
// (keys in any order, each at most once), straight into raw entries without building a JSON
// document: several times faster than the document, which matters for large checkpoints and for
// the fuzzers. Any other event stops it (`unusual`), and the document path (header_from_document)
// names the problem; a syntax error is reported as the document parser would, with its message.
class HeaderReader {
public:
  std::map<std::string, std::string> metadata;
  std::vector<RawEntry> entries;
  std::string syntax_error;  // the parser's message when the text is not JSON
  bool unusual = false;      // valid JSON, perhaps, but not of the usual form

  bool null() { return other(); }
  bool boolean(bool) { return other(); }
  bool number_integer(json::number_integer_t) { return other(); }  // negative
  bool number_float(json::number_float_t, const std::string&) { return other(); }
  bool binary(json::binary_t&) { return other(); }
  bool number_unsigned(json::number_unsigned_t v) {
    if (m_state == State::Shape) {
      entries.back().shape.push_back(v);
      return true;
    }
    if (m_state != State::Offsets || m_offsets == 2) return other();
    (m_offsets++ == 0 ? entries.back().begin : entries.back().end) = v;
    return true;
  }
  bool string(std::string& s) {
    if (m_state == State::MetaValue) {
      m_state = State::Meta;
      return metadata.emplace(std::move(m_key), std::move(s)).second || other();
    }
    if (m_state != State::Dtype) return other();
    entries.back().dtype = std::move(s);
    m_state = State::Entry;
    return true;
  }
  bool start_object(std::size_t) {
    if (m_state == State::Start) m_state = State::Root;
    else if (m_state == State::MetaOpen) m_state = State::Meta;
    else if (m_state == State::EntryOpen) m_state = State::Entry, m_fields = 0;
    else return other();
    return true;
  }
  bool key(std::string& k) {
    if (m_state == State::Root) {
      if (k == "__metadata__") {
        if (m_seen_metadata) return other();
        m_seen_metadata = true;
        m_state = State::MetaOpen;
      } else {
        entries.emplace_back();
        entries.back().name = std::move(k);
        m_state = State::EntryOpen;
      }
    } else if (m_state == State::Meta) {
      m_key = std::move(k);
      m_state = State::MetaValue;
    } else if (m_state == State::Entry) {
      const unsigned bit = k == "dtype" ? 1u : k == "shape" ? 2u : k == "data_offsets" ? 4u : 0u;
      if (bit == 0 || (m_fields & bit)) return other();
      m_fields |= bit;
      m_state = bit == 1 ? State::Dtype : bit == 2 ? State::ShapeOpen : State::OffsetsOpen;
    } else {
      return other();
    }
    return true;
  }
  bool end_object() {
    if (m_state == State::Root) m_state = State::Done;
    else if (m_state == State::Meta) m_state = State::Root;
    else if (m_state == State::Entry && m_fields == 7) m_state = State::Root;
    else return other();
    return true;
  }
  bool start_array(std::size_t) {
    if (m_state == State::ShapeOpen) m_state = State::Shape;
    else if (m_state == State::OffsetsOpen) m_state = State::Offsets, m_offsets = 0;
    else return other();
    return true;
  }
  bool end_array() {
    if (m_state == State::Shape || (m_state == State::Offsets && m_offsets == 2)) m_state = State::Entry;
    else return other();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    syntax_error = e.what();
    return false;
  }

private:
  enum class State { Start, Root, MetaOpen, Meta, MetaValue, EntryOpen, Entry, Dtype, ShapeOpen, Shape, OffsetsOpen, Offsets, Done };
  bool other() {
    unusual = true;
    return false;
  }
  State m_state = State::Start;
  std::string m_key;
  unsigned m_fields = 0;  // bits: dtype 1, shape 2, data_offsets 4
  int m_offsets = 0;
  bool m_seen_metadata = false;
};

// Checks that the entries (sorted here by offsets) cover the data section exactly.
void check_coverage(std::vector<Entry>& entries, uint64_t data_size, const std::string& file) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      SRMDS_ST_FAIL(file, "tensor '" << e.name << "': data_offsets [" << e.begin << ", " << e.end
                                      << "] overlap tensor '" << prev->name << "' [" << prev->begin << ", " << prev->end << "]");
    if (e.begin > pos)
      SRMDS_ST_FAIL(file, "tensor '" << e.name << "': data_offsets [" << e.begin << ", " << e.end << "] leave a gap of "
                                      << e.begin - pos << " bytes before them (data must be contiguous)");
    pos = e.end;
    prev = &e;
  }
  if (pos != data_size)
    SRMDS_ST_FAIL(file, data_size - pos << " trailing bytes after the last tensor (data section " << data_size
                                        << " bytes, tensors cover " << pos << ")");
}

}  // namespace

// The header through the JSON document: every check, each error named (the path for unusual headers).
Header detail::header_from_document(const char* text, size_t n, uint64_t data_size, const std::string& file) {
  const json h = parse_json(text, n, file);
  if (!h.is_object()) SRMDS_ST_FAIL(file, "header is " << h.type_name() << ", not a JSON object");
  Header out;
  for (const auto& kv : h.items()) {
    if (kv.key() != "__metadata__") continue;
    if (!kv.value().is_object()) SRMDS_ST_FAIL(file, "__metadata__ is not an object");
    for (const auto& m : kv.value().items()) {
      if (!m.value().is_string())
        SRMDS_ST_FAIL(file, "__metadata__ value of '" << m.key() << "' is " << m.value().type_name() << ", not a string");
      out.metadata[m.key()] = m.value().get<std::string>();
    }
  }
  for (const auto& kv : h.items())
    if (kv.key() != "__metadata__")
      out.entries.push_back(checked_entry(typed_entry(kv.key(), kv.value(), file), data_size, file));
  check_coverage(out.entries, data_size, file);
  return out;
}

// Validates the header text against a data section of `data_size` bytes: the fast path for the
// usual form, the JSON document for anything else; both check the same and say the same.
Header detail::parse_header(const char* text, size_t n, uint64_t data_size, const std::string& file) {
  check_depth(text, n, file);
  HeaderReader reader;
  json::sax_parse(text, text + n, &reader);
  if (!reader.syntax_error.empty()) SRMDS_ST_FAIL(file, "header is not valid JSON: " << reader.syntax_error);
  std::vector<RawEntry>& raw = reader.entries;
  std::sort(raw.begin(), raw.end(), [](const RawEntry& a, const RawEntry& b) { return a.name < b.name; });
  const bool duplicate =
      std::adjacent_find(raw.begin(), raw.end(), [](const RawEntry& a, const RawEntry& b) { return a.name == b.name; }) !=
      raw.end();
  if (reader.unusual || duplicate) return header_from_document(text, n, data_size, file);
  Header out;
  out.metadata = std::move(reader.metadata);
  out.entries.reserve(raw.size());
  for (RawEntry& r : raw) out.entries.push_back(checked_entry(std::move(r), data_size, file));  // in name order
  check_coverage(out.entries, data_size, file);
  return out;
}

namespace {

float half_to_float(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float v;
  if (exponent == 0) v = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31) v = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else v = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  return (h & 0x8000) ? -v : v;
}

// Converts `bytes` of stored data to floats for the floating dtypes; leaves `out` empty otherwise.
void convert(const Entry& e, const unsigned char* bytes, std::vector<float>& out) {
  const size_t n = (e.end - e.begin) / safetensors_dtype_size(e.dtype);
  if (e.dtype == "F32") {
    out.resize(n);
    if (n) std::memcpy(out.data(), bytes, n * sizeof(float));
  } else if (e.dtype == "F64") {
    out.resize(n);
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, bytes + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    out.resize(n);
    const bool bf = e.dtype == "BF16";
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      if (bf) {
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      } else {
        out[i] = half_to_float(h);
      }
    }
  }
}

bool is_floating(const std::string& dtype) { return dtype == "F32" || dtype == "F64" || dtype == "F16" || dtype == "BF16"; }

TensorRecord make_record(const Entry& e) {
  TensorRecord r;
  r.name = e.name;
  r.dtype = e.dtype;
  r.shape = e.shape;
  return r;
}

// Header length from the first 8 bytes, checked against the file size.
uint64_t checked_header_length(const unsigned char* first8, uint64_t file_size, const std::string& file) {
  const uint64_t n = read_u64_le(first8);
  if (n == 0) SRMDS_ST_FAIL(file, "header length is 0");
  if (n > kMaxSafetensorsHeader)
    SRMDS_ST_FAIL(file, "header length " << n << " exceeds the limit of " << kMaxSafetensorsHeader << " bytes");
  if (n > file_size - 8)
    SRMDS_ST_FAIL(file, "header length " << n << " is beyond the file size of " << file_size << " bytes");
  return n;
}

// Checks a record set before writing and returns the tensors in name order.
std::vector<const TensorRecord*> checked_sorted(const SafetensorsFile& file) {
  std::vector<const TensorRecord*> order;
  for (const TensorRecord& r : file.tensors) {
    SRMDS_CHECK(!r.name.empty() && r.name != "__metadata__", "write_safetensors: invalid tensor name '" << r.name << "'");
    SRMDS_CHECK(r.dtype == "F32", "write_safetensors: tensor '" << r.name << "' has dtype " << r.dtype << "; only F32 is written");
    for (int64_t d : r.shape)
      SRMDS_CHECK(d >= 0, "write_safetensors: tensor '" << r.name << "' has negative extent in " << shape_string(r.shape));
    SRMDS_CHECK(r.has_data(), "write_safetensors: tensor '" << r.name << "' of shape " << shape_string(r.shape) << " has "
                                                            << r.data.size() << " values, expected " << r.numel());
    order.push_back(&r);
  }
  std::sort(order.begin(), order.end(), [](const TensorRecord* a, const TensorRecord* b) { return a->name < b->name; });
  for (size_t i = 1; i < order.size(); ++i)
    SRMDS_CHECK(order[i - 1]->name != order[i]->name, "write_safetensors: tensor '" << order[i]->name << "' appears twice");
  return order;
}

// The 8-byte length followed by the space-padded JSON header.
std::string header_bytes(const SafetensorsFile& file, const std::vector<const TensorRecord*>& order) {
  json h = json::object();
  if (!file.metadata.empty()) {
    json m = json::object();
    for (const auto& kv : file.metadata) m[kv.first] = kv.second;
    h["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const TensorRecord* r : order) {
    const uint64_t bytes = static_cast<uint64_t>(r->data.size()) * sizeof(float);
    h[r->name] = json{{"dtype", "F32"}, {"shape", r->shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = h.dump();
  } catch (const json::exception& e) {
    SRMDS_THROW("write_safetensors: cannot encode the header: " << e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace

int64_t TensorRecord::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const TensorRecord* SafetensorsFile::find(const std::string& name) const {
  for (const TensorRecord& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes{
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

SafetensorsFile parse_safetensors(const void* bytes, size_t size, const std::string& name) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  if (size < 8) SRMDS_ST_FAIL(name, "file too short (" << size << " bytes) for the 8-byte header length");
  const uint64_t n = checked_header_length(p, size, name);
  const Header h = detail::parse_header(reinterpret_cast<const char*>(p + 8), n, size - 8 - n, name);
  SafetensorsFile out;
  out.metadata = h.metadata;
  const unsigned char* data = p + 8 + n;
  for (const Entry& e : h.entries) {
    out.tensors.push_back(make_record(e));
    convert(e, data + e.begin, out.tensors.back().data);
  }
  return out;
}

namespace {

// An open file whose header has been read and checked against the file's size.
struct OpenedFile {
  std::ifstream in;
  uint64_t size = 0, header_bytes = 0;
  Header header;
};

OpenedFile open_safetensors(const std::string& path) {
  OpenedFile f;
  std::ifstream& in = f.in;
  in.open(path, std::ios::binary);
  if (!in) SRMDS_ST_FAIL(path, "cannot open: " << std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (end < 0) SRMDS_ST_FAIL(path, "cannot determine the file size");
  const uint64_t size = static_cast<uint64_t>(end);
  in.seekg(0, std::ios::beg);
  if (size < 8) SRMDS_ST_FAIL(path, "file too short (" << size << " bytes) for the 8-byte header length");
  unsigned char first8[8];
  if (!in.read(reinterpret_cast<char*>(first8), 8)) SRMDS_ST_FAIL(path, "cannot read the header length");
  const uint64_t n = checked_header_length(first8, size, path);
  std::string text(n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) SRMDS_ST_FAIL(path, "cannot read the " << n << "-byte header");
  f.header = detail::parse_header(text.data(), n, size - 8 - n, path);
  f.size = size;
  f.header_bytes = n;
  return f;
}

}  // namespace

SafetensorsFile read_safetensors_header(const std::string& path) {
  const OpenedFile f = open_safetensors(path);
  SafetensorsFile out;
  out.metadata = f.header.metadata;
  for (const Entry& e : f.header.entries) out.tensors.push_back(make_record(e));
  return out;
}

SafetensorsFile read_safetensors(const std::string& path) {
  OpenedFile f = open_safetensors(path);
  std::ifstream& in = f.in;
  const uint64_t size = f.size, n = f.header_bytes;
  const Header& h = f.header;

  SafetensorsFile out;
  out.metadata = h.metadata;
  std::vector<unsigned char> staging;
  try {
  for (const Entry& e : h.entries) {
    out.tensors.push_back(make_record(e));
    if (!is_floating(e.dtype)) continue;  // validated above; the data of other dtypes is not needed
    const uint64_t bytes = e.end - e.begin;
    in.seekg(static_cast<std::streamoff>(8 + n + e.begin), std::ios::beg);
    std::vector<float>& data = out.tensors.back().data;
    if (e.dtype == "F32") {
      data.resize(bytes / 4);
      if (bytes && !in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(bytes)))
        SRMDS_ST_FAIL(path, "tensor '" << e.name << "': cannot read its " << bytes << " bytes");
    } else {
      staging.resize(bytes);
      if (bytes && !in.read(reinterpret_cast<char*>(staging.data()), static_cast<std::streamsize>(bytes)))
        SRMDS_ST_FAIL(path, "tensor '" << e.name << "': cannot read its " << bytes << " bytes");
      convert(e, staging.data(), data);
    }
  }
  } catch (const std::bad_alloc&) {
    SRMDS_ST_FAIL(path, "out of memory reading its " << size << " bytes");
  }
  return out;
}

std::vector<char> serialize_safetensors(const SafetensorsFile& file) {
  const auto order = checked_sorted(file);
  const std::string head = header_bytes(file, order);
  std::vector<char> out(head.begin(), head.end());
  for (const TensorRecord* r : order) {
    const char* p = reinterpret_cast<const char*>(r->data.data());
    out.insert(out.end(), p, p + r->data.size() * sizeof(float));
  }
  return out;
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  const auto order = checked_sorted(file);
  const std::string head = header_bytes(file, order);
  write_file_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) SRMDS_THROW("cannot write safetensors file '" << path << "': cannot create a file in its folder: " << std::strerror(errno));
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    for (const TensorRecord* r : order)
      out.write(reinterpret_cast<const char*>(r->data.data()), static_cast<std::streamsize>(r->data.size() * sizeof(float)));
    out.close();
    if (!out) SRMDS_THROW("cannot write safetensors file '" << path << "': write failed: " << std::strerror(errno));
  });
}

}  // namespace srmds::io
