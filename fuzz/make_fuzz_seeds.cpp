// Writes the seed corpora of the fuzz targets into DIR/<target>/: small NIfTI volumes of every
// written datatype (.nii and .nii.gz, as in tests/test_nifti.cpp), a safetensors file, network
// configs (defaults, the tiny one, no window, one label), a tiny training checkpoint, DICOM CT
// slices (explicit and implicit VR, int16 and uint16, 8-bit) and PNG/JPEG grey images (8- and
// 16-bit PNG, baseline JPEG), written as in the tests (tests/support).
// Usage: make_fuzz_seeds DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "srmds/core/context.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/train/trainer.hpp"
#include "dicom_writer.hpp"
#include "png_writer.hpp"
#include "tiny_config.hpp"

namespace fs = std::filesystem;
using namespace srmds;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path scratch = out / "scratch";
  fs::create_directories(scratch);

  // NIfTI: the first byte of a seed selects the compression (fuzz_nifti.cpp).
  int n = 0;
  for (const io::NiftiType type : {io::NiftiType::Int16, io::NiftiType::Uint8, io::NiftiType::Float32}) {
    for (const bool gz : {false, true}) {
      const io::NiftiGeometry g = io::make_nifti_geometry(6, 5, 2, 0.7, 0.7, 5.0);
      std::vector<float> v(static_cast<size_t>(g.voxels()));
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 200);
      const std::string path = (scratch / (std::string("v") + (gz ? ".nii.gz" : ".nii"))).string();
      io::write_nifti(path, g, v.data(), type);
      put(out / "fuzz_nifti", "seed" + std::to_string(n++), std::string(1, gz ? '\1' : '\0') + slurp(path));
    }
  }

  // safetensors.
  io::SafetensorsFile st;
  st.metadata = {{"format", "srmds"}, {"k", "v"}};
  st.tensors.push_back(io::TensorRecord{"a.weight", "F32", {2, 3}, {1, 2, 3, 4, 5, 6}});
  st.tensors.push_back(io::TensorRecord{"b", "F32", {}, {7}});
  const std::vector<char> bytes = io::serialize_safetensors(st);
  put(out / "fuzz_safetensors", "seed0", std::string(bytes.begin(), bytes.end()));

  // Configs.
  NetConfig none = fuzz::tiny_config();
  none.window.reset();
  none.lesion_labels = {1};
  none.branches = {"3x3", "id"};
  none.bn = BnPlacement::External;
  none.attention = Attention::None;
  n = 0;
  for (const NetConfig& c : {NetConfig{}, fuzz::tiny_config(), none})
    put(out / "fuzz_config", "seed" + std::to_string(n++), config_to_json(c));

  // A tiny checkpoint, as train writes it.
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net(ctx, fuzz::tiny_config(), NetForm::Train, 1);
  TrainOptions to;
  to.epochs = 1;
  Trainer<float, Cpu> trainer(ctx, net, to);
  const std::string ckpt = (scratch / "ckpt.safetensors").string();
  trainer.save_checkpoint(ckpt, 1);
  const std::string ck = slurp(ckpt);
  put(out / "fuzz_checkpoint", "seed0", ck);
  put(out / "fuzz_safetensors", "seed1", ck);

  // DICOM slices.
  n = 0;
  for (const bool explicit_vr : {true, false}) {
    for (const int repr : {1, 0}) {
      test::CtSlice s;
      s.explicit_vr = explicit_vr;
      s.pixel_representation = repr;
      s.values.resize(static_cast<size_t>(s.rows * s.columns));
      for (size_t i = 0; i < s.values.size(); ++i) s.values[i] = static_cast<int64_t>((i * 97) % 2000);
      const std::vector<uint8_t> f = test::ct_file(s);
      put(out / "fuzz_dicom", "seed" + std::to_string(n++), std::string(f.begin(), f.end()));
    }
  }
  test::CtSlice eight;
  eight.bits_allocated = eight.bits_stored = 8;
  eight.pixel_representation = 0;
  eight.values.assign(static_cast<size_t>(eight.rows * eight.columns), 7);
  const std::vector<uint8_t> f8 = test::ct_file(eight);
  put(out / "fuzz_dicom", "seed" + std::to_string(n++), std::string(f8.begin(), f8.end()));

  // PNG and JPEG.
  std::vector<uint32_t> grey(7 * 5);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint32_t>(i * 7);
  const std::vector<uint8_t> p8 = test::encode_png(7, 5, 8, 0, grey);
  for (uint32_t& v : grey) v *= 300;
  const std::vector<uint8_t> p16 = test::encode_png(7, 5, 16, 0, grey);
  const std::vector<uint8_t>& jpg = test::small_grey_jpeg();
  put(out / "fuzz_image2d", "seed0", std::string(p8.begin(), p8.end()));
  put(out / "fuzz_image2d", "seed1", std::string(p16.begin(), p16.end()));
  put(out / "fuzz_image2d", "seed2", std::string(jpg.begin(), jpg.end()));
  fs::remove_all(scratch);
  std::printf("seeds in %s\n", out.string().c_str());
  return 0;
}
