#!/usr/bin/env bash
# guest_xz.sh - wall time of `xz -6` on a 20 MiB file, native and under sjmp-run, median of 3
# runs each, interleaved (native, guest, native, ...) so both see the same machine load.
# Usage: bench/guest_xz.sh [BUILD_DIR]   (default ./build). One line per mode:
#   bench=xz6_20MiB mode=native|guest median_ms=N runs_ms=a,b,c
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
run="$build/tools/sjmp-run"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Half numbers (compressible text), half base64 of random bytes: xz has real work on both.
{ seq 1 2000000; head -c 9000000 /dev/urandom | base64; } 2>/dev/null | head -c $((20 << 20)) > "$tmp/in" || true
ms() { local t0 t1; t0=$(date +%s%N); "$@" > /dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
native=() guest=()
for i in 1 2 3; do
	native+=("$(ms xz -6 -T1 -c "$tmp/in")")
	guest+=("$(ms "$run" -- xz -6 -T1 -c "$tmp/in")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
echo "bench=xz6_20MiB mode=native median_ms=$(median "${native[@]}") runs_ms=$(IFS=,; echo "${native[*]}")"
echo "bench=xz6_20MiB mode=guest median_ms=$(median "${guest[@]}") runs_ms=$(IFS=,; echo "${guest[*]}")"
# Same output in both modes (guest mode must not change the result).
cmp <(xz -6 -T1 -c "$tmp/in") <("$run" -- xz -6 -T1 -c "$tmp/in") && echo "bench=xz6_20MiB same_output=1"
