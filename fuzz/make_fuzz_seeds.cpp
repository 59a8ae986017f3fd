// Writes the seed corpora of the fuzz targets into DIR/<target>/: small NIfTI volumes of every
// written datatype (.nii and .nii.gz, as in tests/test_nifti.cpp), small safetensors files, network
// configs (defaults, the tiny one, no window, one label), checkpoint patches, DICOM CT
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
#include "checkpoint_patch.hpp"
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

  // Checkpoints (fuzz/checkpoint_patch.hpp): a good one of the checkpoint fuzzer's network is too
  // large a seed (a 20 KB header, every execution parsing it); its seeds are patches of it: none,
  // its own metadata (so that the input is also read as a whole checkpoint up to the missing
  // tensors), other epoch/step/best_dice, a replaced weight and second moment, removals. The
  // safetensors target gets the metadata and a few tensors of it, and other dtypes.
  const io::SafetensorsFile good = fuzz::good_checkpoint((scratch / "good.safetensors").string());
  const auto tensor = [&](const std::string& name) { return *good.find(name); };
  const auto seed = [&](const fs::path& dir, const std::string& name, const io::SafetensorsFile& f) {
    const std::vector<char> b = io::serialize_safetensors(f);
    put(dir, name, std::string(b.begin(), b.end()));
  };
  const fs::path ck = out / "fuzz_checkpoint";
  seed(ck, "seed0", io::SafetensorsFile{});
  io::SafetensorsFile p;
  p.metadata = good.metadata;
  seed(ck, "seed1", p);
  p.metadata = {{"epoch", "3"}, {"step", "7"}, {"best_dice", "0.25"}};
  seed(ck, "seed2", p);
  p = io::SafetensorsFile{};
  p.tensors = {tensor("head0.bias"), tensor("optimizer.v.enc1.b0.br.3x3.bn.weight")};
  p.tensors[0].data[0] = 3.5f;
  seed(ck, "seed3", p);
  p.tensors = {io::TensorRecord{"~head0.bias", "F32", {0}, {}}};
  p.metadata = {{"~step", ""}};
  seed(ck, "seed4", p);
  io::SafetensorsFile part;
  part.metadata = good.metadata;
  for (const char* name : {"head0.weight", "head0.bias", "enc0.b0.br.3x3.bn.running_var", "optimizer.m.head0.bias"})
    part.tensors.push_back(tensor(name));
  seed(out / "fuzz_safetensors", "seed1", part);
  // Every dtype the reader converts or lists (F16, BF16, F64, I64 as num_batches_tracked).
  const std::string dtypes = R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"BF16","shape":[],"data_offsets":[4,6]},)"
                             R"("c":{"dtype":"F64","shape":[1],"data_offsets":[6,14]},)"
                             R"("d.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[14,22]}})";
  std::string header = dtypes + std::string((8 - dtypes.size() % 8) % 8, ' ');
  std::string bytes2(8, '\0');
  for (int i = 0; i < 8; ++i) bytes2[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes2 += header + std::string("\x00\x3c\x00\xc0\x80\x3f", 6) + std::string(8, '\0') + std::string("\x07", 1) + std::string(7, '\0');
  put(out / "fuzz_safetensors", "seed2", bytes2);

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
