#!/usr/bin/env bash
# Issue 21's output, signal and memory cases through the CLI (SRMDS_CLI): every file a run writes is
# named before anything is written and checked against every input and every other output.
#   1: a DICOM series folder holding a stray PNG is segmented as the series (a warning names the
#      PNG), and a folder of images never writes a folder named like a file (.nii.gz);
#   2: no output is written into an input folder (a folder input, or a DICOM file's series folder);
#   4: colliding output names are refused: two images of one stem, --png-dir equal to --output
#      with a trailing slash, --report naming a generated mask, --prob-out naming an overlay; long
#      names are never cut; eval's overlays of two inputs of one stem are all written;
#   13: eval --png-dir inside an input folder is refused;
#   14: a name that is not UTF-8 is refused up front with --report, naming it;
#   16: eval --labels 1 on 0/255 masks warns that no voxel has a lesion label;
#   9: train, bench, fuse --check and phantom runs larger than the memory budget are refused before
#      they allocate, naming the options (SRMDS_RUN_MEMORY_MB sets the budget);
#   7: SIGINT at times spread over the end of a 300-image folder run leaves every mask or none, no
#      temporary file and no folder the run created.
# DICOM cases need /usr/bin/python3 with numpy and pydicom (skipped with a message otherwise).
. "$(dirname "$0")/support/hostile_common.sh"
py=/usr/bin/python3
s=$(dirname "$0")/support

# ---- fixtures: PNG slices and masks (tests/support/write_png.py) -------------------------------
mkdir -p "$tmp/imgs" "$tmp/msks"
for i in 0 1; do
  "$py" "$s/write_png.py" "$tmp/imgs/s00$i.png" 32 32 "$i"
  "$py" "$s/write_png.py" "$tmp/msks/s00$i.png" 32 32 "$i" --mask
done
unchanged() { cmp -s "$1" "$2" || fail "$3: '$1' was changed"; }

# ---- 1: a stray PNG in a DICOM series folder; folders named like files --------------------------
if "$py" -c "import numpy, pydicom" 2> /dev/null; then
  "$py" "$s/write_series.py" "$tmp/ser" 4 || fail "write_series.py"
  cp "$tmp/imgs/s000.png" "$tmp/ser/stray.png"
  mkdir -p "$tmp/o1"
  run 0 "segment a DICOM folder holding a stray PNG" segment --model "$model" --input "$tmp/ser" \
    --output "$tmp/o1/mask.nii.gz" --report "$tmp/o1/r.json"
  [ -f "$tmp/o1/mask.nii.gz" ] || fail "stray PNG: the mask is not a file"
  grep -q "stray.png" "$tmp/err" || fail "stray PNG: no warning names it: $(cat "$tmp/err")"
  grep -q '"slice_count": 4' "$tmp/o1/r.json" || fail "stray PNG: the report does not cover the 4 slices"

  # ---- 2: outputs inside an input folder ----------------------------------------------------------
  first=$(ls "$tmp/ser" | grep -v png | head -1)
  cp "$tmp/ser/$first" "$tmp/first.orig"
  run 2 "--report naming a slice of the input series" segment --model "$model" --input "$tmp/ser" \
    --output "$tmp/o1/m2.nii.gz" --report "$tmp/ser/$first"
  unchanged "$tmp/ser/$first" "$tmp/first.orig" "--report naming a slice"
  run 2 "--output inside the folder of a DICOM file input" segment --model "$model" --input "$tmp/ser/$first" \
    --output "$tmp/ser/mask.nii.gz"
  [ ! -e "$tmp/ser/mask.nii.gz" ] || fail "a mask was written into the series folder"
else
  echo "numpy/pydicom not importable by $py: DICOM cases skipped"
fi
mkdir -p "$tmp/o2"
run 2 "a folder of images with --output named .nii.gz" segment --model "$model" --input "$tmp/imgs" \
  --output "$tmp/o2/masks.nii.gz"
[ ! -e "$tmp/o2/masks.nii.gz" ] || fail "a folder named masks.nii.gz was created"
run 2 "--png-dir inside the input folder" segment --model "$model" --input "$tmp/imgs" --output "$tmp/o2/m" \
  --png-dir "$tmp/imgs/ov"
[ ! -e "$tmp/imgs/ov" ] && [ ! -e "$tmp/o2/m" ] || fail "--png-dir inside the input: a folder was created"

# ---- 4: colliding names -----------------------------------------------------------------------
mkdir -p "$tmp/two"
cp "$tmp/imgs/s000.png" "$tmp/two/s000.png"
cp "$tmp/imgs/s001.png" "$tmp/two/s000.jpg"  # refused by name, before any decoding
run 2 "two images of one stem" segment --model "$model" --input "$tmp/two" --output "$tmp/o4"
[ ! -e "$tmp/o4" ] || fail "two images of one stem: the output folder was created"
run 2 "--png-dir equal to --output with a trailing slash" segment --model "$model" --input "$tmp/imgs" \
  --output "$tmp/c" --png-dir "$tmp/c/"
mkdir -p "$tmp/c2" && echo mine > "$tmp/c2/s000.png"
run 2 "--report naming a mask of the run" segment --model "$model" --input "$tmp/imgs" --output "$tmp/c2" \
  --report "$tmp/c2/s000.png"
[ "$(cat "$tmp/c2/s000.png")" = mine ] || fail "--report naming a mask: the file was replaced"
mkdir -p "$tmp/ov"
run 2 "--prob-out naming an overlay" segment --model "$model" --input "$tmp/imgs/s000.png" --output "$tmp/m.png" \
  --prob-out "$tmp/ov/slice_0000.png" --png-dir "$tmp/ov"
mkdir -p "$tmp/long"
long=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
for i in 1 2 3; do cp "$tmp/imgs/s000.png" "$tmp/long/${long}_$i.png"; done
run 0 "three long names" segment --model "$model" --input "$tmp/long" --output "$tmp/long_m" --png-dir "$tmp/long_ov"
[ "$(ls "$tmp/long_ov" | wc -l)" -eq 3 ] || fail "long names: $(ls "$tmp/long_ov" | wc -l) overlays for 3 images"
[ "$(ls "$tmp/long_m" | wc -l)" -eq 3 ] || fail "long names: $(ls "$tmp/long_m" | wc -l) masks for 3 images"
mkdir -p "$tmp/p1" "$tmp/p2"
cp "$img" "$tmp/p1/scan.nii.gz" && cp "$msk" "$tmp/p1/mask.nii.gz"
cp "$ph/phantom_001_image.nii.gz" "$tmp/p2/scan.nii.gz" && cp "$ph/phantom_001_mask.nii.gz" "$tmp/p2/mask.nii.gz"
run 0 "eval overlays of two inputs of one stem" eval --model "$model" --images "$tmp/p1/scan.nii.gz,$tmp/p2/scan.nii.gz" \
  --masks "$tmp/p1/mask.nii.gz,$tmp/p2/mask.nii.gz" --png-dir "$tmp/evo"
[ "$(ls "$tmp/evo" | wc -l)" -eq 4 ] || fail "eval, one stem twice: $(ls "$tmp/evo" | wc -l) overlays for 4 slices"

# ---- 13: eval --png-dir inside an input folder --------------------------------------------------
run 2 "eval --png-dir inside the image folder" eval --model "$model" --images "$tmp/imgs" --masks "$tmp/msks" \
  --png-dir "$tmp/msks/ov"
[ ! -e "$tmp/msks/ov" ] || fail "eval --png-dir inside an input: the folder was created"

# ---- 14: names that are not UTF-8 -------------------------------------------------------------
mkdir -p "$tmp/latin1"
cp "$tmp/imgs/s000.png" "$tmp/latin1/$(printf 'caf\xe9').png"
run 2 "--report with a file name that is not UTF-8" segment --model "$model" --input "$tmp/latin1" \
  --output "$tmp/l_m" --report "$tmp/l.json"
grep -q 'caf\\xE9' "$tmp/err" || fail "not UTF-8: the message does not name the file: $(cat "$tmp/err")"
[ ! -e "$tmp/l_m" ] && [ ! -e "$tmp/l.json" ] || fail "not UTF-8: an output was written"
run 0 "the same without --report" segment --model "$model" --input "$tmp/latin1" --output "$tmp/l_m"

# ---- 16: a label set that matches no voxel ----------------------------------------------------
run 0 "eval --labels 1 on 0/255 masks" eval --model "$model" --images "$tmp/imgs" --masks "$tmp/msks" --labels 1
grep -q "none of its .* non-zero voxels has a lesion label (1)" "$tmp/err" || fail "--labels 1 on 0/255: no warning: $(cat "$tmp/err")"
grep -q "1 other mask" "$tmp/err" || fail "--labels 1 on 0/255: the second mask is not counted: $(cat "$tmp/err")"
run 0 "eval --labels 255 on 0/255 masks" eval --model "$model" --images "$tmp/imgs" --masks "$tmp/msks" --labels 255
! grep -q "none of its" "$tmp/err" || fail "--labels 255: a warning although the labels match"

# ---- 9: runs that cannot fit in memory are refused before they allocate, naming the options -----
mem() {  # mem NAME OPTIONS-THAT-MUST-BE-NAMED ARGS...: refused (exit 1) with a message naming them
  local name=$1 opts=$2
  shift 2
  run 1 "$name" "$@" || return
  grep -q "needs about .* of memory, more than .*$opts" "$tmp/err" || fail "$name: the message does not name $opts: $(cat "$tmp/err")"
}
mem "train --size 4096 --base 16" "lower --batch, --size or --base" train --images "$img" --masks "$msk" \
  --out "$tmp/big.safetensors" --size 4096 --base 16 --epochs 1
[ ! -e "$tmp/big.safetensors" ] || fail "train --size 4096: a checkpoint was written"
mem "bench --batch 64 --size 1024" "lower --batch, --size or --base" bench --batch 64 --size 1024 --seconds 0
mem "fuse --check-batch 64 --check-size 4096" "lower --check-batch or --check-size" fuse --model "$ck" \
  --out "$tmp/fused_big.safetensors" --check-batch 64 --check-size 4096
[ ! -e "$tmp/fused_big.safetensors" ] || fail "fuse --check-size 4096: a file was written"
mem "phantom --size 4096 --slices 4096" "lower --size or --slices" phantom --out "$tmp/ph_big" --size 4096 --slices 4096 --count 1
[ ! -e "$tmp/ph_big" ] || fail "phantom --slices 4096: the folder was created"
SRMDS_RUN_MEMORY_MB=200 mem "train --batch 8 --size 256 with a 200 MiB budget" "SRMDS_RUN_MEMORY_MB sets" \
  train --images "$img" --masks "$msk" --out "$tmp/b.safetensors" --size 256 --base 16 --batch 8 --epochs 1
SRMDS_RUN_MEMORY_MB=200 run 0 "train --size 32 --base 4 with a 200 MiB budget" train --images "$img" --masks "$msk" \
  --out "$tmp/s.safetensors" --size 32 --base 4 --batch 2 --epochs 1 --val-fraction 0
if "$py" -c "import numpy, nibabel" 2> /dev/null; then  # issue 21 item 17: a small NIfTI of many 1 x 1 slices
  "$py" -c "import sys, numpy as np, nibabel as nib; nib.save(nib.Nifti1Image(np.zeros((1, 1, 2000), np.int16), np.eye(4)), sys.argv[1])" \
    "$tmp/tiny_slices.nii.gz"
  SRMDS_RUN_MEMORY_MB=5 run 1 "segment 2000 slices of 1 x 1 with a 5 MiB budget" segment --model "$model" \
    --input "$tmp/tiny_slices.nii.gz" --output "$tmp/tiny_mask.nii.gz"
  grep -q "2000 slices resized to 32 x 32 needs about" "$tmp/err" || fail "1 x 1 slices: $(cat "$tmp/err")"
fi
SRMDS_RUN_MEMORY_MB=lots run 1 "SRMDS_RUN_MEMORY_MB that is not a number" bench --batch 1 --size 32 --seconds 0

# ---- 7: SIGINT near the end of a folder run: all outputs or none -------------------------------
mkdir -p "$tmp/many"
"$py" -c "
import os, sys
sys.path.insert(0, sys.argv[2])
import write_png
for i in range(300):
    rows = [[(x * 7 + y * 3 + i) % 256 for x in range(32)] for y in range(32)]
    open(os.path.join(sys.argv[1], 'm%03d.png' % i), 'wb').write(write_png.png_bytes(rows, 32, 32))
" "$tmp/many" "$s"
t0=$(date +%s%N)
run 0 "segment 300 images" segment --model "$model" --input "$tmp/many" --output "$tmp/many_m" --png-dir "$tmp/many_ov"
t_ms=$((($(date +%s%N) - t0) / 1000000))
rm -rf "$tmp/many_m" "$tmp/many_ov"
complete=0 none=0
for pct in 55 65 75 80 85 88 91 94 97 100; do
  "$cli" segment --model "$model" --input "$tmp/many" --output "$tmp/many_m" --png-dir "$tmp/many_ov" > /dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v t="$t_ms" -v p="$pct" 'BEGIN { printf "%.3f", t * p / 100000 }')"
  kill -INT "$pid" 2> /dev/null
  wait "$pid"
  masks=$(ls "$tmp/many_m" 2> /dev/null | wc -l) overlays=$(ls "$tmp/many_ov" 2> /dev/null | wc -l)
  if [ "$masks" -eq 300 ] && [ "$overlays" -eq 300 ]; then
    complete=$((complete + 1))
  elif [ ! -e "$tmp/many_m" ] && [ ! -e "$tmp/many_ov" ]; then
    none=$((none + 1))
  else
    fail "SIGINT at $pct % of the run: $masks masks and $overlays overlays left"
  fi
  no_temps "$tmp" "SIGINT at $pct % of the run"
  rm -rf "$tmp/many_m" "$tmp/many_ov"
done
echo "SIGINT over the end of a $t_ms ms run: $complete runs complete, $none left nothing"

hostile_summary
