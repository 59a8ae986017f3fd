#!/usr/bin/env bash
# scripts/cv.sh --quick --folds 3 --tta (2 epochs at 64 x 64, base 4) on ../shared/data/covid-semiseg:
# three folds of 16/17/17 held-out slices, each evaluated in Inf-Net's metrics, and the mean and
# standard deviation rows. Skipped (exit 77) with a message when the data folder or the binary is
# absent.
set -u
cli=${SRMDS_CLI:-}
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
  echo "SRMDS_CLI not set or not executable; skipping"
  exit 77
fi
src=${SRMDS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
data=${SRMDS_COVID_SEMISEG:-$src/../shared/data/covid-semiseg}
if [ ! -d "$data/train/images" ]; then
  echo "skipped: the covid-semiseg data is not at $data (see README, Real CT)"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_cv.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
SRMDS_CLI=$cli bash "$src/scripts/cv.sh" --data "$data" --out "$tmp" --quick --folds 3 --tta > "$tmp/log.txt" 2>&1
rc=$?
tail -8 "$tmp/log.txt"
[ $rc -eq 0 ] || { echo "FAIL: cv.sh exited $rc"; exit 1; }
failures=0
[ "$(grep -cE '^[0-2]	1[67]	' "$tmp/cv.tsv")" -eq 3 ] || { echo "FAIL: expected 3 folds of 16-17 slices in cv.tsv"; failures=$((failures + 1)); }
grep -qE "^mean +" "$tmp/log.txt" || { echo "FAIL: no mean row"; failures=$((failures + 1)); }
grep -qE "^sd +" "$tmp/log.txt" || { echo "FAIL: no sd row"; failures=$((failures + 1)); }
grep -q "meanDic" "$tmp/log.txt" || { echo "FAIL: no meanDic column"; failures=$((failures + 1)); }
for f in 0 1 2; do
  grep -q "Inf-Net metrics over 1[67] slices" "$tmp/fold$f/eval.txt" || { echo "FAIL: fold $f eval"; failures=$((failures + 1)); }
  # The held-out slices are not among the fold's training slices.
  for img in "$tmp/fold$f/test/images/"*; do
    [ ! -e "$tmp/fold$f/train/images/$(basename "$img")" ] || { echo "FAIL: $(basename "$img") in both"; failures=$((failures + 1)); }
  done
done
[ $failures -eq 0 ] || exit 1
echo "cv quick run: ok"
