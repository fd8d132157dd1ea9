#!/usr/bin/env bash
# Checks that every C source and header follows the committed .clang-format, and writes the
# result as a Criterion-format report (one test) for tests/summary.py.
# Usage: scripts/check-format.sh REPORT.json
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
report=$1
cd "$here"
bad=()
while IFS= read -r f; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
if [ ${#bad[@]} -eq 0 ]; then
	status=PASSED passed=1 failed=0 msgs='[]'
	echo "format: every C file follows .clang-format"
else
	status=FAILED passed=0 failed=1
	msgs=$(printf '%s\n' "${bad[@]}" | python3 -c 'import json,sys; print(json.dumps(["not formatted (run clang-format -i): " + l for l in sys.stdin.read().split() if l]))')
	echo "format: ${#bad[@]} file(s) differ from .clang-format: ${bad[*]}"
fi
printf '{"passed":%d,"failed":%d,"errored":0,"skipped":0,"test_suites":[{"name":"format","tests":[{"name":"clang_format","status":"%s","messages":%s}]}]}\n' \
	"$passed" "$failed" "$status" "$msgs" >"$report"
[ "$failed" -eq 0 ]
