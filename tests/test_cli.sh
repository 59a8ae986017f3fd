#!/usr/bin/env bash
# The srmds command line end to end (SPEC §8, §9), through the binary named by SRMDS_CLI:
#   happy path: phantom -> train (1 tiny epoch) -> eval -> fuse -> segment of a 40 x 40 x 2 volume
#   (not a multiple of 16: outputs keep the input's shape and affine, checked with nibabel when
#   /usr/bin/python3 has it) and of a 32 x 32 one (mask exactly p >= 0.5) -> info;
#   bad input: missing file, truncated NIfTI, wrong magic, unsupported datatype, 4-D NIfTI,
#   image/mask size mismatch, corrupt weight files, bad arguments: each gives one error line on
#   stderr, an exit status in [1, 127] (not a signal) and leaves no output file behind.
# Exit 77 (skipped) when the binary is missing.
set -u
cli=${SRMDS_CLI:-}
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
  echo "SRMDS_CLI not set or not executable; skipping"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_cli_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# ok NAME CMD...: the command must succeed.
ok() {
  local name=$1
  shift
  if ! "$@" > "$tmp/ok.out" 2> "$tmp/ok.err"; then
    fail "$name: exit $? ($*)"
    cat "$tmp/ok.out" "$tmp/ok.err"
    return 1
  fi
  return 0
}

# bad NAME PATTERN OUTDIR -- srmds ARGS...: the command must fail with exit status 1..127, print
# exactly one line on stderr that starts with "srmds: error:" and matches PATTERN (grep -E, case
# insensitive), and leave OUTDIR empty.
bad() {
  local name=$1 pattern=$2 outdir=$3
  shift 4
  mkdir -p "$outdir"
  "$cli" "$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
  local rc=$?
  local lines
  lines=$(wc -l < "$tmp/bad.err")
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then fail "$name: exit status $rc (expected 1..127)"; fi
  if [ "$lines" -ne 1 ]; then fail "$name: $lines lines on stderr (expected 1):"; cat "$tmp/bad.err"; fi
  if ! head -n 1 "$tmp/bad.err" | grep -q '^srmds: error: '; then fail "$name: stderr does not start with 'srmds: error:'"; fi
  if ! grep -qiE "$pattern" "$tmp/bad.err"; then fail "$name: stderr does not match /$pattern/: $(cat "$tmp/bad.err")"; fi
  if [ -n "$(ls -A "$outdir")" ]; then fail "$name: output left behind: $(ls -A "$outdir")"; fi
  echo "ok: $name -> $(head -c 200 "$tmp/bad.err")"
}

# ---- happy path -------------------------------------------------------------------------------
ph=$tmp/ph
ok "phantom" "$cli" phantom --out "$ph" --count 3 --size 40 --slices 2 --seed 3 || exit 1
ok "phantom 32" "$cli" phantom --out "$tmp/ph32" --count 1 --size 32 --slices 1 --seed 4 || exit 1
[ -f "$ph/phantom_002_mask.nii.gz" ] || fail "phantom: missing phantom_002_mask.nii.gz"
imgs=$ph/phantom_000_image.nii.gz,$ph/phantom_001_image.nii.gz
msks=$ph/phantom_000_mask.nii.gz,$ph/phantom_001_mask.nii.gz
ok "train" "$cli" train --images "$imgs" --masks "$msks" --out "$tmp/ck.safetensors" --epochs 1 --batch 2 \
  --base 4 --size 32 --val-fraction 0.5 --seed 1 --log-every 1 || exit 1
grep -q "step 1/1" "$tmp/ok.out" || fail "train: no progress line 'step 1/1'"
grep -q "img/s" "$tmp/ok.out" || fail "train: no images/s in the progress line"
grep -q "val dice" "$tmp/ok.out" || fail "train: no validation Dice in the epoch line"
[ -f "$tmp/ck.safetensors" ] || fail "train: no checkpoint"
[ -f "$tmp/ck.best.safetensors" ] || fail "train: no best weights"
ok "train --resume" "$cli" train --images "$imgs" --masks "$msks" --out "$tmp/ck.safetensors" --epochs 2 --batch 2 \
  --val-fraction 0.5 --seed 1 --resume "$tmp/ck.safetensors" || exit 1
grep -q "resumed .* at epoch 2" "$tmp/ok.out" || fail "train --resume: did not resume at epoch 2: $(cat "$tmp/ok.out")"
grep -q "epoch 2/2 done" "$tmp/ok.out" || fail "train --resume: no epoch 2 line"
grep -q "epoch 1/2 done" "$tmp/ok.out" && fail "train --resume: epoch 1 ran again"

ok "eval" "$cli" eval --model "$tmp/ck.best.safetensors" --images "$ph/phantom_002_image.nii.gz" \
  --masks "$ph/phantom_002_mask.nii.gz" --per-image
grep -qE "^dice +[0-9.]+ %" "$tmp/ok.out" || fail "eval: no dice row: $(cat "$tmp/ok.out")"
grep -q "per-image" "$tmp/ok.out" || fail "eval: no per-image column"
grep -q "images 2," "$tmp/ok.out" || fail "eval: expected 2 images"
ok "eval checkpoint" "$cli" eval --model "$tmp/ck.safetensors" --images "$ph/phantom_002_image.nii.gz" \
  --masks "$ph/phantom_002_mask.nii.gz"
ok "eval --tta --json" "$cli" eval --model "$tmp/ck.safetensors" --images "$ph/phantom_002_image.nii.gz" \
  --masks "$ph/phantom_002_mask.nii.gz" --tta --json "$tmp/metrics.json"
grep -qE "Dice@0.5 [0-9.]+ +meanDic [0-9.]+ +maxDic [0-9.]+" "$tmp/ok.out" || fail "eval: no Inf-Net row: $(cat "$tmp/ok.out")"
/usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['slices'] == 2 and 0 <= m['inf_net']['mean_dice'] <= 1 and 'micro' in m" \
  "$tmp/metrics.json" || fail "eval --json: bad file: $(cat "$tmp/metrics.json")"
ok "train --augment --ema" "$cli" train --images "$imgs" --masks "$msks" --out "$tmp/aug.safetensors" --epochs 1 \
  --batch 2 --base 4 --size 32 --val-fraction 0.5 --augment "rotate=10,gamma=0.2" --ema 0.9
grep -q "augmentation: rotate=10" "$tmp/ok.out" || fail "train --augment: not reported: $(cat "$tmp/ok.out")"
ok "segment --tta" "$cli" segment --model "$tmp/aug.best.safetensors" --input "$ph/phantom_002_image.nii.gz" \
  --output "$tmp/tta_mask.nii.gz" --tta
# An ensemble: --model with two files (comma-separated, then repeated) averages their probabilities.
ok "eval ensemble" "$cli" eval --model "$tmp/ck.safetensors,$tmp/aug.best.safetensors" \
  --images "$ph/phantom_002_image.nii.gz" --masks "$ph/phantom_002_mask.nii.gz" --json "$tmp/ens.json"
grep -q "ensemble of 2 models" "$tmp/ok.out" || fail "eval ensemble: not reported: $(cat "$tmp/ok.out")"
[ -f "$tmp/ens.json" ] || fail "eval ensemble: no --json file"
ok "segment ensemble" "$cli" segment --model "$tmp/ck.safetensors" --model "$tmp/aug.best.safetensors" \
  --input "$ph/phantom_002_image.nii.gz" --output "$tmp/ens_mask.nii.gz" --report "$tmp/ens_report.json"
/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['model'] == sys.argv[2] and r['ensemble'] == [sys.argv[2], sys.argv[3]], r" \
  "$tmp/ens_report.json" "$tmp/ck.safetensors" "$tmp/aug.best.safetensors" || fail "segment ensemble: report without the ensemble"
ok "train 16" "$cli" train --images "$imgs" --masks "$msks" --out "$tmp/s16.safetensors" --epochs 1 --batch 2 \
  --base 4 --size 16 --val-fraction 0
bad "segment ensemble of two input sizes" "s16.safetensors' differs from .*ck.safetensors' in its input size" "$tmp/ens_bad" -- \
  segment --model "$tmp/ck.safetensors,$tmp/s16.safetensors" --input "$ph/phantom_002_image.nii.gz" \
  --output "$tmp/ens_bad/mask.nii.gz"
bad "segment ensemble: the report is a model" "report '.*s16.safetensors' is the same file as --model" "$tmp/ens_bad" -- \
  segment --model "$tmp/ck.safetensors,$tmp/s16.safetensors" --input "$ph/phantom_002_image.nii.gz" \
  --output "$tmp/ens_bad/mask.nii.gz" --report "$tmp/s16.safetensors"

ok "fuse" "$cli" fuse --model "$tmp/ck.best.safetensors" --out "$tmp/fused.safetensors"
[ -f "$tmp/fused.safetensors" ] || fail "fuse: no output"

seg=$tmp/seg
mkdir -p "$seg"
ok "segment" "$cli" segment --model "$tmp/fused.safetensors" --input "$ph/phantom_002_image.nii.gz" \
  --output "$seg/mask.nii.gz" --prob-out "$seg/prob.nii" --png-dir "$seg/png"
for f in mask.nii.gz prob.nii png/slice_0000.png png/slice_0001.png; do
  [ -f "$seg/$f" ] || fail "segment: missing $f"
done
ok "segment 32" "$cli" segment --model "$tmp/ck.safetensors" --input "$tmp/ph32/phantom_000_image.nii.gz" \
  --output "$seg/mask32.nii" --prob-out "$seg/prob32.nii.gz"
ok "segment 32 --precision bf16" "$cli" segment --model "$tmp/ck.safetensors" \
  --input "$tmp/ph32/phantom_000_image.nii.gz" --output "$seg/mask32_bf16.nii" --prob-out "$seg/prob32_bf16.nii" \
  --precision bf16
ok "eval --precision bf16" "$cli" eval --model "$tmp/ck.safetensors" --images "$tmp/ph32/phantom_000_image.nii.gz" \
  --masks "$tmp/ph32/phantom_000_mask.nii.gz" --precision bf16
grep -qE "^dice +[0-9.]+ %" "$tmp/ok.out" || fail "eval --precision bf16: no dice row: $(cat "$tmp/ok.out")"
ok "bench --precision bf16" "$cli" bench --base 4 --size 32 --batch 1 --seconds 0 --precision bf16
grep -q "^fused bf16 " "$tmp/ok.out" || fail "bench --precision bf16: no 'fused bf16' row: $(cat "$tmp/ok.out")"

if /usr/bin/python3 -c "import nibabel, numpy" 2> /dev/null; then
  /usr/bin/python3 - "$ph/phantom_002_image.nii.gz" "$seg" "$tmp/ph32/phantom_000_image.nii.gz" << 'EOF' || fail "segment outputs (nibabel check)"
import sys
import nibabel as nib
import numpy as np
src, seg, src32 = sys.argv[1], sys.argv[2], sys.argv[3]
ref = nib.load(src)
for name, dtype in (("mask.nii.gz", np.uint8), ("prob.nii", np.float32)):
    img = nib.load(f"{seg}/{name}")
    assert img.shape == ref.shape == (40, 40, 2), (name, img.shape, ref.shape)
    assert img.get_data_dtype() == dtype, (name, img.get_data_dtype())
    assert np.allclose(img.affine, ref.affine), (name, img.affine, ref.affine)
    assert np.allclose(img.header.get_zooms(), ref.header.get_zooms()), name
mask = np.asarray(nib.load(f"{seg}/mask.nii.gz").dataobj)
prob = np.asarray(nib.load(f"{seg}/prob.nii").dataobj)
assert set(np.unique(mask)) <= {0, 1}, np.unique(mask)
assert prob.min() >= 0 and prob.max() <= 1, (prob.min(), prob.max())
# Same size as the model: the mask is exactly p >= 0.5.
ref32 = nib.load(src32)
m32 = nib.load(f"{seg}/mask32.nii")
p32 = nib.load(f"{seg}/prob32.nii.gz")
assert m32.shape == p32.shape == ref32.shape, (m32.shape, ref32.shape)
assert np.allclose(m32.affine, ref32.affine)
assert np.array_equal(np.asarray(m32.dataobj) == 1, np.asarray(p32.dataobj) >= 0.5)
# bf16 inference: the same geometry, its mask is its p >= 0.5, and p stays close to fp32's.
m16 = nib.load(f"{seg}/mask32_bf16.nii")
p16 = nib.load(f"{seg}/prob32_bf16.nii")
assert m16.shape == p16.shape == ref32.shape and np.allclose(p16.affine, ref32.affine)
assert np.array_equal(np.asarray(m16.dataobj) == 1, np.asarray(p16.dataobj) >= 0.5)
dp = np.abs(np.asarray(p16.dataobj, dtype=np.float64) - np.asarray(p32.dataobj, dtype=np.float64)).max()
assert 0 < dp < 0.1, dp
print("segment outputs: shapes, dtypes, affines and p >= 0.5 as expected")
EOF
else
  echo "nibabel not available: output geometry checked by file presence only"
fi

ok "info" "$cli" info --model "$tmp/fused.safetensors"
grep -q "form: *fused" "$tmp/ok.out" || fail "info: form not reported as fused: $(cat "$tmp/ok.out")"

# ---- --labels any: binary masks, any label > 0 is lesion (SPEC §7) ------------------------------
# The phantom masks (labels 1, 2) rewritten as 0/255 binary masks (with nibabel; otherwise the
# phantom masks themselves, read as binary).
bin=$tmp/bin
mkdir -p "$bin"
binmsks=$msks
binval=$ph/phantom_002_mask.nii.gz
if /usr/bin/python3 -c "import nibabel, numpy" 2> /dev/null; then
  /usr/bin/python3 - "$ph" "$bin" << 'EOF' || fail "labels any: could not write binary masks"
import sys, nibabel as nib, numpy as np
src, dst = sys.argv[1], sys.argv[2]
for k in range(3):
    m = nib.load("%s/phantom_%03d_mask.nii.gz" % (src, k))
    b = (np.asanyarray(m.dataobj) > 0).astype(np.uint8) * 255
    assert b.max() == 255, "phantom %d has no lesion" % k
    nib.save(nib.Nifti1Image(b, m.affine), "%s/binary_%03d_mask.nii.gz" % (dst, k))
EOF
  binmsks=$bin/binary_000_mask.nii.gz,$bin/binary_001_mask.nii.gz
  binval=$bin/binary_002_mask.nii.gz
fi
ok "train --labels any" "$cli" train --images "$imgs" --masks "$binmsks" --labels any --out "$tmp/any.safetensors" \
  --epochs 1 --batch 2 --base 4 --size 32 --val-fraction 0.5 --seed 1
ok "info --labels any" "$cli" info --model "$tmp/any.safetensors"
grep -qiE "labels.*any" "$tmp/ok.out" || fail "info: lesion labels not reported as any: $(cat "$tmp/ok.out")"
ok "eval --labels any" "$cli" eval --model "$tmp/any.best.safetensors" --images "$ph/phantom_002_image.nii.gz" \
  --masks "$binval"
grep -qE "^dice +[0-9.]+ %" "$tmp/ok.out" || fail "eval --labels any: no dice row: $(cat "$tmp/ok.out")"

# ---- bad input --------------------------------------------------------------------------------
model=$tmp/ck.best.safetensors
img=$ph/phantom_002_image.nii.gz
gunzip -c "$img" > "$tmp/plain.nii"
size=$(stat -c %s "$tmp/plain.nii")

# patch FILE OFFSET PRINTF-BYTES: overwrite bytes in place.
patch() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

head -c $((size - 100)) "$tmp/plain.nii" > "$tmp/truncated.nii"
head -c 200 "$tmp/plain.nii" > "$tmp/truncated_header.nii"
cp "$tmp/plain.nii" "$tmp/magic.nii" && patch "$tmp/magic.nii" 344 'xyz\000'
cp "$tmp/plain.nii" "$tmp/dtype.nii" && patch "$tmp/dtype.nii" 70 '\040\000' && patch "$tmp/dtype.nii" 72 '\100\000'
# 4-D: the 40 x 40 x 2 volume relabelled as 40 x 40 x 1 x 2 (same voxel count).
cp "$tmp/plain.nii" "$tmp/fourd.nii" && patch "$tmp/fourd.nii" 40 '\004\000' && patch "$tmp/fourd.nii" 46 '\001\000\002\000'
head -c 1000 "$model" > "$tmp/corrupt_trunc.safetensors"
printf 'not a safetensors file at all, just text\n' > "$tmp/corrupt_text.safetensors"
cp "$model" "$tmp/corrupt_header.safetensors" && patch "$tmp/corrupt_header.safetensors" 0 '\377\377\377\377\377\000\000\000'
"$cli" phantom --out "$tmp/ph48" --count 1 --size 48 --seed 9 > /dev/null || fail "phantom 48"

o=$tmp/o
bad "segment: missing input" "nope\.nii\.gz" "$o/1" -- segment --model "$model" --input "$tmp/nope.nii.gz" --output "$o/1/m.nii.gz"
bad "segment: missing model" "missing\.safetensors" "$o/2" -- segment --model "$tmp/missing.safetensors" --input "$img" --output "$o/2/m.nii.gz"
bad "segment: truncated NIfTI" "truncated\.nii" "$o/3" -- segment --model "$model" --input "$tmp/truncated.nii" --output "$o/3/m.nii.gz" --prob-out "$o/3/p.nii.gz" --png-dir "$o/3/png"
bad "segment: truncated header" "truncated_header\.nii" "$o/4" -- segment --model "$model" --input "$tmp/truncated_header.nii" --output "$o/4/m.nii.gz"
bad "segment: wrong magic" "magic" "$o/5" -- segment --model "$model" --input "$tmp/magic.nii" --output "$o/5/m.nii.gz"
bad "segment: unsupported datatype" "datatype|complex" "$o/6" -- segment --model "$model" --input "$tmp/dtype.nii" --output "$o/6/m.nii.gz"
bad "segment: 4-D NIfTI" "4-d|dim|dimension" "$o/7" -- segment --model "$model" --input "$tmp/fourd.nii" --output "$o/7/m.nii.gz"
bad "segment: output folder missing" "no_such_dir" "$o/25" -- segment --model "$model" --input "$img" --output "$o/25/no_such_dir/m.nii.gz"
bad "train: output folder missing" "no_such_dir" "$o/26" -- train --images "$imgs" --masks "$msks" --out "$o/26/no_such_dir/ck.safetensors" --epochs 1 --base 4 --size 32
bad "train: --cuda-graph without --device cuda" "cuda-graph.*--device cuda" "$o/26g" -- train --images "$imgs" --masks "$msks" --out "$o/26g/ck.safetensors" --epochs 1 --base 4 --size 32 --cuda-graph
bad "segment: bad output extension" "\.png|extension" "$o/8" -- segment --model "$model" --input "$img" --output "$o/8/m.png" --prob-out "$o/8/p.nii.gz"
bad "segment: bad prob-out extension after a good mask" "\.txt|extension" "$o/9" -- segment --model "$model" --input "$img" --output "$o/9/m.nii.gz" --prob-out "$o/9/p.txt"
bad "train: image/mask size mismatch" "40.*48|48.*40|mismatch|differ" "$o/10" -- train --images "$img" --masks "$tmp/ph48/phantom_000_mask.nii.gz" --out "$o/10/ck.safetensors" --epochs 1 --base 4 --size 32
bad "train: unequal list lengths" "image files" "$o/11" -- train --images "$imgs" --masks "$ph/phantom_000_mask.nii.gz" --out "$o/11/ck.safetensors" --epochs 1 --base 4 --size 32
bad "train: truncated NIfTI" "truncated\.nii" "$o/12" -- train --images "$tmp/truncated.nii" --masks "$ph/phantom_002_mask.nii.gz" --out "$o/12/ck.safetensors" --epochs 1 --base 4 --size 32
bad "train: size not a multiple of 16" "multiples? of 16" "$o/13" -- train --images "$imgs" --masks "$msks" --out "$o/13/ck.safetensors" --size 40
bad "train: negative --dice-weight" "dice-weight" "$o/27" -- train --images "$imgs" --masks "$msks" --out "$o/27/ck.safetensors" --epochs 1 --base 4 --size 32 --dice-weight -1
bad "train: unknown --attention" "attention" "$o/28" -- train --images "$imgs" --masks "$msks" --out "$o/28/ck.safetensors" --epochs 1 --base 4 --size 32 --attention bogus
bad "train: corrupt resume checkpoint" "corrupt_trunc" "$o/14" -- train --images "$imgs" --masks "$msks" --out "$o/14/ck.safetensors" --resume "$tmp/corrupt_trunc.safetensors"
bad "eval: image/mask size mismatch" "40.*48|48.*40|mismatch|differ" "$o/15" -- eval --model "$model" --images "$img" --masks "$tmp/ph48/phantom_000_mask.nii.gz"
bad "eval: truncated weights" "corrupt_trunc" "$o/16" -- eval --model "$tmp/corrupt_trunc.safetensors" --images "$img" --masks "$ph/phantom_002_mask.nii.gz"
bad "segment: text as weights" "corrupt_text" "$o/17" -- segment --model "$tmp/corrupt_text.safetensors" --input "$img" --output "$o/17/m.nii.gz"
bad "fuse: corrupt weight header" "corrupt_header" "$o/18" -- fuse --model "$tmp/corrupt_header.safetensors" --out "$o/18/f.safetensors"
bad "segment: NIfTI as weights" "plain\.nii" "$o/19" -- segment --model "$tmp/plain.nii" --input "$img" --output "$o/19/m.nii.gz"
bad "phantom: bad count" "count" "$o/20" -- phantom --out "$o/20/x" --count 0
bad "train: unknown device" "device" "$o/21" -- train --images "$imgs" --masks "$msks" --out "$o/21/ck.safetensors" --device tpu
bad "unknown subcommand" "." "$o/22" -- frobnicate
bad "eval: missing option" "masks" "$o/23" -- eval --model "$model" --images "$img"
bad "eval: --json over an input" "same file" "$o/29" -- eval --model "$model" --images "$img" --masks "$ph/phantom_002_mask.nii.gz" --json "$img"
bad "train: unknown --augment key" "spin" "$o/30" -- train --images "$imgs" --masks "$msks" --out "$o/30/ck.safetensors" --epochs 1 --base 4 --size 32 --augment spin=3
bad "train: --ema out of range" "ema" "$o/31" -- train --images "$imgs" --masks "$msks" --out "$o/31/ck.safetensors" --epochs 1 --base 4 --size 32 --ema 1
bad "segment: unknown precision" "precision" "$o/26" -- segment --model "$model" --input "$img" --output "$o/26/m.nii.gz" --precision fp16
bad "bench: bf16 on cuda" "precision|cuda" "$o/27" -- bench --base 4 --size 32 --device cuda --precision bf16
if ! "$cli" --version | grep -q "cuda"; then
  bad "demo: cuda without the backend" "cuda" "$o/24" -- demo --quick --device cuda --out "$o/24/demo"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all CLI checks passed"
