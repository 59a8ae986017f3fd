# The harness of the hostile CLI scripts (tests/test_hostile*.sh), sourced by each: checks SRMDS_CLI
# (exit 77 when missing), makes $tmp (removed on exit, with any tmpfs mounted at $mounted), defines
# fail/pass/run/no_temps, and the fixtures: two 32 x 32 x 2 phantoms ($img/$msk, $imgs/$msks) and
# a model trained one epoch on them ($ck, best: $model; $tmp/model.orig, $tmp/img.orig: copies).
# A script ends with hostile_summary.
set -u
cli=${SRMDS_CLI:-}
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
  echo "SRMDS_CLI not set or not executable; skipping"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_hostile.XXXXXX")
mounted=""
cleanup() {
  [ -n "$mounted" ] && umount "$mounted" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

# run EXPECTED_RC NAME ARGS...: srmds ARGS must exit with EXPECTED_RC.
run() {
  local want=$1 name=$2
  shift 2
  "$cli" "$@" > "$tmp/out" 2> "$tmp/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "$name: exit $rc, expected $want: $(head -c 300 "$tmp/err")"
    return 1
  fi
  pass "$name (exit $rc) $(head -c 160 "$tmp/err")"
}
# no_temps DIR NAME: no temporary file of ours is left in DIR.
no_temps() {
  local left
  left=$(find "$1" -name '*srmds-tmp*' 2> /dev/null)
  if [ -n "$left" ]; then fail "$2: temporary files left: $left"; else pass "$2: no temporary file left"; fi
}

# ---- fixtures ---------------------------------------------------------------------------------
ph=$tmp/ph
"$cli" phantom --out "$ph" --count 2 --size 32 --slices 2 --seed 5 > /dev/null || { echo "phantom failed"; exit 1; }
img=$ph/phantom_000_image.nii.gz
msk=$ph/phantom_000_mask.nii.gz
imgs=$img,$ph/phantom_001_image.nii.gz
msks=$msk,$ph/phantom_001_mask.nii.gz
ck=$tmp/ck.safetensors
"$cli" train --images "$imgs" --masks "$msks" --out "$ck" --epochs 1 --batch 2 --base 4 --size 32 \
  --val-fraction 0.5 --seed 1 > /dev/null || { echo "train failed"; exit 1; }
model=$tmp/ck.best.safetensors
cp "$model" "$tmp/model.orig"
cp "$img" "$tmp/img.orig"

# hostile_summary: exit 1 when a case failed.
hostile_summary() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
  fi
  echo "all hostile cases passed"
}
