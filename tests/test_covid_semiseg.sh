#!/usr/bin/env bash
# The real-data example in short (SPEC §7, README "Real CT"): scripts/run-covid-semiseg.sh --quick
# (2 epochs at 64 x 64, base 4) on ../shared/data/covid-semiseg: 40 training and 10 validation
# slices, a metrics table and 10 overlays. Skipped (exit 77) with a message when the data folder or
# the binary is absent.
set -u
cli=${SRMDS_CLI:-}
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
  echo "SRMDS_CLI not set or not executable; skipping"
  exit 77
fi
src=${SRMDS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
data=${SRMDS_COVID_SEMISEG:-$src/../shared/data/covid-semiseg}
if [ ! -d "$data/train/images" ]; then
  echo "skipped: the covid-semiseg data is not at $data (see README, Real CT)"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_covid.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
SRMDS_CLI=$cli bash "$src/scripts/run-covid-semiseg.sh" --data "$data" --out "$tmp" --quick > "$tmp/log.txt" 2>&1
rc=$?
cat "$tmp/log.txt" | grep -v "step " | tail -30
[ $rc -eq 0 ] || { echo "FAIL: run-covid-semiseg.sh exited $rc"; exit 1; }
failures=0
grep -q "40 training slices, 10 validation slices" "$tmp/log.txt" || { echo "FAIL: not a 40/10 split"; failures=$((failures + 1)); }
grep -qE "^dice +[0-9.]+ %" "$tmp/log.txt" || { echo "FAIL: no Dice row"; failures=$((failures + 1)); }
grep -qE "^sensitivity" "$tmp/log.txt" || { echo "FAIL: no sensitivity row"; failures=$((failures + 1)); }
[ "$(ls "$tmp/overlays" | wc -l)" -eq 10 ] || { echo "FAIL: expected 10 overlays"; failures=$((failures + 1)); }
[ -f "$tmp/model.safetensors" ] || { echo "FAIL: no model"; failures=$((failures + 1)); }
[ $failures -eq 0 ] || exit 1
echo "covid-semiseg quick run: ok"
