#!/usr/bin/env python3
"""Chart of bench/sam/run.sh's CSV in the style of the SpaceJMP paper's Fig. 11/12: per stage,
one bar per variant, wall time on a log scale; n/a variants are listed in the legend.
Usage: plot.py CSV PNG SETNAME"""
import csv, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

ORDER = ["samtools-sam", "samtools-bam", "mmapfile", "sjmp-mmap", "sjmp-kvm"]
LABEL = {"samtools-sam": "samtools, SAM", "samtools-bam": "samtools, BAM",
         "mmapfile": "mmap'd file (fixed address)", "sjmp-mmap": "sjmp VAS, mmap backend",
         "sjmp-kvm": "sjmp VAS, kvm backend"}

rows = list(csv.DictReader(open(sys.argv[1])))
stages = [s for s in dict.fromkeys(r["stage"] for r in rows) if s not in ("load", "startup")]
floor = [float(r["median_s"]) for r in rows if r["stage"] == "startup" and r["median_s"]]
t = {(r["stage"], r["variant"]): float(r["median_s"]) for r in rows if r["median_s"]}
present = [v for v in ORDER if any((s, v) in t for s in stages)]
missing = [v for v in ORDER if v not in present and any(r["variant"] == v for r in rows)]
w = 0.8 / max(1, len(present))
fig, ax = plt.subplots(figsize=(10, 4.5))
for i, v in enumerate(present):
    xs = [k + (i - (len(present) - 1) / 2) * w for k in range(len(stages))]
    ax.bar(xs, [t.get((s, v), 0) for s in stages], w, label=LABEL[v])
for v in missing:
    ax.bar([0], [0], 0, label=LABEL[v] + " (n/a here)")
if floor:
    ax.axhline(floor[0], color="grey", linestyle=":", linewidth=1,
               label=f"process start-up (/bin/true, {floor[0] * 1000:.1f} ms)")
ax.set_xticks(range(len(stages)))
ax.set_xticklabels(stages)
ax.set_yscale("log")
ax.set_ylabel("wall time, s (log)")
ax.set_title(f"SAM workflow stages, {sys.argv[3]} set: samtools vs. records kept in a VAS")
ax.legend(fontsize=8)
ax.grid(axis="y", which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
