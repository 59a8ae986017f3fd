#!/usr/bin/env bash
# Runs randomised C++ tests over many seeds, to show a new or changed test never fails (guide: "a
# new randomised test is run over many seeds once before it lands"): each test binary named (default:
# every tests/test_*.cpp that draws fresh_seed()) runs with SRMDS_TEST_SEED = FIRST .. FIRST+COUNT-1;
# a failing seed is printed with the command that replays it. Exit 1 when any seed failed.
# Usage: scripts/seed-sweep.sh BUILD_DIR COUNT [FIRST=1] [TEST...]
set -u
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/seed-sweep.sh BUILD_DIR COUNT [FIRST] [TEST...]}
count=${2:?COUNT}
first=${3:-1}
shift $(($# < 3 ? $# : 3))
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  mapfile -t tests < <(grep -l "fresh_seed" tests/test_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
fi
failed=0
for t in "${tests[@]}"; do
  bin="$build/tests/$t"
  [ -x "$bin" ] || { echo "$t: not built in $build"; failed=1; continue; }
  bad=0
  start=$(date +%s)
  for ((s = first; s < first + count; ++s)); do
    if ! SRMDS_TEST_SEED=$s SRMDS_DEBUG_CHECKS=1 OMP_WAIT_POLICY=PASSIVE "$bin" > /dev/null 2>&1; then
      echo "$t: FAILED with seed $s (replay: SRMDS_TEST_SEED=$s SRMDS_DEBUG_CHECKS=1 $bin)"
      bad=$((bad + 1))
    fi
  done
  echo "$t: $count seeds from $first, $bad failed ($(($(date +%s) - start)) s)"
  [ "$bad" -eq 0 ] || failed=1
done
exit $failed
