#!/usr/bin/env bash
# bench/sam: the SpaceJMP paper's SAM workflow measurement (section 5.4, Fig. 11 and 12).
# For each stage, in one run: wall time of samtools on SAM and on BAM, of sjmp-sam on a VAS
# (kvm and mmap backends; a backend that cannot run here is reported as n/a), and of
# sjmp-sam-mmapfile (the same structures in a file mapped at a fixed address: the paper's mmap
# variant). Every timed command writes to /dev/null; one extra run of each writes to a file, and
# each sjmp stage's output is compared with samtools' (byte-identical, @PG lines aside).
#
#
# The stores (VAS segments and the mapped file) live on a tmpfs. With --pages 2m (the default) it
# is one mounted for the run with huge=within_size, so that the kernel backs them with 2 MiB pages
# (needs root; without it the run says so and uses 4 KiB pages): in guest mode on a host without
# TDP (kvm_pvm) KVM then takes one page fault per 2 MiB first touched instead of per 4 KiB.
#
# Usage: bench/sam/run.sh [--large] [--reps N] [--pages 2m|4k] [--out DIR]
#   --large  the 1.2 GiB dwgsim set (made first if missing: ~5.5 min) instead of the small set
#   --reps   timed runs per command, median reported (default 3)
#   --pages  page size of the stores' tmpfs (default 2m; 4k: /dev/shm as it is)
#   --out    where sam-bench-SET-PAGES.csv and .png go (default: $build/bench-results)
# Environment: SJMP_BUILD_DIR (default ./build), SJMP_DATA_DIR (data cache).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${SJMP_BUILD_DIR:-$here/build}
set_name=small reps=3 out= pages=2m
while [ $# -gt 0 ]; do
	case "$1" in
	--large) set_name=large ;;
	--reps) reps=$2; shift ;;
	--pages) pages=$2; shift ;;
	--out) out=$2; shift ;;
	*) echo "bench/sam: unknown argument $1 (see the top of $0)" >&2; exit 2 ;;
	esac
	shift
done
out=${out:-$build/bench-results}
mkdir -p "$out"
case $pages in 2m | 4k) ;; *) echo "bench/sam: --pages takes 2m or 4k" >&2; exit 2 ;; esac

cmake --build "$build" -j2 --target sjmp-sam sjmp-sam-mmapfile sjmpctl >/dev/null
sam=$build/examples/sam/sjmp-sam
mmf=$build/examples/sam/sjmp-sam-mmapfile
if [ $set_name = large ]; then
	data=$(bash "$here/scripts/make-sam-data.sh" --large | tail -n 1)
else
	data=$(bash "$here/scripts/make-sam-data.sh" | tail -n 1)
fi
d=$data/$set_name
ref=$(awk -F'\t' '$1=="@SQ"{sub("SN:","",$2); print $2; exit}' "$d.sam")
region="$ref:20001-30000"
tmp=$(mktemp -d /dev/shm/sjmp-sam-bench.XXXXXX)
mounted=
trap '[ -n "$mounted" ] && umount "$mounted"; rm -rf "$tmp"' EXIT
store=$tmp
if [ $pages = 2m ]; then
	mkdir -p "$tmp/2m"
	if [ "$(id -u)" = 0 ] && mount -t tmpfs -o huge=within_size,mode=0700 sjmp-bench "$tmp/2m"; then
		mounted=$tmp/2m store=$tmp/2m
	else
		echo "bench/sam: cannot mount a tmpfs with huge=within_size (not root?): 4 KiB pages" >&2
		pages=4k
	fi
fi
csv=$out/sam-bench-$set_name-$pages.csv
png=$out/sam-bench-$set_name-$pages.png
export SJMP_DIR=$store/objects SJMP_SAM_MMAPDIR=$store
mkdir -p "$SJMP_DIR"
echo "bench/sam: stores in $store ($("$build/tools/sjmpctl" info | grep '2 MiB pages'))" >&2
printf '%s\t%d\t%d\n' "$ref" 20000 30000 >"$tmp/region.bed"

true_bin() { /bin/true; }
secs() { # seconds of wall time of "$@" with stdout to /dev/null
	# bash's own clock: no process of the timer's is started inside the timed interval.
	local t0=$EPOCHREALTIME t1
	"$@" >/dev/null
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.4f},{min(v):.4f}")' "$@"; }

echo "stage,variant,input,median_s,min_s,reps,verified" >"$csv"
# measure STAGE VARIANT INPUT WHAT CMD...: one run to a file, which becomes the reference output
# (WHAT = ref), is compared with it (cmp) or is dropped (-); then $reps timed runs.
measure() {
	local stage=$1 variant=$2 input=$3 refout=$4 verified=-
	shift 4
	local o=$tmp/out.$stage.$variant
	if ! "$@" >"$o" 2>"$tmp/err"; then
		echo "bench/sam: $stage $variant failed: $(tail -n 3 "$tmp/err")" >&2
		echo "$stage,$variant,$input,,,0,failed" >>"$csv"
		return
	fi
	grep -v '^@PG' "$o" >"$o.nopg" || true
	rm -f "$o"
	if [ "$refout" = ref ]; then
		mv "$o.nopg" "$tmp/ref.$stage"
	elif [ "$refout" != - ]; then
		if cmp -s "$o.nopg" "$tmp/ref.$stage"; then verified=identical; else verified=DIFFERS; fi
		rm -f "$o.nopg"
	else
		rm -f "$o.nopg"
	fi
	local ts=() i
	for ((i = 0; i < reps; i++)); do ts+=("$(secs "$@")"); done
	local m
	m=$(median "${ts[@]}")
	echo "$stage,$variant,$input,$m,$reps,$verified" >>"$csv"
	printf 'bench/sam: %-9s %-14s %-18s median %8s s  %s\n' "$stage" "$variant" "$input" "${m%,*}" "$verified" >&2
}

# The sjmp variants: name, binary, environment. A backend that cannot run here: n/a.
variants=()
for b in kvm mmap; do
	probe=$(SJMP_BACKEND=$b "$sam" info --vas none 2>&1 || true)
	if ! grep -q 'No such file' <<<"$probe"; then
		echo "bench/sam: sjmp backend $b cannot run here: reported as n/a" >&2
	else
		variants+=("sjmp-$b")
	fi
done
variants+=(mmapfile)
run_var() { # VARIANT CMD ARGS...: run sjmp-sam with that variant's store, named bench-VARIANT
	local v=$1 cmd=$2
	shift 2
	case $v in
	sjmp-kvm) SJMP_BACKEND=kvm "$sam" "$cmd" --vas "bench-$v" "$@" ;;
	sjmp-mmap) SJMP_BACKEND=mmap "$sam" "$cmd" --vas "bench-$v" "$@" ;;
	mmapfile) "$mmf" "$cmd" --vas "bench-$v" "$@" ;;
	esac
}

# Load once per variant (the one-time cost the stages then avoid), from a warm page cache so
# that the first variant does not pay for reading the input from disk.
cat "$d.sam" >/dev/null
for v in "${variants[@]}"; do
	t=$(secs run_var "$v" load "$d.sam")
	echo "load,$v,$set_name.sam,${t},${t},1,-" >>"$csv"
	echo "bench/sam: load      $v: $t s" >&2
done

# The floor under every timed command: starting a process that does nothing (the same timer).
ts=()
for ((i = 0; i < reps; i++)); do ts+=("$(secs true_bin)"); done
echo "startup,/bin/true,-,$(median "${ts[@]}"),$reps,-" >>"$csv"

st=$tmp/sorttmp
stages=(flagstat idxstats sort sort-n view depth mpileup)
for s in "${stages[@]}"; do
	case $s in
	flagstat)
		measure $s samtools-bam "$set_name.bam" ref samtools flagstat "$d.bam"
		measure $s samtools-sam "$set_name.sam" - samtools flagstat "$d.sam"
		ours=(flagstat) ;;
	idxstats)
		measure $s samtools-bam "$set_name.sorted.bam+bai" ref samtools idxstats "$d.sorted.bam"
		measure $s samtools-sam "$set_name.sorted.sam" - samtools idxstats "$d.sorted.sam"
		ours=(idxstats) ;;
	sort)
		measure $s samtools-bam "$set_name.bam" ref samtools sort -O sam -T "$st" "$d.bam"
		measure $s samtools-sam "$set_name.sam" - samtools sort -O sam -T "$st" "$d.sam"
		ours=(sort) ;;
	sort-n)
		measure $s samtools-bam "$set_name.bam" ref samtools sort -n -O sam -T "$st" "$d.bam"
		measure $s samtools-sam "$set_name.sam" - samtools sort -n -O sam -T "$st" "$d.sam"
		ours=(sort -n) ;;
	view)
		measure $s samtools-bam "$set_name.sorted.bam+bai" ref samtools view "$d.sorted.bam" "$region"
		measure $s samtools-sam "$set_name.sam (-L bed)" - samtools view -L "$tmp/region.bed" "$d.sam"
		ours=(view "$region") ;;
	depth)
		measure $s samtools-bam "$set_name.sorted.bam" ref samtools depth "$d.sorted.bam"
		measure $s samtools-sam "$set_name.sorted.sam" - samtools depth "$d.sorted.sam"
		ours=(depth) ;;
	mpileup)
		measure $s samtools-bam "$set_name.sorted.bam" ref samtools mpileup "$d.sorted.bam"
		measure $s samtools-sam "$set_name.sorted.sam" - samtools mpileup "$d.sorted.sam"
		ours=(mpileup) ;;
	esac
	for v in "${variants[@]}"; do
		measure $s "$v" VAS cmp run_var "$v" "${ours[@]}"
	done
	rm -f "$tmp/ref.$s"
done
for b in kvm mmap; do
	[[ " ${variants[*]} " == *" sjmp-$b "* ]] || for s in "${stages[@]}"; do
		echo "$s,sjmp-$b,VAS,,,0,n/a" >>"$csv"
	done
done
# Debian's python3 has python3-matplotlib; a python3 earlier on PATH may not.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
$py "$here/bench/sam/plot.py" "$csv" "$png" "$set_name, $pages pages"
echo "bench/sam: wrote $csv and $png" >&2
column -s, -t <"$csv"
