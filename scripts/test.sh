#!/usr/bin/env bash
# Builds sjmp and runs every test tier; prints one closing line "N passed, N failed, N skipped".
# Usage: scripts/test.sh [extra cmake args, e.g. -DSJMP_SANITIZE=address,undefined]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${SJMP_BUILD_DIR:-$here/build}
"$here/scripts/install-deps.sh" || exit 1
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null || exit 1
cmake --build "$build" -j"$(nproc)" >/dev/null 2>"$build.log" || { cat "$build.log"; exit 1; }
rm -rf "$build/test-reports"; mkdir -p "$build/test-reports"
# Tests run in a private SJMP_DIR so they never touch the user's objects.
export SJMP_DIR=$(mktemp -d /dev/shm/sjmp-test.XXXXXX)
trap 'rm -rf "$SJMP_DIR"' EXIT
(cd "$build" && ctest --output-on-failure -j1)
ctest_rc=$?
python3 "$here/tests/summary.py" "$build/test-reports"
sum_rc=$?
[ $ctest_rc -eq 0 ] && [ $sum_rc -eq 0 ]
