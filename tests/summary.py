#!/usr/bin/env python3
"""Adds up the Criterion JSON reports of every test executable (and the compat driver's report,
written in the same format) and prints per-test skips with their reasons, then one closing line:
'N passed, N failed, N skipped'. Exits non-zero when anything failed or no test ran.
The optional second argument is the number of test executables ctest saw fail; each failing
executable whose report shows no failure (a crash, a sanitizer report at exit) counts as one."""
import json, pathlib, re, sys

reports = sorted(pathlib.Path(sys.argv[1]).glob("*.json"))
passed = failed = skipped = 0
for path in reports:
    try:
        text = path.read_text()
        data = json.loads(text)
    except ValueError:
        # Criterion 2.4 does not escape quotes inside failure messages; its totals come
        # first in the file, so read those.
        totals = {k: re.search(rf'"{k}": (\d+)', text) for k in ("passed", "failed", "errored", "skipped")}
        if not all(totals.values()):
            print(f"summary: {path.name}: unreadable report: counted as a failure")
            failed += 1
            continue
        data = {k: int(m.group(1)) for k, m in totals.items()}
    except OSError as e:
        print(f"summary: {path.name}: unreadable report ({e}): counted as a failure")
        failed += 1
        continue
    passed += data.get("passed", 0)
    failed += data.get("failed", 0) + data.get("errored", 0)
    skipped += data.get("skipped", 0)
    for suite in data.get("test_suites", []):
        for t in suite.get("tests", []):
            if t.get("status") == "SKIPPED":
                why = "; ".join(t.get("messages", [])) or "no reason given"
                print(f"summary: skipped {path.stem}::{suite['name']}::{t['name']}: {why}")
ctest_failed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if ctest_failed and failed == 0:
    print(f"summary: {ctest_failed} test executable(s) failed outside their reports (see above)")
    failed += ctest_failed
print(f"tests: {len(reports)} executables reported")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
