#!/usr/bin/env bash
# libFuzzer runs of every reader (fuzz/): builds the fuzz targets in a separate CMake configuration
# with clang (CPU only, ASan + UBSan + libFuzzer), generates the seed corpora from the tests'
# fixtures (fuzz/make_fuzz_seeds.cpp) and runs each target for SECONDS (default 30) on one core.
# A crash, leak or UB report fails the script; the input is left as build-fuzz/crash-* (turn it
# into a regression test). Prints the executions per target. SRMDS_FUZZ_SEED (default 0: libFuzzer
# draws one) fixes the mutation sequence: the test command runs seed 1, so a CI run tries the first
# inputs of a local run with that seed, and a longer local run of it has checked them.
# Usage: scripts/fuzz.sh [SECONDS] [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${2:-build-fuzz}
jobs=${SRMDS_JOBS:-$(nproc)}
if ! command -v clang++ > /dev/null; then
  echo "fuzz.sh: clang++ not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
mkdir -p "$build"
cmake -S fuzz -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  ${SRMDS_FUZZ_CMAKE_ARGS:-} > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
targets="fuzz_nifti fuzz_safetensors fuzz_config fuzz_checkpoint fuzz_dicom fuzz_image2d"
cmake --build "$build" -j "$jobs" --target $targets make_fuzz_seeds
rm -rf "$build/seeds" "$build/corpus"
"$build/make_fuzz_seeds" "$build/seeds" > /dev/null
# Real CT from Debian's python3-pydicom, when installed, seeds the DICOM target too.
for f in CT_small.dcm dicomdirtests/98892001/CT5N/IM1; do
  src=$(/usr/bin/python3 -c "import pydicom.data, os; print(os.path.join(os.path.dirname(pydicom.data.__file__), 'test_files', '$f'))" 2>/dev/null || true)
  if [ -n "$src" ] && [ -f "$src" ]; then cp "$src" "$build/seeds/fuzz_dicom/$(basename "$f").dcm"; fi
done
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions="$PWD/tests/ubsan.supp"
export LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp"  # third-party leaks (GDCM)
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
status=0
summary=""
for t in $targets; do
  mkdir -p "$build/corpus/$t"
  log="$build/$t.log"
  if (cd "$build" && "./$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
        -seed="${SRMDS_FUZZ_SEED:-0}" \
        "corpus/$t" "seeds/$t") > "$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    tail -n 40 "$log"
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  summary+=$(printf '%-18s %-6s %10s executions in %ss\n' "$t" "$result" "$execs" "$seconds")$'\n'
done
printf '%s' "$summary"
exit $status
