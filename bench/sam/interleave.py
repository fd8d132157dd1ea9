#!/usr/bin/env python3
"""Short SAM stages, compared fairly on a noisy machine: each round runs the stage once on every
variant in turn (sjmp-sam on the mmap and kvm backends, sjmp-sam-mmapfile), so that load from
other work falls on all of them alike; prints medians and the ratios to the mmap-file variant.

The stores must exist: `sjmp-sam load FILE --vas NAME` (SJMP_DIR) and `sjmp-sam-mmapfile load
FILE --vas NAME` (SJMP_SAM_MMAPDIR), as bench/sam/run.sh makes them.

Usage: interleave.py --vas NAME [--rounds N] [--build DIR] STAGE [ARGS...]
  e.g. interleave.py --vas L --rounds 21 flagstat
"""
import argparse, os, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--vas", required=True)
ap.add_argument("--rounds", type=int, default=21)
ap.add_argument("--build", default=os.environ.get("SJMP_BUILD_DIR", "build"))
ap.add_argument("stage", nargs=argparse.REMAINDER)
a = ap.parse_args()
if not a.stage:
    sys.exit("interleave.py: name a stage (see the top of this file)")
sam = os.path.join(a.build, "examples/sam/sjmp-sam")
mmf = os.path.join(a.build, "examples/sam/sjmp-sam-mmapfile")
variants = [("sjmp-mmap", sam, {"SJMP_BACKEND": "mmap"}), ("sjmp-kvm", sam, {"SJMP_BACKEND": "kvm"}),
            ("mmapfile", mmf, {})]
times = {name: [] for name, _, _ in variants}
for _ in range(a.rounds):
    for name, binary, env in variants:
        e = dict(os.environ, **env)
        t0 = time.perf_counter()
        p = subprocess.run([binary, *a.stage, "--vas", a.vas], env=e, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        times[name].append(time.perf_counter() - t0)
        if p.returncode:
            sys.exit(f"interleave.py: {name} failed: {p.stderr.decode(errors='replace')[-300:]}")
med = {k: statistics.median(v) for k, v in times.items()}
for k, v in med.items():
    print(f"{' '.join(a.stage)}\t{k}\tmedian {v * 1000:.1f} ms\t/ mmapfile {v / med['mmapfile']:.2f}")
