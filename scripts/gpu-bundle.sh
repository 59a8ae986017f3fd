#!/usr/bin/env bash
# Builds the GPU bundle (../shared/GPU.md): a self-contained folder that one device call can carry
# (at most 40 MiB) and run with `OUTDIR/run.sh RESULTS [SECONDS]` on a machine that has the CUDA
# driver, cuDNN 9 (anywhere: run.sh searches for it) and, for the comparison, a Python with PyTorch.
#
#   scripts/gpu-bundle.sh OUTDIR
#
# Contents:
#   bin/srmds_cuda_tests   every CUDA parity test (tests/cuda/*.cpp) in one Catch2 program
#   bin/srmds_cuda_bench   the self-timed GPU benchmark (bench/cuda_bench.cpp)
#   run.sh                 scripts/gpu-run.sh
#   cuda_torch_bench.py    the PyTorch side of the benchmark, and srmds_torch.py, the model it runs
#   MANIFEST               commit, build flags, sizes, the newest glibc symbol version needed
# Build: its own folder (SRMDS_BUNDLE_BUILD_DIR, default build-gpu-bundle), Release, sm_90, every
# kernel with -lineinfo, and portable CPU code (-DSRMDS_NATIVE=OFF: the GPU host is another
# processor; the CPU side only computes the parity references), without MPI (the GPU machine may
# have none; NCCL is still built and tested with one process). Only the two programs are built
# (ccache is used when present). Both are linked statically to libstdc++, libgomp and the CUDA
# runtime, leave only glibc (2.34 or newer), cuDNN (libcudnn.so.9) and libgcc_s (which cuDNN needs
# itself) to the machine (the CUDA driver is loaded by the runtime), carry no RPATH, and are
# stripped (the kernels' line tables stay in the fatbin). tests/test_gpu_bundle.sh checks all of
# that with ldd, readelf, objdump and the size bound.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
case "$out" in "$root" | "$root/" | / ) echo "$0: refusing to fill $out" >&2; exit 2 ;; esac
build=${SRMDS_BUNDLE_BUILD_DIR:-$root/build-gpu-bundle}
jobs=${SRMDS_JOBS:-$(nproc)}
limit_mib=40

launchers=()
if command -v ccache >/dev/null 2>&1; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRMDS_WITH_CUDA=ON -DSRMDS_WITH_MPI=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DSRMDS_NATIVE=OFF -DSRMDS_BUILD_TESTS=ON -DSRMDS_BUILD_BENCH=ON \
  -DSRMDS_BUILD_APPS=OFF -DSRMDS_BUILD_EXAMPLES=OFF "${launchers[@]}" >"$build/gpu-bundle-configure.log" 2>&1 ||
  { cat "$build/gpu-bundle-configure.log" >&2; exit 1; }
cmake --build "$build" -j "$jobs" --target srmds_cuda_tests srmds_cuda_bench

# Fill OUTDIR afresh with the bundle's files only.
rm -rf "$out/bin" "$out/run.sh" "$out/cuda_torch_bench.py" "$out/srmds_torch.py" "$out/MANIFEST"
mkdir -p "$out/bin"
strip --strip-all -o "$out/bin/srmds_cuda_tests" "$build/tests/srmds_cuda_tests"
strip --strip-all -o "$out/bin/srmds_cuda_bench" "$build/bench/srmds_cuda_bench"
install -m 755 scripts/gpu-run.sh "$out/run.sh"
install -m 755 bench/cuda_torch_bench.py "$out/cuda_torch_bench.py"
install -m 644 python/srmds_torch.py "$out/srmds_torch.py"

glibc_max=$(objdump -T "$out"/bin/* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -u | tail -1)
size_kib=$(du -sk "$out" | cut -f1)
{
  echo "srmds GPU bundle"
  echo "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo '+changes')"
  echo "built $(date -u +%FT%TZ) on $(uname -n)"
  echo "flags Release sm_90 -lineinfo SRMDS_NATIVE=OFF; static libstdc++/libgomp/cudart"
  echo "needs glibc >= ${glibc_max#GLIBC_}, libcudnn.so.9 (and its libgcc_s), the CUDA driver"
  echo "size ${size_kib} KiB"
} >"$out/MANIFEST"

if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then
  echo "$0: bundle is ${size_kib} KiB, over the ${limit_mib} MiB bound" >&2
  exit 1
fi
echo "gpu-bundle: $out (${size_kib} KiB): $(ls "$out" | tr '\n' ' ')"
