#!/usr/bin/env bash
# Makes the SAM/BAM data sets of the SAM workflow example (examples/sam) from Debian's packages
# only, into a cache directory outside git. Idempotent: every step skips what already exists.
#
#   small (default): the lambda phage reference and paired reads of bowtie2-examples,
#                    aligned with bwa mem (20,052 records, SAM ~6.6 MB).
#   --large:         also 1.4 M read pairs simulated from the same reference with dwgsim and
#                    aligned with bwa mem (2.8 M records, SAM ~1.2 GiB; about 5.5 minutes).
#
# Usage: scripts/make-sam-data.sh [--large] [DIR]
#   DIR defaults to ${SJMP_DATA_DIR:-$HOME/.cache/sjmp-data}. Prints DIR on the last line.
# Each set NAME gets NAME.sam, NAME.bam, NAME.sorted.bam(+.bai) and NAME.sorted.sam;
# a step writes to a temporary name and renames, so an interrupted run
# never leaves a half-made file that a later run would take as done.
set -euo pipefail

large=0
dir=
for a in "$@"; do
	case "$a" in
	--large) large=1 ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	-*) echo "make-sam-data: unknown option $a (try --help)" >&2; exit 2 ;;
	*) dir=$a ;;
	esac
done
dir=${dir:-${SJMP_DATA_DIR:-$HOME/.cache/sjmp-data}}
ex=/usr/share/doc/bowtie2/examples
threads=${SJMP_DATA_THREADS:-2}

need() {
	command -v "$1" >/dev/null || {
		echo "make-sam-data: $1 not found: install Debian package $2 (scripts/install-deps.sh)" >&2
		exit 1
	}
}
need samtools samtools
need bwa bwa
[ -r "$ex/reference/lambda_virus.fa.gz" ] || {
	echo "make-sam-data: $ex/reference/lambda_virus.fa.gz missing: install bowtie2-examples" >&2
	exit 1
}
mkdir -p "$dir"
cd "$dir"

# step OUT CMD...: run CMD (which writes OUT.tmp) unless OUT exists, then rename.
step() {
	local out=$1
	shift
	[ -s "$out" ] && return 0
	echo "make-sam-data: making $dir/$out" >&2
	"$@"
	mv -f "$out.tmp" "$out"
}

# The reference: gunzip first (samtools faidx cannot read plain gzip), then index.
step lambda_virus.fa sh -c "gzip -dc '$ex/reference/lambda_virus.fa.gz' > lambda_virus.fa.tmp"
step lambda_virus.fa.fai sh -c 'samtools faidx lambda_virus.fa --fai-idx lambda_virus.fa.fai.tmp'
# bwa index writes five files; .sa is the one this step is known by, so it is moved last.
step lambda_virus.fa.sa sh -c 'bwa index -p idxtmp lambda_virus.fa 2>/dev/null &&
	for e in amb ann bwt pac; do mv -f idxtmp.$e lambda_virus.fa.$e; done &&
	mv -f idxtmp.sa lambda_virus.fa.sa.tmp'

# derived NAME: BAM, coordinate-sorted BAM with index, sorted SAMs (for samtools stages that
# need sorted or indexed input).
derived() {
	local n=$1
	step "$n.bam" samtools view -@ "$threads" -b -o "$n.bam.tmp" "$n.sam"
	step "$n.sorted.bam" samtools sort -@ "$threads" -m 1G -T "$n.sorttmp" -o "$n.sorted.bam.tmp" "$n.bam"
	step "$n.sorted.bam.bai" samtools index "$n.sorted.bam" "$n.sorted.bam.bai.tmp"
	step "$n.sorted.sam" samtools view -h -o "$n.sorted.sam.tmp" "$n.sorted.bam"
}

# Small real set.
step small.sam sh -c "bwa mem -t $threads lambda_virus.fa '$ex/reads/reads_1.fq.gz' '$ex/reads/reads_2.fq.gz' > small.sam.tmp 2>/dev/null"
derived small

if [ $large -eq 1 ]; then
	need dwgsim dwgsim
	# 1.4 M pairs of 150 bp, fixed seed, no extra interleaved FASTQ: ~1.2 GiB of SAM.
	# read1 is moved into place last: it is the file this step is known by.
	step sim.bwa.read1.fastq.gz sh -c 'dwgsim -N 1400000 -1 150 -2 150 -z 42 -o 1 lambda_virus.fa simtmp >/dev/null 2>&1 &&
		mv -f simtmp.bwa.read2.fastq.gz sim.bwa.read2.fastq.gz &&
		mv -f simtmp.bwa.read1.fastq.gz sim.bwa.read1.fastq.gz.tmp && rm -f simtmp.*'
	step large.sam sh -c "bwa mem -t $threads lambda_virus.fa sim.bwa.read1.fastq.gz sim.bwa.read2.fastq.gz > large.sam.tmp 2>/dev/null"
	derived large
fi
echo "$dir"
