#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds (CPU and, where nvcc and cuDNN
# exist, the CUDA backend and its tests), runs every test with ctest, then builds the example
# consumer project against an install tree. Usage: scripts/run-tests.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${SRMDS_JOBS:-$(nproc)}

bash scripts/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRMDS_BUILD_TESTS=ON -DSRMDS_BUILD_BENCH=ON \
  -DSRMDS_BUILD_EXAMPLES=ON ${SRMDS_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
(cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 1500)

# The installed package works for another CMake project.
if [ -f examples/consumer/CMakeLists.txt ]; then
  rm -rf "$build/install" "$build/consumer"
  cmake --install "$build" --prefix "$build/install" >/dev/null
  cmake -S examples/consumer -B "$build/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$PWD/$build/install"
  cmake --build "$build/consumer" -j "$jobs"
  "$build/consumer/srmds_consumer"
fi
