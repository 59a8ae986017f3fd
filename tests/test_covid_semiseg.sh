#!/usr/bin/env bash
# The real-data scripts in short (SPEC §7, README "Real data"), on ../shared/data/covid-semiseg:
# scripts/run-covid-semiseg.sh --quick (2 epochs at 64 x 64, base 4): 40 training and 10 validation
# slices, a metrics table and 10 overlays; scripts/cv.sh --quick --folds 3 --ensemble 2: three folds
# of 16-17 held-out slices, two models each (seeds 4 and 5) scored by their mean probability in
# Inf-Net's metrics with and without TTA, at model size and at
# the slices' own size, and the mean and standard deviation rows; and scripts/inf_net_score.py (the
# native-size scorer, written from main.m) against `srmds eval` where the two must agree: slices
# and masks already at model size, so that nothing is resized. Skipped (exit 77) with a message
# when the data folder or the binary is absent.
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
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_covid.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
SRMDS_CLI=$cli bash "$src/scripts/run-covid-semiseg.sh" --data "$data" --out "$tmp" --quick > "$tmp/log.txt" 2>&1
rc=$?
cat "$tmp/log.txt" | grep -v "step " | tail -30
[ $rc -eq 0 ] || { echo "FAIL: run-covid-semiseg.sh exited $rc"; exit 1; }
failures=0
grep -q "40 training slices, 10 validation slices" "$tmp/log.txt" || { echo "FAIL: not a 40/10 split"; failures=$((failures + 1)); }
grep -qE "^dice +[0-9.]+ %" "$tmp/log.txt" || { echo "FAIL: no Dice row"; failures=$((failures + 1)); }
grep -qE "^sensitivity" "$tmp/log.txt" || { echo "FAIL: no sensitivity row"; failures=$((failures + 1)); }
[ "$(ls "$tmp/overlays" | wc -l)" -eq 10 ] || { echo "FAIL: expected 10 overlays"; failures=$((failures + 1)); }
[ -f "$tmp/model0.best.safetensors" ] || { echo "FAIL: no model"; failures=$((failures + 1)); }

SRMDS_CLI=$cli bash "$src/scripts/cv.sh" --data "$data" --out "$tmp/cv" --quick --folds 3 --ensemble 2 --seed 4 > "$tmp/cv.txt" 2>&1
rc=$?
tail -16 "$tmp/cv.txt"
[ $rc -eq 0 ] || { echo "FAIL: cv.sh exited $rc"; exit 1; }
for t in cv cv_tta cv_native cv_native_tta; do
  [ "$(grep -cE '^[0-2]	1[67]	' "$tmp/cv/$t.tsv")" -eq 3 ] || { echo "FAIL: expected 3 folds of 16-17 slices in $t.tsv"; failures=$((failures + 1)); }
done
[ "$(grep -cE '^(mean|sd) +' "$tmp/cv.txt")" -eq 8 ] || { echo "FAIL: expected mean and sd rows, with and without TTA, at both sizes"; failures=$((failures + 1)); }
for f in 0 1 2; do
  grep -q "Inf-Net metrics over 1[67] slices" "$tmp/cv/fold$f/cv_tta.txt" || { echo "FAIL: fold $f eval"; failures=$((failures + 1)); }
  grep -q "ensemble of 2 models" "$tmp/cv/fold$f/cv.txt" || { echo "FAIL: fold $f not scored as an ensemble of 2"; failures=$((failures + 1)); }
  [ "$(grep -c "^training " "$tmp/cv/fold$f/train.log")" -eq 2 ] && ! cmp -s "$tmp/cv/fold$f/model0.best.safetensors" \
    "$tmp/cv/fold$f/model1.best.safetensors" || { echo "FAIL: fold $f: not two different models"; failures=$((failures + 1)); }
  for img in "$tmp/cv/fold$f/test/images/"*; do  # held-out slices are not trained on
    [ ! -e "$tmp/cv/fold$f/train/images/$(basename "$img")" ] || { echo "FAIL: $(basename "$img") in both"; failures=$((failures + 1)); }
  done
done
# The scorer against srmds eval: fold 0's held-out slices and masks at the quick recipe's 64 x 64
# (PNG, bilinear and nearest), so that eval (at model size) and segment (at the slices' size) see
# the same pixels. Both threshold 8-bit maps exactly, so they agree to rounding.
same=$tmp/same
mkdir -p "$same/images" "$same/masks"
/usr/bin/python3 - "$tmp/cv/fold0/test" "$same" <<'EOF'
import os, sys
from PIL import Image
src, dst = sys.argv[1:]
for name in sorted(os.listdir(os.path.join(src, "images"))):
    stem = os.path.splitext(name)[0]
    Image.open(os.path.join(src, "images", name)).convert("L").resize((64, 64), Image.BILINEAR).save(
        os.path.join(dst, "images", stem + ".png"))
    Image.open(os.path.join(src, "masks", stem + ".png")).convert("L").resize((64, 64), Image.NEAREST).save(
        os.path.join(dst, "masks", stem + ".png"))
EOF
model=$tmp/cv/fold0/model0.best.safetensors
"$cli" eval --model "$model" --images "$same/images" --masks "$same/masks" --json "$same/eval.json" > /dev/null &&
  "$cli" segment --model "$model" --input "$same/images" --output "$same/out" --prob-out "$same/prob" > /dev/null &&
  /usr/bin/python3 "$src/scripts/inf_net_score.py" "$same/prob" "$same/masks" --json "$same/score.json" &&
  /usr/bin/python3 - "$same/eval.json" "$same/score.json" <<'EOF' || { echo "FAIL: inf_net_score.py and srmds eval disagree"; failures=$((failures + 1)); }
import json, sys
a = json.load(open(sys.argv[1]))["inf_net"]
b = json.load(open(sys.argv[2]))
keys = [k for k in a if k in b and k != "slices"]
worst = max(abs(a[k] - b[k]) for k in keys)
print("inf_net_score.py against srmds eval on %d slices: %d figures, largest difference %.2g" % (b["slices"], len(keys), worst))
sys.exit(0 if len(keys) == 9 and worst < 1e-6 else 1)
EOF
[ $failures -eq 0 ] || exit 1
echo "covid-semiseg quick runs: ok"
