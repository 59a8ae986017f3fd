#!/usr/bin/env bash
# Issue 21's hostile inputs through the CLI (SRMDS_CLI), so they stay fixed:
#   3, 12: a damaged first, middle or last slice of a DICOM series is an error naming that file and
#          why (never a volume one slice short, never "missing slice(s) between" its neighbours);
#   5:     an MR, PT or secondary-capture (OT) series is refused naming the file and the modality;
#          a series without Modality is read as CT with a warning;
#   6:     a JPEG whose compressed data is shorter than its header says (cut, or a header claiming
#          more pixels, up to 16384 x 4096) is refused naming the file;
#   8:     a FIFO as input or mask, whatever its name, is refused at once ("not a regular file");
#   15:    a damaged JPEG 2000 slice gives one error line, ours (OpenJPEG printed its own).
# Damaged files are written here with /usr/bin/python3 (pydicom, numpy); those parts are skipped
# with a message when pydicom is missing. Exit 77 (skipped) when the binary is missing.
. "$(dirname "$0")/support/hostile_common.sh"

py=/usr/bin/python3
src_dir=${SRMDS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
have_pydicom=1
$py -c "import pydicom, numpy" 2> /dev/null || have_pydicom=0

# one_error NAME PATTERN: the last run printed exactly one line, "srmds: error: ..." matching PATTERN.
one_error() {
  local lines
  lines=$(wc -l < "$tmp/err")
  if [ "$lines" -ne 1 ] || ! head -n 1 "$tmp/err" | grep -q "^srmds: error: "; then
    fail "$1: expected one error line, got $lines: $(head -c 400 "$tmp/err")"
  elif ! grep -q -- "$2" "$tmp/err"; then
    fail "$1: the error does not say '$2': $(cat "$tmp/err")"
  else
    pass "$1: one error line naming '$2'"
  fi
}
# absent NAME FILE: the run left no FILE.
absent() { [ -e "$2" ] && fail "$1: $2 was written" || true; }

# ---- 8: a FIFO as input or mask ----------------------------------------------------------------
f=$tmp/fifo && mkdir -p "$f"
for name in p p.png p.jpg p.dcm p.nii p.nii.gz; do
  mkfifo "$f/$name"
  out=$f/out.nii.gz
  case $name in *.png | *.jpg) out=$f/out.png ;; esac
  timeout 30 "$cli" segment --model "$model" --input "$f/$name" --output "$out" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  if [ "$rc" -eq 124 ]; then
    fail "segment --input FIFO '$name': still waiting after 30 s"
  elif [ "$rc" -ne 1 ]; then
    fail "segment --input FIFO '$name': exit $rc: $(head -c 300 "$tmp/err")"
  else
    one_error "segment --input FIFO '$name'" "not a regular file"
  fi
  absent "FIFO $name" "$out"
done
$py - "$f/slice.png" << 'EOF'
import struct, sys, zlib
w, h = 32, 32
raw = b"".join(b"\0" + bytes((x * 7 + y * 3) & 255 for x in range(w)) for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF
timeout 30 "$cli" eval --model "$model" --images "$f/slice.png" --masks "$f/p.png" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && one_error "eval --masks FIFO" "not a regular file" ||
  fail "eval --masks FIFO: exit $rc: $(head -c 300 "$tmp/err")"

# ---- 6: JPEG compressed data shorter than its header says ------------------------------------
j=$tmp/jpeg && mkdir -p "$j"
$py - "$src_dir/tests/support/small_grey_jpeg.inc" "$j" << 'EOF'
import re, sys
b = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", open(sys.argv[1]).read()))
out = sys.argv[2]
open(out + "/good.jpg", "wb").write(b)
sof = b.find(b"\xff\xc0")
def sized(w, h):
    c = bytearray(b)
    c[sof + 5:sof + 9] = bytes([h >> 8, h & 255, w >> 8, w & 255])
    return bytes(c)
open(out + "/tall.jpg", "wb").write(sized(24, 32))
open(out + "/huge.jpg", "wb").write(sized(16384, 4096))
sos = b.find(b"\xff\xda")
data = sos + 2 + (b[sos + 2] << 8 | b[sos + 3])
cut = b[:data + (len(b) - 2 - data) // 2].rstrip(b"\xff") + b"\xff\xd9"
open(out + "/cut.jpg", "wb").write(cut)
EOF
run 0 "segment a complete grey JPEG" segment --model "$model" --input "$j/good.jpg" --output "$j/good_mask.png"
for name in tall huge cut; do
  run 1 "segment a JPEG with short compressed data ($name)" segment --model "$model" --input "$j/$name.jpg" \
    --output "$j/${name}_mask.png" && one_error "JPEG $name" "$name.jpg.*truncated image data"
  absent "JPEG $name" "$j/${name}_mask.png"
done

if [ "$have_pydicom" -eq 0 ]; then
  echo "pydicom or numpy missing for /usr/bin/python3: the DICOM cases are skipped"
  hostile_summary
  exit $?
fi

# write_series DIR N [MODALITY|-]: N CT slices IM0001.. (24 x 20, 3 mm apart, one series); "-"
# writes no Modality.
write_series() {
  $py - "$@" << 'EOF'
import os, sys
import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
folder, n = sys.argv[1], int(sys.argv[2])
modality = sys.argv[3] if len(sys.argv) > 3 else "CT"
os.makedirs(folder, exist_ok=True)
uid = generate_uid()
rng = np.random.default_rng(3)
for k in range(n):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = os.path.join(folder, "IM%04d" % (k + 1))
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    if modality != "-":
        ds.Modality = modality
    ds.SeriesInstanceUID, ds.StudyInstanceUID = uid, "1.2.3.4"
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [0.0, 0.0, 3.0 * k]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.8, 0.8]
    ds.Rows, ds.Columns = 24, 20
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = rng.integers(0, 1400, (24, 20)).astype(np.int16).tobytes()
    ds.save_as(path, write_like_original=False)
EOF
}
# cut FILE BYTES: removes the last BYTES bytes of FILE (a download cut short).
cut() { $py -c "import sys; p = sys.argv[1]; b = open(p, 'rb').read(); open(p, 'wb').write(b[:-int(sys.argv[2])])" "$1" "$2"; }

# ---- 3, 12: a damaged slice of a series ---------------------------------------------------------
d=$tmp/dicom && mkdir -p "$d"
write_series "$d/ok" 8
run 0 "segment an intact series" segment --model "$model" --input "$d/ok" --output "$d/ok_mask.nii.gz"
for k in 0001 0005 0008; do
  s=$d/s$k
  cp -r "$d/ok" "$s"
  cut "$s/IM$k" 100
  run 1 "segment a series with a damaged IM$k" segment --model "$model" --input "$s" --output "$s.nii.gz" \
    --report "$s.json" && one_error "damaged IM$k" "IM$k.*cannot be read.*truncated"
  grep -q "missing slice" "$tmp/err" && fail "damaged IM$k: reported as a missing slice"
  absent "damaged IM$k" "$s.nii.gz"
  absent "damaged IM$k" "$s.json"
done
# Damaged before its SeriesInstanceUID: the folder holds no other series, so it is an error too.
s=$d/early && cp -r "$d/ok" "$s"
$py -c "import sys; p = sys.argv[1]; b = open(p, 'rb').read(); open(p, 'wb').write(b[:200])" "$s/IM0008"
run 1 "segment a series whose last slice is cut at 200 bytes" segment --model "$model" --input "$s" \
  --output "$s.nii.gz" && one_error "cut at 200 bytes" "IM0008.*truncated"
: > "$s/IM0008"
run 1 "segment a series whose last slice is empty" segment --model "$model" --input "$s" \
  --output "$s.nii.gz" && one_error "empty last slice" "IM0008.*empty file"
absent "damaged before the UID" "$s.nii.gz"

# ---- 5: only CT --------------------------------------------------------------------------------
for m in MR PT OT; do
  write_series "$d/$m" 4 "$m"
  run 1 "segment a $m series" segment --model "$model" --input "$d/$m" --output "$d/$m.nii.gz" &&
    one_error "$m series" "IM0001.*Modality (0008,0060) is $m"
  absent "$m series" "$d/$m.nii.gz"
done
write_series "$d/nomod" 4 -
run 0 "segment a series without Modality (read as CT)" segment --model "$model" --input "$d/nomod" \
  --output "$d/nomod.nii.gz" && { grep -q "no Modality" "$tmp/err" "$tmp/out" && pass "no Modality: warned" ||
  fail "no Modality: no warning: $(cat "$tmp/err")"; }

# ---- 15: a damaged JPEG 2000 slice: one error line ---------------------------------------------
j2k=$($py -c "import os, pydicom.data; print(os.path.join(os.path.dirname(pydicom.data.__file__), 'test_files', 'MR_small_jp2klossless.dcm'))" 2> /dev/null)
if [ -n "$j2k" ] && [ -f "$j2k" ]; then
  $py - "$j2k" "$d/j2k" << 'EOF'
import os, sys
import pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.Modality = "CT"  # a CT slice compressed with JPEG 2000 (the pixel data is kept as it is)
os.makedirs(sys.argv[2], exist_ok=True)
out = os.path.join(sys.argv[2], "IM0001")
ds.save_as(out)
b = bytearray(open(out, "rb").read())
cs = b.find(b"\xff\x4f\xff\x51")
sot = b.find(b"\xff\x90", cs)
assert cs > 0 and sot > cs
b[sot + 1] = 0xB0  # the start-of-tile marker damaged: OpenJPEG reports "Stream too short"
open(out, "wb").write(bytes(b))
EOF
  run 1 "segment a damaged JPEG 2000 slice" segment --model "$model" --input "$d/j2k" --output "$d/j2k.nii.gz" &&
    one_error "damaged JPEG 2000" "IM0001.*could not decode"
  absent "damaged JPEG 2000" "$d/j2k.nii.gz"
else
  echo "pydicom's MR_small_jp2klossless.dcm not found: the JPEG 2000 case is skipped"
fi

hostile_summary
