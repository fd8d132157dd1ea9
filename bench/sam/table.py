#!/usr/bin/env python3
"""Markdown table of bench/sam/run.sh's CSV: per stage, seconds of each variant and the two ratios
the SAM workflow's targets are about (samtools on BAM / VAS, and VAS / mmap-file variant), per
backend. Usage: table.py CSV"""
import csv, sys

rows = list(csv.DictReader(open(sys.argv[1])))
t = {(r["stage"], r["variant"]): float(r["median_s"]) for r in rows if r["median_s"]}
ok = {(r["stage"], r["variant"]): r["verified"] for r in rows}
stages = [s for s in dict.fromkeys(r["stage"] for r in rows) if s not in ("load", "startup")]


def sec(v):
    return "n/a" if v is None else (f"{v:.4f}" if v < 0.1 else f"{v:.3f}" if v < 10 else f"{v:.1f}")


def ratio(a, b, fmt):
    return "n/a" if a is None or b is None or b == 0 else fmt.format(a / b)


print("| stage | samtools SAM | samtools BAM | mmap'd file | VAS, mmap | VAS, kvm "
      "| samtools BAM / VAS (mmap, kvm) | VAS / mmap'd file (mmap, kvm) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for s in stages:
    g = lambda v: t.get((s, v))
    bam, mf, vm, vk = g("samtools-bam"), g("mmapfile"), g("sjmp-mmap"), g("sjmp-kvm")
    bad = [c for c in ("mmapfile", "sjmp-mmap", "sjmp-kvm")
           if ok.get((s, c)) not in ("identical", "n/a", None)]
    flag = f" (output {', '.join(f'{c}: {ok[(s, c)]}' for c in bad)})" if bad else ""
    print(f"| {s}{flag} | {sec(g('samtools-sam'))} | {sec(bam)} | {sec(mf)} | {sec(vm)} | {sec(vk)} "
          f"| {ratio(bam, vm, '{:.1f}x')}, {ratio(bam, vk, '{:.1f}x')} "
          f"| {ratio(vm, mf, '{:.2f}')}, {ratio(vk, mf, '{:.2f}')} |")
loads = [f"{v} {sec(t[('load', v)])} s" for v in ("sjmp-kvm", "sjmp-mmap", "mmapfile")
         if ("load", v) in t]
floor = t.get(("startup", "/bin/true"))
print()
print("Load (parse once into the store): " + ", ".join(loads) + "." +
      (f" Starting `/bin/true` with the same timer: {floor * 1000:.1f} ms." if floor else ""))
