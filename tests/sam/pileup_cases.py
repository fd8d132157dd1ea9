#!/usr/bin/env python3
"""Writes a SAM file of pileup edge cases (deterministic for a given seed) to stdout.

What `samtools mpileup` does with them is what sjmp-sam's own pileup engine must reproduce:
deletions and reference skips spanning many reads, insertions at read starts and ends and next
to deletions, pads, soft and hard clips, = and X, reads without SEQ or QUAL, overlapping mates
with equal or different bases and qualities (their qualities are tweaked, and deletions show
them from a point that depends on the order records arrive in), mates sharing a name with a
supplementary record, more than 8000 reads starting at one position (the depth cap),
mapping qualities 0, 93, 94 and 255, records the default filters drop, reads covering no
reference, several references (one empty, one with reads past its end).

Usage: pileup_cases.py [--seed N] > cases.sam
"""
import argparse, random

REFS = [("chrA", 3000), ("chrB", 1500), ("chrEmpty", 500), ("chrShort", 60)]
BASES = "ACGT"


def qlen(cigar):
    n, out = "", 0
    for ch in cigar:
        if ch.isdigit():
            n += ch
        else:
            if ch in "MIS=X":
                out += int(n)
            n = ""
    return out


def rlen(cigar):
    n, out = "", 0
    for ch in cigar:
        if ch.isdigit():
            n += ch
        else:
            if ch in "MDN=X":
                out += int(n)
            n = ""
    return out


class Sam:
    def __init__(self, rnd):
        self.rnd = rnd
        self.lines = []
        self.n = 0

    def name(self, prefix="r"):
        self.n += 1
        return f"{prefix}{self.n}"

    def seq(self, n):
        return "".join(self.rnd.choice(BASES) for _ in range(n))

    def qual(self, n, lo=2, hi=41):
        return "".join(chr(33 + self.rnd.randint(lo, hi)) for _ in range(n))

    def add(self, name, flag, ref, pos, mapq, cigar, rnext="*", pnext=0, tlen=0, seq=None,
            qual=None):
        n = qlen(cigar) if cigar != "*" else 0
        if seq is None:
            seq = self.seq(n) if n else "*"
        if qual is None:
            qual = self.qual(len(seq)) if seq != "*" else "*"
        self.lines.append("\t".join(map(str, [name, flag, ref, pos, mapq, cigar, rnext, pnext,
                                              tlen, seq, qual])))

    def pair(self, ref, pos1, cig1, pos2, cig2, seq1=None, seq2=None, qual1=None, qual2=None,
             rev1=False, name=None, flags=(0, 0)):
        """A proper pair: the first mate forward unless rev1, the second the other way."""
        name = name or self.name("p")
        end2 = pos2 + rlen(cig2)
        tlen = max(end2, pos1 + rlen(cig1)) - min(pos1, pos2)
        f1 = 1 | 2 | 64 | (16 if rev1 else 32) | flags[0]
        f2 = 1 | 2 | 128 | (32 if rev1 else 16) | flags[1]
        self.add(name, f1, ref, pos1, 60, cig1, "=", pos2, tlen if pos1 <= pos2 else -tlen,
                 seq1, qual1)
        self.add(name, f2, ref, pos2, 60, cig2, "=", pos1, -tlen if pos1 <= pos2 else tlen,
                 seq2, qual2)
        return name


def random_cigar(rnd, n_ops):
    """A CIGAR with at least one M that consumes the reference."""
    ops = []
    if rnd.random() < 0.2:
        ops.append((rnd.randint(1, 5), "H"))
    if rnd.random() < 0.3:
        ops.append((rnd.randint(1, 8), "S"))
    if rnd.random() < 0.1:
        ops.append((rnd.randint(1, 3), "I"))  # insertion at the read start
    if rnd.random() < 0.05:
        ops.append((rnd.randint(1, 3), "D"))  # deletion at the read start
    ops.append((rnd.randint(1, 30), rnd.choice("MMM=X")))
    for _ in range(n_ops):
        op = rnd.choice("MMMMIIDDNPX=")
        if op == "P":
            ops.append((rnd.randint(1, 2), "P"))
            ops.append((rnd.randint(1, 3), rnd.choice("IIM")))
        elif op == "N":
            ops.append((rnd.randint(5, 200), "N"))
        else:
            ops.append((rnd.randint(1, 25 if op in "M=X" else 4), op))
        if rnd.random() < 0.3:
            ops.append((rnd.randint(1, 20), "M"))
    if rnd.random() < 0.1:
        ops.append((rnd.randint(1, 3), "I"))  # insertion at the read end
    if rnd.random() < 0.05:
        ops.append((rnd.randint(1, 3), "D"))  # deletion at the read end
    if rnd.random() < 0.3:
        ops.append((rnd.randint(1, 8), "S"))
    if rnd.random() < 0.2:
        ops.append((rnd.randint(1, 5), "H"))
    return "".join(f"{n}{o}" for n, o in ops)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    s = Sam(rnd)

    # The engine starts at reference 0, position 0, where the depth cap then counts from the
    # first record: a record covering no reference first, then more than 8000 records (kept
    # out of the shuffle below so that they come first).
    first = ["\t".join(["z0", "0", "chrA", "1", "30", "10S", "*", "0", "0", s.seq(10), s.qual(10)])]
    first += ["\t".join([f"z{k}", "0", "chrA", "1", "30", "2M", "*", "0", "0", "AC", "II"])
              for k in range(1, 8003)]
    # Reads at the very first position, one covering no reference there, and a read that is
    # all soft clip.
    s.add(s.name(), 0, "chrA", 1, 30, "10S")
    s.add(s.name(), 0, "chrA", 1, 30, "10M")
    s.add(s.name(), 16, "chrA", 1, 30, "3S7M")
    s.add(s.name(), 0, "chrA", 1, 30, "4I")
    s.add(s.name(), 0, "chrA", 2, 30, "5S")

    # Hand-made CIGARs around indels, pads and skips, and zero-length operations (htslib moves
    # on by at most one operation per position, which shifts what such reads show).
    for i, cig in enumerate(["5M2I5M", "5M2D5M", "5M2I3D5M", "5M3D2I5M", "5M1P2I5M",
                             "5M2P5M", "3M1P1I1P2I4M", "2I10M", "10M2I", "3S2I8M2I3S",
                             "5M10N5M", "5M3N2I5M", "5M2N3D5M", "5=1X4=", "2H3S5M3S2H",
                             "4M1D1I1D4M", "1M1D1M1D1M", "6M1I1P1I6M", "3M2D", "2D8M",
                             "5M0I5M", "5M0D5M", "0M5M", "3M0N2M0D3M", "2M0I0D3M", "0D5M",
                             "5M0D", "4M0D0N4M"]):
        for strand in (0, 16):
            s.add(s.name("c"), strand, "chrA", 40 + 3 * i, 20 + i, cig)

    # Missing SEQ, missing QUAL, mapping qualities at the print limits.
    s.add(s.name(), 0, "chrA", 120, 0, "10M", seq="*", qual="*")
    s.add(s.name(), 16, "chrA", 121, 93, "10M", qual="*")
    s.add(s.name(), 0, "chrA", 122, 94, "4M2I4M", qual="*")
    s.add(s.name(), 0, "chrA", 123, 255, "5M2D5M")
    s.add(s.name(), 0, "chrA", 124, 60, "*", seq="ACGT", qual="IIII")
    s.add(s.name(), 0, "chrA", 125, 60, "3M4D3M", seq="*", qual="*")

    # Filtered records: secondary, QC fail, duplicate, unmapped with a position, paired but
    # not proper.
    for flag in (256, 512, 1024, 4, 1 | 64 | 32):
        s.add(s.name("f"), flag, "chrA", 130, 60, "10M")
    s.add(s.name("f"), 2048, "chrA", 130, 60, "10M")  # supplementary: kept

    # Overlapping proper mates: same bases (qualities summed into one mate), different bases,
    # equal qualities, QUAL '*' (255), deletions in the overlap, a mate starting at the same
    # position, mates on the reverse strand first.
    for k in range(40):
        pos1 = 200 + rnd.randint(0, 60)
        pos2 = pos1 + rnd.randint(0, 30)
        base = s.seq(80)
        seq1 = base[:40]
        seq2 = base[pos2 - pos1:pos2 - pos1 + 40]
        if k % 3 == 1:  # some differences
            seq2 = "".join(c if rnd.random() < 0.7 else rnd.choice(BASES) for c in seq2)
        q = rnd.choice([None, "eq", "hi", "star"])
        qual1 = qual2 = None
        if q == "eq":
            qual1 = qual2 = "5" * 40
        elif q == "hi":
            qual1, qual2 = "~" * 40, "h" * 40
        elif q == "star":
            qual1 = "*"
        s.pair("chrA", pos1, "40M", pos2, "40M", seq1, seq2, qual1, qual2, rev1=k % 4 == 3)
    for k in range(30):
        pos1 = 300 + rnd.randint(0, 40)
        pos2 = pos1 + rnd.randint(0, 25)
        c1 = rnd.choice(["20M3D20M", "10M2I28M", "15M5N25M", "5S35M", "40M", "12M1D28M2S"])
        c2 = rnd.choice(["40M", "20M2D20M", "3S30M2I5M", "10M4N30M"])
        s.pair("chrA", pos1, c1, pos2, c2, rev1=k % 2 == 1)
    # The tweak seen by deletions before the later mate's start: mate 1 deletes right up to
    # where mate 2 starts; with and without another read starting in between.
    for gap in (0, 1, 3):
        for extra in (False, True):
            pos1 = 400 + 40 * (gap * 2 + extra)
            s.pair("chrA", pos1, "10M5D20M", pos1 + 12, "25M", qual1="I" * 30, qual2="5" * 25,
                   seq1="A" * 30, seq2="A" * 25)
            if extra:
                s.add(s.name(), 0, "chrA", pos1 + 11, 60, "5M")
    # A name shared by a pair and a supplementary record; mates whose mate is unmapped.
    n = s.pair("chrA", 700, "30M", 710, "30M")
    s.add(n, 1 | 2 | 64 | 2048, "chrA", 705, 60, "20M", "=", 710, 0)
    s.add(s.name(), 1 | 2 | 8 | 64, "chrA", 720, 60, "30M", "=", 720, 0)
    s.pair("chrA", 740, "30M", 740, "30M", name="samepos")
    s.add("samepos", 1 | 2 | 128 | 2048, "chrA", 745, 60, "10M", "=", 740, 0)

    # The depth cap: 9000 reads at one position (pairs and singles), then more at the next
    # positions, and the mates of some of the dropped ones.
    for k in range(9000):
        if k % 10 == 0:
            s.add(f"deep{k}", 1 | 2 | 32 | 64, "chrA", 1000, 60, "30M", "=", 1010, 40)
            s.add(f"deep{k}", 1 | 2 | 16 | 128, "chrA", 1010, 60, "30M", "=", 1000, -40)
        else:
            s.add(f"deep{k}", 16 if k % 3 == 0 else 0, "chrA", 1000, 60, "30M")
    for k in range(300):
        s.add(s.name(), 0, "chrA", 1001 + k % 3, 60, "25M")
    for k in range(8200):  # every one covering the position after the cap's position
        s.add(s.name(), 0, "chrA", 1100, 60, "1M" if k % 2 else "5M")
    s.add(s.name(), 0, "chrA", 1100, 60, "3S")

    # Random reads on chrA and chrB, pairs among them.
    for ref, length in REFS[:2]:
        for k in range(600):
            cig = random_cigar(rnd, rnd.randint(0, 4))
            pos = rnd.randint(1, length - 50)
            if rnd.random() < 0.3:
                s.pair(ref, pos, cig, pos + rnd.randint(0, 40), random_cigar(rnd, 2),
                       rev1=rnd.random() < 0.5)
            else:
                s.add(s.name(), rnd.choice([0, 16, 0, 16, 256, 2048]), ref, pos,
                      rnd.randint(0, 60), cig)

    # Past the end of a short reference, and a pair split over two references.
    s.add(s.name(), 0, "chrShort", 55, 60, "20M")
    s.add("split", 1 | 2 | 32 | 64, "chrA", 2900, 60, "20M", "chrB", 10, 0)
    s.add("split", 1 | 2 | 16 | 128, "chrB", 10, 60, "20M", "chrA", 2900, 0)
    # Unmapped and unplaced.
    s.add(s.name(), 4, "*", 0, 0, "*", seq="ACGT", qual="IIII")

    print("@HD\tVN:1.6\tSO:unsorted")
    for name, length in REFS:
        print(f"@SQ\tSN:{name}\tLN:{length}")
    rnd.shuffle(s.lines)
    print("\n".join(first + s.lines))


if __name__ == "__main__":
    main()
