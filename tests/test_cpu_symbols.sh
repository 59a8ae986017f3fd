#!/usr/bin/env bash
# The CPU kernel variants cannot leak code into each other or into their callers (the scheme in
# src/cpu/dispatch/isa.cpp), checked on the built archive $SRMDS_BINARY_DIR/libsrmds.a:
#   - each variant object srmds_cpu_<isa>.o defines exactly one global symbol,
#     srmds_cpu_kernels_<isa> (everything else, Eigen and std:: instantiations included, is local);
#   - no member of the archive defines or uses a symbol of Eigen's own namespace (each variant
#     compiles Eigen as srmds_eigen_<isa>);
#   - no other member defines a global symbol of a variant namespace (srmds::cpu::<isa>).
# Exit 77 (skipped) without nm, or when the build did not combine the variants (non-GNU tools).
set -u
lib=${SRMDS_BINARY_DIR:-build}/libsrmds.a
if ! command -v nm > /dev/null || ! command -v ar > /dev/null || [ ! -f "$lib" ]; then
  echo "nm, ar or $lib missing; skipping"
  exit 77
fi
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
members=$(ar t "$lib" | grep -E '^srmds_cpu_[a-z0-9]+\.o$' || true)
if [ -z "$members" ]; then
  echo "no combined srmds_cpu_<isa>.o in $lib (variants not combined); skipping"
  exit 77
fi
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/srmds_symbols.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && ar x "$lib")
for m in $members; do
  isa=${m#srmds_cpu_}
  isa=${isa%.o}
  globals=$(nm -g --defined-only "$tmp/$m" | awk '{print $3}')
  if [ "$globals" != "srmds_cpu_kernels_$isa" ]; then
    echo "FAIL: $m defines these global symbols, expected only srmds_cpu_kernels_$isa:"
    echo "$globals" | head -20
    failures=$((failures + 1))
  else
    echo "ok: $m defines one global symbol, srmds_cpu_kernels_$isa ($(nm "$tmp/$m" | wc -l) symbols in all)"
  fi
done
if nm -A "$lib" 2> /dev/null | grep -E '[^_a-zA-Z0-9]_?_Z[A-Za-z0-9_]*5Eigen' | head -5 | grep .; then
  echo "FAIL: symbols of namespace Eigen in $lib (above)"
  failures=$((failures + 1))
else
  echo "ok: no symbol of namespace Eigen in $lib"
fi
others=$(ar t "$lib" | grep -vE '^srmds_cpu_[a-z0-9]+\.o$')
for m in $others; do
  nm -g --defined-only "$tmp/$m" 2> /dev/null | awk '{print $3}' | grep -E 'N5srmds3cpu(8baseline|4avx2|6avx512)' |
    sed "s|^|$m: |"
done > "$tmp/leaks"
if [ -s "$tmp/leaks" ]; then
  echo "FAIL: variant symbols defined outside the variant objects:"
  head -20 "$tmp/leaks"
  failures=$((failures + 1))
else
  echo "ok: no other member defines a variant's symbol"
fi
[ "$failures" -eq 0 ]
