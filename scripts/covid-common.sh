# What run-covid-semiseg.sh and cv.sh share (sourced by both, after they set `repo`): the training
# recipe for small real 2-D CT sets, so both train the same way (chosen by cross-validation on the
# 50 shared slices, README "Real data", never on a test set), the data check and the srmds binary.
recipe=(--size 128 --base 16 --epochs 240 --batch 8 --augment default --dice-weight 1)
# Models per run: an ensemble of this many, trained with seeds seed, seed + 1, ..., whose mean
# probability is the result (srmds eval/segment --model with several files). --ensemble K changes it.
ensemble=2
seed=0

# take_script_option ARG...: handles --ensemble K and --seed S for the scripts (sets `ensemble`,
# `seed` and `taken`, the number of arguments used: 2, or 0 for any other option).
take_script_option() {
  taken=0
  case "$1" in
    --ensemble | --seed)
      local least=0
      [ "$1" = --ensemble ] && least=1
      if ! [ "${2:-}" -ge $least ] 2>/dev/null; then
        echo "$1 must be an integer of at least $least, got '${2:-}'" >&2
        exit 2
      fi
      if [ "$1" = --ensemble ]; then ensemble=$2; else seed=$2; fi
      taken=2 ;;
  esac
}

# train_ensemble STEM SRMDS_TRAIN_ARGS...: trains the `ensemble` models of the recipe (`settings`)
# with seeds seed, seed + 1, ... as STEM<k>.safetensors (checkpoints; the weights of the last epoch
# in STEM<k>.best.safetensors) and sets `models` to their comma-separated weight files, the
# --model of srmds eval and segment.
train_ensemble() {
  local stem=$1 k
  shift
  models=""
  for ((k = 0; k < ensemble; k++)); do
    "$cli" train "$@" --out "$stem$k.safetensors" --val-fraction 0 --seed $((seed + k)) "${settings[@]}"
    models+="${models:+,}$stem$k.best.safetensors"
  done
}

# train_options USER_OPTION...: the recipe with the user's options added; a recipe option the user
# gives again takes the user's value (srmds train refuses an option given twice). Sets `options`.
train_options() {
  options=()
  local i arg skip
  for ((i = 0; i < ${#recipe[@]}; i += 2)); do
    skip=0
    for arg in "$@"; do
      [ "$arg" = "${recipe[i]}" ] && skip=1
    done
    [ $skip -eq 1 ] || options+=("${recipe[i]}" "${recipe[i + 1]}")
  done
  options+=("$@")
}

# covid_setup DATA_DIR: exits 77 with a message when DATA_DIR lacks train/images and train/masks;
# sets `data` to its absolute path and `cli` to $SRMDS_CLI or a release build of srmds (built here
# like scripts/run-demo.sh builds it).
covid_setup() {
  data=$1
  if [ ! -d "$data/train/images" ] || [ ! -d "$data/train/masks" ]; then
    echo "skipped: no covid-semiseg data at $data (expected train/images/*.jpg and train/masks/*.png)"
    exit 77
  fi
  data=$(cd "$data" && pwd)
  if [ -n "${SRMDS_CLI:-}" ]; then
    cli=$SRMDS_CLI
  else
    local build=${SRMDS_BUILD_DIR:-$repo/build-release}
    SRMDS_NO_PYTHON=1 bash "$repo/scripts/install-deps.sh"
    cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRMDS_BUILD_TESTS=OFF -DSRMDS_BUILD_BENCH=OFF \
      -DSRMDS_BUILD_EXAMPLES=OFF ${SRMDS_CMAKE_ARGS:-} >/dev/null
    cmake --build "$build" -j "$(nproc)" --target srmds_cli
    cli="$build/apps/srmds/srmds"
  fi
}
