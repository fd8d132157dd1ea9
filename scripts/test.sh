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
export LSAN_OPTIONS="suppressions=$here/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
(cd "$build" && ctest --output-on-failure -j1)
ctest_rc=$?
"$here/scripts/check-format.sh" "$build/test-reports/format.json"
# An executable can pass all its Criterion tests and still fail (a sanitizer report at exit, a
# crash before the report): ctest's own list of failures is added to the count.
failed_log="$build/Testing/Temporary/LastTestsFailed.log"
extra_failed=0
[ $ctest_rc -ne 0 ] && [ -f "$failed_log" ] && extra_failed=$(wc -l < "$failed_log")
python3 "$here/tests/summary.py" "$build/test-reports" "$extra_failed"
sum_rc=$?
[ $ctest_rc -eq 0 ] && [ $sum_rc -eq 0 ]
