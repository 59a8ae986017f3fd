#!/usr/bin/env bash
# Issue 15, items 1, 2, 3, 8 and 9 through the CLI (SRMDS_CLI):
#   corrupt weights (NaN, Inf, 3e38, negative BN running_var, finite weights whose logits overflow):
#   segment and eval fail naming the weight file (and the tensor where the file is at fault);
#   checkpoint metadata (epoch nan/1e300/-5/1.7, best_dice nan, bad step) and negative Adam moments
#   are rejected by --resume naming file and key; --weight-decay inf and --warmup-epochs 1e308 are
#   rejected naming the option; bounded memory (a small file whose config asks for base 256, a
#   NIfTI of many 1 x 1 slices, a gzip bomb, --size/--check-size/--base beyond the limits); error
#   messages name the user's input: no temp path, no negative MAC count, no "[check ..." suffix.
# Exit 77 (skipped) when the binary or /usr/bin/python3 with numpy is missing.
set -u
cli=${SRMDS_CLI:-}
if [ -z "$cli" ] || [ ! -x "$cli" ]; then echo "SRMDS_CLI not set or not executable; skipping"; exit 77; fi
py=/usr/bin/python3
if ! $py -c "import numpy" 2> /dev/null; then echo "no numpy for $py; skipping"; exit 77; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_cli_weights.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

ok() {
  local name=$1
  shift
  if ! "$@" > "$tmp/ok.out" 2> "$tmp/ok.err"; then fail "$name: exit $? ($*)"; cat "$tmp/ok.out" "$tmp/ok.err"; return 1; fi
}

# bad NAME PATTERN -- ARGS...: srmds ARGS fails (exit 1..127) with one "srmds: error:" line on stderr
# that matches PATTERN (grep -E, case-insensitive) and carries no developer "[check" suffix.
bad() {
  local name=$1 pattern=$2
  shift 3
  "$cli" "$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
  local rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then fail "$name: exit status $rc (expected 1..127)"; fi
  if [ "$(wc -l < "$tmp/bad.err")" -ne 1 ]; then fail "$name: not one line on stderr:"; cat "$tmp/bad.err"; fi
  if ! grep -q '^srmds: error: ' "$tmp/bad.err"; then fail "$name: stderr does not start with 'srmds: error:'"; fi
  if ! grep -qiE -e "$pattern" "$tmp/bad.err"; then fail "$name: stderr does not match /$pattern/: $(cat "$tmp/bad.err")"; fi
  if grep -q '\[check' "$tmp/bad.err"; then fail "$name: developer suffix in the message: $(cat "$tmp/bad.err")"; fi
  echo "ok: $name -> $(head -c 240 "$tmp/bad.err")"
}

# A safetensors editor: edit.py IN OUT ACTION [ARG...].
cat > "$tmp/edit.py" << 'PYEOF'
import json, struct, sys
import numpy as np
src, dst, action = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
data = bytearray(raw[8 + n:])
meta = head.pop("__metadata__", {})
def tensor(name):
    e = head[name]
    b, end = e["data_offsets"]
    return np.frombuffer(data, dtype=np.float32, count=(end - b) // 4, offset=b)
def set_values(name, fn):
    e = head[name]
    b, end = e["data_offsets"]
    a = tensor(name).copy()
    a = fn(a).astype(np.float32)
    data[b:end] = a.tobytes()
def first(pred):
    return next(k for k in sorted(head) if pred(k))
if action == "value":  # value TENSOR-SUFFIX X: one element set to X
    name = first(lambda k: k.endswith(args[0]))
    def f(a):
        a[len(a) // 2] = float(args[1]); return a
    set_values(name, f)
elif action == "scale":  # scale X: every conv weight times X
    for k in list(head):
        if k.endswith("conv.weight") or k.endswith("fused.weight"):
            set_values(k, lambda a: a * float(args[0]))
elif action == "meta":  # meta KEY VALUE
    meta[args[0]] = args[1]
elif action == "config":  # config KEY JSON-VALUE
    c = json.loads(meta["config"]); c[args[0]] = json.loads(args[1]); meta["config"] = json.dumps(c)
else:
    raise SystemExit("unknown action " + action)
head["__metadata__"] = meta
h = json.dumps(head).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + bytes(data))
PYEOF
edit() { $py "$tmp/edit.py" "$@" || fail "edit.py $*"; }

ph=$tmp/ph
ok "phantom" "$cli" phantom --out "$ph" --count 3 --size 32 --slices 2 --seed 5 || exit 1
imgs=$ph/phantom_000_image.nii.gz,$ph/phantom_001_image.nii.gz
msks=$ph/phantom_000_mask.nii.gz,$ph/phantom_001_mask.nii.gz
img=$ph/phantom_002_image.nii.gz
msk=$ph/phantom_002_mask.nii.gz
ck=$tmp/ck.safetensors
ok "train" "$cli" train --images "$imgs" --masks "$msks" --out "$ck" --epochs 1 --batch 2 --base 4 --size 32 \
  --val-fraction 0.5 --seed 1 || exit 1
ok "segment (good weights)" "$cli" segment --model "$ck" --input "$img" --output "$tmp/good_mask.nii.gz"

# ---- item 1: corrupt weights ------------------------------------------------------------------
edit "$ck" "$tmp/nan.safetensors" value enc1.b0.br.3x3.conv.weight nan
edit "$ck" "$tmp/inf.safetensors" value enc1.b0.br.3x3.conv.weight inf
edit "$ck" "$tmp/big.safetensors" value enc1.b0.br.3x3.conv.weight 3e38
edit "$ck" "$tmp/negvar.safetensors" value enc2.b1.br.1x1.bn.running_var -1
edit "$ck" "$tmp/overflow.safetensors" scale 1e12
for cmd in segment eval; do
  if [ $cmd = segment ]; then args=(--input "$img" --output "$tmp/out_mask.nii.gz"); else args=(--images "$img" --masks "$msk"); fi
  bad "$cmd NaN weight" "nan.safetensors.*tensor 'enc1.b0.br.3x3.conv.weight'.*non-finite" -- $cmd --model "$tmp/nan.safetensors" "${args[@]}"
  bad "$cmd Inf weight" "inf.safetensors.*tensor 'enc1.b0.br.3x3.conv.weight'.*non-finite" -- $cmd --model "$tmp/inf.safetensors" "${args[@]}"
  bad "$cmd 3e38 weight" "big.safetensors.*tensor 'enc1.b0.br.3x3.conv.weight'.*absurd" -- $cmd --model "$tmp/big.safetensors" "${args[@]}"
  bad "$cmd negative running_var" "negvar.safetensors.*enc2.b1.br.1x1.bn.running_var.*negative variance" -- $cmd --model "$tmp/negvar.safetensors" "${args[@]}"
  bad "$cmd overflowing logits" "overflow.safetensors.*non-finite" -- $cmd --model "$tmp/overflow.safetensors" "${args[@]}"
  [ -e "$tmp/out_mask.nii.gz" ] && fail "$cmd: a mask was written from corrupt weights"
done
bad "fuse NaN weight" "nan.safetensors.*enc1.b0.br.3x3.conv.weight" -- fuse --model "$tmp/nan.safetensors" --out "$tmp/f.safetensors"

# ---- items 2 and 3: checkpoints -----------------------------------------------------------------
resume() { "$cli" train --images "$imgs" --masks "$msks" --out "$tmp/r.safetensors" --epochs 2 --batch 2 --val-fraction 0.5 --seed 1 --resume "$@"; }
for kv in "epoch nan" "epoch 1e300" "epoch -5" "epoch 1.7" "epoch inf" "step nan" "step -3" "step 2.5" "step 1e300" \
          "best_dice nan" "best_dice 7" "best_dice inf"; do
  set -- $kv
  edit "$ck" "$tmp/meta.safetensors" meta "$1" "$2"
  bad "resume $1=$2" "meta.safetensors.*'$1'" -- train --images "$imgs" --masks "$msks" --out "$tmp/r.safetensors" \
    --epochs 2 --batch 2 --val-fraction 0.5 --seed 1 --resume "$tmp/meta.safetensors"
done
[ -e "$tmp/r.safetensors" ] && fail "resume: a checkpoint was written from bad metadata"
edit "$ck" "$tmp/negv.safetensors" value optimizer.v.head0.weight -1
bad "resume negative second moment" "negv.safetensors.*optimizer.v.head0.weight.*negative" -- train --images "$imgs" \
  --masks "$msks" --out "$tmp/r.safetensors" --epochs 2 --batch 2 --val-fraction 0.5 --seed 1 --resume "$tmp/negv.safetensors"
ok "resume (good checkpoint)" resume "$ck"
bad "--weight-decay inf" "--weight-decay" -- train --images "$imgs" --masks "$msks" --out "$tmp/w.safetensors" --epochs 1 \
  --base 4 --size 32 --weight-decay inf
bad "--warmup-epochs 1e308" "--warmup-epochs.*1e\+?308" -- train --images "$imgs" --masks "$msks" --out "$tmp/w.safetensors" \
  --epochs 1 --base 4 --size 32 --warmup-epochs 1e308
grep -qE -- "-[0-9]{6,}" "$tmp/bad.err" && fail "--warmup-epochs: an overflowed number in the message"

# ---- item 8: bounded memory ---------------------------------------------------------------------
edit "$ck" "$tmp/base256.safetensors" config base 256
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f "%M" -o "$tmp/rss" "$cli" segment --model "$tmp/base256.safetensors" --input "$img" \
    --output "$tmp/o.nii.gz" > /dev/null 2> "$tmp/bad.err"
  rss=$(tail -n 1 "$tmp/rss")
  echo "base 256 in a small file: max RSS $rss KB"
  [ "$rss" -lt 500000 ] || fail "base 256 in a small file: max RSS $rss KB (expected well under 500 MB)"
fi
bad "small file, config base 256" "base256.safetensors.*holds .* values.*base 256" -- segment --model "$tmp/base256.safetensors" \
  --input "$img" --output "$tmp/o.nii.gz"
edit "$ck" "$tmp/base4096.safetensors" config base 4096
bad "config base 4096" "base4096.safetensors.*\"base\".*\[1, 256\]" -- info --model "$tmp/base4096.safetensors"
edit "$ck" "$tmp/size65536.safetensors" config input_size "[65536, 65536]"
bad "config input_size 65536" "size65536.safetensors.*input_size.*at most 4096" -- info --model "$tmp/size65536.safetensors"
bad "train --size 65536" "--size.*at most 4096" -- train --images "$imgs" --masks "$msks" --out "$tmp/w.safetensors" --size 65536
bad "train --base 4096" "--base.*\[1, 256\]" -- train --images "$imgs" --masks "$msks" --out "$tmp/w.safetensors" --base 4096
bad "fuse --check-size 65536" "--check-size.*at most 4096" -- fuse --model "$ck" --out "$tmp/f.safetensors" --check-size 65536
bad "info --base 4096 --size 65536" "--(base|size)" -- info --base 4096 --size 65536
grep -q -- "-[0-9]" "$tmp/bad.out" && fail "info: a negative number in the output"
ok "info --base 256 --size 4096" "$cli" info --base 256 --size 4096
grep "MAC" "$tmp/ok.out" | grep -qE -- "-[0-9]" && fail "info at the limits: a negative count: $(cat "$tmp/ok.out")"
grep -q "MAC" "$tmp/ok.out" || fail "info at the limits: no MAC count: $(cat "$tmp/ok.out")"

# NIfTI volumes that decode to more than the memory budget.
$py - "$tmp" << 'PYEOF' || fail "making the NIfTI bombs"
import gzip, struct, sys
import numpy as np
out = sys.argv[1]
def header(dims, datatype, bitpix):
    h = bytearray(352)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, datatype, bitpix)
    struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", h, 108, 352)
    struct.pack_into("<f", h, 112, 1)  # scl_slope
    h[344:348] = b"n+1\0"
    return bytes(h)
# 1 x 1 x 20000 int16 (40 KB of data): 20000 slices at 512 x 512 would be 20 GB of model input.
with gzip.open(f"{out}/thin.nii.gz", "wb") as f:
    f.write(header((1, 1, 20000), 4, 16) + np.zeros(20000, np.int16).tobytes())
# A gzip bomb: 4096 x 4096 x 120 int16 of zeros (12 GB decoded with its float copy, small compressed).
with gzip.open(f"{out}/bomb.nii.gz", "wb", compresslevel=1) as f:
    f.write(header((4096, 4096, 120), 4, 16))
    zeros = bytes(1 << 24)
    for _ in range(8):  # only the first 128 MB are present: the header alone must be refused
        f.write(zeros)
PYEOF
edit "$ck" "$tmp/ck512.safetensors" config input_size "[512, 512]"  # same tensors, 512 x 512 model input
bad "NIfTI of many 1x1 slices" "thin.nii.gz.*memory budget" -- segment --model "$tmp/ck512.safetensors" --input "$tmp/thin.nii.gz" --output "$tmp/o.nii.gz"
bad "gzip bomb" "bomb.nii.gz.*memory budget" -- segment --model "$ck" --input "$tmp/bomb.nii.gz" --output "$tmp/o.nii.gz"

# ---- item 9: messages name the user's input -------------------------------------------------------
bad "fuse --out into a missing folder" "'$tmp/nodir/f.safetensors'.*folder .* does not exist" -- fuse --model "$ck" --out "$tmp/nodir/f.safetensors"
grep -q "tmp-" "$tmp/bad.err" && fail "fuse --out: the message names a temporary file"
bad "segment --output into a missing folder" "nodir" -- segment --model "$ck" --input "$img" --output "$tmp/nodir/m.nii.gz"
bad "--device cuda" "cuda.*(GPU|without the CUDA backend)" -- segment --model "$ck" --input "$img" --output "$tmp/o.nii.gz" --device cuda
bad "segment --batch 0 (library check, no suffix)" "batch" -- segment --model "$ck" --input "$img" --output "$tmp/o.nii.gz" --batch 0

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "all CLI weight and limit checks passed"
