#!/usr/bin/env bash
# The command line on real-world inputs (SPEC §7, §8), through the binary named by SRMDS_CLI:
#   2-D image sets: train on a folder of PNG slices paired by stem with a mask folder, eval with
#   overlays, segment one slice (mask PNG of the slice's size, 0/255) and a folder of slices;
#   DICOM: segment a series written by pydicom (a folder, and one of its files): the NIfTI mask has
#   the series' grid and affine, and --report gives the lesion volume from the voxel size;
#   two series in one folder: an error listing them, then --series picks one;
#   bad input (colour PNG, truncated PNG, garbage DICOM, unmatched stems, wrong output kind): one
#   error line, exit 1..127, no output left behind.
# Needs /usr/bin/python3 with numpy, nibabel and pydicom (exit 77 otherwise, or without the binary).
set -u
cli=${SRMDS_CLI:-}
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
  echo "SRMDS_CLI not set or not executable; skipping"
  exit 77
fi
if ! /usr/bin/python3 -c "import numpy, nibabel, pydicom" 2>/dev/null; then
  echo "numpy/nibabel/pydicom not available; skipping"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_cli_inputs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() {
  local name=$1
  shift
  if ! "$@" > "$tmp/ok.out" 2> "$tmp/ok.err"; then
    fail "$name: exit $? ($*)"
    cat "$tmp/ok.out" "$tmp/ok.err"
    return 1
  fi
  echo "ok: $name"
  return 0
}
bad() {
  local name=$1 pattern=$2 outdir=$3
  shift 4
  mkdir -p "$outdir"
  "$cli" "$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
  local rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then fail "$name: exit status $rc (expected 1..127)"; fi
  if [ "$(grep -c '^srmds: error: ' "$tmp/bad.err")" -ne 1 ]; then fail "$name: expected one error line:"; cat "$tmp/bad.err"; fi
  if ! grep -qiE "$pattern" "$tmp/bad.err"; then fail "$name: stderr does not match /$pattern/: $(cat "$tmp/bad.err")"; fi
  if [ -n "$(ls -A "$outdir")" ]; then fail "$name: output left behind: $(ls -A "$outdir")"; fi
  echo "ok: $name -> $(head -c 200 "$tmp/bad.err")"
}

# ---- inputs written by Python: PNG slices (own encoder), a DICOM series (pydicom) ------------
/usr/bin/python3 - "$tmp" << 'EOF' || { echo "FAIL: input generation"; exit 1; }
import os, sys, struct, zlib
import numpy as np
tmp = sys.argv[1]

def png(path, a, colour=False):
    a = np.asarray(a)
    h, w = a.shape[:2]
    depth = 16 if a.dtype == np.uint16 else 8
    ctype = 2 if colour else 0
    rows = b"".join(b"\0" + (a[y].astype(">u2").tobytes() if depth == 16 else a[y].astype(np.uint8).tobytes())
                    for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    open(path, "wb").write(data)

rng = np.random.default_rng(7)
for d in ("img", "msk"):
    os.makedirs(os.path.join(tmp, d), exist_ok=True)
for i, (h, w) in enumerate([(40, 36), (32, 32), (27, 45), (50, 30)]):
    yy, xx = np.mgrid[0:h, 0:w]
    lesion = (yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (min(h, w) / 5) ** 2
    img = np.clip(60 + 120 * lesion + rng.normal(0, 10, (h, w)), 0, 255).astype(np.uint8)
    png(os.path.join(tmp, "img", "s%02d.png" % i), img)
    png(os.path.join(tmp, "msk", "s%02d.png" % i), (lesion * 255).astype(np.uint8))
png(os.path.join(tmp, "colour.png"), np.zeros((8, 8, 3), np.uint8), colour=True)
raw = open(os.path.join(tmp, "img", "s00.png"), "rb").read()
open(os.path.join(tmp, "truncated.png"), "wb").write(raw[: len(raw) // 2])

open(os.path.join(tmp, "garbage.dcm"), "wb").write(b"\0" * 128 + b"DICM" + os.urandom(300))
EOF
series="/usr/bin/python3 $(dirname "$0")/support/write_series.py"
$series "$tmp/ct" 4 --reversed || { echo "FAIL: write_series.py"; exit 1; }
$series "$tmp/two" 3 --reversed --uid 1.2.826.0.1.3680043.2.1125.42 --seed 8 || exit 1
$series "$tmp/two_b" 2 --reversed --uid 1.2.826.0.1.3680043.2.1125.43 --description scout --z0 50 --seed 9 || exit 1
for f in "$tmp"/two_b/*; do mv "$f" "$tmp/two/scout_$(basename "$f")"; done

# ---- 2-D image sets ---------------------------------------------------------------------------
ok "train on PNG folders" "$cli" train --images "$tmp/img" --masks "$tmp/msk" --out "$tmp/ck.safetensors" --epochs 2 \
  --batch 2 --base 4 --size 32 --val-fraction 0 --seed 1 || exit 1
grep -q "on 4 slices" "$tmp/ok.out" || fail "train: expected 4 slices: $(head -3 "$tmp/ok.out")"
ok "eval on PNG folders with overlays" "$cli" eval --model "$tmp/ck.safetensors" --images "$tmp/img" --masks "$tmp/msk" \
  --per-image --png-dir "$tmp/overlays"
grep -qE "^dice +[0-9.]+ %" "$tmp/ok.out" || fail "eval: no dice row: $(cat "$tmp/ok.out")"
[ "$(ls "$tmp/overlays" | wc -l)" -eq 4 ] || fail "eval: expected 4 overlays: $(ls "$tmp/overlays")"
ok "segment one PNG" "$cli" segment --model "$tmp/ck.safetensors" --input "$tmp/img/s02.png" --output "$tmp/s02_mask.png" \
  --prob-out "$tmp/s02_p.png" --report "$tmp/s02.json"
grep -q "lesion burden: .* pixels" "$tmp/ok.out" || fail "segment: no burden in pixels: $(cat "$tmp/ok.out")"
ok "segment a folder of PNGs" "$cli" segment --model "$tmp/ck.safetensors" --input "$tmp/img" --output "$tmp/masks_out" \
  --report "$tmp/folder.json" --png-dir "$tmp/seg_png"
[ "$(ls "$tmp/masks_out" | wc -l)" -eq 4 ] || fail "segment folder: expected 4 masks: $(ls "$tmp/masks_out")"

# ---- DICOM ------------------------------------------------------------------------------------
ok "segment a DICOM folder" "$cli" segment --model "$tmp/ck.safetensors" --input "$tmp/ct" --output "$tmp/ct_mask.nii.gz" \
  --prob-out "$tmp/ct_p.nii.gz" --report "$tmp/ct.json"
grep -q "lesion burden: .* mL" "$tmp/ok.out" || fail "segment DICOM: no burden in mL: $(cat "$tmp/ok.out")"
first=$(ls "$tmp/ct" | head -n 1)
ok "segment one file of a DICOM series" "$cli" segment --model "$tmp/ck.safetensors" --input "$tmp/ct/$first" \
  --output "$tmp/ct_mask2.nii.gz"
cmp -s <(gunzip -c "$tmp/ct_mask.nii.gz") <(gunzip -c "$tmp/ct_mask2.nii.gz") || fail "segment DICOM: a file of the series gave another mask"
bad "two series in one folder" "2 series.*42.*chest.*3 slices.*43.*scout.*2 slices" "$tmp/o1" -- segment \
  --model "$tmp/ck.safetensors" --input "$tmp/two" --output "$tmp/o1/m.nii.gz"
ok "--series picks one" "$cli" segment --model "$tmp/ck.safetensors" --input "$tmp/two" --series 1.2.826.0.1.3680043.2.1125.43 \
  --output "$tmp/two_mask.nii.gz"

/usr/bin/python3 - "$tmp" << 'EOF' || fail "output checks (python)"
import json, os, struct, sys, zlib
import numpy as np, nibabel as nib, pydicom
tmp = sys.argv[1]

def png_info(path):
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, ctype = struct.unpack(">IIBB", b[16:26])
    pos, idat = 8, b""
    while pos < len(b):
        n = struct.unpack(">I", b[pos:pos + 4])[0]
        if b[pos + 4:pos + 8] == b"IDAT":
            idat += b[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    assert depth == 8 and ctype == 0, (depth, ctype)
    out, prev = [], [0] * w
    for y in range(h):  # undo the PNG row filters (none, sub, up, average, Paeth)
        f, line = raw[y * (w + 1)], list(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        for x in range(w):
            a = line[x - 1] if x else 0
            b, c = prev[x], (prev[x - 1] if x else 0)
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(line)
        prev = line
    return w, h, np.array(out, np.uint8)

w, h, m = png_info(os.path.join(tmp, "s02_mask.png"))
assert (w, h) == (45, 27), (w, h)
assert set(np.unique(m)) <= {0, 255}, np.unique(m)
w2, h2, p = png_info(os.path.join(tmp, "s02_p.png"))
assert (w2, h2) == (45, 27)
r = json.load(open(os.path.join(tmp, "s02.json")))
assert r["spacing_mm"] is None and r["lesion_volume_ml"] is None, r
assert r["lesion_voxels"] == int((m > 0).sum()), (r["lesion_voxels"], int((m > 0).sum()))
assert r["size"] == [45, 27, 1]
f = json.load(open(os.path.join(tmp, "folder.json")))
assert len(f["images"]) == 4 and sorted(os.listdir(os.path.join(tmp, "masks_out"))) == ["s%02d.png" % i for i in range(4)]

# DICOM: the mask lies on the series (same grid and the affine of the slices' positions).
img = nib.load(os.path.join(tmp, "ct_mask.nii.gz"))
assert img.shape == (20, 24, 4), img.shape
files = sorted(os.listdir(os.path.join(tmp, "ct")))
ds = [pydicom.dcmread(os.path.join(tmp, "ct", f)) for f in files]
ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
a = img.affine
for k, d in enumerate(ds):
    ras = a @ np.array([0, 0, k, 1.0])
    lps = np.array([float(v) for v in d.ImagePositionPatient])
    assert np.allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-4), (k, ras, lps)
assert np.allclose(a @ [1, 0, 0, 0], [-0.6, 0, 0, 0], atol=1e-5) and np.allclose(a @ [0, 1, 0, 0], [0, -0.7, 0, 0], atol=1e-5)
assert nib.load(os.path.join(tmp, "ct_p.nii.gz")).shape == (20, 24, 4)
r = json.load(open(os.path.join(tmp, "ct.json")))
n = int(np.asarray(img.dataobj).sum())
assert r["lesion_voxels"] == n
assert abs(r["lesion_volume_ml"] - n * 0.6 * 0.7 * 3.0 / 1000) < 1e-9, r["lesion_volume_ml"]
assert r["slice_count"] == 4 and len(r["slices"]) == 4 and all("file" in s for s in r["slices"])
assert nib.load(os.path.join(tmp, "two_mask.nii.gz")).shape == (20, 24, 2)
print("outputs: PNG masks of the slices' sizes, DICOM mask on the series' grid, reports consistent")
EOF

# ---- bad input --------------------------------------------------------------------------------
o=$tmp/o
m=$tmp/ck.safetensors
bad "colour PNG" "colour" "$o/2" -- segment --model "$m" --input "$tmp/colour.png" --output "$o/2/m.png"
bad "truncated PNG" "truncated" "$o/3" -- segment --model "$m" --input "$tmp/truncated.png" --output "$o/3/m.png" --report "$o/3/r.json"
bad "garbage DICOM" "garbage\.dcm" "$o/4" -- segment --model "$m" --input "$tmp/garbage.dcm" --output "$o/4/m.nii.gz"
bad "PNG input, NIfTI output" "\.png" "$o/5" -- segment --model "$m" --input "$tmp/img/s01.png" --output "$o/5/m.nii.gz"
bad "DICOM input, PNG output" "\.nii" "$o/6" -- segment --model "$m" --input "$tmp/ct" --output "$o/6/m.png"
mkdir -p "$tmp/msk_less" && cp "$tmp/msk/s00.png" "$tmp/msk_less/"
bad "image without a mask" "without a mask.*s01\.png" "$o/7" -- train --images "$tmp/img" --masks "$tmp/msk_less" \
  --out "$o/7/ck.safetensors" --epochs 1 --base 4 --size 32
bad "folder of slices, output a file" "folder" "$o/8" -- segment --model "$m" --input "$tmp/img" --output "$tmp/s02_mask.png"
mkdir -p "$tmp/bad_folder" && cp "$tmp/img/s00.png" "$tmp/img/s01.png" "$tmp/bad_folder/" && cp "$tmp/truncated.png" "$tmp/bad_folder/s02.png"
bad "truncated PNG in a folder: nothing left behind" "truncated" "$o/10" -- segment --model "$m" --input "$tmp/bad_folder" \
  --output "$o/10/out" --png-dir "$o/10/png"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all CLI input checks passed"
