// NIfTI reading and writing (SPEC §7, §9): round trips keep data and geometry; files written by
// nibabel read correctly, including the slice orientation rule (slice k = data[:, :, k].T);
// malformed files throw srmds::Error with a specific message and leave no output file.
#include <zlib.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/io/nifti.hpp"

using namespace srmds;
using namespace srmds::io;
namespace fs = std::filesystem;
using srmds::test::fresh_seed;

namespace {

using srmds::test::TempDir;

std::vector<unsigned char> read_bytes(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files as they are
  REQUIRE(f != nullptr);
  std::vector<unsigned char> out;
  unsigned char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  return out;
}

void write_raw(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(f);
}

template <class T>
void poke(std::vector<unsigned char>& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}

// Expects read_nifti(path) to throw srmds::Error whose message names the file and contains `what`.
void require_read_error(const std::string& path, const std::string& what) {
  INFO("reading " << path << ", expecting an error containing '" << what << "'");
  try {
    (void)read_nifti(path);
    FAIL("no error thrown");
  } catch (const srmds::Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(what) != std::string::npos);
  }
}

NiftiGeometry test_geometry(int64_t ni, int64_t nj, int64_t nk) {
  NiftiGeometry g = make_nifti_geometry(ni, nj, nk, 0.7, 0.85, 2.5);
  // A qform with a general rotation (unit quaternion b, c, d with a = sqrt(1 - b^2 - c^2 - d^2)),
  // qfac -1, and an sform that differs from it (shear), so both are checked separately.
  g.quatern_b = 0.1;
  g.quatern_c = -0.2;
  g.quatern_d = 0.3;
  g.qfac = -1;
  g.qoffset_x = -12.5;
  g.qoffset_y = 7.25;
  g.qoffset_z = 3.0;
  g.qform_code = 1;
  g.sform_code = 4;
  g.sform[0] = {0.7, 0.05, 0.0, -100.0};
  g.sform[1] = {0.0, 0.85, 0.1, 20.0};
  g.sform[2] = {0.02, 0.0, -2.5, 33.0};
  return g;
}

// qto_xyz from the quaternion (NIfTI-1 standard, independent of nifti_clib).
Mat44 quaternion_matrix(const NiftiGeometry& g) {
  const double b = g.quatern_b, c = g.quatern_c, d = g.quatern_d;
  const double a = std::sqrt(std::max(0.0, 1.0 - b * b - c * c - d * d));
  const double R[3][3] = {{a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)},
                          {2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)},
                          {2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b}};
  const double s[3] = {g.pixdim[0], g.pixdim[1], g.pixdim[2] * g.qfac};
  Mat44 m{};
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) m[r][k] = R[r][k] * s[k];
  m[0][3] = g.qoffset_x;
  m[1][3] = g.qoffset_y;
  m[2][3] = g.qoffset_z;
  m[3] = {0, 0, 0, 1};
  return m;
}

void require_mat_close(const Mat44& a, const Mat44& b, double tol, const std::string& what) {
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      INFO(what << "[" << r << "][" << c << "] " << a[r][c] << " vs " << b[r][c]);
      REQUIRE(std::abs(a[r][c] - b[r][c]) <= tol * (1 + std::abs(b[r][c])));
    }
}

}  // namespace

TEST_CASE("NIfTI round trip keeps data, dims, pixdim, qform and sform", "[nifti]") {
  TempDir dir("nifti_rt");
  Rng rng(fresh_seed());
  const NiftiGeometry g = test_geometry(7, 5, 3);
  const Mat44 q_expected = quaternion_matrix(g);
  std::vector<float> f(static_cast<size_t>(g.voxels()));
  for (auto& v : f) v = static_cast<float>(rng.uniform(-2000, 2000));
  std::vector<float> hu(f.size());
  for (size_t i = 0; i < f.size(); ++i) hu[i] = std::round(f[i]);
  std::vector<uint8_t> mask(f.size());
  for (auto& m : mask) m = static_cast<uint8_t>(rng.below(3));

  for (int version : {1, 2}) {
    for (const char* ext : {".nii", ".nii.gz"}) {
      NiftiGeometry gv = g;
      gv.version = version;
      const std::string tag = "v" + std::to_string(version) + ext;
      write_nifti_float(dir.file("f" + tag), gv, f);
      write_nifti(dir.file("h" + tag), gv, hu.data(), NiftiType::Int16);
      write_nifti_mask(dir.file("m" + tag), gv, mask);
      for (const char* kind : {"f", "h", "m"}) {
        const std::string path = dir.file(kind + tag);
        INFO(path);
        const NiftiHeaderInfo h = read_nifti_header(path);
        CHECK(h.version == version);
        const NiftiVolume v = read_nifti(path);
        REQUIRE(v.ni() == 7);
        REQUIRE(v.nj() == 5);
        REQUIRE(v.nk() == 3);
        CHECK(v.geometry.version == version);
        for (int a = 0; a < 3; ++a) CHECK(v.geometry.pixdim[a] == Approx(g.pixdim[a]).epsilon(1e-6));
        CHECK(v.geometry.qform_code == 1);
        CHECK(v.geometry.sform_code == 4);
        CHECK(v.geometry.qfac == -1);
        CHECK(v.geometry.xyz_units == 2);
        require_mat_close(v.geometry.qform, q_expected, 1e-5, "qform");
        require_mat_close(v.geometry.sform, g.sform, 1e-6, "sform");
        REQUIRE(v.data.size() == f.size());
        const std::string k = kind;
        CHECK(v.datatype == (k == "f" ? 16 : k == "h" ? 4 : 2));
        for (size_t i = 0; i < f.size(); ++i) {
          const float expected = k == "f" ? f[i] : k == "h" ? hu[i] : static_cast<float>(mask[i]);
          REQUIRE(v.data[i] == expected);
        }
        // Re-writing with the read geometry keeps it (what `segment` does with its input).
        write_nifti_mask(dir.file("again" + tag), v.geometry, mask);
        const NiftiVolume w = read_nifti(dir.file("again" + tag));
        require_mat_close(w.geometry.qform, v.geometry.qform, 1e-6, "qform again");
        require_mat_close(w.geometry.sform, v.geometry.sform, 1e-6, "sform again");
      }
    }
  }
  // The .gz files are compressed, the .nii files are not.
  const auto gz = read_bytes(dir.file("fv1.nii.gz"));
  std::ifstream raw(dir.file("fv1.nii.gz"), std::ios::binary);
  unsigned char magic[2] = {0, 0};
  raw.read(reinterpret_cast<char*>(magic), 2);
  CHECK(magic[0] == 0x1f);
  CHECK(magic[1] == 0x8b);
  CHECK(gz.size() == 352 + f.size() * 4);
}

TEST_CASE("NIfTI 2-D files (nk = 1) and make_nifti_geometry", "[nifti]") {
  TempDir dir("nifti_2d");
  NiftiGeometry g = make_nifti_geometry(6, 4, 1, 0.5, 0.6, 3.0);
  g.ndim = 2;
  std::vector<float> f(24);
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(i) * 0.5f - 3.0f;
  write_nifti_float(dir.file("a.nii"), g, f);
  const NiftiVolume v = read_nifti(dir.file("a.nii"));
  CHECK(v.geometry.ndim == 2);
  CHECK(v.nk() == 1);
  CHECK(v.data == f);
  // make_nifti_geometry: voxel (i, j, k) -> (-dx i + ox, -dy j + oy, dz k + oz), centred on the grid.
  const Mat44& q = v.geometry.qform;
  CHECK(q[0][0] == Approx(-0.5));
  CHECK(q[1][1] == Approx(-0.6));
  CHECK(q[2][2] == Approx(3.0));
  CHECK(q[0][3] - 0.5 * 5 / 2 == Approx(0).margin(1e-6));
  CHECK(q[1][3] - 0.6 * 3 / 2 == Approx(0).margin(1e-6));
  require_mat_close(v.geometry.sform, v.geometry.qform, 1e-6, "sform == qform");
}

TEST_CASE("NIfTI writer rejects bad values and names and leaves no file", "[nifti][bad]") {
  TempDir dir("nifti_wbad");
  const NiftiGeometry g = make_nifti_geometry(4, 3, 2, 1, 1, 1);
  std::vector<float> f(24, 1.0f);
  f[5] = 300.0f;
  CHECK_THROWS_WITH(write_nifti(dir.file("m.nii.gz"), g, f.data(), NiftiType::Uint8),
                    Catch::Contains("cannot write value 300") && Catch::Contains("uint8"));
  f[5] = 40000.0f;
  CHECK_THROWS_WITH(write_nifti(dir.file("h.nii"), g, f.data(), NiftiType::Int16), Catch::Contains("int16"));
  f[5] = std::nanf("");
  CHECK_THROWS_WITH(write_nifti(dir.file("h.nii"), g, f.data(), NiftiType::Int16), Catch::Contains("h.nii"));
  CHECK_THROWS_WITH(write_nifti_float(dir.file("x.img"), g, f), Catch::Contains(".nii or .nii.gz"));
  CHECK_THROWS_WITH(write_nifti_float(dir.file("short.nii"), g, std::vector<float>(5)), Catch::Contains("needs 24"));
  CHECK(dir.count() == 0);
  // An unwritable place: nifti_clib fails silently; the check after writing catches it.
  CHECK_THROWS_AS(write_nifti_float(dir.file("no/such/dir/x.nii.gz"), g, std::vector<float>(24)), srmds::Error);
  CHECK(dir.count() == 0);
}

TEST_CASE("NIfTI reader rejects malformed files with specific errors", "[nifti][bad]") {
  TempDir dir("nifti_bad");
  const NiftiGeometry g = make_nifti_geometry(8, 6, 3, 1, 1, 2);
  std::vector<float> f(static_cast<size_t>(g.voxels()));
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(i % 50) - 20.0f;
  write_nifti(dir.file("good1.nii"), g, f.data(), NiftiType::Int16);
  NiftiGeometry g2 = g;
  g2.version = 2;
  write_nifti(dir.file("good2.nii"), g2, f.data(), NiftiType::Int16);
  const auto n1 = read_bytes(dir.file("good1.nii"));
  const auto n2 = read_bytes(dir.file("good2.nii"));
  REQUIRE(n1.size() == 352 + f.size() * 2);
  REQUIRE(n2.size() == 544 + f.size() * 2);
  const size_t files_before = dir.count();

  // Each corruption, written both plain and gzip-compressed.
  auto both = [&](const std::string& stem, const std::vector<unsigned char>& bytes, const std::string& what) {
    write_raw(dir.file(stem + ".nii"), bytes);
    write_gz(dir.file(stem + ".nii.gz"), bytes);
    require_read_error(dir.file(stem + ".nii"), what);
    require_read_error(dir.file(stem + ".nii.gz"), what);
  };

  SECTION("missing file and unsupported names") {
    require_read_error(dir.file("nope.nii.gz"), "file not found");
    write_raw(dir.file("x.hdr"), n1);
    require_read_error(dir.file("x.hdr"), "unsupported file name");
    require_read_error(dir.path.string(), "not a regular file");
  }
  SECTION("truncated header and data") {
    both("empty", {}, "truncated header");
    both("hdr100", std::vector<unsigned char>(n1.begin(), n1.begin() + 100), "truncated header");
    both("hdr2_400", std::vector<unsigned char>(n2.begin(), n2.begin() + 400), "truncated header (400 of 540");
    both("data1", std::vector<unsigned char>(n1.begin(), n1.end() - 7), "truncated file");
    both("data2", std::vector<unsigned char>(n2.begin(), n2.begin() + 600), "truncated file");
    both("hdronly", std::vector<unsigned char>(n1.begin(), n1.begin() + 352), "truncated file");
    // A gzip stream cut short (the compressed bytes themselves truncated).
    write_gz(dir.file("cut.nii.gz"), n1);
    auto gz = std::vector<unsigned char>();
    {
      std::ifstream in(dir.file("cut.nii.gz"), std::ios::binary);
      gz.assign(std::istreambuf_iterator<char>(in), {});
    }
    write_raw(dir.file("cut.nii.gz"), std::vector<unsigned char>(gz.begin(), gz.begin() + gz.size() / 2));
    require_read_error(dir.file("cut.nii.gz"), "truncated");
  }
  SECTION("wrong magic") {
    auto b = n1;
    std::memcpy(b.data() + 344, "abc", 4);
    both("magic1", b, "wrong magic");
    b = n1;
    std::memcpy(b.data() + 344, "ni1", 4);
    both("twofile", b, "two-file");
    b = n2;
    b[6] = 'x';
    both("magic2", b, "wrong magic");
    b = n1;
    poke<int32_t>(b, 0, 1234);
    both("sizeof", b, "sizeof_hdr is 1234");
    std::vector<unsigned char> text(600, 'a');
    both("text", text, "wrong magic");
  }
  SECTION("unsupported datatypes") {
    auto b = n1;
    poke<int16_t>(b, 70, 32);  // complex64
    poke<int16_t>(b, 72, 64);
    both("complex", b, "unsupported datatype complex64");
    b = n1;
    poke<int16_t>(b, 70, 128);  // RGB24
    poke<int16_t>(b, 72, 24);
    both("rgb", b, "unsupported datatype rgb24");
    b = n2;
    poke<int16_t>(b, 12, 1024);  // int64
    both("int64", b, "unsupported datatype int64");
  }
  SECTION("4-D, 5-D, bad and overflowing dimensions") {
    auto b = n1;
    poke<int16_t>(b, 40, 4);
    poke<int16_t>(b, 48, 2);  // dim[4] = 2
    both("fourd", b, "4-D volume");
    b = n1;
    poke<int16_t>(b, 40, 5);
    poke<int16_t>(b, 48, 1);
    poke<int16_t>(b, 50, 3);  // dim[5] = 3 (vector-valued)
    both("fived", b, "5-D volume");
    b = n1;
    poke<int16_t>(b, 44, -6);
    both("negdim", b, "dim[2] = -6");
    b = n1;
    poke<int16_t>(b, 40, 9);
    both("dim0", b, "invalid dim[0] = 9");
    b = n1;
    for (int i = 1; i <= 3; ++i) poke<int16_t>(b, 40 + 2 * static_cast<size_t>(i), 32767);
    both("big1", b, "overflow");
    b = n2;
    poke<int64_t>(b, 16 + 8 * 1, int64_t{1} << 40);
    both("big2", b, "overflow");
    b = n2;
    poke<int64_t>(b, 16 + 8 * 1, int64_t{1} << 20);
    poke<int64_t>(b, 16 + 8 * 2, int64_t{1} << 20);
    both("big2b", b, "overflow");
  }
  SECTION("bad vox_offset") {
    auto b = n1;
    poke<float>(b, 108, 100.0f);
    both("off1", b, "invalid vox_offset");
    b = n2;
    poke<int64_t>(b, 168, -5);
    both("off2", b, "invalid vox_offset");
  }
  SECTION("image/mask size mismatch") {
    const NiftiGeometry gm = make_nifti_geometry(8, 5, 3, 1, 1, 2);
    write_nifti_mask(dir.file("mask.nii.gz"), gm, std::vector<uint8_t>(static_cast<size_t>(gm.voxels())));
    CHECK_THROWS_WITH(read_nifti_pair(dir.file("good1.nii"), dir.file("mask.nii.gz")),
                      Catch::Contains("size mismatch") && Catch::Contains("8 x 6 x 3") && Catch::Contains("8 x 5 x 3") &&
                          Catch::Contains("good1.nii") && Catch::Contains("mask.nii.gz"));
    write_nifti_mask(dir.file("mask_ok.nii.gz"), g, std::vector<uint8_t>(static_cast<size_t>(g.voxels()), 1));
    auto pair = read_nifti_pair(dir.file("good1.nii"), dir.file("mask_ok.nii.gz"));
    CHECK(pair.first.data == f);
    CHECK(pair.second.data == std::vector<float>(f.size(), 1.0f));
  }
  // The good files still read, and nothing besides the inputs was created (no temporaries).
  CHECK(read_nifti(dir.file("good2.nii")).data == f);
  for (auto it = fs::directory_iterator(dir.path); it != fs::directory_iterator(); ++it)
    CHECK(it->path().filename().string().find("tmp-") == std::string::npos);
  CHECK(dir.count() >= files_before);
}

// ---- files written by another tool (nibabel) ------------------------------------------------

namespace {

const char* kFixtureScript = R"PY(
import sys, numpy as np, nibabel as nib
out = sys.argv[1]
def affine_q():
    # rotation about a tilted axis, zooms (0.8, 0.9, 2.5), translation
    th = 0.4; ax = np.array([0.3, -0.5, 0.8]); ax /= np.linalg.norm(ax)
    K = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    R = np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * K @ K
    A = np.eye(4); A[:3, :3] = R @ np.diag([0.8, 0.9, 2.5]); A[:3, 3] = [10.5, -20.25, 30.0]
    return A
def affine_s():
    A = np.array([[0.8, 0.1, 0.0, -50], [0.0, -0.9, 0.05, 60], [0.02, 0.0, 2.5, -7], [0, 0, 0, 1]])
    return A
def save(name, img):
    nib.save(img, out + '/' + name)
    img = nib.load(out + '/' + name)
    data = np.asarray(img.get_fdata(dtype=np.float32))
    if data.ndim == 2: data = data[:, :, None]
    with open(out + '/' + name + '.txt', 'w') as f:
        h = img.header
        f.write('dims %d %d %d\n' % data.shape)
        f.write('pixdim %r %r %r\n' % tuple(float(x) for x in h['pixdim'][1:4]))
        q, qc = h.get_qform(coded=True); s, sc = h.get_sform(coded=True)
        f.write('qform_code %d\n' % int(qc)); f.write('sform_code %d\n' % int(sc))
        f.write('qform ' + ' '.join(repr(float(x)) for x in (q if q is not None else np.eye(4)).ravel()) + '\n')
        f.write('sform ' + ' '.join(repr(float(x)) for x in (s if s is not None else np.eye(4)).ravel()) + '\n')
    # slices in the documented orientation: data[:, :, k].T, row-major, k = 0..nk-1
    np.concatenate([np.ascontiguousarray(data[:, :, k].T).ravel() for k in range(data.shape[2])]).astype('<f4').tofile(out + '/' + name + '.f32')
rng = np.random.default_rng(int(sys.argv[2]))
def mk(cls, shape, dtype, slope=None, inter=None, hdr=None):
    if np.dtype(dtype).kind in 'iu':
        info = np.iinfo(dtype); raw = rng.integers(max(info.min, -3000), min(info.max, 3000) + 1, size=shape)
    else:
        raw = rng.uniform(-1500, 1500, size=shape)
    raw = raw.astype(dtype)
    img = cls(raw, affine_q(), header=hdr)
    img.set_data_dtype(dtype)
    img.set_qform(affine_q(), code=1); img.set_sform(affine_s(), code=2)
    if slope is not None: img.header.set_slope_inter(slope, inter)
    return img
save('n1_int16_scaled.nii.gz', mk(nib.Nifti1Image, (7, 5, 3), np.int16, 2.0, -5.0))
save('n1_int16_scaled.nii', mk(nib.Nifti1Image, (6, 9, 2), np.int16, 0.5, -1024.0))
save('n2_float32.nii', mk(nib.Nifti2Image, (6, 4, 2), np.float32))
save('n2_int16.nii.gz', mk(nib.Nifti2Image, (5, 7, 4), np.int16, 1.5, 3.0))
save('n1_uint8_mask.nii.gz', mk(nib.Nifti1Image, (7, 5, 3), np.uint8))
save('n1_2d_float64.nii', mk(nib.Nifti1Image, (6, 4), np.float64))
for dt in (np.int8, np.uint16, np.int32, np.uint32):
    save('n1_%s.nii' % np.dtype(dt).name, mk(nib.Nifti1Image, (3, 4, 2), dt))
save('n1_bigendian.nii', mk(nib.Nifti1Image, (5, 3, 2), np.dtype('>i2'), 1.0, -1000.0, hdr=nib.Nifti1Header(endianness='>')))
# inputs that must be rejected
nib.save(nib.Nifti1Image(np.zeros((4, 3, 2), np.complex64), np.eye(4)), out + '/bad_complex.nii.gz')
nib.save(nib.Nifti2Image(np.zeros((4, 3, 2, 2), np.int16), np.eye(4)), out + '/bad_4d.nii.gz')
rgb = np.zeros((4, 3, 2), dtype=[('R', 'u1'), ('G', 'u1'), ('B', 'u1')])
nib.save(nib.Nifti1Image(rgb, np.eye(4)), out + '/bad_rgb.nii')
)PY";

struct Expected {
  int64_t dims[3] = {0, 0, 0};
  double pixdim[3] = {0, 0, 0};
  int qform_code = 0, sform_code = 0;
  int version = 0;
  Mat44 qform{}, sform{};
};

Expected read_expected(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  Expected e;
  std::string key;
  while (in >> key) {
    if (key == "dims") in >> e.dims[0] >> e.dims[1] >> e.dims[2];
    else if (key == "pixdim") in >> e.pixdim[0] >> e.pixdim[1] >> e.pixdim[2];
    else if (key == "qform_code") in >> e.qform_code;
    else if (key == "version") in >> e.version;
    else if (key == "sform_code") in >> e.sform_code;
    else if (key == "qform" || key == "sform") {
      Mat44& m = key == "qform" ? e.qform : e.sform;
      for (auto& row : m)
        for (auto& x : row) in >> x;
    }
  }
  return e;
}

bool have_nibabel() { return std::system("/usr/bin/python3 -c 'import nibabel, numpy' >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE("NIfTI files written by nibabel read correctly (values, geometry, slice orientation)", "[nifti][nibabel]") {
  if (!have_nibabel()) {
    WARN("nibabel is not importable from /usr/bin/python3: skipping the cross-tool NIfTI test");
    return;
  }
  TempDir dir("nifti_nib");
  const std::string script = dir.file("make.py");
  {
    std::ofstream s(script);
    s << kFixtureScript;
  }
  const std::string cmd = "/usr/bin/python3 '" + script + "' '" + dir.path.string() + "' " + std::to_string(fresh_seed() % 100000);
  REQUIRE(std::system(cmd.c_str()) == 0);

  for (const char* name : {"n1_int16_scaled.nii.gz", "n1_int16_scaled.nii", "n2_float32.nii", "n2_int16.nii.gz",
                           "n1_uint8_mask.nii.gz", "n1_2d_float64.nii", "n1_int8.nii", "n1_uint16.nii", "n1_int32.nii",
                           "n1_uint32.nii", "n1_bigendian.nii"}) {
    const std::string path = dir.file(name);
    INFO(path);
    const Expected e = read_expected(path + ".txt");
    const NiftiVolume v = read_nifti(path);
    REQUIRE(v.ni() == e.dims[0]);
    REQUIRE(v.nj() == e.dims[1]);
    REQUIRE(v.nk() == e.dims[2]);
    for (int a = 0; a < 3; ++a) CHECK(v.geometry.pixdim[a] == Approx(e.pixdim[a]).epsilon(1e-6));
    CHECK(v.geometry.qform_code == e.qform_code);
    CHECK(v.geometry.sform_code == e.sform_code);
    require_mat_close(v.geometry.qform, e.qform, 2e-6, "qform");
    require_mat_close(v.geometry.sform, e.sform, 1e-6, "sform");
    // Slices: nibabel's data[:, :, k].T (H = nj rows of W = ni) equals v.slice(k) element for element.
    const auto raw = read_bytes(path + ".f32");
    REQUIRE(raw.size() == v.data.size() * 4);
    std::vector<float> expected(v.data.size());
    std::memcpy(expected.data(), raw.data(), raw.size());
    const int64_t W = v.ni(), H = v.nj();
    for (int64_t k = 0; k < v.nk(); ++k)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const float got = v.slice(k)[h * W + w];
          const float want = expected[static_cast<size_t>((k * H + h) * W + w)];
          INFO("k " << k << " h " << h << " w " << w);
          REQUIRE(std::abs(got - want) <= 1e-6f * (1 + std::abs(want)));
        }
    // Reading our own re-write of it gives the same values and geometry.
    const std::string again = dir.file(std::string("again_") + name);
    write_nifti_float(again, v.geometry, v.data);
    const NiftiVolume w = read_nifti(again);
    CHECK(w.data == v.data);
    require_mat_close(w.geometry.qform, v.geometry.qform, 1e-6, "qform rewritten");
    require_mat_close(w.geometry.sform, v.geometry.sform, 1e-6, "sform rewritten");
  }
  // scl_slope/scl_inter are reported as stored.
  CHECK(read_nifti(dir.file("n1_int16_scaled.nii.gz")).scl_slope == 2.0);
  require_read_error(dir.file("bad_complex.nii.gz"), "unsupported datatype complex64");
  require_read_error(dir.file("bad_4d.nii.gz"), "4-D volume");
  require_read_error(dir.file("bad_rgb.nii"), "unsupported datatype rgb24");
}

TEST_CASE("NIfTI files written here read correctly in nibabel (values, geometry)", "[nifti][nibabel]") {
  if (!have_nibabel()) {
    WARN("nibabel is not importable from /usr/bin/python3: skipping the cross-tool NIfTI test");
    return;
  }
  TempDir dir("nifti_nib_out");
  Rng rng(fresh_seed());
  NiftiGeometry g = test_geometry(6, 5, 4);
  std::vector<float> f(static_cast<size_t>(g.voxels()));
  for (auto& v : f) v = static_cast<float>(std::round(rng.uniform(-1000, 1000)));
  std::vector<std::string> names;
  for (int version : {1, 2})
    for (const char* ext : {".nii", ".nii.gz"})
      for (NiftiType type : {NiftiType::Int16, NiftiType::Float32}) {
        g.version = version;
        const std::string name = "ours_v" + std::to_string(version) + (type == NiftiType::Int16 ? "_i16" : "_f32") + ext;
        write_nifti(dir.file(name), g, f.data(), type);
        names.push_back(name);
      }
  const std::string script = dir.file("dump.py");
  {
    std::ofstream s(script);
    s << R"PY(
import sys, numpy as np, nibabel as nib
for path in sys.argv[1:]:
    img = nib.load(path)
    assert img.header.sizeof_hdr == (348 if isinstance(img, nib.Nifti1Image) and not isinstance(img, nib.Nifti2Image) else 540)
    data = np.asarray(img.get_fdata(dtype=np.float32))
    q, qc = img.header.get_qform(coded=True); s, sc = img.header.get_sform(coded=True)
    with open(path + '.txt', 'w') as f:
        f.write('version %d\n' % (2 if isinstance(img, nib.Nifti2Image) else 1))
        f.write('dims %d %d %d\n' % data.shape)
        f.write('pixdim %r %r %r\n' % tuple(float(x) for x in img.header['pixdim'][1:4]))
        f.write('qform_code %d\nsform_code %d\n' % (int(qc), int(sc)))
        f.write('qform ' + ' '.join(repr(float(x)) for x in q.ravel()) + '\n')
        f.write('sform ' + ' '.join(repr(float(x)) for x in s.ravel()) + '\n')
    np.concatenate([np.ascontiguousarray(data[:, :, k].T).ravel() for k in range(data.shape[2])]).astype('<f4').tofile(path + '.f32')
)PY";
  }
  std::string cmd = "/usr/bin/python3 '" + script + "'";
  for (const auto& n : names) cmd += " '" + dir.file(n) + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const Mat44 q_expected = quaternion_matrix(g);
  for (const auto& n : names) {
    INFO(n);
    const Expected e = read_expected(dir.file(n) + ".txt");
    CHECK(e.version == (n.find("_v2") != std::string::npos ? 2 : 1));
    CHECK(e.dims[0] == 6);
    CHECK(e.dims[1] == 5);
    CHECK(e.dims[2] == 4);
    for (int a = 0; a < 3; ++a) CHECK(e.pixdim[a] == Approx(g.pixdim[a]).epsilon(1e-6));
    CHECK(e.qform_code == 1);
    CHECK(e.sform_code == 4);
    require_mat_close(e.qform, q_expected, 1e-5, "qform (nibabel)");
    require_mat_close(e.sform, g.sform, 1e-6, "sform (nibabel)");
    const auto raw = read_bytes(dir.file(n) + ".f32");
    REQUIRE(raw.size() == f.size() * 4);
    std::vector<float> got(f.size());
    std::memcpy(got.data(), raw.data(), raw.size());
    CHECK(got == f);  // our voxel order is nibabel's data[:, :, k].T, row-major, k outermost
  }
}

TEST_CASE("NIfTI reader survives random header mutations (throws srmds::Error or reads)", "[nifti][bad][fuzz]") {
  TempDir dir("nifti_fuzz");
  Rng rng(fresh_seed());
  const NiftiGeometry g = make_nifti_geometry(6, 5, 4, 1, 1, 1);
  std::vector<float> f(static_cast<size_t>(g.voxels()), 7.0f);
  NiftiGeometry g2 = g;
  g2.version = 2;
  write_nifti(dir.file("a1.nii"), g, f.data(), NiftiType::Int16);
  write_nifti(dir.file("a2.nii"), g2, f.data(), NiftiType::Float32);
  const std::vector<unsigned char> originals[2] = {read_bytes(dir.file("a1.nii")), read_bytes(dir.file("a2.nii"))};
  int read_ok = 0, rejected = 0;
  for (int iter = 0; iter < 400; ++iter) {
    auto b = originals[iter % 2];
    const size_t header = iter % 2 == 0 ? 352 : 544;
    const int edits = 1 + static_cast<int>(rng.below(4));
    for (int e = 0; e < edits; ++e) {
      const size_t pos = static_cast<size_t>(rng.below(header));
      b[pos] = rng.below(4) == 0 ? 0xFF : static_cast<unsigned char>(rng.below(256));
    }
    if (rng.below(4) == 0) b.resize(static_cast<size_t>(rng.below(b.size())));
    const std::string path = dir.file("m" + std::to_string(iter % 8) + (iter % 3 == 0 ? ".nii.gz" : ".nii"));
    if (iter % 3 == 0)
      write_gz(path, b);
    else
      write_raw(path, b);
    try {
      const NiftiVolume v = read_nifti(path);
      REQUIRE(static_cast<int64_t>(v.data.size()) == v.ni() * v.nj() * v.nk());
      ++read_ok;
    } catch (const srmds::Error& e) {
      REQUIRE(std::string(e.what()).find(path) != std::string::npos);
      ++rejected;
    }
  }
  CHECK(read_ok + rejected == 400);
  CHECK(rejected > 0);
}
