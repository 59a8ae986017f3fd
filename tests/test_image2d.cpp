// 2-D grey images (SPEC §7, §9): PNG round trips (8-bit through our writer, 1/8/16-bit and grey +
// alpha through an independent encoder), grey JPEG (a libjpeg-written file and, when present, the
// real slices of ../shared/data/covid-semiseg), and bad files -- colour, palette, garbage,
// truncated, corrupted, oversized -- rejected with an srmds::Error naming the file; mutation fuzz.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "support/png_writer.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/io/image2d.hpp"
#include "srmds/io/png.hpp"

using namespace srmds;
using namespace srmds::io;
using srmds::test::encode_png;
using srmds::test::fresh_seed;
namespace fs = std::filesystem;

namespace {

using srmds::test::TempDir;
using srmds::test::write_bytes;
using srmds::test::read_bytes;

void require_error(const std::vector<uint8_t>& b, const std::vector<std::string>& parts) {
  try {
    (void)decode_grey_image(b.data(), b.size(), "img.png");
    FAIL("no error thrown");
  } catch (const srmds::Error& e) {
    const std::string w = e.what();
    INFO(w);
    CHECK(w.find("img.png") != std::string::npos);
    for (const std::string& p : parts) CHECK(w.find(p) != std::string::npos);
  }
}

std::string covid_dir() {
  const char* src = std::getenv("SRMDS_SOURCE_DIR");
  const fs::path root = src ? fs::path(src) : fs::current_path();
  return (root / ".." / "shared" / "data" / "covid-semiseg" / "train").string();
}

}  // namespace

TEST_CASE("PNG: 8-bit written by srmds, 1/8/16-bit grey and grey + alpha from an independent encoder", "[image2d]") {
  Rng rng(fresh_seed());
  TempDir dir;
  const int W = 1 + static_cast<int>(rng.below(40)), H = 1 + static_cast<int>(rng.below(30));
  INFO("size " << W << " x " << H);
  std::vector<uint32_t> v8(static_cast<size_t>(W * H)), v16(v8.size()), v1(v8.size());
  for (size_t i = 0; i < v8.size(); ++i) {
    v8[i] = static_cast<uint32_t>(rng.below(256));
    v16[i] = static_cast<uint32_t>(rng.below(65536));
    v1[i] = static_cast<uint32_t>(rng.below(2));
  }
  SECTION("8-bit through write_gray8_png") {
    std::vector<uint8_t> px(v8.begin(), v8.end());
    write_gray8_png(dir.file("a.png"), px.data(), H, W);
    const GreyImage img = read_grey_image(dir.file("a.png"));
    CHECK(img.format == ImageFormat::Png);
    CHECK(img.bit_depth == 8);
    REQUIRE(img.width == W);
    REQUIRE(img.height == H);
    CHECK(std::vector<uint32_t>(img.pixels.begin(), img.pixels.end()) == v8);
  }
  SECTION("16-bit") {
    const auto b = encode_png(W, H, 16, 0, v16);
    const GreyImage img = decode_grey_image(b.data(), b.size(), "x16.png");
    CHECK(img.bit_depth == 16);
    CHECK(std::vector<uint32_t>(img.pixels.begin(), img.pixels.end()) == v16);
  }
  SECTION("1-bit (scaled to 0/255 as stb does)") {
    const auto b = encode_png(W, H, 1, 0, v1);
    const GreyImage img = decode_grey_image(b.data(), b.size(), "x1.png");
    CHECK(img.bit_depth == 8);
    for (size_t i = 0; i < v1.size(); ++i) REQUIRE(img.pixels[i] == v1[i] * 255);
  }
  SECTION("grey + alpha: the alpha is ignored") {
    std::vector<uint32_t> ga;
    for (uint32_t g : v8) ga.insert(ga.end(), {g, static_cast<uint32_t>(rng.below(256))});
    const auto b = encode_png(W, H, 8, 4, ga);
    const GreyImage img = decode_grey_image(b.data(), b.size(), "ga.png");
    CHECK(std::vector<uint32_t>(img.pixels.begin(), img.pixels.end()) == v8);
  }
  SECTION("the content decides the format, not the name") {
    const auto b = encode_png(W, H, 8, 0, v8);
    write_bytes(dir.file("really_png.jpg"), b);
    CHECK(read_grey_image(dir.file("really_png.jpg")).format == ImageFormat::Png);
  }
}

TEST_CASE("JPEG: grey baseline decodes; the real covid-semiseg slices when present", "[image2d]") {
  const auto& b = srmds::test::small_grey_jpeg();
  const GreyImage img = decode_grey_image(b.data(), b.size(), "small.jpg");
  CHECK(img.format == ImageFormat::Jpeg);
  REQUIRE(img.width == 24);
  REQUIRE(img.height == 16);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) REQUIRE(std::abs(static_cast<int>(img.pixels[static_cast<size_t>(y * 24 + x)]) - (8 * x + 4 * y)) <= 6);
  const std::string d = covid_dir();
  if (!fs::exists(d + "/images/00.jpg")) {
    WARN("covid-semiseg data not found at " << d << ": real JPEG/PNG check skipped");
    return;
  }
  const GreyImage ct = read_grey_image(d + "/images/00.jpg");
  CHECK(ct.width == 273);
  CHECK(ct.height == 369);
  const GreyImage mask = read_grey_image(d + "/masks/00.png");
  CHECK(mask.width == 273);
  CHECK(mask.height == 369);
  for (uint16_t v : mask.pixels) REQUIRE((v == 0 || v == 255));
}

TEST_CASE("images: colour, palette, garbage, truncated, corrupt and oversized files are rejected", "[image2d][bad]") {
  const std::vector<uint32_t> px(12, 100);
  SECTION("colour and palette") {
    require_error(encode_png(2, 2, 8, 2, std::vector<uint32_t>(12, 7)), {"colour"});
    require_error(encode_png(2, 2, 8, 6, std::vector<uint32_t>(16, 7)), {"colour"});
    require_error(encode_png(3, 4, 8, 3, std::vector<uint32_t>(12, 0), {10, 10, 10}), {"palette"});
    std::vector<uint8_t> j = srmds::test::small_grey_jpeg();
    for (size_t i = 0; i + 9 < j.size(); ++i)
      if (j[i] == 0xFF && j[i + 1] == 0xC0) {
        j[i + 9] = 3;  // the SOF's component count
        break;
      }
    require_error(j, {"colour"});
  }
  SECTION("garbage and empty") {
    require_error({}, {"empty"});
    require_error(std::vector<uint8_t>(100, 'x'), {"not a PNG or JPEG"});
  }
  SECTION("truncated") {
    const auto png = encode_png(3, 4, 8, 0, px);
    for (size_t cut : {size_t{8}, size_t{20}, size_t{33}, png.size() - 12, png.size() - 1}) {
      INFO("PNG cut at " << cut);
      require_error(std::vector<uint8_t>(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(cut)), {"truncated"});
    }
    const auto& jpg = srmds::test::small_grey_jpeg();
    for (size_t cut : {size_t{4}, size_t{100}, jpg.size() / 2 + 100, jpg.size() - 2}) {
      INFO("JPEG cut at " << cut);
      require_error(std::vector<uint8_t>(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(cut)), {"truncated"});
    }
  }
  SECTION("a flipped bit in the pixel data (CRC)") {
    auto png = encode_png(3, 4, 8, 0, px);
    png[png.size() - 12 - 6] ^= 0x10;  // inside IDAT's data
    require_error(png, {"CRC"});
  }
  SECTION("oversized") {
    std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    srmds::test::png_chunk(png, "IHDR", {0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20, 8, 0, 0, 0, 0});  // 20000 x 20000
    srmds::test::png_chunk(png, "IEND", {});
    require_error(png, {"too large", "20000"});
    std::vector<uint8_t> j = srmds::test::small_grey_jpeg();
    for (size_t i = 0; i + 9 < j.size(); ++i)
      if (j[i] == 0xFF && j[i + 1] == 0xC0) {
        j[i + 5] = 0x4E;  // height 20000
        j[i + 6] = 0x20;
        break;
      }
    require_error(j, {"too large"});
  }
  SECTION("corrupt Huffman tables (fuzz_image2d: stb's table builder wrote past its arrays)") {
    std::vector<uint8_t> j = srmds::test::small_grey_jpeg();
    size_t dht = 0;
    for (size_t i = 0; i + 21 < j.size() && dht == 0; ++i)
      if (j[i] == 0xFF && j[i + 1] == 0xC4) dht = i;
    REQUIRE(dht > 0);
    std::vector<uint8_t> over = j;  // 3 codes of length 1: over-subscribed
    over[dht + 5] = 3;
    require_error(over, {"Huffman", "length 1"});
    std::vector<uint8_t> many = j;  // 16 x 255 code counts: more than 256 codes
    for (int l = 8; l < 16; ++l) many[dht + 5 + static_cast<size_t>(l)] = 255;
    require_error(many, {"Huffman"});
    std::vector<uint8_t> bad_class = j;
    bad_class[dht + 4] = 0x25;
    require_error(bad_class, {"Huffman", "class 2"});
    // The same over-subscribed table after the scan (where a progressive JPEG has its next tables).
    std::vector<uint8_t> late(j.begin(), j.end() - 2);
    late.insert(late.end(), over.begin() + static_cast<std::ptrdiff_t>(dht),
                over.begin() + static_cast<std::ptrdiff_t>(dht + 2 + ((over[dht + 2] << 8) | over[dht + 3])));
    late.push_back(0xFF);
    late.push_back(0xD9);
    require_error(late, {"Huffman"});
  }
  SECTION("a scan using an undefined Huffman table (fuzz_image2d: stb decoded with uninitialised tables)") {
    std::vector<uint8_t> j = srmds::test::small_grey_jpeg();
    size_t sos = 0;
    for (size_t i = 0; i + 8 < j.size() && sos == 0; ++i)
      if (j[i] == 0xFF && j[i + 1] == 0xDA) sos = i;
    REQUIRE(sos > 0);
    std::vector<uint8_t> ac = j;
    ac[sos + 6] = 0x01;  // DC table 0 (defined), AC table 1 (not)
    require_error(ac, {"AC Huffman table 1", "not defined"});
    std::vector<uint8_t> dc = j;
    dc[sos + 6] = 0x20;
    require_error(dc, {"DC Huffman table 2", "not defined"});
    std::vector<uint8_t> progressive = ac;  // the same scan as a progressive one's first DC scan: AC table unused
    for (size_t i = 0; i + 1 < progressive.size(); ++i)
      if (progressive[i] == 0xFF && progressive[i + 1] == 0xC0) {
        progressive[i + 1] = 0xC2;
        break;
      }
    progressive[sos + 8] = 0;  // Se = 0: DC only
    CHECK_NOTHROW(decode_grey_image(progressive.data(), progressive.size(), "progressive"));
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(read_grey_image("/nonexistent/x.png"), Catch::Contains("/nonexistent/x.png"));
  }
  SECTION("a FIFO is refused without being opened (issue 21 item 8: reading it blocked for ever)") {
    TempDir dir("image_fifo");
    const std::string p = dir.file("slice.png");
    REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(read_grey_image(p), Catch::Contains(p) && Catch::Contains("not a regular file"));
  }
}

// Issue 21 item 6: stb fills the blocks a scan lacks with grey, so a JPEG whose header asks for more
// pixels than its compressed data holds decoded to grey rows (a 16384 x 4096 header over 24 x 16
// pixels of data gave a 16384 x 4096 image).
TEST_CASE("JPEG: compressed data shorter than the header says is an error; complete files still decode", "[image2d][bad]") {
  const std::vector<uint8_t>& j = srmds::test::small_grey_jpeg();
  size_t sof = 0, sos = 0;
  for (size_t i = 0; i + 1 < j.size(); ++i) {
    if (j[i] == 0xFF && j[i + 1] == 0xC0 && sof == 0) sof = i;
    if (j[i] == 0xFF && j[i + 1] == 0xDA && sos == 0) sos = i;
  }
  REQUIRE(sof > 0);
  REQUIRE(sos > sof);
  REQUIRE(j[j.size() - 2] == 0xFF);
  REQUIRE(j[j.size() - 1] == 0xD9);
  const size_t data = sos + 2 + ((j[sos + 2] << 8) | j[sos + 3]);  // first byte of the entropy-coded data
  auto sized = [&](unsigned w, unsigned h) {
    std::vector<uint8_t> b = j;
    b[sof + 5] = static_cast<uint8_t>(h >> 8);
    b[sof + 6] = static_cast<uint8_t>(h);
    b[sof + 7] = static_cast<uint8_t>(w >> 8);
    b[sof + 8] = static_cast<uint8_t>(w);
    return b;
  };
  require_error(sized(48, 32), {"img.png", "truncated image data", "48 x 32"});
  require_error(sized(24, 17), {"truncated image data"});
  require_error(sized(16384, 4096), {"truncated image data", "16384 x 4096"});
  // The entropy-coded data cut in half, the end-of-image marker kept.
  std::vector<uint8_t> cut(j.begin(), j.begin() + static_cast<std::ptrdiff_t>(data + (j.size() - 2 - data) / 2));
  if (cut.back() == 0xFF) cut.pop_back();
  cut.push_back(0xFF);
  cut.push_back(0xD9);
  require_error(cut, {"truncated image data"});
  // Complete files: a smaller header (fewer blocks than the data) and fill bytes or zeros before the
  // end marker decode as before.
  const GreyImage ref = decode_grey_image(j.data(), j.size(), "ref.jpg");
  for (const std::vector<uint8_t>& extra : {std::vector<uint8_t>{0xFF, 0xFF}, std::vector<uint8_t>{0, 0, 0}}) {
    std::vector<uint8_t> b(j.begin(), j.end() - 2);
    b.insert(b.end(), extra.begin(), extra.end());
    b.push_back(0xFF);
    b.push_back(0xD9);
    const GreyImage img = decode_grey_image(b.data(), b.size(), "extra.jpg");
    CHECK(img.pixels == ref.pixels);
  }
  CHECK(decode_grey_image(sized(16, 8).data(), sized(16, 8).size(), "smaller.jpg").width == 16);
}

TEST_CASE("images: mutation fuzz: every decode succeeds or throws srmds::Error", "[image2d][bad][fuzz]") {
  Rng rng(fresh_seed());
  std::vector<uint32_t> px(16 * 12);
  for (auto& v : px) v = static_cast<uint32_t>(rng.below(256));
  std::vector<std::vector<uint8_t>> seeds = {encode_png(16, 12, 8, 0, px), srmds::test::small_grey_jpeg()};
  std::vector<uint32_t> px16(px.size());
  for (auto& v : px16) v = static_cast<uint32_t>(rng.below(65536));
  seeds.push_back(encode_png(16, 12, 16, 0, px16));
  const std::string d = covid_dir();
  if (fs::exists(d + "/images/10.jpg")) seeds.push_back(read_bytes(d + "/images/10.jpg"));
  int ok = 0, rejected = 0;
  const int iterations = 3000;
  for (int it = 0; it < iterations; ++it) {
    std::vector<uint8_t> b = seeds[static_cast<size_t>(it) % seeds.size()];
    const int kind = static_cast<int>(rng.below(3));
    const int edits = 1 + static_cast<int>(rng.below(4));
    const size_t zone = kind == 0 ? b.size() : std::min<size_t>(b.size(), 700);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = static_cast<size_t>(rng.below(zone));
      b[pos] = rng.below(3) == 0 ? static_cast<uint8_t>(b[pos] ^ (1u << rng.below(8))) : static_cast<uint8_t>(rng.below(256));
    }
    if (kind == 2) b.resize(static_cast<size_t>(rng.below(b.size() + 1)));
    try {
      const GreyImage img = decode_grey_image(b.data(), b.size(), "fuzz.img");
      REQUIRE(img.pixels.size() == static_cast<size_t>(img.width) * static_cast<size_t>(img.height));
      ++ok;
    } catch (const srmds::Error& e) {
      REQUIRE(std::string(e.what()).find("fuzz.img") != std::string::npos);
      ++rejected;
    } catch (const std::exception& e) {
      FAIL("iteration " << it << " threw a non-srmds exception: " << e.what());
    }
  }
  INFO("accepted " << ok << ", rejected " << rejected);
  CHECK(ok + rejected == iterations);
  CHECK(ok > 20);
  CHECK(rejected > 1000);
}
