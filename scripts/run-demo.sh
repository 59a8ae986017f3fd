#!/usr/bin/env bash
# The main job: installs what is missing, builds in Release and runs `srmds demo` (arguments are
# passed through, e.g. --quick or --device cuda). Usage: scripts/run-demo.sh [demo args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SRMDS_BUILD_DIR:-build-release}

SRMDS_NO_PYTHON=1 bash scripts/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRMDS_BUILD_TESTS=OFF -DSRMDS_BUILD_BENCH=OFF \
  -DSRMDS_BUILD_EXAMPLES=OFF ${SRMDS_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)" --target srmds_cli
"$build/apps/srmds/srmds" demo "$@"
