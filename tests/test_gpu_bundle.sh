#!/usr/bin/env bash
# The GPU bundle (scripts/gpu-bundle.sh) is self-contained and fits one device call:
#   - the files run.sh needs are there, the folder is at most 40 MiB, the programs are stripped and
#     carry no RPATH;
#   - each program needs (ELF DT_NEEDED) nothing but glibc, libcudnn.so.9 and what cuDNN needs itself
#     (libgcc_s), and ldd, with only cuDNN's folder added, resolves everything: every library it lists
#     is glibc's, cuDNN's or one cuDNN itself needs; no symbol needs a glibc newer than 2.34;
#   - the kernels are compiled for sm_90 (the CUDA ELF images in the fatbin);
#   - run.sh's parity steps together select every test case of srmds_cuda_tests (Catch's own
#     matching, through --list-test-names-only, which works without a GPU).
# The bundle is $SRMDS_GPU_BUNDLE_DIR, default $SRMDS_BINARY_DIR/gpu-bundle (scripts/run-tests.sh
# builds it there). Exit 77 (skipped) when it is absent, unless SRMDS_REQUIRE_GPU_BUNDLE=1.
set -u
bundle=${SRMDS_GPU_BUNDLE_DIR:-${SRMDS_BINARY_DIR:-build}/gpu-bundle}
if [ ! -d "$bundle/bin" ]; then
  if [ "${SRMDS_REQUIRE_GPU_BUNDLE:-0}" = 1 ]; then
    echo "FAIL: no GPU bundle in $bundle (scripts/gpu-bundle.sh $bundle)"
    exit 1
  fi
  echo "no GPU bundle in $bundle (build it with scripts/gpu-bundle.sh $bundle); skipping"
  exit 77
fi
py=/usr/bin/python3
command -v "$py" >/dev/null 2>&1 || py=python3
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

for f in bin/srmds_cuda_tests bin/srmds_cuda_bench run.sh cuda_torch_bench.py srmds_torch.py MANIFEST; do
  [ -e "$bundle/$f" ] || fail "$f missing"
done
for f in bin/srmds_cuda_tests bin/srmds_cuda_bench run.sh cuda_torch_bench.py; do
  [ -x "$bundle/$f" ] || fail "$f not executable"
done
kib=$(du -sk "$bundle" | cut -f1)
echo "bundle size: $kib KiB ($(du -sh "$bundle"/bin/* | awk '{printf "%s %s; ", $2, $1}'))"
[ "$kib" -le $((40 * 1024)) ] || fail "bundle is $kib KiB, over 40 MiB"

# cuDNN's folder: the one this build linked (SRMDS_CUDNN_DIR from CMake), else the loader's.
cudnn_dir=${SRMDS_CUDNN_DIR:-}
if [ -z "$cudnn_dir" ]; then
  hit=$(ldconfig -p 2>/dev/null | awk '/libcudnn\.so\.9 / {print $NF; exit}')
  [ -n "$hit" ] && cudnn_dir=$(dirname "$hit")
fi
[ -n "$cudnn_dir" ] && [ -e "$cudnn_dir/libcudnn.so.9" ] || fail "cuDNN not found here (SRMDS_CUDNN_DIR=$cudnn_dir)"
glibc='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|ld-linux-x86-64\.so\.2|/lib64/ld-linux-x86-64\.so\.2)$'
# What cuDNN itself brings in (it needs libstdc++, libgcc_s and zlib on any machine it runs on).
cudnn_deps=$(LD_LIBRARY_PATH=$cudnn_dir ldd "$cudnn_dir/libcudnn.so.9" 2>/dev/null | awk '{print $1}')

for b in "$bundle"/bin/*; do
  name=$(basename "$b")
  needed=$(readelf -d "$b" | awk '/\(NEEDED\)/ {gsub(/[\[\]]/, "", $5); print $5}')
  echo "$name needs: $(echo $needed)"
  for lib in $needed; do
    [[ "$lib" =~ $glibc ]] || [ "$lib" = libcudnn.so.9 ] || { [ "$lib" = libgcc_s.so.1 ] && echo "$cudnn_deps" | grep -qx libgcc_s.so.1; } ||
      fail "$name needs $lib (only glibc, libcudnn.so.9 and cuDNN's own libgcc_s are allowed)"
  done
  newest=$(objdump -T "$b" | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2,2n -u | tail -1)
  echo "$name: newest glibc symbol version $newest"
  [ "${newest#GLIBC_2.}" -le 34 ] || fail "$name needs $newest (at most GLIBC_2.34: RHEL 9, Ubuntu 22.04 and newer)"
  echo "$needed" | grep -qx libcudnn.so.9 || fail "$name does not link cuDNN dynamically"
  readelf -d "$b" | grep -qE '\((RPATH|RUNPATH)\)' && fail "$name carries an RPATH/RUNPATH"
  readelf -S "$b" | grep -q '\.symtab' && fail "$name is not stripped"
  resolved=$(env -u LD_LIBRARY_PATH LD_LIBRARY_PATH=$cudnn_dir ldd "$b" 2>&1)
  echo "$resolved" | grep -q "not found" && fail "$name: ldd cannot resolve: $(echo "$resolved" | grep 'not found' | tr '\n' ' ')"
  while read -r lib _; do
    [ -n "$lib" ] || continue
    [[ "$lib" =~ $glibc ]] && continue
    case "$lib" in libcudnn*.so*) continue ;; esac
    echo "$cudnn_deps" | grep -qxF "$lib" && continue
    fail "$name: ldd lists $lib, which neither glibc nor cuDNN accounts for"
  done <<<"$resolved"
  # the kernels: CUDA ELF images (e_machine 190) for sm_90 inside the fatbin
  cubins=$("$py" - "$b" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
i, hits = 0, 0
while True:
    i = data.find(b"\x7fELF\x02\x01", i + 1)
    if i < 0:
        break
    if struct.unpack_from("<H", data, i + 18)[0] == 190:
        flags = struct.unpack_from("<I", data, i + 48)[0]
        hits += 90 in (flags & 0xff, (flags >> 8) & 0xff)
print(hits)
PY
)
  echo "$name: $cubins sm_90 CUDA images"
  [ "${cubins:-0}" -ge 1 ] || fail "$name has no sm_90 kernel image"
done

# run.sh's parity groups select every test case.
tests=$bundle/bin/srmds_cuda_tests
all=$(LD_LIBRARY_PATH=$cudnn_dir "$tests" --list-test-names-only 2>&1 | sed 's/^ *//' | grep -v '^$' | sort -u)
[ "$(echo "$all" | wc -l)" -ge 15 ] || fail "srmds_cuda_tests lists only: $all"
covered=""
while IFS='|' read -r name spec _; do
  covered+=$(LD_LIBRARY_PATH=$cudnn_dir "$tests" "$spec" --list-test-names-only 2>/dev/null | sed 's/^ *//' | grep -v '^$')
  covered+=$'\n'
done < <(sed -n '/^parity_groups=(/,/^)/p' "$bundle/run.sh" | grep -o '"[^"]*"' | tr -d '"')
missed=$(comm -23 <(echo "$all") <(echo "$covered" | grep -v '^$' | sort -u))
[ -z "$missed" ] || fail "test cases no parity step of run.sh runs: $(echo "$missed" | tr '\n' ';')"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "GPU bundle OK: $(tr '\n' ' ' <"$bundle/MANIFEST")"
