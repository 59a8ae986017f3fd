#!/usr/bin/env bash
# The GPU check (see /work/shared/GPU.md, step 2): run on the GPU machine from the project root
# with a build folder made on the development machine.
#
#   scripts/gpu-check.sh OUTDIR
#
# Environment: SRMDS_BUILD_DIR (default build-gpu), SRMDS_PYTHON (default python3),
# SRMDS_MEMCHECK_TEST (default test_cuda_pool_resize), SRMDS_BENCH_ARGS (extra Google Benchmark args).
# Steps: locate libcudnn.so.9 and cuBLAS (ldd's missing sonames, searched in the usual places and
# inside Python environments, e.g. site-packages/nvidia/*/lib) and set LD_LIBRARY_PATH; print
# nvidia-smi and the versions; run the CUDA ctest entries; run one parity test under
# compute-sanitizer memcheck; run the benchmarks if present (bench_* with JSON output,
# bench/compare_pytorch.py); write logs and summary.json to OUTDIR; print a short table last.
# Exit status: non-zero when a CUDA test fails or memcheck reports errors; optional pieces that
# are missing are reported, not fatal.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
root=$(pwd)
build=${SRMDS_BUILD_DIR:-build-gpu}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
python=${SRMDS_PYTHON:-python3}
memcheck_test=${SRMDS_MEMCHECK_TEST:-test_cuda_pool_resize}
log() { echo "[gpu-check] $*" | tee -a "$out/gpu-check.log"; }
: >"$out/gpu-check.log"

# ---- 1. device ----------------------------------------------------------------------------
gpu_name=unknown
driver=unknown
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi 2>&1 | tee "$out/nvidia-smi.txt"
  gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
else
  log "nvidia-smi not found"
fi

# ---- 2. libraries -------------------------------------------------------------------------
if [ ! -d "$build/tests" ]; then
  log "build folder $build/tests not found (set SRMDS_BUILD_DIR)"
  exit 2
fi
probe=$(ls "$build"/tests/test_cuda_* 2>/dev/null | head -1)
if [ -z "$probe" ]; then
  log "no CUDA test executables in $build/tests (configure with -DSRMDS_WITH_CUDA=ON)"
  exit 2
fi

candidate_dirs() {
  echo /usr/local/cuda/lib64
  echo /usr/local/cuda/targets/x86_64-linux/lib
  echo /usr/lib/x86_64-linux-gnu
  ls -d /usr/local/cuda-*/lib64 2>/dev/null
  ls -d /opt/conda/lib 2>/dev/null
  for py in "$python" python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    "$py" - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("-packages")])
for r in sorted(roots):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))) + sorted(glob.glob(os.path.join(r, "torch", "lib"))):
        print(d)
PY
  done
}

missing=$(ldd "$probe" 2>/dev/null | awk '/not found/ {print $1}')
declare -A found_dir=()
for soname in $missing; do
  dir=""
  while read -r d; do
    [ -n "$d" ] && [ -e "$d/$soname" ] && { dir=$d; break; }
  done < <(candidate_dirs)
  if [ -z "$dir" ]; then  # last resort: a bounded filesystem search
    hit=$(find / -xdev -name "$soname" -not -path '/proc/*' 2>/dev/null | head -1)
    [ -n "$hit" ] && dir=$(dirname "$hit")
  fi
  if [ -n "$dir" ]; then
    found_dir[$soname]=$dir
    case ":${LD_LIBRARY_PATH:-}:" in *":$dir:"*) ;; *) export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;; esac
    log "found $soname in $dir"
  else
    log "NOT FOUND: $soname"
  fi
done
ldd "$probe" >"$out/ldd.txt" 2>&1
still_missing=$(awk '/not found/ {print $1}' "$out/ldd.txt" | tr '\n' ' ')
lib_version() {  # real file name of the library the test binary resolves, e.g. libcudnn.so.9.10.2
  local path
  path=$(awk -v n="$1" '$1 ~ "^"n {print $3}' "$out/ldd.txt" | head -1)
  [ -n "$path" ] && [ -e "$path" ] && basename "$(readlink -f "$path")" || echo "not found"
}
cudnn_version=$(lib_version libcudnn.so)
cublas_version=$(lib_version libcublas.so)
# The versions the loader actually gives us, asked from the libraries themselves.
for py in "$python" python3; do
  command -v "$py" >/dev/null 2>&1 || continue
  v=$("$py" -c 'import ctypes; print(ctypes.CDLL("libcudnn.so.9").cudnnGetVersion())' 2>/dev/null) &&
    cudnn_version="$cudnn_version (cudnnGetVersion $v)"
  cublas_so=$(awk '$1 ~ /^libcublas\.so/ {print $1}' "$out/ldd.txt" | head -1)
  [ -n "$cublas_so" ] && v=$("$py" -c 'import ctypes, sys
lib = ctypes.CDLL(sys.argv[1]); v = []
for k in range(3):
    x = ctypes.c_int(); lib.cublasGetProperty(k, ctypes.byref(x)); v.append(str(x.value))
print(".".join(v))' "$cublas_so" 2>/dev/null) && cublas_version="$cublas_version ($v)"
  break
done
log "GPU: $gpu_name, driver $driver"
log "cuDNN: $cudnn_version, cuBLAS: $cublas_version"
log "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
[ -n "$still_missing" ] && log "libraries still missing: $still_missing"

# ---- 3. CUDA parity tests -----------------------------------------------------------------
ctest_status=missing
passed=0; failed=0; skipped=0
# ctest only when the build folder's test files name this location (a copied build folder keeps
# the paths of the machine it was configured on); otherwise run the executables directly.
if command -v ctest >/dev/null 2>&1 && grep -qF "$build" "$build/tests/CTestTestfile.cmake" 2>/dev/null; then
  (cd "$build" && timeout 1200 ctest -R '^test_cuda' --output-on-failure --timeout 600 \
     --output-junit "$out/ctest-junit.xml") >"$out/ctest.log" 2>&1
  ctest_rc=$?
  passed=$(grep -cE 'Test +#[0-9]+: .*[ .]Passed' "$out/ctest.log")
  failed=$(grep -cE 'Test +#[0-9]+: .*(\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run|SEGFAULT|Child aborted)' "$out/ctest.log")
  skipped=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$out/ctest.log")
  if [ "$ctest_rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then ctest_status=ok; else ctest_status=FAILED; fi
  # On a GPU machine a skipped CUDA test means the device or a library was not usable.
  [ "$skipped" -gt 0 ] && ctest_status=FAILED
else
  : >"$out/ctest.log"
  for t in "$build"/tests/test_cuda_*; do
    [ -x "$t" ] || continue
    (cd "$build/tests" && SRMDS_SOURCE_DIR=$root SRMDS_BINARY_DIR=$build timeout 600 "$t") >>"$out/ctest.log" 2>&1
    rc=$?
    case $rc in 0) passed=$((passed + 1)) ;; 77) skipped=$((skipped + 1)) ;; *) failed=$((failed + 1)) ;; esac
    echo "$(basename "$t"): exit $rc" | tee -a "$out/ctest.log"
  done
  if [ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ] && [ "$passed" -gt 0 ]; then ctest_status=ok; else ctest_status=FAILED; fi
fi
log "CUDA tests: $passed passed, $failed failed, $skipped skipped -> $ctest_status (log: ctest.log)"

# ---- 4. memcheck --------------------------------------------------------------------------
memcheck_status=missing
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ -n "$sanitizer" ] && [ -x "$build/tests/$memcheck_test" ]; then
  timeout 900 "$sanitizer" --tool memcheck --leak-check full --error-exitcode 99 \
    "$build/tests/$memcheck_test" >"$out/memcheck.log" 2>&1
  rc=$?
  case $rc in 0) memcheck_status=ok ;; 124) memcheck_status=TIMEOUT ;; *) memcheck_status="FAILED(exit $rc)" ;; esac
  log "memcheck on $memcheck_test: $memcheck_status ($(grep -m1 'ERROR SUMMARY' "$out/memcheck.log"))"
else
  log "memcheck skipped: compute-sanitizer or $memcheck_test not found"
fi

# ---- 5. benchmarks (optional) -------------------------------------------------------------
bench_rows=()
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  name=$(basename "$b")
  timeout 600 "$b" --benchmark_format=json --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    ${SRMDS_BENCH_ARGS:-} >"$out/$name.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] && bench_rows+=("$name ok") || bench_rows+=("$name FAILED(exit $rc)")
  log "benchmark $name: exit $rc (json: $name.json)"
done
[ ${#bench_rows[@]} -eq 0 ] && log "no benchmark programs in $build/bench (optional)"
compare_status=missing
if [ -f bench/compare_pytorch.py ]; then
  args=()
  grep -q -- '--out' bench/compare_pytorch.py && args+=(--out "$out/compare_pytorch.json")
  SRMDS_BUILD_DIR=$build timeout 900 "$python" bench/compare_pytorch.py "${args[@]}" >"$out/compare_pytorch.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] && compare_status=ok || compare_status="FAILED(exit $rc)"
  log "bench/compare_pytorch.py: $compare_status (log: compare_pytorch.log)"
else
  log "bench/compare_pytorch.py not present (optional)"
fi

# ---- 6. summary ---------------------------------------------------------------------------
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
{
  printf '{\n'
  printf '  "gpu": "%s",\n  "driver": "%s",\n' "$(json_escape "$gpu_name")" "$(json_escape "$driver")"
  printf '  "cudnn": "%s",\n  "cublas": "%s",\n' "$(json_escape "$cudnn_version")" "$(json_escape "$cublas_version")"
  printf '  "ld_library_path": "%s",\n' "$(json_escape "${LD_LIBRARY_PATH:-}")"
  printf '  "cuda_tests": {"status": "%s", "passed": %d, "failed": %d, "skipped": %d},\n' \
    "$ctest_status" "$passed" "$failed" "$skipped"
  printf '  "memcheck": {"test": "%s", "status": "%s"},\n' "$memcheck_test" "$(json_escape "$memcheck_status")"
  printf '  "benchmarks": ['
  sep=""
  for r in "${bench_rows[@]}"; do
    printf '%s{"name": "%s", "status": "%s", "json": "%s.json"}' "$sep" "${r%% *}" "${r#* }" "${r%% *}"
    sep=", "
  done
  printf '],\n'
  printf '  "compare_pytorch": "%s"\n' "$(json_escape "$compare_status")"
  printf '}\n'
} >"$out/summary.json"

echo
echo "==== srmds gpu-check summary ($out) ===="
printf '%-22s %s\n' "GPU" "$gpu_name (driver $driver)"
printf '%-22s %s\n' "cuDNN / cuBLAS" "$cudnn_version / $cublas_version"
printf '%-22s %s\n' "CUDA tests" "$ctest_status ($passed passed, $failed failed, $skipped skipped)"
printf '%-22s %s\n' "memcheck" "$memcheck_status ($memcheck_test)"
for r in "${bench_rows[@]}"; do printf '%-22s %s\n' "${r%% *}" "${r#* }"; done
printf '%-22s %s\n' "compare_pytorch" "$compare_status"

[ "$ctest_status" = ok ] && { [ "$memcheck_status" = ok ] || [ "$memcheck_status" = missing ]; }
