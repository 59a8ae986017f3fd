#!/usr/bin/env bash
# run.sh of the GPU bundle (scripts/gpu-run.sh) rehearsed without a GPU: a stand-in bundle whose
# programs are fakes (bash and Python scripts that pretend to be srmds_cuda_tests, srmds_cuda_bench,
# cuda_torch_bench.py and compute-sanitizer) that pass, fail, hang, crash or refuse the device on
# request. For each case: run.sh's exit status, the status of every step in summary.json, that it
# ends before its deadline, and that it leaves at most 6 files in its output folder. The fakes are
# copied without their executable bits (run.sh must set them), and the fake test program fails
# unless the parity steps run it with CUDA_LAUNCH_BLOCKING=1 and the sanitizer steps with
# SRMDS_CUDA_SMALL=1.
set -u
src=${SRMDS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_gpu_run_stub.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
command -v "$py" >/dev/null 2>&1 || py=python3
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# ---- the stand-in bundle ------------------------------------------------------------------------
b=$tmp/bundle
mkdir -p "$b/bin" "$tmp/tools" "$tmp/cudnn"
install -m 755 "$src/scripts/gpu-run.sh" "$b/run.sh"
echo "srmds GPU bundle (stand-in of tests/test_gpu_run_stub.sh)" >"$b/MANIFEST"
touch "$tmp/cudnn/libcudnn.so.9"  # what run.sh looks for (SRMDS_CUDNN_DIR)

cat >"$b/bin/srmds_cuda_tests" <<'EOF'
#!/usr/bin/env bash
# FAKE_FAIL / FAKE_HANG / FAKE_CRASH: the Catch test spec that fails, hangs or crashes
case "${1:-}" in
  --srmds-device-info) echo "device 0: stand-in GPU, compute capability 9.0"; exit 0 ;;
esac
spec=$1
echo "SRMDS_TEST_SEED=42 (set it to replay these inputs)"
if [ "${SRMDS_CUDA_SMALL:-}" != 1 ] && [ "${CUDA_LAUNCH_BLOCKING:-}" != 1 ]; then
  echo "parity step without CUDA_LAUNCH_BLOCKING=1"
  exit 3
fi
[ "$spec" = "${FAKE_FAIL:-}" ] && { echo "test cases: 2 | 1 passed | 1 failed"; exit 1; }
[ "$spec" = "${FAKE_HANG:-}" ] && exec sleep 600
[ "$spec" = "${FAKE_CRASH:-}" ] && kill -SEGV $$
echo "All tests passed (12 assertions in 2 test cases)"
EOF

cat >"$b/bin/srmds_cuda_bench" <<'EOF'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --weights-dir) weights=$2; shift 2 ;;
    *) shift ;;
  esac
done
echo stand-in >"$weights/b64_fused.safetensors"
echo '{"cases": [{"key": "infer_fused_b1_fp32", "status": "ok", "median_ms": 5.0}]}' >"$out"
EOF

cat >"$b/cuda_torch_bench.py" <<'EOF'
import json, sys
out = sys.argv[sys.argv.index("--out") + 1]
json.dump({"cases": [{"key": "infer_fused_b1_eager_fp32", "status": "ok", "median_ms": 4.0}]}, open(out, "w"))
EOF

cat >"$tmp/tools/compute-sanitizer" <<'EOF'
#!/usr/bin/env bash
# FAKE_SANITIZER=refuse: refuses the device, as compute-sanitizer may on an H200
if [ "${FAKE_SANITIZER:-}" = refuse ]; then
  echo "========= Error: Device not supported"
  exit 1
fi
while [ $# -gt 0 ]; do
  case "$1" in
    --tool | --error-exitcode | --print-limit | --leak-check) shift 2 ;;
    *) break ;;
  esac
done
[ "${SRMDS_CUDA_SMALL:-}" = 1 ] || { echo "sanitizer run without SRMDS_CUDA_SMALL=1"; exit 4; }
"$@"
rc=$?
echo "========= ERROR SUMMARY: 0 errors"
exit $rc
EOF
# Python without site-packages: no PyTorch to probe (quick and the same on every machine)
printf '#!/bin/sh\nexec %s -S "$@"\n' "$py" >"$tmp/tools/python"
chmod 755 "$tmp/tools/compute-sanitizer" "$tmp/tools/python"

# ---- the cases ----------------------------------------------------------------------------------
# run_case NAME DEADLINE WANT_EXIT EXPECTATIONS [VAR=VALUE...]
#   EXPECTATIONS: "step=status" pairs separated by ";"; "*" is every other step; a wanted status
#   "status:TEXT" also wants a reason containing TEXT.
run_case() {
  local name=$1 deadline=$2 want=$3 expect=$4
  shift 4
  local out=$tmp/out-$name
  chmod 644 "$b"/bin/* "$b/cuda_torch_bench.py"  # as a transfer may leave them
  local t0 t1 rc secs
  t0=$(date +%s.%N)
  env SRMDS_CUDNN_DIR="$tmp/cudnn" SRMDS_SANITIZER="$tmp/tools/compute-sanitizer" SRMDS_PYTHON="$tmp/tools/python" "$@" \
    "$b/run.sh" "$out" "$deadline" >"$tmp/run-$name.out" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
  echo "== case $name: exit $rc in $secs s (deadline $deadline s)"
  [ "$rc" -eq "$want" ] || { fail "$name: run.sh exited $rc, expected $want"; tail -25 "$tmp/run-$name.out"; }
  awk -v s="$secs" -v d="$deadline" 'BEGIN {exit !(s <= d)}' || fail "$name: run.sh took $secs s, past its $deadline s deadline"
  local count
  count=$(find "$out" -mindepth 1 | wc -l)
  [ "$count" -le 6 ] || fail "$name: $count entries in OUTDIR (at most 6): $(ls -A "$out" | tr '\n' ' ')"
  for f in summary.json summary.txt logs.tar.gz; do [ -s "$out/$f" ] || fail "$name: $f missing"; done
  "$py" - "$out/summary.json" "$b/run.sh" "$expect" <<'PY' || fail "$name: summary.json (above)"
import json, re, sys
s = json.load(open(sys.argv[1]))  # valid JSON, or this raises
groups = re.findall(r'^  "([a-z_0-9]+)\|', open(sys.argv[2]).read(), re.M)
names = ["versions"] + ["parity:" + g for g in groups] + ["memcheck", "racecheck", "bench_ours", "bench_pytorch"]
got = {st["name"]: st for st in s["steps"]}
want = dict(e.split("=", 1) for e in sys.argv[3].split(";"))
bad = []
if [st["name"] for st in s["steps"]] != names:
    bad.append("steps %s, expected %s" % ([st["name"] for st in s["steps"]], names))
for n in names:
    w = want.get(n, want.get("*"))
    status, _, text = w.partition(":")
    st = got.get(n, {})
    if st.get("status") != status or text not in st.get("reason", ""):
        bad.append("%s: status %r, reason %r; expected %r%s" % (n, st.get("status"), st.get("reason"), status,
                                                             " with %r" % text if text else ""))
if "result" not in got.get("bench_ours", {}) and want.get("bench_ours", want.get("*")) == "ok":
    bad.append("bench_ours: its result JSON is not in the summary")
for m in bad:
    print("  ", m)
sys.exit(1 if bad else 0)
PY
}

run_case pass 420 0 "*=ok"
run_case refused 420 0 "*=ok;memcheck=refused:not supported;racecheck=refused:not supported" FAKE_SANITIZER=refuse
run_case fail 420 1 "*=ok;parity:conv2d=failed:exit 1" "FAKE_FAIL=[conv2d]"
run_case crash 420 1 "*=ok;parity:se=failed:SIGSEGV" "FAKE_CRASH=[se]"
# The second parity step hangs: it is stopped at the global deadline (24 s less 8 s kept for the
# summary), every later step is skipped for lack of time (bench_pytorch: for lack of weights),
# and run.sh still ends within 24 s.
run_case hang 24 1 "*=skipped:global deadline;versions=ok;parity:context=ok;parity:relu_sigmoid=timeout;bench_pytorch=skipped" \
  "FAKE_HANG=[relu],[sigmoid]"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "run.sh with stand-in programs: OK"
