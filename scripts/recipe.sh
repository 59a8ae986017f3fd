# The training recipe for small real 2-D CT sets (COVID-SemiSeg), sourced by run-covid-semiseg.sh and
# cv.sh so both train the same way; chosen by cross-validation on the 50 shared slices (README,
# "Real data"), never on a test set.
recipe=(--size 256 --base 16 --epochs 120 --batch 8)

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
