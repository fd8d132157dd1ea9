#!/usr/bin/env python3
"""Equality checks of the SAM workflow (examples/sam) against Debian's samtools.

For each variant (sjmp-sam on each usable backend, sjmp-sam-mmapfile), every stage's output on
the small real data set (scripts/make-sam-data.sh) must be byte-identical to samtools' on the
same input, @PG header lines aside; where samtools needs sorted or indexed input it gets the
files samtools made. Then generated pileup edge cases (pileup_cases.py), where every stage
matches samtools too, mpileup also when cut into tiny chunks. Then every SAM file of Debian's
htslib-test data: either the loader and `samtools view` both refuse it (the loader naming the
file and line), or both accept it and every stage matches samtools again. Damaged copies of those files (cut short, a field
replaced by garbage or missing, a stray NUL) never crash the loader, which refuses exactly what
`samtools view` refuses.

Writes a Criterion-format JSON report (tests/summary.py adds these up) and exits 0 when
nothing failed.

Usage: run_sam_tests.py --report FILE --bin NAME=PATH[:ENV=VAL,...] ... --make-data SCRIPT
       [--htslib-test DIR] [--quick]
"""
import argparse, json, os, pathlib, shutil, subprocess, sys, tempfile

HTSLIB_TEST = "/usr/share/htslib-test/test"
SMALL_REGION = "gi|9626243|ref|NC_001416.1|:10000-20000"


def run(cmd, env=None, timeout=300):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def no_pg(data):
    return b"".join(l for l in data.splitlines(keepends=True) if not l.startswith(b"@PG\t"))


class Report:
    def __init__(self):
        self.tests = []

    def add(self, name, status, *msgs):
        self.tests.append({"name": name, "status": status, "messages": [m for m in msgs if m]})
        if status == "FAILED":
            print(f"sam: FAILED {name}: {'; '.join(msgs)}", file=sys.stderr)

    def write(self, path):
        count = lambda s: sum(1 for t in self.tests if t["status"] == s)
        data = {"id": "sam", "passed": count("PASSED"), "failed": count("FAILED"),
                "errored": 0, "skipped": count("SKIPPED"),
                "test_suites": [{"name": "sam", "tests": self.tests}]}
        pathlib.Path(path).write_text(json.dumps(data, indent=1))
        return data


def first_diff(a, b):
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: ours {x[:160]!r} samtools {y[:160]!r}"
    return f"ours {len(la)} lines, samtools {len(lb)} lines"


class Variant:
    """One build of sjmp-sam: a binary plus the environment that selects its backend."""

    def __init__(self, spec, tmp):
        name, _, rest = spec.partition("=")
        path, _, envs = rest.partition(":")
        self.name, self.path = name, path
        self.env = dict(os.environ)
        self.env["SJMP_SAM_MMAPDIR"] = tmp
        for kv in filter(None, envs.split(",")):
            k, _, v = kv.partition("=")
            self.env[k] = v
        self.n = 0

    def cmd(self, *args):
        return run([self.path, *args], env=self.env)

    def fresh_name(self):
        self.n += 1
        return f"samtest-{os.getpid()}-{self.n}"


def stage_checks(sorted_bam, samfile, region, tmp):
    """(stage name, our args after the VAS name, samtools command) for every stage."""
    st = os.path.join(tmp, "sorttmp")
    checks = [("flagstat", ["flagstat"], ["samtools", "flagstat", samfile]),
              ("view-all", ["view"], ["samtools", "view", samfile]),
              ("sort", ["sort"], ["samtools", "sort", "-O", "sam", "-T", st, samfile]),
              ("sort-n", ["sort", "-n"], ["samtools", "sort", "-n", "-O", "sam", "-T", st,
                                          samfile])]
    if sorted_bam:
        checks += [("idxstats", ["idxstats"], ["samtools", "idxstats", sorted_bam]),
                   ("depth", ["depth"], ["samtools", "depth", sorted_bam]),
                   ("mpileup", ["mpileup"], ["samtools", "mpileup", sorted_bam])]
        if region:
            checks.append(("view", ["view", region], ["samtools", "view", sorted_bam, region]))
    return checks


def check_stages(rep, var, prefix, vas, samfile, sorted_bam, region, expect_cache):
    for stage, ours, theirs in stage_checks(sorted_bam, samfile, region, var.env["SJMP_SAM_MMAPDIR"]):
        key = tuple(theirs)
        if key not in expect_cache:
            expect_cache[key] = run(theirs)
        rc_s, out_s, err_s = expect_cache[key]
        rc, out, err = var.cmd(*ours_with(ours, vas))
        name = f"{prefix}:{stage}"
        if rc_s != 0 and rc != 0:
            rep.add(name, "PASSED", "both refuse")
        elif rc != 0:
            rep.add(name, "FAILED", f"exit {rc}: {err.strip()[:300]}")
        elif rc_s != 0:
            rep.add(name, "FAILED", f"samtools exits {rc_s} ({err_s.strip()[:200]}), ours 0")
        elif no_pg(out) != no_pg(out_s):
            rep.add(name, "FAILED", first_diff(no_pg(out), no_pg(out_s)))
        else:
            rep.add(name, "PASSED")


def ours_with(ours, vas):
    return [ours[0], "--vas", vas, *ours[1:]]


def small_set(rep, var, data, cache):
    for kind in ("sam", "bam"):
        prefix = f"{var.name}/small.{kind}"
        vas = var.fresh_name()
        # Stages read only the VAS: the loaded file is gone before they run.
        copy = os.path.join(var.env["SJMP_SAM_MMAPDIR"], f"input-{vas}.{kind}")
        shutil.copyfile(f"{data}/small.{kind}", copy)
        rc, _, err = var.cmd("load", copy, "--vas", vas)
        os.unlink(copy)
        if rc != 0:
            rep.add(f"{prefix}:load", "FAILED", err.strip()[:300])
            continue
        rep.add(f"{prefix}:load", "PASSED")
        check_stages(rep, var, prefix, vas, f"{data}/small.{kind}", f"{data}/small.sorted.bam",
                     SMALL_REGION, cache)
        rc, out, _ = var.cmd("info", "--vas", vas)
        ok = rc == 0 and b"coordinate order\tkept" in out and b"name order\tkept" in out
        rep.add(f"{prefix}:sort-orders-kept", "PASSED" if ok else "FAILED",
                "" if ok else out.decode(errors="replace"))
        # The next stage reads the kept orders: the sorted records without sorting again.
        for order, flags in (("coord", []), ("name", ["-n"])):
            rc, out, err = var.cmd("view", "--vas", vas, "--order", order)
            theirs = run(["samtools", "sort", *flags, "-O", "sam", "-T",
                          os.path.join(var.env["SJMP_SAM_MMAPDIR"], "st"),
                          f"{data}/small.{kind}"])[1]
            body = b"".join(l for l in theirs.splitlines(keepends=True) if not l.startswith(b"@"))
            name = f"{prefix}:view-kept-{order}-order"
            if rc != 0:
                rep.add(name, "FAILED", err.strip()[:300])
            elif out != body:
                rep.add(name, "FAILED", first_diff(out, body))
            else:
                rep.add(name, "PASSED")
        var.cmd("drop", "--vas", vas)


def first_ref(samfile):
    rc, out, _ = run(["samtools", "view", "-H", samfile])
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("@SQ"):
            for f in line.split("\t"):
                if f.startswith("SN:"):
                    return "{" + f[3:] + "}" if ":" in f[3:] else f[3:]
    return None


def htslib_set(rep, var, root, tmp, cache, prepared):
    for path in sorted(pathlib.Path(root).rglob("*.sam")):
        rel = path.relative_to(root)
        prefix = f"{var.name}/htslib-test/{rel}"
        f = str(path)
        if f not in prepared:
            rc_view, _, err_view = run(["samtools", "view", f])
            sorted_bam = None
            if rc_view == 0:
                # BAM cannot hold positions past 2^31 (longrefs): bgzipped SAM with CSI can.
                base = os.path.join(tmp, str(rel).replace("/", "_"))
                for sb, fmt, idx in ((base + ".sorted.bam", "bam", []),
                                     (base + ".sorted.sam.gz", "sam.gz", ["-c"])):
                    if (run(["samtools", "sort", "-T", sb + ".st", "-O", fmt, "-o", sb, f])[0] == 0
                            and run(["samtools", "index", *idx, sb])[0] == 0):
                        sorted_bam = sb
                        break
            prepared[f] = (rc_view, err_view, sorted_bam)
        rc_view, err_view, sorted_bam = prepared[f]
        vas = var.fresh_name()
        rc, _, err = var.cmd("load", f, "--vas", vas)
        if rc_view != 0:
            named = f in err and any(f"{f}:{c}" in err or f"{f}: record" in err for c in "0123456789")
            if rc != 0 and named:
                rep.add(f"{prefix}:refused", "PASSED")
            elif rc != 0:
                rep.add(f"{prefix}:refused", "FAILED", f"message names no file and line: {err.strip()[:300]}")
            else:
                rep.add(f"{prefix}:refused", "FAILED", f"loaded what samtools view refuses ({err_view.strip()[:200]})")
                var.cmd("drop", "--vas", vas)
            continue
        if rc != 0:
            rep.add(f"{prefix}:load", "FAILED", f"samtools view accepts it; ours: {err.strip()[:300]}")
            continue
        rep.add(f"{prefix}:load", "PASSED")
        check_stages(rep, var, prefix, vas, f, sorted_bam,
                     first_ref(f) if sorted_bam else None, cache)
        if not sorted_bam:
            rep.add(f"{prefix}:sorted-stages", "SKIPPED",
                    "samtools sort/index refuses this file: no reference output for idxstats, view, depth, mpileup")
        var.cmd("drop", "--vas", vas)


def pileup_set(rep, var, tmp, cache, prepared):
    """Generated pileup edge cases (pileup_cases.py): every stage as on the other files, and
    mpileup again with tiny chunks, so that the pileup's state is rebuilt at every chunk
    boundary."""
    gen = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pileup_cases.py")
    for seed in (1, 2):
        f = os.path.join(tmp, f"pileup-cases-{seed}.sam")
        if f not in prepared:
            with open(f, "wb") as out:
                out.write(run([sys.executable, gen, "--seed", str(seed)])[1])
            sb = f + ".sorted.bam"
            ok = (run(["samtools", "sort", "-T", sb + ".st", "-o", sb, f])[0] == 0
                  and run(["samtools", "index", sb])[0] == 0)
            prepared[f] = sb if ok else None
        sorted_bam = prepared[f]
        prefix = f"{var.name}/pileup-cases-{seed}"
        if not sorted_bam:
            rep.add(f"{prefix}:prepare", "FAILED", "samtools sort/index refuses the generated file")
            continue
        vas = var.fresh_name()
        rc, _, err = var.cmd("load", f, "--vas", vas)
        if rc != 0:
            rep.add(f"{prefix}:load", "FAILED", err.strip()[:300])
            continue
        rep.add(f"{prefix}:load", "PASSED")
        check_stages(rep, var, prefix, vas, f, sorted_bam, first_ref(f), cache)
        rc_s, out_s, _ = cache[("samtools", "mpileup", sorted_bam)]
        env = dict(var.env, SJMP_SAM_MPILEUP_CHUNK="1")
        rc, out, err = run([var.path, "mpileup", "--vas", vas], env=env)
        name = f"{prefix}:mpileup-tiny-chunks"
        if rc != 0:
            rep.add(name, "FAILED", f"exit {rc}: {err.strip()[:300]}")
        elif out != out_s:
            rep.add(name, "FAILED", first_diff(out, out_s))
        else:
            rep.add(name, "PASSED")
        var.cmd("drop", "--vas", vas)


def mutants(path):
    """Damaged copies of a SAM file, made deterministically: cut in the middle of a record,
    a field of a record replaced by garbage, a record with a field missing, a stray byte."""
    data = pathlib.Path(path).read_bytes()
    lines = data.split(b"\n")
    body = [i for i, l in enumerate(lines) if l and not l.startswith(b"@")]
    if not body:
        return []
    mid = body[len(body) // 2]
    out = []
    cut = sum(len(l) + 1 for l in lines[:mid]) + max(1, len(lines[mid]) // 2)
    out.append(("truncated", data[:cut]))
    for name, field, repl in (("bad-pos", 3, b"12x"), ("bad-flag", 1, b"-3"),
                              ("bad-cigar", 5, b"10Q"), ("huge-mapq", 4, b"99999")):
        f = lines[mid].split(b"\t")
        if len(f) > field:
            f[field] = repl
            out.append((name, b"\n".join(lines[:mid] + [b"\t".join(f)] + lines[mid + 1:])))
    f = lines[mid].split(b"\t")
    out.append(("missing-field", b"\n".join(lines[:mid] + [b"\t".join(f[:5] + f[6:])] + lines[mid + 1:])))
    out.append(("nul-byte", data[:cut] + b"\0" + data[cut:]))
    return out


def damaged_set(rep, var, root, tmp):
    """The loader never crashes on damaged input, and refuses exactly what samtools view does;
    what it loads, flagstat reads as samtools does."""
    for path in sorted(pathlib.Path(root).rglob("*.sam")):
        rel = path.relative_to(root)
        for kind, data in mutants(path):
            f = os.path.join(tmp, f"damaged-{kind}.sam")
            pathlib.Path(f).write_bytes(data)
            name = f"{var.name}/damaged/{rel}:{kind}"
            rc_s = run(["samtools", "view", f])[0]
            vas = var.fresh_name()
            rc, _, err = var.cmd("load", f, "--vas", vas)
            if rc < 0 or rc > 2:
                rep.add(name, "FAILED", f"loader died (status {rc}): {err.strip()[:200]}")
            elif (rc == 0) != (rc_s == 0):
                rep.add(name, "FAILED", f"samtools view exits {rc_s}, the loader {rc}: {err.strip()[:200]}")
            elif rc != 0 and f not in err:
                rep.add(name, "FAILED", f"message does not name the file: {err.strip()[:200]}")
            elif rc == 0 and no_pg(var.cmd("flagstat", "--vas", vas)[1]) != run(["samtools", "flagstat", f])[1]:
                rep.add(name, "FAILED", "flagstat differs from samtools'")
            else:
                rep.add(name, "PASSED")
            if rc == 0:
                var.cmd("drop", "--vas", vas)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--bin", action="append", default=[], help="NAME=PATH[:ENV=VAL,...]")
    ap.add_argument("--make-data", required=True)
    ap.add_argument("--htslib-test", default=HTSLIB_TEST)
    a = ap.parse_args()
    rep = Report()
    if not shutil.which("samtools"):
        rep.add("samtools", "SKIPPED", "samtools not installed: run scripts/install-deps.sh")
        rep.write(a.report)
        return 0
    with tempfile.TemporaryDirectory(prefix="sjmp-sam-test.") as tmp:
        rc, out, err = run(["bash", a.make_data])
        if rc != 0:
            rep.add("make-sam-data", "FAILED", err.strip()[-500:])
            rep.write(a.report)
            return 1
        data = out.decode().strip().splitlines()[-1]
        cache, prepared = {}, {}
        for spec in a.bin:
            var = Variant(spec, tmp)
            # A backend that cannot run here (no /dev/kvm, a sanitizer, a tracer) is skipped,
            # with the reason, not failed: where it runs, looking up a missing VAS says ENOENT.
            rc, out, err = var.cmd("info", "--vas", "sjmp-sam-probe-none")
            if "No such file" not in err:
                rep.add(f"{var.name}", "SKIPPED", f"backend unavailable: {err.strip()[:200]}")
                continue
            small_set(rep, var, data, cache)
            pileup_set(rep, var, tmp, cache, prepared)
            if os.path.isdir(a.htslib_test):
                htslib_set(rep, var, a.htslib_test, tmp, cache, prepared)
                damaged_set(rep, var, a.htslib_test, tmp)
            else:
                rep.add(f"{var.name}/htslib-test", "SKIPPED",
                        f"{a.htslib_test} missing: install htslib-test")
    d = rep.write(a.report)
    print(f"sam: {d['passed']} passed, {d['failed']} failed, {d['skipped']} skipped")
    return 1 if d["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
