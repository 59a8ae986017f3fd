#!/usr/bin/env bash
# The real-data example: trains SR&MDS-Net on 40 of the 50 real CT slices of COVID-SemiSeg
# (../shared/data/covid-semiseg/train: 8-bit JPEG slices, PNG infection masks), validates on the
# other 10 (every fifth slice in name order) and prints sensitivity, specificity, precision and
# Dice, micro and as the mean per slice, and writes overlays of the 10 (red: prediction, green:
# radiologists' mask).
#
# Usage: scripts/run-covid-semiseg.sh [--data DIR] [--out DIR] [--quick] [--all] [--ensemble M] [--seed S]
#        [train options...]
#   --data DIR   the covid-semiseg folder (default: ../shared/data/covid-semiseg from the repository)
#   --out DIR    results (default: build-release/covid-semiseg): split/ (links to the slices),
#                model<k>.safetensors (checkpoints) and model<k>.best.safetensors (the last epoch's
#                weights) for each model k of the ensemble, eval.txt, overlays/
#   --quick      2 epochs at 64 x 64, base 4 (the smoke test run by ctest)
#   --all        then train once more, with the same settings, on all 50 slices: all<k>.best.safetensors
#                (a model for new slices: srmds segment --model all0.best.safetensors,all1...;
#                nothing is left to validate it on)
#   --ensemble M models (seeds S, S + 1, ...; default: the recipe's), evaluated by their mean probability
#   --seed S     the first model's seed (default 0)
#   anything else is passed to `srmds train` (e.g. --seed 2 --lr 1e-3), replacing the recipe's
#   value of an option the recipe sets (--size, --base, --epochs, --batch, ...)
# Exit 77 when the data folder is absent. Uses $SRMDS_CLI when set, else builds srmds like
# scripts/run-demo.sh. The recipe is scripts/covid-common.sh's (scripts/cv.sh cross-validates it; see
# README for its figures and time).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/covid-common.sh"
data="$repo/../shared/data/covid-semiseg"
out=""
quick=0
all=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --all) all=1; shift ;;
    *) take_script_option "$@"
       if [ $taken -gt 0 ]; then shift $taken; else extra+=("$1"); shift; fi ;;
  esac
done
covid_setup "$data"
[ -n "$out" ] || out="$repo/build-release/covid-semiseg"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The split: every fifth slice (in name order) for validation, by links (the data is not copied).
rm -rf "$out/split" "$out/overlays"
for part in train val; do mkdir -p "$out/split/$part/images" "$out/split/$part/masks"; done
i=0
for img in "$data"/train/images/*.jpg; do
  stem=$(basename "$img" .jpg)
  part=train
  [ $((i % 5)) -eq 4 ] && part=val
  ln -s "$img" "$out/split/$part/images/$stem.jpg"
  ln -s "$data/train/masks/$stem.png" "$out/split/$part/masks/$stem.png"
  i=$((i + 1))
done
echo "covid-semiseg: $(ls "$out/split/train/images" | wc -l) training slices, $(ls "$out/split/val/images" | wc -l) validation slices ($(ls "$out/split/val/images" | tr '\n' ' '))"

[ $quick -eq 1 ] && recipe=(--size 64 --base 4 --epochs 2 --batch 4)
train_options "${extra[@]}"
settings=("${options[@]}")
echo "covid-semiseg: ${settings[*]}; $ensemble model(s), seeds $seed-$((seed + ensemble - 1))"
start=$(date +%s)
train_ensemble "$out/model" --images "$out/split/train/images" --masks "$out/split/train/masks" --log-every 20
"$cli" eval --model "$models" --images "$out/split/val/images" --masks "$out/split/val/masks" \
  --per-image --png-dir "$out/overlays" | tee "$out/eval.txt"
end=$(date +%s)
echo "covid-semiseg: $((end - start)) s for training and validation; model $models, overlays in $out/overlays"
if [ $all -eq 1 ]; then
  start=$(date +%s)
  train_ensemble "$out/all" --images "$data/train/images" --masks "$data/train/masks" --log-every 20
  echo "covid-semiseg: $(($(date +%s) - start)) s; the model of all 50 slices: --model $models"
fi
