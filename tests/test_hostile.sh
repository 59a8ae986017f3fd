#!/usr/bin/env bash
# Issue 15's hostile cases through the CLI (SRMDS_CLI), so they stay fixed:
#   lost files: a failing segment keeps the user's files (wrong extension, a later failing output,
#   a full disk); outputs that are inputs or each other are refused (links and ./x count); an
#   output naming a pipe or (as root) a device node is refused; a phantom run on a full disk
#   leaves nothing; signals (SIGINT/SIGTERM) during segment and training leave no temporary file,
#   never a mask without its probability map, and a loadable checkpoint; kill -9 during training
#   and --resume; CLI conventions (invalid values exit 2, subcommand list, --seed -1, --labels any).
# A full disk is a small tmpfs where mount works (root), else a file size limit (ulimit -f, which
# gives SIGXFSZ/EFBIG); parts that need privileges it lacks are skipped with a message.
# Exit 77 (skipped) when the binary is missing.
. "$(dirname "$0")/support/hostile_common.sh"

# ---- 4: a failing segment keeps the user's files ----------------------------------------------
d=$tmp/keep && mkdir -p "$d"
echo mine > "$d/mask.txt"
run 2 "segment --output with a wrong extension" segment --model "$model" --input "$img" --output "$d/mask.txt"
[ "$(cat "$d/mask.txt")" = mine ] || fail "wrong extension: the existing file was changed or removed"
echo old-mask > "$d/mask.nii.gz"
echo old-prob > "$d/prob.nii.gz"
echo blocker > "$d/notadir"
run 1 "segment with a later failing output (--png-dir is a file)" segment --model "$model" --input "$img" \
  --output "$d/mask.nii.gz" --prob-out "$d/prob.nii.gz" --png-dir "$d/notadir"
[ "$(cat "$d/mask.nii.gz")" = old-mask ] && [ "$(cat "$d/prob.nii.gz")" = old-prob ] ||
  fail "later failing output: the existing mask/probability files were changed or removed"
no_temps "$d" "later failing output"
# A full disk by a file size limit (SIGXFSZ is ignored: the write fails with EFBIG).
(ulimit -f 4 && exec "$cli" segment --model "$model" --input "$img" --output "$d/mask.nii.gz" \
  --prob-out "$d/prob.nii.gz") > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && pass "segment on a full disk (ulimit -f) exits 1: $(head -c 160 "$tmp/err")" ||
  fail "segment on a full disk (ulimit -f): exit $rc: $(cat "$tmp/err")"
[ "$(cat "$d/mask.nii.gz")" = old-mask ] && [ "$(cat "$d/prob.nii.gz")" = old-prob ] ||
  fail "full disk: the existing mask/probability files were changed or removed"
no_temps "$d" "full disk (ulimit -f)"

# ---- 5: outputs equal to inputs or to each other ----------------------------------------------
ln -s "$img" "$tmp/img_link.nii.gz"
run 2 "segment --output = --input" segment --model "$model" --input "$img" --output "$img"
run 2 "segment --output = ./--input" segment --model "$model" --input "$img" --output "$(dirname "$img")/./$(basename "$img")"
run 2 "segment --output = a link to --input" segment --model "$model" --input "$img" --output "$tmp/img_link.nii.gz"
run 2 "segment --output = --model" segment --model "$model" --input "$img" --output "$model"
run 2 "segment --prob-out = --input" segment --model "$model" --input "$img" --output "$d/m2.nii.gz" --prob-out "$img"
run 2 "segment --output = --prob-out (not existing yet)" segment --model "$model" --input "$img" \
  --output "$d/same.nii.gz" --prob-out "$d/../keep/same.nii.gz"
run 2 "train --out = an image" train --images "$imgs" --masks "$msks" --out "$img" --epochs 1 --base 4 --size 32
run 2 "train --out = a mask" train --images "$imgs" --masks "$msks" --out "$msk" --epochs 1 --base 4 --size 32
run 2 "fuse --out = --model" fuse --model "$model" --out "$model"
cmp -s "$model" "$tmp/model.orig" && cmp -s "$img" "$tmp/img.orig" && pass "inputs intact" || fail "an input was changed"
[ -e "$d/same.nii.gz" ] && fail "--output = --prob-out: an output was written"

# ---- 7: outputs that are not regular files; phantom on a full disk ----------------------------
mkfifo "$tmp/fifo.nii.gz"
run 1 "segment --output is a pipe" segment --model "$model" --input "$img" --output "$tmp/fifo.nii.gz"
[ -p "$tmp/fifo.nii.gz" ] || fail "the pipe was replaced"
if [ "$(id -u)" -eq 0 ] && mknod "$tmp/null.nii.gz" c 1 3 2> /dev/null; then
  run 1 "segment --output is a device node (root)" segment --model "$model" --input "$img" --output "$tmp/null.nii.gz"
  [ -c "$tmp/null.nii.gz" ] || fail "the device node was replaced"
  run 1 "fuse --out is a device node (root)" fuse --model "$model" --out "$tmp/null.nii.gz"
  [ -c "$tmp/null.nii.gz" ] || fail "the device node was replaced by fuse"
else
  echo "skip: device-node outputs (needs root and mknod)"
fi
(ulimit -f 8 && exec "$cli" phantom --out "$tmp/ph_full/sub" --count 3 --size 256) > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && pass "phantom on a full disk exits 1" || fail "phantom on a full disk: exit $rc"
[ -e "$tmp/ph_full" ] && fail "phantom on a full disk left $(find "$tmp/ph_full")"
# A real full file system: a 256 KiB tmpfs, where mount is allowed.
fs=$tmp/tinyfs && mkdir -p "$fs"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=256k tmpfs "$fs" 2> /dev/null; then
  mounted=$fs
  "$cli" phantom --out "$fs/ph" --count 20 --size 128 > /dev/null 2> "$tmp/err"
  rc=$?
  [ "$rc" -eq 1 ] && pass "phantom on a full tmpfs exits 1: $(head -c 160 "$tmp/err")" || fail "phantom on a full tmpfs: exit $rc"
  [ -e "$fs/ph" ] && fail "phantom on a full tmpfs left $(ls "$fs/ph" | head)"
  dd if=/dev/zero of="$fs/fill" bs=1k status=none 2> /dev/null  # until the file system is full
  "$cli" segment --model "$model" --input "$img" --output "$fs/mask.nii.gz" --prob-out "$fs/prob.nii.gz" > /dev/null 2> "$tmp/err"
  rc=$?
  if [ "$rc" -eq 0 ]; then echo "note: segment fit on the tmpfs"; else
    [ "$rc" -eq 1 ] && pass "segment on a full tmpfs exits 1" || fail "segment on a full tmpfs: exit $rc"
    [ -e "$fs/mask.nii.gz" ] && fail "segment on a full tmpfs left a mask"
  fi
  no_temps "$fs" "full tmpfs"
  umount "$fs" && mounted=""
else
  echo "skip: full tmpfs (needs root and mount); the file size limit cases above cover a full disk"
fi

# ---- 6: signals during segment and training ---------------------------------------------------
# A larger volume so that the signal can land while it is written.
big=$tmp/big && "$cli" phantom --out "$big" --count 1 --size 256 --slices 8 --seed 2 > /dev/null
s=$tmp/sig && mkdir -p "$s"
for delay in 0.2 0.5 0.8 1.2 1.6; do
  for sig in INT TERM; do
    rm -f "$s"/*
    "$cli" segment --model "$model" --input "$big/phantom_000_image.nii.gz" --output "$s/mask.nii.gz" \
      --prob-out "$s/prob.nii.gz" > /dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -s "$sig" "$pid" 2> /dev/null
    wait "$pid"
    if [ -e "$s/mask.nii.gz" ] && [ ! -e "$s/prob.nii.gz" ]; then fail "SIG$sig at ${delay}s: mask without its probability map"; fi
    if [ -n "$(find "$s" -name '*srmds-tmp*')" ]; then fail "SIG$sig at ${delay}s: temporary files left: $(ls -A "$s")"; fi
  done
done
pass "signals during segment: no temporary file, never a mask without its probability map"

tr=$tmp/tr && mkdir -p "$tr"
train_args=(train --images "$imgs" --masks "$msks" --out "$tr/ck.safetensors" --batch 1 --base 4 --size 32
  --val-fraction 0.5 --seed 3 --log-every 1000)
"$cli" "${train_args[@]}" --epochs 1 > /dev/null || fail "train for the signal cases"
for sig in KILL INT TERM; do  # KILL first: the later runs resume from what it left
  cp "$tr/ck.safetensors" "$tr/before"
  "$cli" "${train_args[@]}" --epochs 100000 --resume "$tr/ck.safetensors" > /dev/null 2>&1 &
  pid=$!
  sleep 2
  kill -s "$sig" "$pid" 2> /dev/null
  wait "$pid"
  rc=$?
  [ "$rc" -ge 128 ] || fail "SIG$sig during training: exit $rc (expected death by the signal)"
  if [ "$sig" != KILL ]; then
    [ -n "$(find "$tr" -name '*srmds-tmp*')" ] && fail "SIG$sig during training: temporary files left: $(ls -A "$tr")"
  else
    find "$tr" -name '*srmds-tmp*' -delete  # kill -9 cannot clean up: the names are hidden and match no glob
  fi
  "$cli" info --model "$tr/ck.safetensors" > /dev/null 2>&1 || fail "SIG$sig during training: the checkpoint does not load"
  (cd "$tr" && ls -- *.safetensors) | grep -q srmds-tmp && fail "SIG$sig: a temporary file matches *.safetensors"
done
pass "signals and kill -9 during training: the checkpoint loads and resumes"
# ---- 10: CLI conventions ----------------------------------------------------------------------
run 2 "--batch 0" segment --model "$model" --input "$img" --output "$d/x.nii.gz" --batch 0
run 2 "--batch abc" segment --model "$model" --input "$img" --output "$d/x.nii.gz" --batch abc
run 2 "train --epochs 0" train --images "$imgs" --masks "$msks" --out "$d/t.safetensors" --epochs 0
run 2 "--seed -1" train --images "$imgs" --masks "$msks" --out "$d/t.safetensors" --seed -1
run 2 "fuse --seed -1" fuse --model "$model" --out "$d/f.safetensors" --seed -1
run 2 "bare srmds" && grep -q "segment" "$tmp/err" && grep -q "train" "$tmp/err" ||
  fail "bare srmds: no list of subcommands: $(cat "$tmp/err" "$tmp/out")"
run 2 "srmds bogus" bogus && grep -q "bogus" "$tmp/err" && grep -q "segment" "$tmp/err" ||
  fail "srmds bogus: the unknown name or the list is missing: $(cat "$tmp/err")"
run 0 "train --labels any" train --images "$imgs" --masks "$msks" --out "$d/any.safetensors" --epochs 1 --batch 2 \
  --base 4 --size 32 --val-fraction 0.5 --labels any
[ -f "$d/any.safetensors" ] || fail "--labels any: no checkpoint"

hostile_summary
