#!/usr/bin/env bash
# run.sh of the GPU bundle (scripts/gpu-bundle.sh copies this file there): the whole GPU check in
# one device call (../shared/GPU.md). Run it from anywhere:
#
#   BUNDLE/run.sh OUTDIR [SECONDS]        (SECONDS: the global deadline, default 420)
#
# Steps, in this order, each under its own time budget and never past the global deadline:
#   versions      device, driver, CUDA runtime and cuDNN as our programs see them; glibc; the
#                 Python/PyTorch used for the comparison (SRMDS_PYTHON, else the first Python that
#                 has PyTorch). cuDNN is searched for, never assumed: the loader's own path, then
#                 every Python environment's site-packages/nvidia/*/lib (and torch/lib), the CUDA
#                 toolkit beside nvcc, ldconfig, and at last a bounded file-system search
#                 (SRMDS_CUDNN_DIR, when set, is tried first); its folder, and
#                 beside a Python wheel's nvidia/cudnn/lib the other nvidia/*/lib folders (cuBLAS,
#                 NVRTC), go on LD_LIBRARY_PATH. ldd of every libcudnn*.so.9 there: the
#                 dependencies missing (libz, ...) are reported, and whether the libraries cuDNN's
#                 engines open at run time (cuBLASLt, NVRTC) can be found. The PyTorch probe is
#                 bounded (20 s).
#   parity:<op>   the parity test of every CUDA op against the CPU backend (srmds_cuda_tests, one
#                 process per op, Catch tags, CUDA_LAUNCH_BLOCKING=1 so that a kernel's fault is
#                 reported by its launch check, under its name), then the whole network's training
#                 step and inference (both forms), the fused inference replayed from a CUDA Graph
#                 (graph), the trainer's host waits per logging interval (counts) and its training
#                 step replayed from a CUDA Graph against the eager step (train_graph). Every program
#                 prints its random seed
#                 (SRMDS_TEST_SEED replays it).
#   memcheck,     every op's parity test on its smallest case (SRMDS_CUDA_SMALL=1: every kernel
#   racecheck     once) under compute-sanitizer --tool memcheck, then --tool racecheck;
#                 "refused" (not a failure) when the sanitizer refuses the device, as it may on an
#                 H200; running out of time is inconclusive, not a failure. SRMDS_SANITIZER names
#                 the sanitizer ("none": skip both).
#   bench_ours    srmds_cuda_bench: fused inference 512x512 (batch 1 and 16, fp32 and TF32) and the
#                 training step (batch 8, 256x256, base 64), one process, cuDNN's bounded search
#                 (heuristics, three timed candidates; kernels/cudnn.hpp) once per shape;
#                 it writes the weights the PyTorch side loads. Run with --cuda-graph, so the
#                 inference cases are also timed replayed from a CUDA Graph (the bench's default is
#                 off until such a run shows it faster), as is the training step, and each training
#                 case states the goal of issue 20 (no host wait per step, < 400 launches), eager
#                 and from the graph.
#   bench_pytorch cuda_torch_bench.py on the same card and weights in the same run: eager fp32 and
#                 TF32, autocast bf16 with channels_last, torch.compile when the budget allows.
# Without a GPU (or without cuDNN) every step after versions is reported as skipped with the reason.
#
# OUTDIR receives three files: summary.json (rewritten after every step, valid JSON at all times),
# summary.txt (the table printed last) and logs.tar.gz (every log and result file, re-packed after
# every step). Exit status: 0 when no step failed or ran out of its budget (skipped, a sanitizer
# "refused" and a sanitizer that runs out of time are not failures), 1 otherwise. The bundle's
# programs are made executable first (the transfer may drop the bits).
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUTDIR [SECONDS]" >&2
  exit 2
fi
total=${2:-420}
case "$total" in '' | *[!0-9]*) echo "$0: SECONDS must be a whole number, got '$total'" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1" || exit 2
out=$(cd "$1" && pwd)
start=$(date +%s)
deadline=$((start + total))
reserve=8  # seconds kept for the last summary, the table and the log archive
work=$(mktemp -d "${TMPDIR:-/tmp}/srmds-gpu-run.XXXXXX") || exit 2
logs=$work/logs
mkdir -p "$logs" "$work/weights"
trap 'rm -rf "$work"' EXIT
tests_bin=$here/bin/srmds_cuda_tests
bench_bin=$here/bin/srmds_cuda_bench
chmod +x "$here"/bin/* "$here/run.sh" "$here/cuda_torch_bench.py" 2>/dev/null

now() { date +%s; }
left() { echo $((deadline - $(now) - reserve)); }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
log() { echo "[run.sh +$(($(now) - start))s] $*" | tee -a "$logs/run.log"; }

# ---- the summary ------------------------------------------------------------------------------
step_names=() step_status=() step_reason=() step_secs=() step_extra=() step_json=()
info_keys=() info_values=() info_json=()

json_str() {  # a JSON string literal
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/}
  s=${s//$'\t'/ }
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

write_summary() {
  local tmp=$out/.summary.json.tmp i sep
  {
    printf '{\n  "program": "srmds gpu run.sh",\n  "started": %s,\n  "deadline_s": %s,\n  "elapsed_s": %s,\n' \
      "$(json_str "$(date -u -d "@$start" +%FT%TZ 2>/dev/null || echo "$start")")" "$total" "$(($(now) - start))"
    printf '  "info": {'
    sep=""
    for i in "${!info_json[@]}"; do
      printf '%s\n    %s' "$sep" "${info_json[$i]}"
      sep=","
    done
    printf '\n  },\n  "steps": ['
    sep=""
    for i in "${!step_json[@]}"; do
      printf '%s\n    {%s' "$sep" "${step_json[$i]}"
      [ -n "${step_extra[$i]}" ] && printf ', "result": %s' "${step_extra[$i]}"
      printf '}'
      sep=","
    done
    printf '\n  ]\n}\n'
  } >"$tmp" && mv -f "$tmp" "$out/summary.json"
  tar -czf "$out/.logs.tar.gz.tmp" -C "$work" logs 2>/dev/null && mv -f "$out/.logs.tar.gz.tmp" "$out/logs.tar.gz"
}

info() {  # info KEY VALUE
  info_keys+=("$1")
  info_values+=("$2")
  info_json+=("$(json_str "$1"): $(json_str "$2")")
  log "$1: $2"
}

# record NAME STATUS SECONDS REASON [RESULT_JSON_FILE]
record() {
  local extra=""
  if [ -n "${5:-}" ] && [ -s "$5" ] && valid_json "$5"; then extra=$(cat "$5"); fi
  step_names+=("$1")
  step_status+=("$2")
  step_secs+=("$3")
  step_reason+=("$4")
  step_extra+=("$extra")
  step_json+=("\"name\": $(json_str "$1"), \"status\": $(json_str "$2"), \"seconds\": $3, \"reason\": $(json_str "$4")")
  log "step $1: $2${4:+ ($4)} in ${3}s"
  write_summary
}

valid_json() {  # a file our programs wrote (atomically); checked with Python where there is one
  [ -n "$python" ] || return 0
  "$python" -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null
}

# "exit N", with the signal's name when a signal ended the program (a crash: 139 is SIGSEGV).
exit_text() {
  if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then echo "exit $1 (SIG$(kill -l $(($1 - 128)) 2>/dev/null))"; else echo "exit $1"; fi
}

# run_limited SECONDS LOGFILE CMD...: the command's exit status, 124 on timeout.
run_limited() {
  local limit=$1 logfile=$2
  shift 2
  timeout --kill-after=5 "$limit" "$@" >>"$logfile" 2>&1
}

python=""
write_summary

# ---- 1. versions ------------------------------------------------------------------------------
t0=$(now)
gpu_ok=0
no_gpu_reason=""
info "bundle" "$(tr '\n' ' ' <"$here/MANIFEST" 2>/dev/null | cut -c1-400)"
info "host" "$(uname -srm) $(ldd --version 2>/dev/null | head -1)"
if command -v nvidia-smi >/dev/null 2>&1; then
  smi=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1)
  info "nvidia-smi" "$smi"
  timeout 20 nvidia-smi >"$logs/nvidia-smi.txt" 2>&1
else
  info "nvidia-smi" "not found"
fi

# Python: SRMDS_PYTHON when set, else the first that has PyTorch, else any.
for py in ${SRMDS_PYTHON:-python3 python /usr/bin/python3}; do
  command -v "$py" >/dev/null 2>&1 || continue
  [ -z "$python" ] && python=$(command -v "$py")
  if timeout 10 "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' 2>/dev/null; then
    python=$(command -v "$py")
    break
  fi
done
info "python" "${python:-none}"

# cuDNN: where the loader finds it, else searched for.
cudnn_dir=""
cudnn_from=""
if [ -n "${SRMDS_CUDNN_DIR:-}" ] && ls "$SRMDS_CUDNN_DIR"/libcudnn.so.9* >/dev/null 2>&1; then
  cudnn_dir=$(cd "$SRMDS_CUDNN_DIR" && pwd)
  cudnn_from="SRMDS_CUDNN_DIR"
fi
if [ -z "$cudnn_dir" ] && [ -x "$tests_bin" ]; then
  hit=$(ldd "$tests_bin" 2>/dev/null | awk '$1 ~ /^libcudnn\.so/ && $3 ~ /^\// {print $3; exit}')
  [ -n "$hit" ] && { cudnn_dir=$(dirname "$hit"); cudnn_from="loader"; }
fi
if [ -z "$cudnn_dir" ] && [ -n "$python" ]; then
  while read -r d; do
    if [ -n "$d" ] && ls "$d"/libcudnn.so.9* >/dev/null 2>&1; then cudnn_dir=$d; cudnn_from="python environment"; break; fi
  done < <(timeout 20 "$python" - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = set(p for p in sys.path if p.endswith("-packages"))
try:
    roots.update(site.getsitepackages() + [site.getusersitepackages()])
except Exception:
    pass
for r in sorted(roots):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))) + [os.path.join(r, "torch", "lib")]:
        print(d)
PY
)
fi
if [ -z "$cudnn_dir" ] && command -v nvcc >/dev/null 2>&1; then
  for d in "$(dirname "$(command -v nvcc)")/../lib64" "$(dirname "$(command -v nvcc)")/../lib"; do
    if ls "$d"/libcudnn.so.9* >/dev/null 2>&1; then cudnn_dir=$(cd "$d" && pwd); cudnn_from="CUDA toolkit beside nvcc"; break; fi
  done
fi
if [ -z "$cudnn_dir" ] && command -v ldconfig >/dev/null 2>&1; then
  hit=$(ldconfig -p 2>/dev/null | awk '/libcudnn\.so\.9 / {print $NF; exit}')
  [ -n "$hit" ] && { cudnn_dir=$(dirname "$hit"); cudnn_from="ldconfig"; }
fi
if [ -z "$cudnn_dir" ]; then
  hit=$(timeout 15 find / -xdev \( -path /proc -o -path /sys \) -prune -o -name 'libcudnn.so.9*' -print 2>/dev/null | head -1)
  [ -n "$hit" ] && { cudnn_dir=$(dirname "$hit"); cudnn_from="file-system search"; }
fi
if [ -n "$cudnn_dir" ]; then
  lib_dirs=$cudnn_dir
  case "$cudnn_dir" in  # a wheel's nvidia/cudnn/lib: its siblings hold cuBLAS and NVRTC
    */nvidia/cudnn/lib) for d in "${cudnn_dir%/cudnn/lib}"/*/lib; do [ "$d" = "$cudnn_dir" ] || lib_dirs="$lib_dirs:$d"; done ;;
  esac
  export LD_LIBRARY_PATH="$lib_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  info "cudnn" "$(basename "$(readlink -f "$(ls "$cudnn_dir"/libcudnn.so.9* | head -1)")") in $cudnn_dir (found by: $cudnn_from)"
  # every cuDNN library (the shim loads the others: graph, ops, cnn, engines, heuristic)
  deps=""
  for l in "$cudnn_dir"/libcudnn*.so.9; do
    [ -e "$l" ] || continue
    ldd "$l" >"$logs/ldd-$(basename "$l").txt" 2>&1
    gone=$(awk '/not found/ {printf " %s", $1}' "$logs/ldd-$(basename "$l").txt")
    [ -n "$gone" ] && deps="$deps $(basename "$l"):$gone;"
  done
  info "cudnn libraries missing dependencies" "${deps:-none}"
  # opened at run time by cuDNN's engines, so ldd does not list them
  opened=""
  for pat in 'libcublasLt.so.*' 'libnvrtc.so.*'; do
    hit=$(for d in ${LD_LIBRARY_PATH//:/ }; do ls "$d"/$pat 2>/dev/null; done | head -1)
    [ -z "$hit" ] && hit=$(ldconfig -p 2>/dev/null | awk -v p="${pat%%.*}" '$1 ~ "^" p "\\.so" {print $NF; exit}')
    opened="$opened ${pat%%.*}: ${hit:-not found};"
  done
  info "cudnn run-time libraries" "${opened# }"
else
  info "cudnn" "not found"
fi
# NCCL (issue 23; dlopen'ed by srmds, so not a link dependency): PyTorch's nvidia/nccl/lib is on
# LD_LIBRARY_PATH above when cuDNN came from the same wheels; else the CUDA toolkit or ldconfig.
nccl=$(for d in ${LD_LIBRARY_PATH//:/ }; do ls "$d"/libnccl.so.2* 2>/dev/null; done | head -1)
[ -z "$nccl" ] && command -v nvcc >/dev/null 2>&1 && nccl=$(ls "$(dirname "$(command -v nvcc)")"/../lib64/libnccl.so.2* 2>/dev/null | head -1)
[ -z "$nccl" ] && nccl=$(ldconfig -p 2>/dev/null | awk '$1 ~ /^libnccl\.so\.2/ {print $NF; exit}')
[ -n "$nccl" ] && export SRMDS_NCCL_LIBRARY="$nccl"
info "nccl" "${nccl:-not found (the [nccl] parity group reports skipped lines)}"

missing=""
for b in "$tests_bin" "$bench_bin"; do
  [ -x "$b" ] || { missing="$missing $(basename "$b")(absent)"; continue; }
  ldd "$b" >"$logs/ldd-$(basename "$b").txt" 2>&1
  missing="$missing$(awk '/not found/ {printf " %s", $1}' "$logs/ldd-$(basename "$b").txt")"
  grep -h "version .* not found" "$logs/ldd-$(basename "$b").txt" >/dev/null 2>&1 &&
    missing="$missing $(grep -ho "version [^ ]* not found" "$logs/ldd-$(basename "$b").txt" | head -1)"
done
info "libraries missing" "${missing:-none}"

if [ -n "$missing" ]; then
  no_gpu_reason="libraries missing:$missing"
else
  run_limited 30 "$logs/device-info.txt" "$tests_bin" --srmds-device-info
  rc=$?
  info "device (srmds)" "$(tr '\n' ';' <"$logs/device-info.txt" | cut -c1-400)"
  case $rc in
    0) gpu_ok=1 ;;
    77) no_gpu_reason="no usable GPU: $(grep -m1 'no CUDA device' "$logs/device-info.txt")" ;;
    *) no_gpu_reason="device probe failed (exit $rc)" ;;
  esac
fi
if [ "$gpu_ok" = 1 ] && [ -n "$python" ]; then
  tv=$(timeout 20 "$python" -c 'import torch; print("torch %s, CUDA %s, GPU %s, cuDNN %s" % (torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.backends.cudnn.version()))' 2>&1 | tail -1)
  info "pytorch" "${tv:-no answer within 20 s (the benchmark step imports it again, within its budget)}"
fi
if [ -n "${SRMDS_SANITIZER:-}" ]; then
  sanitizer=$SRMDS_SANITIZER
  [ "$sanitizer" = none ] && sanitizer=""
elif command -v compute-sanitizer >/dev/null 2>&1; then
  sanitizer=$(command -v compute-sanitizer)
elif command -v nvcc >/dev/null 2>&1 && [ -x "$(dirname "$(command -v nvcc)")/compute-sanitizer" ]; then
  sanitizer="$(dirname "$(command -v nvcc)")/compute-sanitizer"
else
  sanitizer=""
fi
if [ -n "$sanitizer" ]; then
  info "compute-sanitizer" "$sanitizer $(timeout 10 "$sanitizer" --version 2>/dev/null | grep -io 'version [0-9.]*' | head -1)"
else
  info "compute-sanitizer" "not found"
fi
record versions ok $(($(now) - t0)) "${no_gpu_reason}"

# ---- 2. parity of every CUDA op, then the network ---------------------------------------------
# name|Catch test spec|budget seconds
parity_groups=(
  "context|[context],[allocator],[copy],[errors]|30"
  "relu_sigmoid|[relu],[sigmoid]|30"
  "conv2d|[conv2d]|60"
  "batchnorm|[batchnorm]|30"
  "se|[se]|30"
  "attention|[sge],[cbam],[psa]|45"
  "maxpool|[maxpool]|30"
  "upsample|[upsample]|30"
  "downsample_target|[targets]|20"
  "loss|[loss]|30"
  "confusion|[metrics]|20"
  "adam|[adam]|20"
  "network_train|[net][train]|90"
  "network_infer|[net][infer]|60"
  "graph|[graph]|45"
  "counts|[counts]|30"
  "train_graph|[train_graph]|60"
  "nccl|[nccl]|45"
)
catch_summary() {  # the last "All tests passed" / "test cases" line of a Catch log
  grep -E "All tests passed|test cases?|No test cases matched" "$1" | tail -1
}
for g in "${parity_groups[@]}"; do
  IFS='|' read -r name spec budget <<<"$g"
  if [ "$gpu_ok" != 1 ]; then
    record "parity:$name" skipped 0 "$no_gpu_reason"
    continue
  fi
  limit=$(min "$budget" "$(left)")
  if [ "$limit" -lt 5 ]; then
    record "parity:$name" skipped 0 "global deadline: $(left) s left"
    continue
  fi
  t0=$(now)
  logf=$logs/parity-$name.log
  run_limited "$limit" "$logf" env CUDA_LAUNCH_BLOCKING=1 "$tests_bin" "$spec" --durations yes
  rc=$?
  summary_line="$(grep -m1 SRMDS_TEST_SEED "$logf" | cut -d' ' -f1); $(catch_summary "$logf")"
  case $rc in
    0) record "parity:$name" ok $(($(now) - t0)) "$summary_line" ;;
    124 | 137) record "parity:$name" timeout $(($(now) - t0)) "over its ${limit} s budget; $summary_line" ;;
    *) record "parity:$name" failed $(($(now) - t0)) "$(exit_text $rc); $summary_line" ;;
  esac
done

# ---- 3. memcheck and racecheck -----------------------------------------------------------------
# Every op's test cases (not the network's, nor the 2 x 8 GiB limit test, nor the repeated
# determinism runs), each on its smallest case: every kernel runs once under the sanitizer.
sanitize_spec="[cuda]~[net]~[large]~[determinism]"
# the sanitizer's own lines ("========= ..." or naming it) that say it will not run on this device
refusal='^(=========|.*compute-sanitizer).*(not supported|unsupported|no supported|refus|cannot be used|not available)'
sanitize() {  # sanitize TOOL BUDGET OPTIONS...
  local tool=$1 budget=$2 limit logf rc errors
  shift 2
  if [ "$gpu_ok" != 1 ]; then
    record "$tool" skipped 0 "$no_gpu_reason"
    return
  elif [ -z "$sanitizer" ]; then
    record "$tool" skipped 0 "compute-sanitizer not found"
    return
  elif [ "$(left)" -lt 20 ]; then
    record "$tool" skipped 0 "global deadline: $(left) s left"
    return
  fi
  t0=$(now)
  limit=$(min "$budget" "$(left)")
  logf=$logs/$tool.log
  run_limited "$limit" "$logf" env SRMDS_CUDA_SMALL=1 "$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 50 \
    "$@" "$tests_bin" "$sanitize_spec"
  rc=$?
  errors=$(grep -m1 "ERROR SUMMARY\|RACECHECK SUMMARY" "$logf")
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 99 ] && grep -qiE "$refusal" "$logf"; then
    record "$tool" refused $(($(now) - t0)) "$(grep -m1 -iE "$refusal" "$logf" | cut -c1-300)"
    return
  fi
  case $rc in
    0) record "$tool" ok $(($(now) - t0)) "$sanitize_spec, smallest cases: ${errors:-no errors}" ;;
    124 | 137) record "$tool" timeout $(($(now) - t0)) "over its ${limit} s budget (inconclusive); ${errors}" ;;
    *) record "$tool" failed $(($(now) - t0)) "$(exit_text $rc); ${errors}; $(grep -m1 -E 'Program hit|Invalid|Race|hazard' "$logf" | cut -c1-200)" ;;
  esac
}
sanitize memcheck 90 --leak-check full
sanitize racecheck 75

# ---- 4. and 5. benchmarks, ours then PyTorch's ------------------------------------------------
ours_json=$logs/bench-ours.json
torch_json=$logs/bench-pytorch.json
if [ "$gpu_ok" != 1 ]; then
  record bench_ours skipped 0 "$no_gpu_reason"
elif [ "$(left)" -lt 30 ]; then
  record bench_ours skipped 0 "global deadline: $(left) s left"
else
  t0=$(now)
  # ours gets 40 % of what is left (PyTorch's import and torch.compile need more)
  b=$(( $(left) * 4 / 10 ))
  run_limited $((b + 30)) "$logs/bench-ours.log" "$bench_bin" --out "$ours_json" --weights-dir "$work/weights" --budget "$b" --cuda-graph
  rc=$?
  case $rc in
    0) record bench_ours ok $(($(now) - t0)) "budget ${b} s" "$ours_json" ;;
    124 | 137) record bench_ours timeout $(($(now) - t0)) "over ${b} s + 30 s" "$ours_json" ;;
    *) record bench_ours failed $(($(now) - t0)) "$(exit_text $rc): $(tail -1 "$logs/bench-ours.log" | cut -c1-300)" "$ours_json" ;;
  esac
fi
if [ "$gpu_ok" != 1 ]; then
  record bench_pytorch skipped 0 "$no_gpu_reason"
elif [ -z "$python" ]; then
  record bench_pytorch skipped 0 "no Python found"
elif [ ! -s "$work/weights/b64_fused.safetensors" ]; then
  record bench_pytorch skipped 0 "no weights: bench_ours did not write them"
elif [ "$(left)" -lt 30 ]; then
  record bench_pytorch skipped 0 "global deadline: $(left) s left"
else
  t0=$(now)
  b=$(( $(left) - 20 ))
  run_limited $((b + 20)) "$logs/bench-pytorch.log" "$python" "$here/cuda_torch_bench.py" --weights-dir "$work/weights" \
    --out "$torch_json" --budget "$b" --srmds-torch "$here"
  rc=$?
  case $rc in
    0) record bench_pytorch ok $(($(now) - t0)) "budget ${b} s" "$torch_json" ;;
    77) record bench_pytorch skipped $(($(now) - t0)) "$(tail -1 "$logs/bench-pytorch.log" | cut -c1-300)" "$torch_json" ;;
    124 | 137) record bench_pytorch timeout $(($(now) - t0)) "over ${b} s + 20 s" "$torch_json" ;;
    *) record bench_pytorch failed $(($(now) - t0)) "$(exit_text $rc): $(tail -1 "$logs/bench-pytorch.log" | cut -c1-300)" "$torch_json" ;;
  esac
fi

# ---- the table, printed last --------------------------------------------------------------------
{
  echo "==== srmds GPU check: $(($(now) - start)) s of $total s ===="
  for i in "${!info_keys[@]}"; do
    case "${info_keys[$i]}" in nvidia-smi | cudnn | "device (srmds)" | pytorch) printf '%-18s %s\n' "${info_keys[$i]}" "${info_values[$i]:0:150}" ;; esac
  done
  printf '%-26s %-14s %5s  %s\n' step status s detail
  for i in "${!step_names[@]}"; do
    printf '%-26s %-14s %5s  %s\n' "${step_names[$i]}" "${step_status[$i]}" "${step_secs[$i]}" "${step_reason[$i]:0:110}"
  done
  if [ -n "$python" ] && { [ -s "$ours_json" ] || [ -s "$torch_json" ]; }; then
    "$python" - "$ours_json" "$torch_json" <<'PY' 2>/dev/null
import json, os, sys
def load(p):
    try:
        return {c["key"]: c for c in json.load(open(p)).get("cases", []) if c.get("status") == "ok"}
    except Exception:
        return {}
ours, torch = load(sys.argv[1]), load(sys.argv[2])
rows = [("fused infer b1 512 fp32", "infer_fused_b1_fp32", "infer_fused_b1_eager_fp32"),
        ("fused infer b1 512 TF32", "infer_fused_b1_tf32", "infer_fused_b1_eager_tf32"),
        ("fused infer b16 512 fp32", "infer_fused_b16_fp32", "infer_fused_b16_eager_fp32"),
        ("fused infer b16 512 TF32", "infer_fused_b16_tf32", "infer_fused_b16_eager_tf32"),
        ("train step b8 256 TF32", "train_step_b8_tf32", "train_step_b8_eager_tf32"),
        ("train step b8 256 fp32", "train_step_b8_fp32", "train_step_b8_eager_fp32")]
print("%-26s %12s %12s %12s %12s %12s" % ("benchmark (median ms)", "ours", "torch eager", "torch bf16cl", "torch compile", "ours/eager"))
for title, ok, tk in rows:
    o = ours.get(ok, {}).get("median_ms")
    t = torch.get(tk, {}).get("median_ms")
    base = tk.rsplit("_eager_", 1)[0]
    b = torch.get(base + "_bf16_cl", {}).get("median_ms")
    c = torch.get(base + "_compile_tf32", {}).get("median_ms") if tk.endswith("tf32") else None
    f = lambda v: "-" if v is None else "%.2f" % v
    print("%-26s %12s %12s %12s %12s %12s" % (title, f(o), f(t), f(b), f(c), "-" if o is None or t is None else "%.2f" % (o / t)))
PY
  fi
} >"$logs/summary.txt" 2>&1
write_summary
cp "$logs/summary.txt" "$out/summary.txt"
cat "$out/summary.txt"
for i in "${!step_names[@]}"; do
  case "${step_status[$i]}" in
    failed) exit 1 ;;
    timeout) case "${step_names[$i]}" in memcheck | racecheck) ;; *) exit 1 ;; esac ;;  # a slow sanitizer: inconclusive
  esac
done
exit 0
