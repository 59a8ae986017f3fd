#!/usr/bin/env bash
# scripts/ablation.sh end to end on tiny phantoms (2 training + 1 held-out volume of 2 slices,
# 32 px, base 4, one epoch): the default model (att-se), a variant with the same options
# (ds-native: trained once, same numbers), the plain U-Net (3x3 only, no attention, no deep
# supervision: fewer parameters than the default), external BN with Dice weight 1 and a variant
# srmds refuses (an error row, the
# table still printed). Exit 77 (skipped) when the binary is missing.
set -u
cli=${SRMDS_CLI:-}
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
  echo "SRMDS_CLI not set or not executable; skipping"
  exit 77
fi
src=${SRMDS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_ablation_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

bash "$src/scripts/ablation.sh" --cli "$cli" --out "$tmp/work" --phantoms 2,1 --phantom-size 32 --phantom-slices 2 \
  --variants att-se,ds-native,unet,bn-external-dice1 --add "bogus=--attention bogus" --gmac-size 64 \
  -- --epochs 1 --batch 2 --base 4 --size 32 --val-fraction 0.5 --seed 1 > "$tmp/out" 2> "$tmp/err"
rc=$?
cat "$tmp/out"
[ "$rc" -eq 0 ] || { fail "ablation.sh exit $rc"; cat "$tmp/err"; }
[ -f "$tmp/work/table.txt" ] || fail "no table.txt"
grep -qE "^group +variant +sens +spec +prec +dice +\| +sens +spec +prec +dice +\| +params +MAC" "$tmp/out" ||
  fail "no header row"
num='[0-9]+\.[0-9]{2}|n/a'
row_re() { echo "^$1 +$2( +($num)){4} +\|( +($num)){4} +\| +[0-9,]+ +[0-9.]+ [GM]MAC$"; }
grep -qE "$(row_re attention att-se)" "$tmp/out" || fail "no complete att-se row"
grep -qE "$(row_re ds ds-native)" "$tmp/out" || fail "no complete ds-native row"
grep -qE "$(row_re branches unet)" "$tmp/out" || fail "no complete unet row"
grep -qE "$(row_re bn-dice bn-external-dice1)" "$tmp/out" || fail "no complete bn-external-dice1 row"
grep -qE "^custom +bogus +error: train \(exit [0-9]+\): .*attention" "$tmp/out" || fail "no error row for bogus"
grep -q "ds-native: same options as an earlier variant" "$tmp/err" || fail "ds-native was trained again"
a=$(grep -E "^attention +att-se" "$tmp/out" | sed 's/^attention *att-se *//')
b=$(grep -E "^ds +ds-native" "$tmp/out" | sed 's/^ds *ds-native *//')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "att-se and ds-native rows differ: '$a' vs '$b'"
p_se=$(grep -E "^attention +att-se" "$tmp/out" | awk -F'|' '{ split($3, f, " "); gsub(",", "", f[1]); print f[1] }')
p_unet=$(grep -E "^branches +unet" "$tmp/out" | awk -F'|' '{ split($3, f, " "); gsub(",", "", f[1]); print f[1] }')
[ -n "$p_se" ] && [ -n "$p_unet" ] && [ "$p_unet" -lt "$p_se" ] ||
  fail "plain U-Net parameters ($p_unet) not below the default's ($p_se)"
n_runs=$(ls -d "$tmp/work"/run_* | wc -l)
[ "$n_runs" -eq 4 ] || fail "expected 4 trainings (att-se, unet, bn-external-dice1, bogus), found $n_runs"

# bad arguments: one error line, exit status 2
bash "$src/scripts/ablation.sh" --cli "$cli" --phantoms 2,1 --variants nosuch > /dev/null 2> "$tmp/err2"
[ $? -eq 2 ] && grep -q "unknown variant 'nosuch'" "$tmp/err2" || fail "unknown variant not rejected: $(cat "$tmp/err2")"
bash "$src/scripts/ablation.sh" --cli "$cli" --images a.nii.gz --masks b.nii.gz > /dev/null 2> "$tmp/err3"
[ $? -eq 2 ] && grep -q "held-out" "$tmp/err3" || fail "missing test set not rejected: $(cat "$tmp/err3")"

[ "$failures" -eq 0 ] && echo "ablation: all checks passed"
[ "$failures" -eq 0 ]
