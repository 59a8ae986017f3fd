#!/usr/bin/env bash
# run.sh of the GPU bundle on a machine without a GPU (CI, development machines): it ends within
# 30 s, exits 0, reports every step after `versions` as skipped with a reason, leaves at most 6
# files in its output folder (summary.json, summary.txt, logs.tar.gz), and summary.json is valid
# JSON naming every step. Skipped (77) when the bundle is absent (unless SRMDS_REQUIRE_GPU_BUNDLE=1)
# or when this machine has a usable GPU.
set -u
bundle=${SRMDS_GPU_BUNDLE_DIR:-${SRMDS_BINARY_DIR:-build}/gpu-bundle}
if [ ! -x "$bundle/run.sh" ]; then
  if [ "${SRMDS_REQUIRE_GPU_BUNDLE:-0}" = 1 ]; then
    echo "FAIL: no GPU bundle in $bundle"
    exit 1
  fi
  echo "no GPU bundle in $bundle; skipping"
  exit 77
fi
export LD_LIBRARY_PATH="${SRMDS_CUDNN_DIR:+$SRMDS_CUDNN_DIR:}${LD_LIBRARY_PATH:-}"
if "$bundle/bin/srmds_cuda_tests" --srmds-device-info >/dev/null 2>&1; then
  echo "this machine has a usable GPU: the no-GPU run does not apply; skipping"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_gpu_run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

t0=$(date +%s.%N)
"$bundle/run.sh" "$tmp/out" 420 >"$tmp/run.out" 2>&1
rc=$?
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
cat "$tmp/run.out"
echo "run.sh: exit $rc in $secs s"
[ "$rc" -eq 0 ] || fail "run.sh exited $rc"
awk -v s="$secs" 'BEGIN {exit !(s < 30)}' || fail "run.sh took $secs s (bound 30 s)"

files=$(find "$tmp/out" -mindepth 1 | sed "s|$tmp/out/||" | sort | tr '\n' ' ')
count=$(find "$tmp/out" -mindepth 1 | wc -l)
echo "OUTDIR: $files"
[ "$count" -le 6 ] || fail "$count entries in OUTDIR (at most 6): $files"
for f in summary.json summary.txt logs.tar.gz; do [ -s "$tmp/out/$f" ] || fail "$f missing"; done
tar -tzf "$tmp/out/logs.tar.gz" >/dev/null 2>&1 || fail "logs.tar.gz is not a gzip tar archive"
tail -1 "$tmp/run.out" | grep -q . || fail "run.sh printed nothing"
grep -q "^step " "$tmp/out/summary.txt" || fail "summary.txt has no table"

py=/usr/bin/python3
command -v "$py" >/dev/null 2>&1 || py=python3
"$py" - "$tmp/out/summary.json" "$bundle/run.sh" <<'PY' || fail "summary.json checks (above)"
import json, re, sys
s = json.load(open(sys.argv[1]))  # valid JSON, or this raises
groups = re.findall(r'^  "([a-z_0-9]+)\|', open(sys.argv[2]).read(), re.M)
expected = ["versions"] + ["parity:" + g for g in groups] + ["memcheck", "racecheck", "bench_ours", "bench_pytorch"]
names = [st["name"] for st in s["steps"]]
bad = []
if names != expected:
    bad.append("steps %s, expected %s" % (names, expected))
for st in s["steps"]:
    if st["name"] == "versions":
        if st["status"] != "ok":
            bad.append("versions: %s" % st["status"])
    elif st["status"] != "skipped" or not st["reason"].strip():
        bad.append("%s: status %r, reason %r (want skipped with a reason)" % (st["name"], st["status"], st["reason"]))
for key in ("cudnn", "nvidia-smi", "libraries missing"):
    if key not in s["info"]:
        bad.append("info has no %r" % key)
print("summary.json: %d steps, reasons: %s" % (len(names), sorted({st["reason"] for st in s["steps"][1:]})))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "run.sh without a GPU: OK"
