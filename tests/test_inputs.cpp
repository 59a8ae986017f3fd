// Inputs of every kind (SPEC §7): kinds and intensities of NIfTI, DICOM and 2-D images, masks of
// 2-D images (labels, JPEG masks), masks on a flipped grid lined up by their affine, image/mask
// pairing by file stem, a SliceDataset over a folder of PNG slices, and the lesion burden (SPEC §8)
// against hand counts.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/dicom_writer.hpp"
#include "support/png_writer.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/data/image_pairs.hpp"
#include "srmds/data/input_volume.hpp"
#include "srmds/data/slice_dataset.hpp"
#include "srmds/data/volume_slices.hpp"
#include "srmds/infer/lesion_burden.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/io/nifti_affine.hpp"
#include "srmds/io/png.hpp"

using namespace srmds;
using srmds::io::Mat44;
using srmds::test::encode_png;
using srmds::test::fresh_seed;
namespace fs = std::filesystem;

namespace {

using srmds::test::TempDir;
using srmds::test::write_bytes;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const srmds::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("inputs: kinds and intensities (8-bit x/255, 16-bit HU + 32768 or min-max, NIfTI and DICOM in HU)", "[inputs]") {
  Rng rng(fresh_seed());
  TempDir dir("inputs_kind");
  const int W = 5, H = 4;
  std::vector<uint32_t> v8(static_cast<size_t>(W * H)), v16(v8.size());
  for (size_t i = 0; i < v8.size(); ++i) {
    v8[i] = static_cast<uint32_t>(rng.below(256));
    v16[i] = 32768 - 1200 + static_cast<uint32_t>(rng.below(2000));
  }
  write_bytes(dir.file("a.png"), encode_png(W, H, 8, 0, v8));
  write_bytes(dir.file("b.png"), encode_png(W, H, 16, 0, v16));
  write_bytes(dir.file("c.jpg"), srmds::test::small_grey_jpeg());
  CHECK(input_kind(dir.file("a.png")) == InputKind::Image2d);
  CHECK(input_kind(dir.path.string()) == InputKind::Dicom);

  const InputVolume a = read_input_volume(dir.file("a.png"));
  CHECK(a.intensity == Intensity::Unit);
  CHECK(!a.has_spacing);
  REQUIRE(a.volume.ni() == W);
  REQUIRE(a.volume.nj() == H);
  REQUIRE(a.volume.nk() == 1);
  for (size_t i = 0; i < v8.size(); ++i) REQUIRE(a.volume.data[i] == Approx(v8[i] / 255.0).epsilon(1e-6));
  const Window wa = input_window(a, lung_window());
  REQUIRE(wa);
  CHECK((*wa)[0] == 0.0);
  CHECK((*wa)[1] == 1.0);

  InputOptions hu;
  hu.png16_hu = true;
  const InputVolume b = read_input_volume(dir.file("b.png"), hu);
  CHECK(b.intensity == Intensity::Hounsfield);
  for (size_t i = 0; i < v16.size(); ++i) REQUIRE(b.volume.data[i] == static_cast<float>(static_cast<int>(v16[i]) - 32768));
  CHECK(input_window(b, lung_window()) == lung_window());
  const InputVolume braw = read_input_volume(dir.file("b.png"));
  CHECK(braw.intensity == Intensity::Raw);
  CHECK(!input_window(braw, lung_window()));
  // Model input: 8-bit images as they are, whatever the configured window.
  SliceDataOptions o;
  o.input_size = {H, W};
  const Tensor<float, Cpu> x = input_to_model(a, o);
  for (size_t i = 0; i < v8.size(); ++i) REQUIRE(x[static_cast<int64_t>(i)] == Approx(v8[i] / 255.0).epsilon(1e-6));

  const io::NiftiGeometry g = io::make_nifti_geometry(3, 2, 2, 1, 1, 1);
  std::vector<float> hu_values = {-1000, -500, 0, 40, 100, 300, 1, 2, 3, 4, 5, 6};
  io::write_nifti(dir.file("v.nii.gz"), g, hu_values.data(), io::NiftiType::Int16);
  const InputVolume n = read_input_volume(dir.file("v.nii.gz"));
  CHECK(n.kind == InputKind::Nifti);
  CHECK(n.intensity == Intensity::Hounsfield);
  CHECK(n.volume.data == hu_values);
  CHECK(error_of([&] { (void)read_input_volume(dir.file("nothing.png")); }).find("nothing.png") != std::string::npos);
  write_bytes(dir.file("notes.bin"), {'x', 'y', 'z'});
  CHECK(error_of([&] { (void)read_input_volume(dir.file("notes.bin")); }).find("not a NIfTI") != std::string::npos);
}

// Issue 21 item 8: a FIFO named anything but .nii was opened to sniff its kind, which blocks until
// a writer comes. A FIFO or device is refused from its status, never opened.
TEST_CASE("inputs: a FIFO or a device is not a regular file, whatever its name", "[inputs][bad]") {
  TempDir dir("inputs_fifo");
  for (const char* name : {"p", "p.png", "p.jpg", "p.dcm", "p.nii", "p.nii.gz"}) {
    const std::string p = dir.file(name);
    REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
    INFO(name);
    CHECK_THROWS_WITH(input_kind(p), Catch::Contains("input '" + p + "': not a regular file"));
    CHECK_THROWS_WITH(read_input_volume(p), Catch::Contains("not a regular file"));
  }
  if (fs::exists("/dev/zero")) CHECK_THROWS_WITH(input_kind("/dev/zero"), Catch::Contains("not a regular file"));
}

TEST_CASE("inputs: masks of 2-D images: any pixel > 0, label sets, JPEG masks at >= 128, sizes checked", "[inputs]") {
  TempDir dir("inputs_mask");
  const std::vector<uint32_t> img(6, 100), labels = {0, 1, 2, 3, 255, 0};
  write_bytes(dir.file("i.png"), encode_png(3, 2, 8, 0, img));
  write_bytes(dir.file("m.png"), encode_png(3, 2, 8, 0, labels));
  write_bytes(dir.file("small.png"), encode_png(2, 2, 8, 0, std::vector<uint32_t>(4, 0)));
  const InputVolume in = read_input_volume(dir.file("i.png"));
  SliceDataOptions o;
  o.input_size = {2, 3};
  const MaskVolume any = read_mask_for(in, dir.file("m.png"), {1, 2}, {});
  const Tensor<float, Cpu> t = mask_to_target(any, o);
  CHECK(std::vector<float>(t.data(), t.data() + 6) == std::vector<float>{0, 1, 1, 1, 1, 0});
  const MaskVolume cls = read_mask_for(in, dir.file("m.png"), {}, {1, 2});
  const Tensor<float, Cpu> tc = mask_to_target(cls, o);
  CHECK(std::vector<float>(tc.data(), tc.data() + 6) == std::vector<float>{0, 1, 1, 0, 0, 0});
  const std::string e = error_of([&] { (void)read_mask_for(in, dir.file("small.png"), {}, {}); });
  CHECK(e.find("size mismatch") != std::string::npos);
  CHECK(e.find("small.png") != std::string::npos);
  CHECK(error_of([&] { (void)read_mask_for(in, dir.file("m.nii"), {}, {}); }).find("PNG or JPEG") != std::string::npos);
  // A JPEG mask: lossy, so lesion is >= 128.
  const auto& jpg = srmds::test::small_grey_jpeg();  // 8 x + 4 y on 24 x 16
  write_bytes(dir.file("j.jpg"), jpg);
  write_bytes(dir.file("big.png"), encode_png(24, 16, 8, 0, std::vector<uint32_t>(24 * 16, 0)));
  const InputVolume big = read_input_volume(dir.file("big.png"));
  const MaskVolume jm = read_mask_for(big, dir.file("j.jpg"), {}, {});
  int agree = 0;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) {
      const int v = 8 * x + 4 * y;
      if (std::abs(v - 128) <= 6) continue;  // near the threshold compression may go either way
      agree += (jm.labels.data[static_cast<size_t>(y * 24 + x)] != 0) == (v >= 128) ? 1 : 0;
      REQUIRE((jm.labels.data[static_cast<size_t>(y * 24 + x)] != 0) == (v >= 128));
    }
  CHECK(agree > 300);
}

TEST_CASE("inputs: a mask stored on a flipped or permuted grid is lined up by its affine", "[inputs]") {
  Rng rng(fresh_seed());
  TempDir dir("inputs_align");
  const int ni = 4, nj = 3, nk = 2;
  const io::NiftiGeometry g = io::make_nifti_geometry(ni, nj, nk, 0.7, 0.9, 2.5);
  std::vector<float> img(static_cast<size_t>(ni * nj * nk)), mask(img.size());
  for (size_t i = 0; i < img.size(); ++i) {
    img[i] = static_cast<float>(rng.below(1000));
    mask[i] = static_cast<float>(rng.below(3));
  }
  io::write_nifti(dir.file("img.nii"), g, img.data(), io::NiftiType::Int16);
  // The same mask with j stored bottom-up (as dcm2niix stores DICOM rows): voxel j' = nj - 1 - j,
  // affine column j negated and the origin moved to the old last row.
  Mat44 a = g.sform;
  for (size_t r = 0; r < 3; ++r) {
    a[r][3] += a[r][1] * (nj - 1);
    a[r][1] = -a[r][1];
  }
  const io::NiftiGeometry gf = io::nifti_geometry_from_affine(ni, nj, nk, a);
  std::vector<float> flipped(mask.size());
  for (int k = 0; k < nk; ++k)
    for (int j = 0; j < nj; ++j)
      for (int i = 0; i < ni; ++i)
        flipped[static_cast<size_t>((k * nj + (nj - 1 - j)) * ni + i)] = mask[static_cast<size_t>((k * nj + j) * ni + i)];
  io::write_nifti(dir.file("flipped.nii.gz"), gf, flipped.data(), io::NiftiType::Uint8);
  const InputVolume in = read_input_volume(dir.file("img.nii"));
  const MaskVolume m = read_mask_for(in, dir.file("flipped.nii.gz"), {1, 2}, {});
  CHECK(m.warnings.empty());
  CHECK(m.labels.data == mask);
  // Transposed in-plane (i <-> j) with its own affine: also lined up.
  Mat44 t = g.sform;
  for (size_t r = 0; r < 3; ++r) std::swap(t[r][0], t[r][1]);
  const io::NiftiGeometry gt = io::nifti_geometry_from_affine(nj, ni, nk, t);
  std::vector<float> transposed(mask.size());
  for (int k = 0; k < nk; ++k)
    for (int j = 0; j < nj; ++j)
      for (int i = 0; i < ni; ++i)
        transposed[static_cast<size_t>((k * ni + i) * nj + j)] = mask[static_cast<size_t>((k * nj + j) * ni + i)];
  io::write_nifti(dir.file("t.nii"), gt, transposed.data(), io::NiftiType::Uint8);
  CHECK(read_mask_for(in, dir.file("t.nii"), {1, 2}, {}).labels.data == mask);
  // Same size, another place in the world: used as stored, with a warning.
  Mat44 s = g.sform;
  s[0][3] += 30;
  io::write_nifti(dir.file("moved.nii"), io::nifti_geometry_from_affine(ni, nj, nk, s), mask.data(), io::NiftiType::Uint8);
  const MaskVolume mm = read_mask_for(in, dir.file("moved.nii"), {1, 2}, {});
  CHECK(mm.labels.data == mask);
  REQUIRE(mm.warnings.size() == 1);
  CHECK(mm.warnings[0].find("another grid") != std::string::npos);
  // Another size: an error naming both files.
  const io::NiftiGeometry g2 = io::make_nifti_geometry(ni, nj + 1, nk, 0.7, 0.9, 2.5);
  std::vector<float> m2(static_cast<size_t>(g2.voxels()), 0);
  io::write_nifti(dir.file("other.nii"), g2, m2.data(), io::NiftiType::Uint8);
  const std::string e = error_of([&] { (void)read_mask_for(in, dir.file("other.nii"), {}, {}); });
  CHECK(e.find("size mismatch") != std::string::npos);
  CHECK(e.find("img.nii") != std::string::npos);
  CHECK(e.find("other.nii") != std::string::npos);
}

TEST_CASE("inputs: a DICOM series with a NIfTI mask written on its geometry", "[inputs][dicom]") {
  TempDir dir("inputs_dicom");
  fs::create_directories(dir.file("ct"));
  srmds::test::CtSlice s;
  for (int k = 0; k < 3; ++k) {
    s.position = {10, 20, 30.0 + 2 * k};
    s.instance = 3 - k;
    s.sop_uid = "1.2.3." + std::to_string(k);
    s.values.assign(static_cast<size_t>(s.rows * s.columns), 1024 + 10 * k);
    write_bytes(dir.file("ct/" + std::to_string(k * 7 % 3)), srmds::test::ct_file(s));
  }
  const InputVolume in = read_input_volume(dir.file("ct"));
  CHECK(in.kind == InputKind::Dicom);
  CHECK(in.slice_files.size() == 3);
  CHECK(in.volume.data[0] == 0.0f);
  CHECK(in.volume.data.back() == 20.0f);
  std::vector<uint8_t> mask(static_cast<size_t>(in.volume.geometry.voxels()), 0);
  mask[7] = 1;
  io::write_nifti_mask(dir.file("mask.nii.gz"), in.volume.geometry, mask);
  const MaskVolume m = read_mask_for(in, dir.file("mask.nii.gz"), {1, 2}, {});
  CHECK(m.warnings.empty());
  CHECK(m.labels.data[7] == 1.0f);
  CHECK(read_mask_for(in, dir.file("mask.nii.gz"), {1, 2}, {}).labels.geometry.ni == in.volume.ni());
  CHECK(error_of([&] { (void)read_mask_for(in, dir.file("m.png"), {}, {}); }).find("NIfTI") != std::string::npos);
}

TEST_CASE("image pairs: by file stem across two folders; unmatched or duplicate names are errors", "[inputs]") {
  TempDir dir("inputs_pairs");
  for (const char* d : {"img", "msk"}) fs::create_directories(dir.file(d));
  const std::vector<uint32_t> px(6, 9);
  for (const char* n : {"03", "01", "10"}) {
    write_bytes(dir.file(std::string("img/") + n + ".png"), encode_png(3, 2, 8, 0, px));
    write_bytes(dir.file(std::string("msk/") + n + ".png"), encode_png(3, 2, 8, 0, px));
  }
  write_bytes(dir.file("img/notes.txt"), {'x'});
  CHECK(is_image_folder(dir.file("img")));
  CHECK(!is_image_folder(dir.file("img/01.png")));
  const auto pairs = expand_input_pairs({dir.file("img")}, {dir.file("msk")});
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[0].image == dir.file("img/01.png"));
  CHECK(pairs[0].mask == dir.file("msk/01.png"));
  CHECK(pairs[2].image == dir.file("img/10.png"));
  CHECK(expand_inputs({dir.file("img"), dir.file("x.nii")}).size() == 4);
  write_bytes(dir.file("img/22.jpg"), srmds::test::small_grey_jpeg());
  std::string e = error_of([&] { (void)expand_input_pairs({dir.file("img")}, {dir.file("msk")}); });
  CHECK(e.find("without a mask") != std::string::npos);
  CHECK(e.find("22.jpg") != std::string::npos);
  fs::remove(dir.file("img/22.jpg"));
  write_bytes(dir.file("msk/44.png"), encode_png(3, 2, 8, 0, px));
  e = error_of([&] { (void)expand_input_pairs({dir.file("img")}, {dir.file("msk")}); });
  CHECK(e.find("without an image") != std::string::npos);
  CHECK(e.find("44.png") != std::string::npos);
  fs::remove(dir.file("msk/44.png"));
  write_bytes(dir.file("img/01.jpg"), srmds::test::small_grey_jpeg());
  e = error_of([&] { (void)expand_input_pairs({dir.file("img")}, {dir.file("msk")}); });
  CHECK(e.find("same name") != std::string::npos);
  CHECK(error_of([&] { (void)expand_input_pairs({dir.file("img")}, {dir.file("msk/01.png")}); }).find("folder") !=
        std::string::npos);
  CHECK(error_of([&] { (void)expand_input_pairs({dir.file("a"), dir.file("b")}, {dir.file("c")}); }).find("2 image files") !=
        std::string::npos);
}

TEST_CASE("SliceDataset over PNG slices of different sizes: x/255 at model size, masks > 0", "[inputs]") {
  Rng rng(fresh_seed());
  TempDir dir("inputs_ds");
  for (const char* d : {"img", "msk"}) fs::create_directories(dir.file(d));
  const int sizes[3][2] = {{8, 8}, {12, 6}, {5, 9}};  // (W, H)
  std::vector<std::vector<uint32_t>> images;
  for (int v = 0; v < 3; ++v) {
    const int W = sizes[v][0], H = sizes[v][1];
    std::vector<uint32_t> img(static_cast<size_t>(W * H)), msk(img.size());
    for (size_t i = 0; i < img.size(); ++i) {
      img[i] = static_cast<uint32_t>(rng.below(256));
      msk[i] = rng.below(3) == 0 ? 255 : 0;
    }
    images.push_back(img);
    write_bytes(dir.file("img/s" + std::to_string(v) + ".png"), encode_png(W, H, 8, 0, img));
    write_bytes(dir.file("msk/s" + std::to_string(v) + ".png"), encode_png(W, H, 8, 0, msk));
  }
  const auto pairs = expand_input_pairs({dir.file("img")}, {dir.file("msk")});
  std::vector<std::string> ip, mp;
  for (const auto& p : pairs) {
    ip.push_back(p.image);
    mp.push_back(p.mask);
  }
  SliceDataOptions o;
  o.input_size = {8, 8};
  const SliceDataset ds(ip, mp, o);
  REQUIRE(ds.size() == 3);
  for (size_t i = 0; i < 64; ++i) REQUIRE(ds.image(0)[i] == Approx(images[0][i] / 255.0).epsilon(1e-6));
  for (int64_t s = 0; s < 3; ++s)
    for (int i = 0; i < 64; ++i) {
      REQUIRE((ds.mask(s)[i] == 0 || ds.mask(s)[i] == 1));
      REQUIRE(ds.image(s)[i] >= 0.0f);
      REQUIRE(ds.image(s)[i] <= 1.0f);
    }
}

TEST_CASE("lesion burden: volume in mL, per-slice area and fraction, slices with lesions; pixels without spacing",
          "[inputs][burden]") {
  Rng rng(fresh_seed());
  const int ni = 7, nj = 5, nk = 4;
  io::NiftiGeometry g = io::make_nifti_geometry(ni, nj, nk, 0.5, 0.8, 2.0);
  std::vector<uint8_t> mask(static_cast<size_t>(ni * nj * nk), 0);
  std::vector<int64_t> per(nk, 0);
  for (int k : {1, 3})
    for (int i = 0; i < ni * nj; ++i)
      if (rng.below(3) == 0) {
        mask[static_cast<size_t>(k * ni * nj + i)] = 1;
        ++per[static_cast<size_t>(k)];
      }
  const int64_t total = per[1] + per[3];
  REQUIRE(total > 0);
  const LesionBurden b = lesion_burden(mask, g, true, {}, "ct.nii.gz");
  CHECK(b.has_spacing);
  CHECK(b.lesion_voxels == total);
  CHECK(b.lesion_volume_ml == Approx(total * 0.5 * 0.8 * 2.0 / 1000.0));
  REQUIRE(b.slices.size() == 4);
  for (int k = 0; k < nk; ++k) {
    CHECK(b.slices[static_cast<size_t>(k)].lesion_pixels == per[static_cast<size_t>(k)]);
    CHECK(b.slices[static_cast<size_t>(k)].lesion_area_mm2 == Approx(per[static_cast<size_t>(k)] * 0.4));
    CHECK(b.slices[static_cast<size_t>(k)].lesion_fraction == Approx(per[static_cast<size_t>(k)] / 35.0));
  }
  CHECK(b.slices_with_lesions == std::vector<int64_t>{1, 3});
  const nlohmann::json j = nlohmann::json::parse(lesion_burden_json(b));
  CHECK(j["lesion_voxels"] == total);
  CHECK(j["lesion_volume_ml"].get<double>() == Approx(total * 0.8 / 1000.0));
  CHECK(j["slices_with_lesions"] == 2);
  CHECK(j["lesion_slices"] == nlohmann::json({1, 3}));
  CHECK(j["slices"][3]["lesion_area_mm2"].get<double>() == Approx(per[3] * 0.4));
  CHECK(format_lesion_burden(b).find("mL") != std::string::npos);
  // Metres in the header: 1000 times the millimetres.
  io::NiftiGeometry gm = g;
  gm.xyz_units = 1;
  gm.pixdim = {0.0005, 0.0008, 0.002};
  CHECK(lesion_burden(mask, gm, true).lesion_volume_ml == Approx(b.lesion_volume_ml));
  // No spacing (a PNG slice): pixels only, null in JSON.
  const LesionBurden p = lesion_burden(mask, g, false);
  CHECK(!p.has_spacing);
  CHECK(std::isnan(p.lesion_volume_ml));
  const nlohmann::json jp = nlohmann::json::parse(lesion_burden_json(p));
  CHECK(jp["lesion_volume_ml"].is_null());
  CHECK(jp["spacing_mm"].is_null());
  CHECK(jp["slices"][1]["lesion_area_mm2"].is_null());
  CHECK(jp["slices"][1]["lesion_pixels"] == per[1]);
  CHECK(format_lesion_burden(p).find("pixels") != std::string::npos);
  CHECK_THROWS_WITH(lesion_burden(std::vector<uint8_t>(3, 0), g, true), Catch::Contains("lesion_burden"));
}
