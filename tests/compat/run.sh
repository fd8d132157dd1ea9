#!/usr/bin/env bash
# Compatibility suite: unmodified programs from Debian's packages (and the C tests in c/) run
# natively and under sjmp-run; stdout, stderr and exit status must match, and every process of
# the guest run must have run in guest mode and forwarded at least one system call (each one
# leaves a record through SJMP_RUN_REPORT at exit; a process that could not enter guest mode
# exits 125 from sjmp-run's preload, which fails the comparison).
# Usage: run.sh BUILD_DIR   -> writes BUILD_DIR/test-reports/compat.json (Criterion format).
set -u
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
run="$build/tools/sjmp-run"
bin="$build/tests/compat-bin"
report="$build/test-reports/compat.json"
mkdir -p "$build/test-reports"
work=$(mktemp -d /tmp/sjmp-compat.XXXXXX)
trap 'rm -rf "$work"' EXIT

names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
add shell_pipes_fork_exec 'for i in 1 2 3; do (echo "line $i"; seq 1 $i) | sort -r | tr "\n" " "; echo; done; x=$(ls / | wc -l); test "$x" -gt 3 && echo ok'
add coreutils 'seq 1 20000 | sort -n -r | head -3; printf "b\na\nc\n" | sort | uniq -c; echo hello | md5sum; wc -c < /etc/os-release; basename /a/b/c; expr 6 \* 7'
add sha256_large 'head -c 20000000 /dev/zero | sha256sum'
add gzip_roundtrip 'seq 1 200000 > f; gzip -9 -c f > f.gz; gzip -dc f.gz | sha256sum; ls -l f | cut -d" " -f5'
add xz_roundtrip 'seq 1 100000 > f; xz -c f | xz -dc | sha256sum'
add bzip2_tar 'mkdir d; seq 1 5000 > d/a; seq 5 9 > d/b; tar cjf d.tbz d; rm -r d; tar xjf d.tbz; cat d/b; wc -l < d/a'
add python3_threads_signals_json "python3 $here/py_threads.py"
add python3_subprocess 'python3 -c "import subprocess,sys; r=subprocess.run([\"sh\",\"-c\",\"echo sub; exit 4\"],capture_output=True); print(r.returncode, r.stdout); sys.exit(5)"'
add sqlite3_100k_rows 'sqlite3 :memory: "CREATE TABLE t(a INTEGER, b TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<100000) INSERT INTO t SELECT x, printf(\"r%d\", x) FROM c; CREATE INDEX i ON t(b); SELECT count(*), sum(a), max(b) FROM t; SELECT a FROM t WHERE b = \"r77777\";"'
add make_gcc 'printf "#include <stdio.h>\nint main(void){puts(\"built\");return 0;}\n" > h.c; printf "h: h.c\n\tgcc -O2 -o h h.c\n" > Makefile; make -s && ./h'
add perl 'perl -e "my %h; \$h{\$_ % 7}++ for 1..100000; print join(\",\", map {\"\$_=\$h{\$_}\"} sort keys %h), \"\n\"; print scalar(localtime(0)) =~ /1970/ ? \"epoch\n\" : \"no\n\""'
add awk_sed_grep 'seq 1 5000 | awk "{s+=\$1} END {print s}"; seq 1 100 | sed -n "s/^\(.*\)7\$/seven:\1/p" | head -3; seq 1 1000 | grep -c 9'
add find_diff 'mkdir -p a/b/c; touch a/b/c/x a/y; find a | sort; seq 1 5 > p; seq 1 6 > q; diff p q; echo diff=$?'
add bc_env 'echo "scale=20; 4*a(1)" | bc -l; env -i /bin/sh -c "echo cleared env: \$HOME"'
add exit_status_and_stderr 'echo to-stderr >&2; sh -c "exit 7"; echo rc=$?; sh -c "kill -TERM \$\$"; echo after=$?'
for c in "$bin"/*; do
	[ -x "$c" ] && add "c_$(basename "$c")" "$c"
done

json_escape() { python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }
# Where guest mode cannot run, every case is skipped with the reason (never run natively twice).
skip_reason=
if [ "${SJMP_COMPAT_SKIP:-}" = sanitizer ]; then
	skip_reason="built with SJMP_SANITIZE: guest mode refuses to run under a sanitizer runtime"
elif ! (exec 3<>/dev/kvm) 2>/dev/null; then
	skip_reason="/dev/kvm cannot be opened: guest mode needs KVM"
fi
if [ -n "$skip_reason" ]; then
	entries=()
	for name in "${names[@]}"; do
		entries+=("{\"name\":\"$name\",\"status\":\"SKIPPED\",\"messages\":[\"$skip_reason\"]}")
	done
	tests=$(IFS=,; echo "${entries[*]}")
	printf '{"passed":0,"failed":0,"errored":0,"skipped":%d,"test_suites":[{"name":"compat","tests":[%s]}]}\n' \
		"${#names[@]}" "$tests" >"$report"
	echo "compat: ${#names[@]} skipped: $skip_reason"
	exit 0
fi

passed=0 failed=0 entries=()
for i in "${!names[@]}"; do
	name=${names[$i]} cmd=${cmds[$i]}
	d="$work/$name"
	mkdir -p "$d/native/w" "$d/guest/w" "$d/rep"
	(cd "$d/native/w" && timeout 300 sh -c "$cmd" >"$d/native/out" 2>"$d/native/err" </dev/null)
	nrc=$?
	(cd "$d/guest/w" && SJMP_RUN_REPORT="$d/rep" timeout 300 "$run" sh -c "$cmd" \
		>"$d/guest/out" 2>"$d/guest/err" </dev/null)
	grc=$?
	msgs=()
	[ $nrc -eq $grc ] || msgs+=("exit status: native $nrc, sjmp-run $grc")
	cmp -s "$d/native/out" "$d/guest/out" || msgs+=("stdout differs: $(diff "$d/native/out" "$d/guest/out" | head -5)")
	cmp -s "$d/native/err" "$d/guest/err" || msgs+=("stderr differs: $(diff "$d/native/err" "$d/guest/err" | head -5)")
	nproc_rec=$(ls "$d/rep" | wc -l)
	[ "$nproc_rec" -ge 1 ] || msgs+=("no process reported running in guest mode")
	zero=$(cat "$d/rep"/* 2>/dev/null | grep -c 'syscalls=0 ' || true)
	[ "$zero" -eq 0 ] || msgs+=("$zero process(es) forwarded no system call")
	if [ ${#msgs[@]} -eq 0 ]; then
		passed=$((passed + 1)); status=PASSED
		echo "compat: PASS $name ($nproc_rec processes in guest mode)"
	else
		failed=$((failed + 1)); status=FAILED
		echo "compat: FAIL $name"; printf '  %s\n' "${msgs[@]}"
	fi
	m=$(printf '%s\n' "${msgs[@]+"${msgs[@]}"}" | python3 -c 'import json,sys; print(json.dumps([l for l in sys.stdin.read().split("\n") if l]))')
	entries+=("{\"name\":\"$name\",\"status\":\"$status\",\"messages\":$m}")
done
tests=$(IFS=,; echo "${entries[*]}")
printf '{"passed":%d,"failed":%d,"errored":0,"skipped":0,"test_suites":[{"name":"compat","tests":[%s]}]}\n' \
	"$passed" "$failed" "$tests" >"$report"
echo "compat: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
