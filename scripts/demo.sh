#!/usr/bin/env bash
# The README's demo: the SAM workflow of the SpaceJMP paper (section 5.4) on real reads.
# Installs Debian's packages (scripts/install-deps.sh), builds sjmp, makes the small real data
# set (lambda phage reads of bowtie2-examples aligned with bwa; scripts/make-sam-data.sh), parses
# it once into a VAS, then runs flagstat, sort and depth, each as its own process that switches
# into the VAS, and prints each result with its wall time next to samtools' on the SAM and BAM.
# Usage: bash scripts/demo.sh      (as root on Debian 12, or with sudo available)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${SJMP_BUILD_DIR:-$here/build}
vas=demo-small

bash "$here/scripts/install-deps.sh"
echo "demo: building sjmp in $build"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target sjmp-sam >/dev/null
sam=$build/examples/sam/sjmp-sam
data=$(bash "$here/scripts/make-sam-data.sh" 2>/dev/null | tail -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ms CMD...: run CMD with stdout to $tmp/out, print its wall time in milliseconds.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$tmp/out"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
no_pg() { grep -v '^@PG' "$1" || true; }

echo
echo "== load: parse $data/small.sam once into VAS $vas"
"$sam" drop --vas "$vas" 2>/dev/null || true
t=$(ms "$sam" load "$data/small.sam" --vas "$vas")
echo "   ${t} ms ($("$sam" info --vas "$vas" | awk -F'\t' '$1=="records"{print $2}') records; backend: $("$sam" info --vas "$vas" | awk -F'\t' '$1=="kind"{print $2}'))"

# stage NAME "OUR ARGS" "SAMTOOLS ON SAM" "SAMTOOLS ON BAM": run all three, compare, print.
stage() {
	local name=$1 ours=$2 on_sam=$3 on_bam=$4 t_ours t_sam t_bam same
	t_ours=$(ms $ours)
	no_pg "$tmp/out" >"$tmp/ours"
	t_sam=$(ms $on_sam)
	no_pg "$tmp/out" >"$tmp/theirs"
	t_bam=$(ms $on_bam)
	if cmp -s "$tmp/ours" "$tmp/theirs"; then same="byte-identical to samtools"; else same="DIFFERS from samtools"; fi
	echo
	echo "== $name ($same; $(wc -l <"$tmp/ours") lines)"
	head -n "${5:-6}" "$tmp/ours" | cut -c1-110 | sed 's/^/   /'
	printf '   time: sjmp-sam in the VAS %5d ms | samtools on SAM %5d ms | on BAM %5d ms\n' \
		"$t_ours" "$t_sam" "$t_bam"
	[ "$same" = "byte-identical to samtools" ]
}

ok=0
stage flagstat "$sam flagstat --vas $vas" "samtools flagstat $data/small.sam" \
	"samtools flagstat $data/small.bam" 16 || ok=1
stage "sort (coordinate)" "$sam sort --vas $vas" \
	"samtools sort -O sam -T $tmp/st $data/small.sam" \
	"samtools sort -O sam -T $tmp/st $data/small.bam" 4 || ok=1
stage depth "$sam depth --vas $vas" "samtools depth $data/small.sorted.sam" \
	"samtools depth $data/small.sorted.bam" 4 || ok=1
echo
echo "The VAS stays for more stages, e.g.:"
echo "   $sam mpileup --vas $vas | head"
echo "   $sam view --vas $vas 'gi|9626243|ref|NC_001416.1|:10000-10100'"
echo "   $sam drop --vas $vas"
echo "Small set: times are mostly process start-up; bench/sam/run.sh measures the 1.2 GiB set."
exit $ok
