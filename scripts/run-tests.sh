#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds (CPU and, where nvcc and cuDNN
# exist, the CUDA backend and its tests, and the GPU bundle in <build-dir>/gpu-bundle), runs every
# test with ctest, then builds the example consumer project against an install tree; then the whole
# suite again in a CPU-only ASan + UBSan build (<build-dir>-asan; SRMDS_SANITIZE_RUN=0 skips it) and
# each libFuzzer target for SRMDS_FUZZ_SECONDS (default 30; 0 skips them, scripts/fuzz.sh) with
# SRMDS_FUZZ_SEED (default 1: the same inputs in every run). ccache is
# used when present. Usage: scripts/run-tests.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${SRMDS_JOBS:-$(nproc)}

bash scripts/install-deps.sh
launchers=()
if command -v ccache >/dev/null 2>&1; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRMDS_BUILD_TESTS=ON -DSRMDS_BUILD_BENCH=ON \
  -DSRMDS_BUILD_EXAMPLES=ON "${launchers[@]}" ${SRMDS_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"

# The GPU bundle, wherever the CUDA backend was built: tests/test_gpu_bundle.sh and
# tests/test_gpu_run_nogpu.sh check it (and fail, rather than skip, when it is missing).
build_abs=$(cd "$build" && pwd)
if [ -e "$build_abs/tests/test_cuda_context" ]; then
  SRMDS_BUNDLE_BUILD_DIR="$build_abs/gpu-bundle-build" SRMDS_JOBS="$jobs" bash scripts/gpu-bundle.sh "$build_abs/gpu-bundle"
  export SRMDS_REQUIRE_GPU_BUNDLE=1
fi
(cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 1500)

# The installed package works for another CMake project.
if [ -f examples/consumer/CMakeLists.txt ]; then
  rm -rf "$build/install" "$build/consumer"
  cmake --install "$build" --prefix "$build/install" >/dev/null
  cmake -S examples/consumer -B "$build/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$PWD/$build/install"
  cmake --build "$build/consumer" -j "$jobs"
  "$build/consumer/srmds_consumer"
fi

# The whole suite under AddressSanitizer + UBSan (CPU only): any report stops the test that hit it.
if [ "${SRMDS_SANITIZE_RUN:-1}" != "0" ]; then
  asan="$build-asan"
  supp="$PWD/tests/lsan.supp" ubsupp="$PWD/tests/ubsan.supp"
  cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRMDS_SANITIZE=ON -DSRMDS_WITH_CUDA=OFF \
    -DSRMDS_CPU_BASELINE_ONLY=ON "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" \
    -DSRMDS_BUILD_TESTS=ON -DSRMDS_BUILD_BENCH=OFF -DSRMDS_BUILD_EXAMPLES=OFF "${launchers[@]}"
  cmake --build "$asan" -j "$jobs"
  # Without SRMDS_REQUIRE_GPU_BUNDLE: the GPU bundle belongs to the CUDA build, its checks skip here.
  (cd "$asan" && ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1 \
     LSAN_OPTIONS=suppressions="$supp" UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions="$ubsupp" \
     env -u SRMDS_REQUIRE_GPU_BUNDLE ctest --output-on-failure -j "$jobs" --timeout 1500)
fi

# The readers under libFuzzer.
if [ "${SRMDS_FUZZ_SECONDS:-30}" != "0" ]; then
  SRMDS_FUZZ_SEED=${SRMDS_FUZZ_SEED:-1} bash scripts/fuzz.sh "${SRMDS_FUZZ_SECONDS:-30}" "$build-fuzz"
fi
