#!/usr/bin/env bash
# `srmds train` under `mpirun -np 2` (issue 23), on 32 x 32 phantoms with base 4:
#   - a 2-rank run of global batch 5 (shards of 2 and 3 slices) trains, prints its lines once (rank
#     0 alone prints), writes the checkpoint and the best file, and records "ranks": "2";
#   - a resume of it in one process is accepted with a warning about the changed BN batches (an
#     exact 2-rank resume is tested in test_dist_equivalence.cpp);
#   - with --sync-bn the run says BatchNorm is over the global batch, and a resume of it in one
#     process has no such warning, while one without --sync-bn is refused (exit 2, the run record);
#   - one rank given a missing file, a damaged file, or other slices than rank 0's ends the whole
#     job within seconds with an error naming that rank and a non-zero status, not a hang (a usage
#     error: status 2).
set -u
cli=${SRMDS_CLI:?}
mpiexec=${SRMDS_MPIEXEC:-}
[ -n "$mpiexec" ] || { echo "skipped: this build has no MPI"; exit 77; }
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; exit 1; }
cd "$tmp"
"$cli" phantom --out data --count 4 --slices 4 --size 32 --seed 3 > /dev/null || fail "phantom"
"$cli" phantom --out other --count 4 --slices 4 --size 32 --seed 4 > /dev/null || fail "phantom"
imgs=$(ls data/*_image.nii.gz | paste -sd,)
msks=$(ls data/*_mask.nii.gz | paste -sd,)
common=(--masks "$msks" --size 32 --base 4 --batch 5 --val-fraction 0.25 --seed 1 --log-every 1)

# The 2-rank run.
"${mpi[@]}" -np 2 "$cli" train --images "$imgs" "${common[@]}" --out ck.safetensors --epochs 2 >"$tmp/out" 2>"$tmp/err" ||
  fail "2-rank training exited $?"
[ "$(grep -c '^training ' out)" = 1 ] || fail "the 'training' line is not printed exactly once"
grep -q "^data-parallel: 2 ranks (MPI), 2 or 3 slices per rank and step, BatchNorm over each rank's slices$" out ||
  fail "no data-parallel line"
[ "$(grep -c '^epoch 2/2 done' out)" = 1 ] || fail "the epoch line is not printed exactly once"
[ -f ck.safetensors ] && [ -f ck.best.safetensors ] || fail "checkpoint or best file missing"
head -c 20000 ck.safetensors | grep -aq '"ranks":"2"' || fail "the checkpoint does not record ranks 2"

# A resume in one process: accepted, with the warning.
OMP_NUM_THREADS=1 "$cli" train --images "$imgs" "${common[@]}" --out ck.safetensors --resume ck.safetensors \
  --epochs 3 >"$tmp/out" 2>"$tmp/err" || fail "1-process resume exited $?"
grep -q "was trained on 2 rank(s) and this run has 1" err || fail "no warning about the changed number of ranks"

# --sync-bn.
"${mpi[@]}" -np 2 "$cli" train --images "$imgs" "${common[@]}" --sync-bn --out sync.safetensors --epochs 1 \
  >"$tmp/out" 2>"$tmp/err" || fail "2-rank --sync-bn training exited $?"
grep -q '^data-parallel: 2 ranks (MPI), 2 or 3 slices per rank and step, BatchNorm over the global batch (--sync-bn)$' \
  out || fail "no --sync-bn data-parallel line"
OMP_NUM_THREADS=1 "$cli" train --images "$imgs" "${common[@]}" --sync-bn --out sync.safetensors \
  --resume sync.safetensors --epochs 2 >"$tmp/out" 2>"$tmp/err" || fail "1-process --sync-bn resume exited $?"
grep -q "rank(s) and this run has" err && fail "a warning about BN batches with --sync-bn"
OMP_NUM_THREADS=1 "$cli" train --images "$imgs" "${common[@]}" --out sync2.safetensors --resume sync.safetensors \
  --epochs 3 >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" = 2 ] && grep -q -- "--sync-bn" err || fail "a resume without --sync-bn: exit $status, expected 2 naming it"

# One bad rank ends the job: rank 1 gets a missing file, a damaged file, other slices.
cp data/phantom_001_image.nii.gz damaged.nii.gz && truncate -s 300 damaged.nii.gz
bad_missing=${imgs/data\/phantom_001_image.nii.gz/data\/no_such_image.nii.gz}
bad_damaged=${imgs/data\/phantom_001_image.nii.gz/damaged.nii.gz}
bad_other=${imgs/data\/phantom_001_image.nii.gz/other\/phantom_001_image.nii.gz}
for case in missing damaged other; do
  var=bad_$case
  start=$(date +%s)
  timeout 60 "${mpi[@]}" -np 1 "$cli" train --images "$imgs" "${common[@]}" --out "$case.safetensors" --epochs 1 : \
    -np 1 "$cli" train --images "${!var}" "${common[@]}" --out "$case.safetensors" --epochs 1 >"$tmp/out" 2>"$tmp/err"
  status=$?
  took=$(($(date +%s) - start))
  [ "$status" = 124 ] && fail "$case: the job hung (killed after 60 s)"
  [ "$status" != 0 ] || fail "$case: the job exited 0"
  # A missing or damaged file fails on rank 1 alone; other slices are found by every rank at once
  # (any rank may be first to report it), and the message names rank 1 as the one that differs.
  if [ "$case" = other ]; then
    grep -q "srmds: error: rank [01] of 2: the training slices (--images, --masks) on rank 1 differ from rank 0's" err ||
      fail "$case: no error naming rank 1"
  else
    grep -q "srmds: error: rank 1 of 2: " err || fail "$case: no error naming rank 1"
  fi
  [ "$took" -le 20 ] || fail "$case: the job took $took s to end"
  [ -f "$case.safetensors" ] && fail "$case: a checkpoint was written"
  echo "$case file on rank 1: exit $status after ${took} s: $(grep 'srmds: error: rank' err | head -1)"
done
# A usage error on one rank: exit status 2, as in one process.
timeout 60 "${mpi[@]}" -np 1 "$cli" train --images "$imgs" "${common[@]}" --out usage.safetensors : \
  -np 1 "$cli" train --images "$imgs" "${common[@]}" --out usage.safetensors --epochs 0 >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" = 2 ] || fail "usage error on rank 1: exit $status, expected 2"
grep -q "srmds: error: rank 1 of 2: train: --epochs must be in" err || fail "usage error on rank 1: no error naming rank 1"
echo "PASS"
