#!/usr/bin/env bash
# Hostile cases of `srmds train --resume` and of what train prints (issue 21, items 10, 11 and 17):
#   10  a resume with another --seed, --val-fraction, --batch, --lr, --ds, --dice-weight, --augment,
#       --ema (or any other option that shapes the run), another network option or other slices
#       is refused (exit 2) naming each change with the stored and the given value, and leaves the
#       checkpoint as it was; --epochs, --log-every and moved data are accepted; a checkpoint
#       without a run record resumes with a warning.
#   11  a resume already at --epochs trains and writes nothing and says so (refused when --out is
#       another file); every path train prints ("checkpoint:", "best weights:") exists afterwards,
#       also when no epoch of a resumed run beats the checkpoint's validation Dice.
. "$(dirname "$0")/support/hostile_common.sh"
py=/usr/bin/python3

d=$tmp/resume && mkdir -p "$d"
r=$d/r.safetensors
# resume WANT NAME ARGS...: continues a copy of $ck (trained as the fixture: --epochs 1 --batch 2
# --base 4 --size 32 --val-fraction 0.5 --seed 1) in place with the fixture's options, up to epoch 2;
# ARGS add options, and the variables im, mk, seed, vf, batch, epochs replace the fixture's values
# (an option given twice would be a parse error, not the refusal under test).
resume() {
  local want=$1 name=$2
  shift 2
  cp "$ck" "$r"
  run "$want" "$name" train --images "${im:-$imgs}" --masks "${mk:-$msks}" --out "$r" --resume "$r" \
    --epochs "${epochs:-2}" --batch "${batch:-2}" --val-fraction "${vf:-0.5}" --seed "${seed:-1}" "$@"
}
# printed_paths_exist NAME: every path of a "checkpoint:" or "best weights:" line of the last run exists.
printed_paths_exist() {
  local line path
  while IFS= read -r line; do
    case "$line" in
      "checkpoint: "*) path=${line#checkpoint: } ;;
      "best weights: not written"*) continue ;;
      "best weights: "*) path=${line#best weights: }; path=${path%% (*} ;;
      *) continue ;;
    esac
    [ -f "$path" ] || fail "$1: prints '$line' but $path does not exist"
  done < "$tmp/out"
}
# set_meta SRC DST KEY [VALUE]: DST is SRC with metadata KEY set to VALUE (removed without one).
set_meta() {
  $py - "$@" << 'EOF'
import json, struct, sys
src, dst, key = sys.argv[1:4]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
head = json.loads(b[8:8 + n])
if len(sys.argv) > 4: head["__metadata__"][key] = sys.argv[4]
else: del head["__metadata__"][key]
h = json.dumps(head).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + b[8 + n:])
EOF
}

# ---- 10: a changed option is refused, naming it with both values --------------------------------
for change in "--seed 2" "--val-fraction 0.3" "--batch 1" "--lr 0.001" "--ds off" "--dice-weight 0.25" \
              "--augment default" "--ema 0.9" "--warmup-epochs 1" "--weight-decay 0.01" "--target max" \
              "--no-flip" "--decoupled" "--base 8" "--window none"; do
  set -- $change
  case $1 in
    --seed) seed=$2 resume 2 "resume with $change" ;;
    --val-fraction) vf=$2 resume 2 "resume with $change" ;;
    --batch) batch=$2 resume 2 "resume with $change" ;;
    *) resume 2 "resume with $change" "$@" ;;
  esac
  grep -q -e "$1: " "$tmp/err" || fail "resume with $change: the message does not name $1: $(cat "$tmp/err")"
  grep -q "in the checkpoint" "$tmp/err" || fail "resume with $change: no stored value: $(cat "$tmp/err")"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "resume with $change: not one line on stderr: $(cat "$tmp/err")"
  cmp -s "$ck" "$r" || fail "resume with $change: the checkpoint changed"
done
seed=2 resume 2 "resume with --seed 2 --lr 0.001 --ema 0.5" --lr 0.001 --ema 0.5
grep -q -e "--seed: 1 in the checkpoint, 2 given" "$tmp/err" || fail "three changes: --seed not named with both values: $(cat "$tmp/err")"
grep -q -e "--lr: 0.0005 in the checkpoint, 0.001 given" "$tmp/err" || fail "three changes: --lr not named with both values: $(cat "$tmp/err")"
grep -q -e "--ema: 0 in the checkpoint, 0.5 given" "$tmp/err" || fail "three changes: --ema not named with both values: $(cat "$tmp/err")"

# Other slices: another data set, or the same volumes in another order (the split moves).
"$cli" phantom --out "$d/ph2" --count 2 --size 32 --slices 2 --seed 9 > /dev/null || fail "phantom ph2"
im=$d/ph2/phantom_000_image.nii.gz,$d/ph2/phantom_001_image.nii.gz mk=$d/ph2/phantom_000_mask.nii.gz,$d/ph2/phantom_001_mask.nii.gz \
  resume 2 "resume with other --images/--masks"
grep -q "training slices" "$tmp/err" || fail "other images: the training slices are not named: $(cat "$tmp/err")"
cmp -s "$ck" "$r" || fail "other images: the checkpoint changed"
im=${imgs#*,},${imgs%%,*} mk=${msks#*,},${msks%%,*} resume 2 "resume with the volumes in another order"
grep -q "slices" "$tmp/err" || fail "other order: the slices are not named: $(cat "$tmp/err")"

# ---- 10: what may change ----------------------------------------------------------------------
epochs=3 resume 0 "resume with --epochs 3 and --log-every 1" --log-every 1
grep -q "epoch 3/3 done" "$tmp/out" || fail "resume --epochs 3: did not train to epoch 3"
printed_paths_exist "resume --epochs 3"
cp -r "$ph" "$d/moved"
m=$d/moved
im=$m/phantom_000_image.nii.gz,$m/phantom_001_image.nii.gz mk=$m/phantom_000_mask.nii.gz,$m/phantom_001_mask.nii.gz \
  resume 0 "resume with the data set moved"
if $py -c "" 2> /dev/null; then
  set_meta "$ck" "$d/old.safetensors" run
  cp "$d/old.safetensors" "$r"
  run 0 "resume a checkpoint without a run record" train --images "$imgs" --masks "$msks" --out "$r" --resume "$r" \
    --epochs 2 --batch 2 --val-fraction 0.5 --seed 1
  grep -q "warning: .*records no run options" "$tmp/err" || fail "old checkpoint: no warning: $(cat "$tmp/err")"
  run 0 "the checkpoint it wrote resumes" train --images "$imgs" --masks "$msks" --out "$r" --resume "$r" \
    --epochs 3 --batch 2 --val-fraction 0.5 --seed 1
else
  echo "skipped: no $py (checkpoint without a run record)"
fi

# ---- 11: a resume already at --epochs writes nothing and names no file ----------------------------
cp "$ck" "$r"
run 0 "resume at --epochs in place" train --images "$imgs" --masks "$msks" --out "$r" --resume "$r" --epochs 1 \
  --batch 2 --val-fraction 0.5 --seed 1
grep -q "nothing to train" "$tmp/out" || fail "resume at --epochs: no 'nothing to train': $(cat "$tmp/out")"
grep -q "^checkpoint: \|^best weights: " "$tmp/out" && fail "resume at --epochs: names files it did not write: $(cat "$tmp/out")"
cmp -s "$ck" "$r" || fail "resume at --epochs: the checkpoint changed"
rm -f "$d/other.safetensors" "$d/other.best.safetensors"
run 2 "resume at --epochs into another --out" train --images "$imgs" --masks "$msks" --out "$d/other.safetensors" \
  --resume "$ck" --epochs 1 --batch 2 --val-fraction 0.5 --seed 1
grep -q -e "--out '$d/other.safetensors' would not be written" "$tmp/err" || fail "resume at --epochs into another --out: $(cat "$tmp/err")"
[ -e "$d/other.safetensors" ] && fail "resume at --epochs into another --out: wrote --out"

# ---- 11 and 17: the best file is named only when it exists ----------------------------------------
if $py -c "" 2> /dev/null; then
  # A checkpoint whose validation Dice no epoch can beat: the run writes no best file of its own.
  set_meta "$ck" "$d/perfect.safetensors" best_dice 1
  rm -f "$d/other.safetensors" "$d/other.best.safetensors"
  run 0 "resume (unbeatable Dice) into another --out" train --images "$imgs" --masks "$msks" --out "$d/other.safetensors" \
    --resume "$d/perfect.safetensors" --epochs 2 --batch 2 --val-fraction 0.5 --seed 1
  printed_paths_exist "resume (unbeatable Dice) into another --out"
  grep -q "best weights: not written" "$tmp/out" || fail "unbeatable Dice: the best file is not said to be unwritten: $(cat "$tmp/out")"
  cp "$d/perfect.safetensors" "$r"
  cp "$model" "${r%.safetensors}.best.safetensors"
  run 0 "resume (unbeatable Dice) in place" train --images "$imgs" --masks "$msks" --out "$r" --resume "$r" \
    --epochs 2 --batch 2 --val-fraction 0.5 --seed 1
  printed_paths_exist "resume (unbeatable Dice) in place"
  grep -q "best weights: .*unchanged" "$tmp/out" || fail "unbeatable Dice in place: $(cat "$tmp/out")"
  cmp -s "$model" "${r%.safetensors}.best.safetensors" || fail "unbeatable Dice in place: the best file changed"
fi
# A fresh run without validation and one with: both files exist.
run 0 "train without validation" train --images "$imgs" --masks "$msks" --out "$d/nv.safetensors" --epochs 1 --batch 2 \
  --base 4 --size 32 --val-fraction 0
printed_paths_exist "train without validation"
grep -q "^best weights: $d/nv.best.safetensors" "$tmp/out" || fail "train without validation: no best file named"

hostile_summary
