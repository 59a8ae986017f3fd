// Helper for tests/test_dicom.py: reads a DICOM series (or one file) with srmds and writes what it
// read, so that a script can compare it with pydicom and dcm2niix.
//   dicom_tool series PATH OUT.nii [SERIES_UID]   volume as float32 NIfTI; prints a JSON line:
//        {"ok": true, "uid": ..., "files": [...], "warnings": [...]} or {"ok": false, "error": ...}
//   dicom_tool decode FILE OUT.f32                 one file's HU values, rows x columns float32
//   dicom_tool list PATH                           the series in a folder, one JSON line
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "srmds/core/error.hpp"
#include "srmds/io/dicom.hpp"
#include "srmds/io/nifti.hpp"

int main(int argc, char** argv) {
  using nlohmann::json;
  if (argc < 3) {
    std::fprintf(stderr, "usage: dicom_tool series PATH OUT.nii [UID] | decode FILE OUT.f32 | list PATH\n");
    return 2;
  }
  const std::string cmd = argv[1];
  json out;
  try {
    if (cmd == "series" && argc >= 4) {
      srmds::io::DicomReadOptions o;
      if (argc >= 5) o.series_uid = argv[4];
      const srmds::io::DicomSeries s = srmds::io::read_dicom_series(argv[2], o);
      srmds::io::write_nifti_float(argv[3], s.volume.geometry, s.volume.data);
      out = {{"ok", true}, {"uid", s.series_uid}, {"description", s.series_description}, {"files", s.slice_files},
             {"warnings", s.warnings}};
    } else if (cmd == "decode" && argc >= 4) {
      std::ifstream in(argv[2], std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const srmds::io::DicomImage img =
          srmds::io::decode_dicom(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), argv[2]);
      std::ofstream f(argv[3], std::ios::binary);
      f.write(reinterpret_cast<const char*>(img.hu.data()), static_cast<std::streamsize>(img.hu.size() * sizeof(float)));
      out = {{"ok", true}, {"rows", img.header.rows}, {"columns", img.header.columns}};
    } else if (cmd == "list") {
      json list = json::array();
      for (const auto& s : srmds::io::list_dicom_series(argv[2]))
        list.push_back({{"uid", s.uid}, {"description", s.description}, {"slices", s.slices}});
      out = {{"ok", true}, {"series", list}};
    } else {
      std::fprintf(stderr, "dicom_tool: unknown command\n");
      return 2;
    }
  } catch (const srmds::Error& e) {
    out = {{"ok", false}, {"error", e.what()}};
  }
  std::cout << out.dump() << "\n";
  return 0;
}
