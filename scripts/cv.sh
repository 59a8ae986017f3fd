#!/usr/bin/env bash
# k-fold cross-validation of a training recipe on the 50 COVID-SemiSeg slices
# (../shared/data/covid-semiseg/train), the way to choose a recipe without a test set: the slices,
# in name order, are cut into k contiguous folds (neighbouring names tend to come from one patient,
# so contiguous folds keep a patient's slices together more often than interleaved ones would); each
# fold is held out once while `srmds train` trains on the others (no inner validation split: the
# last epoch's weights), then the held-out fold is scored twice, once as it is and once with flip
# test-time augmentation (--tta):
#   at model size: `srmds eval --json` (slices and masks resized to the model's input size), in
#     OUT/cv.tsv and OUT/cv_tta.tsv, with the micro Dice in the last column;
#   at the slices' own size: `srmds segment` writes each slice's mask and probability map at its
#     own size, as a user gets them and as the withheld test split is judged from outside, and
#     scripts/inf_net_score.py scores the maps against the radiologists' masks, in
#     OUT/cv_native.tsv and OUT/cv_native_tta.tsv, with the Dice of segment's mask (resized back
#     nearest, SPEC §8) in the last column.
# Prints one row per fold and the mean and sample standard deviation of each table in Inf-Net's
# metrics (Dice@0.5, meanDic, maxDic, meanSen, meanSpe, meanPre; SPEC §4).
#
# Usage: scripts/cv.sh [--data DIR] [--out DIR] [--folds K] [--quick] [--ensemble M] [--seed S] [train options...]
#   --folds K    number of folds (default 5)
#   --quick      2 epochs at 64 x 64, base 4 (the smoke test run by ctest)
#   --ensemble M models per fold (seeds S, S + 1, ...; default: the recipe's), scored by their mean
#                probability (OUT/fold*/model<k>.best.safetensors)
#   anything else is passed to `srmds train` (e.g. --augment default --ema 0.99 --seed 2),
#   replacing the recipe's value of an option the recipe sets (--size, --epochs, ...)
# Defaults: the recipe of scripts/covid-common.sh (run-covid-semiseg.sh's). Exit 77 when the data folder
# is absent.
# Uses $SRMDS_CLI when set, else builds srmds like scripts/run-demo.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/covid-common.sh"
data="$repo/../shared/data/covid-semiseg"
out=""
folds=5
quick=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --folds) folds=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) take_script_option "$@"
       if [ $taken -gt 0 ]; then shift $taken; else extra+=("$1"); shift; fi ;;
  esac
done
covid_setup "$data"
[ -n "$out" ] || out="$repo/build-release/cv"
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ $quick -eq 1 ] && recipe=(--size 64 --base 4 --epochs 2 --batch 4)
train_options "${extra[@]}"
settings=("${options[@]}")

stems=()
for img in "$data"/train/images/*.jpg; do stems+=("$(basename "$img" .jpg)"); done
n=${#stems[@]}
if ! [ "$folds" -ge 2 ] 2>/dev/null || [ "$folds" -gt "$n" ]; then
  echo "cv.sh: --folds must be in [2, $n], got $folds" >&2
  exit 2
fi
echo "cv: $n slices, $folds folds; train ${settings[*]}; $ensemble model(s) per fold, seeds $seed-$((seed + ensemble - 1))"
for t in cv cv_tta; do
  printf "fold\tslices\tdice@0.5\tmeanDic\tmaxDic\tmeanSen\tmeanSpe\tmeanPre\tmicroDice\n" > "$out/$t.tsv"
done
for t in cv_native cv_native_tta; do
  printf "fold\tslices\tdice@0.5\tmeanDic\tmaxDic\tmeanSen\tmeanSpe\tmeanPre\tmaskDice\n" > "$out/$t.tsv"
done
# tsv_row JSON: fold $f's row of a table from `srmds eval --json` (Inf-Net's figures under
# "inf_net", then the micro Dice) or from inf_net_score.py (the same keys, then segment's mask Dice).
tsv_row() {
  /usr/bin/python3 - "$1" "$f" "$((hi - lo))" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
v = m.get("inf_net", m)
last = m["micro"]["dice"] if "micro" in m else m["mask_dice"]
print("\t".join([sys.argv[2], sys.argv[3]] + ["%.4f" % x for x in (
    v["dice_at_half"], v["mean_dice"], v["max_dice"], v["mean_sensitivity"], v["mean_specificity"],
    v["mean_precision"], last)]))
EOF
}

start=$(date +%s)
for ((f = 0; f < folds; f++)); do
  lo=$((f * n / folds)) hi=$(((f + 1) * n / folds))
  dir="$out/fold$f"
  rm -rf "$dir"
  for part in train test; do mkdir -p "$dir/$part/images" "$dir/$part/masks"; done
  for ((i = 0; i < n; i++)); do
    part=train
    [ $i -ge $lo ] && [ $i -lt $hi ] && part=test
    ln -s "$data/train/images/${stems[i]}.jpg" "$dir/$part/images/${stems[i]}.jpg"
    ln -s "$data/train/masks/${stems[i]}.png" "$dir/$part/masks/${stems[i]}.png"
  done
  train_ensemble "$dir/model" --images "$dir/train/images" --masks "$dir/train/masks" --log-every 100000 > "$dir/train.log"
  for t in cv cv_tta; do
    tta=()
    [ $t = cv_tta ] && tta=(--tta)
    "$cli" eval --model "$models" --images "$dir/test/images" --masks "$dir/test/masks" \
      --json "$dir/$t.json" "${tta[@]}" > "$dir/$t.txt"
    tsv_row "$dir/$t.json" >> "$out/$t.tsv"
  done
  for t in cv_native cv_native_tta; do
    tta=()
    [ $t = cv_native_tta ] && tta=(--tta)
    mkdir -p "$dir/$t/masks" "$dir/$t/prob"
    "$cli" segment --model "$models" --input "$dir/test/images" --output "$dir/$t/masks" \
      --prob-out "$dir/$t/prob" "${tta[@]}" > "$dir/$t.txt"
    /usr/bin/python3 "$repo/scripts/inf_net_score.py" "$dir/$t/prob" "$dir/test/masks" "$dir/$t/masks" \
      --json "$dir/$t.json" >> "$dir/$t.txt"
    tsv_row "$dir/$t.json" >> "$out/$t.tsv"
  done
  echo "fold $f: Dice@0.5, meanDic $(tail -1 "$out/cv.tsv" | cut -f3-4 | tr '\t' ' '); with TTA $(tail -1 "$out/cv_tta.tsv" | cut -f3-4 | tr '\t' ' ');" \
    "at the slices' size $(tail -1 "$out/cv_native.tsv" | cut -f3-4 | tr '\t' ' '), with TTA $(tail -1 "$out/cv_native_tta.tsv" | cut -f3-4 | tr '\t' ' ')"
done
for t in cv cv_tta cv_native cv_native_tta; do
  case $t in
    cv) echo "held-out folds, at model size:" ;;
    cv_tta) echo "held-out folds, at model size, flip TTA:" ;;
    cv_native) echo "held-out folds, at the slices' own size (srmds segment):" ;;
    cv_native_tta) echo "held-out folds, at the slices' own size (srmds segment), flip TTA:" ;;
  esac
  /usr/bin/python3 - "$out/$t.tsv" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
head, body = rows[0], rows[1:]
cols = list(zip(*[[float(x) for x in r[2:]] for r in body]))
print("%-8s %6s " % ("fold", "slices") + " ".join("%9s" % h for h in head[2:]))
for r in body:
    print("%-8s %6s " % (r[0], r[1]) + " ".join("%9s" % x for x in r[2:]))
print("%-8s %6s " % ("mean", "") + " ".join("%9.4f" % statistics.mean(c) for c in cols))
if len(body) > 1:
    print("%-8s %6s " % ("sd", "") + " ".join("%9.4f" % statistics.stdev(c) for c in cols))
EOF
done
echo "cv: $(($(date +%s) - start)) s; folds in $out (cv.tsv, cv_tta.tsv, cv_native.tsv, cv_native_tta.tsv, fold*/)"
