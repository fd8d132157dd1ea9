#!/usr/bin/env python3
"""Markdown table of bench/sam/run.sh's CSV: per stage, the median wall time of each variant,
each sjmp variant's speed-up over samtools on BAM and its time relative to the mmap-file
variant. Usage: table.py CSV"""
import csv, sys

rows = list(csv.DictReader(open(sys.argv[1])))
t = {(r["stage"], r["variant"]): float(r["median_s"]) for r in rows if r["median_s"]}
ok = {(r["stage"], r["variant"]): r["verified"] for r in rows}
stages = [s for s in dict.fromkeys(r["stage"] for r in rows) if s != "load"]
cols = ["samtools-sam", "samtools-bam", "mmapfile", "sjmp-mmap", "sjmp-kvm"]
fmt = lambda v: "n/a" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")
print("| stage | samtools SAM | samtools BAM | mmap'd file | VAS, mmap | VAS, kvm "
      "| VAS mmap / kvm vs samtools BAM | VAS mmap / kvm vs mmap'd file |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for s in stages:
    v = {c: t.get((s, c)) for c in cols}
    bam, mf = v["samtools-bam"], v["mmapfile"]
    speed = " / ".join(f"{bam / v[c]:.1f}x" if v[c] and bam else "n/a"
                       for c in ("sjmp-mmap", "sjmp-kvm"))
    rel = " / ".join(f"{v[c] / mf:.2f}" if v[c] and mf else "n/a"
                     for c in ("sjmp-mmap", "sjmp-kvm"))
    bad = [c for c in ("mmapfile", "sjmp-mmap", "sjmp-kvm") if ok.get((s, c)) not in ("identical", "n/a", None)]
    flag = f" (output {', '.join(bad)}: {', '.join(ok[(s, c)] for c in bad)})" if bad else ""
    print(f"| {s}{flag} | " + " | ".join(fmt(v[c]) for c in cols) + f" | {speed} | {rel} |")
loads = [f"{r['variant']} {float(r['median_s']):.1f} s" for r in rows if r["stage"] == "load" and r["median_s"]]
print(f"\nLoad (parse once into the store, the cost the stages then avoid): {', '.join(loads)}.")
