#!/usr/bin/env bash
# `srmds train --device cuda` under `mpirun -np 1` with the NCCL communicator against the same run in
# one process (issue 23, item 5), on 32 x 32 phantoms with base 4:
#   - the launched run says its gradients go through NCCL and trains;
#   - its epoch losses equal the single-process run's to 2e-3 (both runs let cuDNN choose its
#     algorithms, which need not be the same run to run, so this is not bit for bit; the bit-for-bit
#     comparison with deterministic algorithms is tests/cuda/test_cuda_nccl.cpp).
# Skipped (exit 77) without mpirun (a build without MPI), in a build without CUDA, where this machine has no usable GPU (CI
# and the development machines), or where libnccl.so.2 cannot be loaded.
set -u
cli=${SRMDS_CLI:?}
mpiexec=${SRMDS_MPIEXEC:-}
[ -n "$mpiexec" ] && command -v "$mpiexec" >/dev/null 2>&1 || { echo "skipped: no mpirun (this build has no MPI)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; exit 1; }
cd "$tmp"
"$cli" phantom --out data --count 4 --slices 2 --size 32 --seed 3 > /dev/null || fail "phantom"
imgs=$(ls data/*_image.nii.gz | paste -sd,)
msks=$(ls data/*_mask.nii.gz | paste -sd,)
common=(--device cuda --images "$imgs" --masks "$msks" --size 32 --base 4 --batch 4 --epochs 2 --val-fraction 0
  --seed 1 --log-every 1)

"$cli" train "${common[@]}" --out one.safetensors >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" != 0 ]; then
  grep -q "no usable GPU" err && { echo "skipped: $(grep -m1 'no usable GPU' err)"; exit 77; }
  grep -q "built without the CUDA backend" err && { echo "skipped: this srmds has no CUDA backend"; exit 77; }
  fail "the single-process GPU run exited $status"
fi
grep '^epoch .* done' out | sed 's/.*train loss \([0-9.]*\).*/\1/' > one.txt

"$mpiexec" --allow-run-as-root --oversubscribe -np 1 "$cli" train "${common[@]}" --out nccl.safetensors \
  >"$tmp/out" 2>"$tmp/err" || fail "the mpirun -np 1 GPU run exited $?"
if ! grep -q '^gradients: NCCL ' out; then
  grep -q "NCCL cannot be loaded" err && { echo "skipped: $(grep -m1 'NCCL cannot be loaded' err)"; exit 77; }
  fail "no 'gradients: NCCL' line"
fi
grep '^epoch .* done' out | sed 's/.*train loss \([0-9.]*\).*/\1/' > nccl.txt
[ "$(wc -l < one.txt)" = 2 ] && [ "$(wc -l < nccl.txt)" = 2 ] || fail "expected 2 epoch lines from each run"
paste one.txt nccl.txt | awk '{d = $1 - $2; if (d < 0) d = -d; if (d > 2e-3) bad = 1} END {exit bad}' ||
  fail "epoch losses differ: $(paste -sd' ' one.txt) (one process) against $(paste -sd' ' nccl.txt) (NCCL)"
echo "PASS: $(grep -m1 '^gradients: NCCL' out); losses $(paste -sd' ' nccl.txt)"
