#!/usr/bin/env bash
# Installs the Debian packages srmds needs (the single list of them). Idempotent: runs
# `apt-get update` once and installs only what is missing. Set SRMDS_NO_PYTHON=1 to skip the
# PyTorch/nibabel packages used by the interop tests and the benchmark comparison. clang and its
# libFuzzer/OpenMP runtimes build the fuzz targets (scripts/fuzz.sh).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libeigen3-dev catch2 libbenchmark-dev
  libnifti2-dev zlib1g-dev
  nlohmann-json3-dev libcli11-dev libstb-dev
  clang libclang-rt-14-dev libomp-14-dev
  libgdcm-dev dcm2niix
  libdcmtk-dev dicom3tools
  libonnx-dev libprotobuf-dev  # optional: srmds export (SRMDS_WITH_ONNX)
  libopenmpi-dev openmpi-bin   # optional: data-parallel srmds train under mpirun (SRMDS_WITH_MPI)
)
if [ "${SRMDS_NO_PYTHON:-0}" != "1" ]; then
  packages+=(python3 python3-numpy python3-torch python3-nibabel python3-pydicom)
  packages+=(python3-onnx)  # tests/test_onnx_export.py: the ONNX checker
  packages+=(python3-venv)  # tests/test_dicom_seg.py reads the SEG back with highdicom from PyPI in a venv
  packages+=(python3-pil)   # scripts/inf_net_score.py (scripts/cv.sh): reads the PNG maps srmds segment writes
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
