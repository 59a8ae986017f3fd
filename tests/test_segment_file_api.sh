#!/usr/bin/env bash
# Issue 24 item 5: a program that embeds srmds and calls the pipeline API (examples/segment_file.cpp,
# infer/segment_file.hpp) writes the same mask, probability map and report, byte for byte, as
# `srmds segment` on the same NIfTI volume and on a folder of slices, and refuses the same bad names
# with the same exit status. Exit 77 (skipped) without the CLI or the example (SRMDS_BUILD_EXAMPLES).
. "$(dirname "$0")/support/hostile_common.sh"
example=${SRMDS_BINARY_DIR:-}/examples/segment_file
if [ ! -x "$example" ]; then
  echo "examples/segment_file not built; skipping"
  exit 77
fi
same() { cmp -s "$1" "$2" && pass "$3: identical" || fail "$3: '$1' and '$2' differ"; }

mkdir -p "$tmp/cli" "$tmp/api"
run 0 "srmds segment on a NIfTI volume" segment --model "$model" --input "$img" --output "$tmp/cli/m.nii.gz" \
  --prob-out "$tmp/cli/p.nii.gz" --report "$tmp/cli/r.json"
"$example" "$model" "$img" "$tmp/api/m.nii.gz" "$tmp/api/p.nii.gz" "$tmp/api/r.json" > /dev/null ||
  fail "segment_file on a NIfTI volume: exit $?"
same "$tmp/cli/m.nii.gz" "$tmp/api/m.nii.gz" "the mask"
same "$tmp/cli/p.nii.gz" "$tmp/api/p.nii.gz" "the probability map"
same "$tmp/cli/r.json" "$tmp/api/r.json" "the report"

mkdir -p "$tmp/slices"
for i in 0 1 2; do /usr/bin/python3 "$(dirname "$0")/support/write_png.py" "$tmp/slices/s$i.png" 40 36 "$i"; done
run 0 "srmds segment on a folder of slices" segment --model "$model" --input "$tmp/slices" --output "$tmp/cli/masks"
"$example" "$model" "$tmp/slices" "$tmp/api/masks" > /dev/null || fail "segment_file on a folder of slices: exit $?"
for i in 0 1 2; do same "$tmp/cli/masks/s$i.png" "$tmp/api/masks/s$i.png" "slice mask $i"; done

"$example" "$model" "$img" "$img" > /dev/null 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "refusing to overwrite an input" "$tmp/err" || fail "segment_file onto its input: $(cat "$tmp/err")"
cmp -s "$img" "$tmp/img.orig" || fail "segment_file onto its input: the input changed"
hostile_summary
