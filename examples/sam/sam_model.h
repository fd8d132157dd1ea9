/* SPDX-License-Identifier: MIT */
/*
 * sam_model.h - the layout of a SAM workflow's data inside its address space.
 *
 * `sjmp-sam load` parses a SAM/BAM file once and builds these structures in memory that lives
 * at a fixed virtual address (the segments of a VAS, or a file mapped at a fixed address in the
 * mmap-file variant). Every pointer below is an ordinary pointer into that same memory, so a
 * later process that maps it at the same address (switches into the VAS) walks the records as
 * they are, with no parsing and no fix-ups: the paper's section 5.4.
 *
 * The loader lays the records out in coordinate order (the order of `samtools sort`), so that
 * stages that walk by position (view, depth, mpileup, the coordinate sort) read memory front to
 * back; the input order survives as an array of pointers.
 *
 * The record's variable-length fields are kept contiguous, in the order and encoding of
 * htslib's bam1_t data block (name, CIGAR, 4-bit sequence, qualities, binary tags), so a stage
 * can hand a record to htslib's formatter without copying it (sam_rec_view()); the separate
 * pointers are what the stages walk.
 */
#ifndef SAM_MODEL_H
#define SAM_MODEL_H

#include <stdint.h>
#include <htslib/hts.h>

#define SAM_ROOT_MAGIC   0x31544f4f524d4153ULL /* "SAMROOT1" little-endian */
#define SAM_ROOT_VERSION 3

/** One alignment record. Positions are 0-based, as in htslib. */
struct sam_rec {
	hts_pos_t pos;      /**< leftmost mapped base, -1 when none */
	hts_pos_t endpos;   /**< htslib's bam_endpos(): one past the last reference base covered */
	hts_pos_t mpos;     /**< mate's position */
	hts_pos_t isize;    /**< observed template length (TLEN) */
	int32_t tid;        /**< reference index, -1 for none */
	int32_t mtid;       /**< mate's reference index */
	uint16_t flag;      /**< SAM FLAG bits (BAM_F*) */
	uint16_t bin;       /**< BAI bin, as htslib computed it */
	uint8_t mapq;       /**< mapping quality */
	uint8_t l_extranul; /**< NULs after the name that align the CIGAR to 4 bytes */
	uint16_t l_qname;   /**< name length including its NUL and the extra NULs */
	uint32_t n_cigar;   /**< CIGAR operations */
	uint32_t l_qseq;    /**< read length in bases (0 when SEQ is '*') */
	uint32_t l_data;    /**< bytes from qname to the end of aux */
	char *qname;        /**< NUL-terminated name; also the start of the record's data block */
	uint32_t *cigar;    /**< n_cigar operations, BAM encoding (len << 4 | op) */
	uint8_t *seq;       /**< (l_qseq + 1) / 2 bytes, two 4-bit bases per byte */
	uint8_t *qual;      /**< l_qseq Phred qualities (0xff when QUAL is '*') */
	uint8_t *aux;       /**< binary-encoded optional fields, l_aux bytes */
	uint64_t id;        /**< index in the input (file order) */
	uint32_t l_aux;
	/** 1 when the CIGAR's reference-consuming operations are all M, = or X and cover at
	 *  least one base: the read then has a base at every position of [pos, endpos), and
	 *  depth needs nothing beyond this struct. */
	uint8_t contiguous;
};

/** One reference sequence (an @SQ line) and its per-reference index. */
struct sam_ref {
	char *name;
	hts_pos_t len;
	/** Records on this reference in coordinate order (samtools sort's order: position, then
	 *  forward before reverse strand, then file order). */
	struct sam_rec **by_pos;
	/** max_end[i] = max(endpos of by_pos[0..i]): non-decreasing, so a binary search finds the
	 *  first record that may overlap a region (the role of BAI's linear index). */
	hts_pos_t *max_end;
	uint64_t n_recs;     /**< entries in by_pos */
	uint64_t n_mapped;   /**< records placed here without BAM_FUNMAP (idxstats column 3) */
	uint64_t n_unmapped; /**< records placed here with BAM_FUNMAP (idxstats column 4) */
};

/** Orders a `sort` stage leaves behind for the next stage. */
enum sam_order { SAM_ORDER_COORD = 0, SAM_ORDER_NAME = 1, SAM_ORDER_N = 2 };

/** The root: what the segment's root pointer designates. */
struct sam_root {
	uint64_t magic;   /**< SAM_ROOT_MAGIC */
	uint32_t version; /**< SAM_ROOT_VERSION */
	uint32_t n_refs;
	char *source;      /**< the input file's path as given to load, for messages */
	char *header_text; /**< the SAM header as text (what sam_hdr_str() returned) */
	size_t header_len;
	struct sam_ref *refs; /**< n_refs references, in header order (tid order) */
	uint64_t n_recs;
	/** The records themselves, n_recs of them, in coordinate order (placed records by
	 *  reference and position, then the unplaced ones), and their data in the same order:
	 *  stages that walk by position read memory front to back. */
	struct sam_rec *rec_array;
	struct sam_rec **recs; /**< every record, in input order */
	uint64_t n_unplaced;   /**< records with tid < 0 (idxstats' "*" line) */
	/** Sorted orders (n_recs pointers each), NULL until a `sort` stage made them. */
	struct sam_rec **order[SAM_ORDER_N];
};

#endif /* SAM_MODEL_H */
