#!/usr/bin/env bash
# The paper's ablation tables with the srmds command line: trains every variant with ONE recipe on
# one data set, evaluates each on a held-out set and prints one table in the paper's layout
# (sensitivity, specificity, precision, Dice; micro over all pixels and mean per slice; parameters
# and GMAC of the fused form at --gmac-size). A variant the build cannot train (e.g. an attention
# type it does not know yet) becomes an error row; the table is still printed.
#
#   scripts/ablation.sh [options] [-- srmds-train options (the recipe)]
#
# Data (one of):
#   --phantoms NTRAIN,NTEST     synthetic phantom volumes (srmds phantom), --phantom-size S (64),
#                               --phantom-slices K (4), --phantom-seed SEED (1)
#   --images A,B.. --masks MA,MB..  --test-images C,.. --test-masks MC,..
#                               training volumes (srmds train splits off --val-fraction of them
#                               for validation) and the held-out test volumes
# Variants (--variants LIST, comma-separated; groups expand, default: all):
#   attention  att-<type> for every type `srmds info --list-attention` prints (att-se att-sge
#              att-cbam att-psa att-none)
#   ds         ds-native ds-upsample ds-off
#   target     target-avg target-nearest target-max
#   bn-dice    bn-{inner,external}-dice{0,0.5,1}
#   branches   unet (3x3 only, no attention, no deep supervision) br-3x3+1x1 br-3x3+1x3+3x1
#              br-3x3+1x3+3x1+1x1 br-3x3+1x3+3x1+1x1+id (the full block)
#   --add NAME='TRAIN ARGS'     one more variant with the given srmds train options (repeatable)
# Every variant starts from the defaults (SPEC: se, ds native, target avg, bn inner, Dice weight
# 0.5, all five branches) and changes only its own options; variants that end up with the same
# options are trained once.
# Other options:
#   --cli PATH        the srmds binary (default: $SRMDS_CLI, else build/apps/srmds/srmds, else srmds)
#   --out DIR         working folder (checkpoints, logs, table.txt); default: a new temporary one,
#                     removed at the end unless --keep
#   --gmac-size HxW   input size of the parameter / MAC figures (default 512, as the paper)
#   --eval-batch B    batch of srmds eval (default 8)
#   --keep            keep the working folder
# Example (phantoms, small): scripts/ablation.sh --phantoms 8,2 --phantom-size 64 \
#     --variants att-se,att-none,unet -- --epochs 2 --batch 4 --base 8 --size 64 --seed 1
set -u -o pipefail

die() { echo "ablation: error: $*" >&2; exit 2; }
log() { echo "ablation: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cli=${SRMDS_CLI:-}
if [ -z "$cli" ]; then
  if [ -x "$here/../build/apps/srmds/srmds" ]; then cli=$here/../build/apps/srmds/srmds; else cli=srmds; fi
fi
phantoms="" phantom_size=64 phantom_slices=4 phantom_seed=1
images="" masks="" test_images="" test_masks=""
variants="all" out="" keep=0 gmac_size=512 eval_batch=8
adds=()
recipe=()
while [ $# -gt 0 ]; do
  case "$1" in
    --phantoms) phantoms=${2:?}; shift 2 ;;
    --phantom-size) phantom_size=${2:?}; shift 2 ;;
    --phantom-slices) phantom_slices=${2:?}; shift 2 ;;
    --phantom-seed) phantom_seed=${2:?}; shift 2 ;;
    --images) images=${2:?}; shift 2 ;;
    --masks) masks=${2:?}; shift 2 ;;
    --test-images) test_images=${2:?}; shift 2 ;;
    --test-masks) test_masks=${2:?}; shift 2 ;;
    --variants) variants=${2:?}; shift 2 ;;
    --add) adds+=("${2:?}"); shift 2 ;;
    --cli) cli=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --gmac-size) gmac_size=${2:?}; shift 2 ;;
    --eval-batch) eval_batch=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; recipe=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
command -v "$cli" > /dev/null 2>&1 || [ -x "$cli" ] || die "srmds binary '$cli' not found (use --cli)"

if [ -z "$out" ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/srmds_ablation.XXXXXX") || die "cannot create a working folder"
  [ "$keep" -eq 1 ] || trap 'rm -rf "$out"' EXIT
else
  mkdir -p "$out" || die "cannot create '$out'"
fi

# ---- data --------------------------------------------------------------------------------------
join() { local IFS=,; echo "$*"; }
if [ -n "$phantoms" ]; then
  [ -z "$images$masks$test_images$test_masks" ] || die "--phantoms and --images/--masks exclude each other"
  ntrain=${phantoms%,*} ntest=${phantoms#*,}
  [[ "$ntrain" =~ ^[0-9]+$ && "$ntest" =~ ^[0-9]+$ && "$ntrain" -ge 1 && "$ntest" -ge 1 && "$phantoms" == *,* ]] ||
    die "--phantoms wants NTRAIN,NTEST (both >= 1), got '$phantoms'"
  log "generating $ntrain + $ntest phantom volumes (${phantom_size} px, $phantom_slices slices)"
  "$cli" phantom --out "$out/data" --count $((ntrain + ntest)) --size "$phantom_size" --slices "$phantom_slices" \
    --seed "$phantom_seed" > "$out/phantom.log" 2>&1 || die "srmds phantom failed: $(tail -n 1 "$out/phantom.log")"
  ti=() tm=() vi=() vm=()
  for ((k = 0; k < ntrain + ntest; ++k)); do
    f=$(printf "%s/data/phantom_%03d" "$out" "$k")
    if [ "$k" -lt "$ntrain" ]; then ti+=("${f}_image.nii.gz"); tm+=("${f}_mask.nii.gz")
    else vi+=("${f}_image.nii.gz"); vm+=("${f}_mask.nii.gz"); fi
  done
  images=$(join "${ti[@]}") masks=$(join "${tm[@]}") test_images=$(join "${vi[@]}") test_masks=$(join "${vm[@]}")
fi
[ -n "$images" ] && [ -n "$masks" ] || die "no training data (--phantoms or --images/--masks)"
[ -n "$test_images" ] && [ -n "$test_masks" ] || die "no held-out data (--test-images/--test-masks)"

# ---- variants ----------------------------------------------------------------------------------
# variant NAME -> group and srmds train options (on top of the defaults)
declare -A v_args v_group
names=() order=()
define() { [ -n "${v_group[$2]+x}" ] || order+=("$2"); v_group[$2]=$1; v_args[$2]=$3; }
attentions=$("$cli" info --list-attention) || die "'$cli info --list-attention' failed"
for a in $attentions; do define attention "att-$a" "--attention $a"; done
for d in native upsample off; do define ds "ds-$d" "--ds $d"; done
for t in avg nearest max; do define target "target-$t" "--target $t"; done
for b in inner external; do for w in 0 0.5 1; do define bn-dice "bn-$b-dice$w" "--bn $b --dice-weight $w"; done; done
define branches unet "--branches 3x3 --attention none --ds off"
for br in 3x3+1x1 3x3+1x3+3x1 3x3+1x3+3x1+1x1 3x3+1x3+3x1+1x1+id; do define branches "br-$br" "--branches ${br//+/,}"; done
groups="attention ds target bn-dice branches"
group_members() {  # in the order defined above
  local g=$1 n
  for n in "${order[@]}"; do [ "${v_group[$n]}" = "$g" ] && echo "$n"; done
}
IFS=, read -r -a wanted <<< "$variants"
for w in "${wanted[@]}"; do
  case "$w" in
    all) for g in $groups; do names+=($(group_members "$g")); done ;;
    attention|ds|target|bn-dice|branches) names+=($(group_members "$w")) ;;
    "") ;;
    *) [ -n "${v_args[$w]+x}" ] || die "unknown variant '$w' (see --help)"; names+=("$w") ;;
  esac
done
for a in "${adds[@]+"${adds[@]}"}"; do
  n=${a%%=*}
  [[ "$a" == *=* && -n "$n" && "$n" =~ ^[A-Za-z0-9._+-]+$ ]] || die "--add wants NAME='TRAIN ARGS', got '$a'"
  define custom "$n" "${a#*=}"
  names+=("$n")
done
[ ${#names[@]} -gt 0 ] || die "no variant selected"

# The full option set of a variant (defaults, then its own options; later options win in CLI11),
# used to train identical variants once.
defaults="--attention se --ds native --target avg --bn inner --dice-weight 0.5 --branches 3x3,1x3,3x1,1x1,id"
canonical() {  # ARGS -> "key=value ..." sorted
  local -A kv
  local -a t
  read -r -a t <<< "$defaults $1"
  local i
  for ((i = 0; i + 1 < ${#t[@]}; i += 2)); do kv[${t[i]}]=${t[i + 1]}; done
  for k in "${!kv[@]}"; do echo "$k=${kv[$k]}"; done | sort | tr '\n' ' '
}

# ---- train, fuse, evaluate ---------------------------------------------------------------------
declare -A done_dir
rows=()
one_line() { tr '\n' ' ' < "$1" | sed 's/  */ /g; s/^ //; s/ $//' | cut -c1-110; }
# step WHAT LOG CMD...: runs CMD with output to LOG; on failure writes DIR/error naming the step,
# its exit status and its error line (or last line), and returns 1.
step() {
  local what=$1 logf=$2
  shift 2
  "$@" > "$logf" 2>&1
  local rc=$?
  [ "$rc" -eq 0 ] && return 0
  local msg
  msg=$(grep -h "error" "$logf" | tail -n 1 | sed 's/^srmds: error: //')
  [ -n "$msg" ] || msg=$(tail -n 1 "$logf")
  echo "$what (exit $rc): $msg" > "$dir/error"
  return 1
}
# metric NAME COL FILE: the micro (COL 1) or per-image (COL 2) value of an srmds eval table row.
metric() {
  awk -v k="$1" -v col="$2" '$1 == k { n = 0; for (i = 2; i <= NF; ++i) if ($i != "%") v[++n] = $i; print (v[col] == "-" ? "n/a" : v[col]) }' "$3"
}
cells_of() {  # "a b c d e f g h" -> the eight metric cells, micro | per slice
  local out="" i=0 c
  for c in "$@"; do
    out+=$(printf " %7s" "$c")
    i=$((i + 1))
    [ "$i" -eq 4 ] && out+="  |"
  done
  echo "$out"
}
index=0
for n in "${names[@]}"; do
  index=$((index + 1))
  key=$(canonical "${v_args[$n]}")
  if [ -n "${done_dir[$key]+x}" ]; then
    dir=${done_dir[$key]}
    log "[$index/${#names[@]}] $n: same options as an earlier variant, reusing its result"
  else
    dir=$out/run_$index
    mkdir -p "$dir"
    done_dir[$key]=$dir
    log "[$index/${#names[@]}] $n: srmds train ${v_args[$n]} ${recipe[*]+${recipe[*]}}"
    # shellcheck disable=SC2086  # the variant's options are words
    step train "$dir/train.log" "$cli" train --images "$images" --masks "$masks" --out "$dir/ckpt.safetensors" \
      ${v_args[$n]} "${recipe[@]+"${recipe[@]}"}" &&
      step fuse "$dir/fuse.log" "$cli" fuse --model "$dir/ckpt.best.safetensors" --out "$dir/fused.safetensors" &&
      step eval "$dir/eval.log" "$cli" eval --model "$dir/fused.safetensors" --images "$test_images" \
        --masks "$test_masks" --batch "$eval_batch" &&
      step info "$dir/info.log" "$cli" info --model "$dir/fused.safetensors" --size "$gmac_size"
  fi
  if [ -s "$dir/error" ]; then
    rows+=("$(printf "%-10s %-24s  error: %s" "${v_group[$n]}" "$n" "$(one_line "$dir/error")")")
    log "$n: $(one_line "$dir/error")"
    continue
  fi
  vals=()
  for col in 1 2; do
    for k in sensitivity specificity precision dice; do vals+=("$(metric "$k" "$col" "$dir/eval.log")"); done
  done
  params=$(awk '/^fused form:/ { print $3 }' "$dir/info.log")
  macs=$(awk '/^fused form:/ { for (i = 1; i <= NF; ++i) if ($i == "MAC") { v = $(i + 1); sub(/^\(/, "", v); u = $(i + 2); sub(/[,)].*$/, "", u); print v, u; exit } }' "$dir/info.log")
  rows+=("$(printf "%-10s %-24s%s  | %12s %12s" "${v_group[$n]}" "$n" "$(cells_of "${vals[@]}")" "$params" "$macs")")
done

# ---- the table ---------------------------------------------------------------------------------
{
  echo "SR&MDS-Net ablation: srmds train ${recipe[*]+${recipe[*]}} (each variant adds its own options)"
  echo "held-out: $(echo "$test_images" | tr ',' '\n' | wc -l) volumes; metrics in %; parameters and MAC: fused form, one image of size ${gmac_size}"
  printf "%-35s %-31s  | %-31s  | %s\n" "" "------------ micro ------------" "-------- mean per slice -------" "------- fused form ------"
  printf "%-10s %-24s%s  | %12s %12s\n" "group" "variant" "$(cells_of sens spec prec dice sens spec prec dice)" "params" "MAC"
  for r in "${rows[@]}"; do echo "$r"; done
} | tee "$out/table.txt"
