/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace file container: a file header, then self-checking blocks of records.
 * Blocks are written whole (one pwrite loop each); a reader stops at the first
 * block that is short, has a bad CRC or a bad framing, and reports how much of
 * the file it could not use. Byte layout: docs/trace-format.md.
 */
#ifndef PH_TRACEFILE_H
#define PH_TRACEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define PH_TF_MAGIC		"PHOGTRAC"	/* 8 bytes, no NUL */
#define PH_TF_VERSION		1
#define PH_TF_HDR_LEN		32		/* file header written by this version */
#define PH_TF_HDR_MIN		16		/* magic, version, header length, flags */
#define PH_TF_BLK_MAGIC		0x4b424850u	/* "PHBK" as little-endian bytes */
#define PH_TF_BLK_HDR_LEN	24
#define PH_TF_REC_HDR_LEN	8
#define PH_TF_MAX_REC		(1u << 20)	/* record data, bytes */
#define PH_TF_MAX_BLOCK		(4u << 20)	/* block payload, bytes */
#define PH_TF_BLOCK_TARGET	(256u << 10)	/* the writer flushes at this size */
/* The END block: header + record header + 16-byte END payload. */
#define PH_TF_END_BLOCK_LEN	(PH_TF_BLK_HDR_LEN + PH_TF_REC_HDR_LEN + 16)

/* END record payload flags */
#define PH_TF_END_SIZE_CAP	0x1	/* records were refused: size cap reached */
#define PH_TF_END_WRITE_ERROR	0x2	/* records were lost to a write error */

struct ph_tf_writer;
struct ph_tf_reader;

/* Little-endian field access, independent of host byte order and alignment. */
static inline void ph_le16_put(__u8 *p, __u16 v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void ph_le32_put(__u8 *p, __u32 v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static inline void ph_le64_put(__u8 *p, __u64 v)
{
	ph_le32_put(p, (__u32)v);
	ph_le32_put(p + 4, (__u32)(v >> 32));
}

static inline __u16 ph_le16_get(const __u8 *p)
{
	return (__u16)(p[0] | p[1] << 8);
}

static inline __u32 ph_le32_get(const __u8 *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 | (__u32)p[3] << 24;
}

static inline __u64 ph_le64_get(const __u8 *p)
{
	return (__u64)ph_le32_get(p) | (__u64)ph_le32_get(p + 4) << 32;
}

/*
 * Create (or truncate) path with mode 0600 and write the file header.
 * max_size caps the file size in bytes, 0 for no cap; room for the END block
 * is always kept, so a capped file still ends cleanly.
 */
int ph_tf_create(const char *path, __u64 max_size, struct ph_tf_writer **out);
/*
 * Buffer one record into the current block; flushes the block first when the
 * record would take it past PH_TF_BLOCK_TARGET. -EMSGSIZE if len > PH_TF_MAX_REC.
 * After a failed flush every append returns that error (the file stays valid).
 */
int ph_tf_append(struct ph_tf_writer *w, __u16 type, const void *data, __u32 len);
/*
 * Write the buffered records as one block. -EFBIG: the block would pass the
 * size cap (nothing written); -ENOSPC or another -errno: the write failed and
 * the file was cut back to the previous block. Both errors are sticky.
 */
int ph_tf_flush(struct ph_tf_writer *w);
/*
 * Flush, then on clean write the END block (also after a sticky error, with
 * PH_TF_END_* flags saying records were lost), fdatasync and close. Always
 * frees w. Returns the first error, 0 if every record reached the file.
 */
int ph_tf_close(struct ph_tf_writer *w, bool clean);
/* Bytes in the file: header and complete blocks (not the pending buffer). */
__u64 ph_tf_bytes(const struct ph_tf_writer *w);
/* Records appended and not yet written, and records lost to errors. */
__u32 ph_tf_pending(const struct ph_tf_writer *w);
__u64 ph_tf_dropped(const struct ph_tf_writer *w);

struct ph_tf_status {
	bool clean_end;		/* END record seen */
	__u16 version;		/* format version of the file */
	__u32 end_flags;	/* PH_TF_END_* from the END record */
	__u64 end_dropped;	/* records the writer reported lost */
	__u64 blocks_ok;
	__u64 records;		/* records returned so far */
	__u64 bytes_valid;	/* offset after the last good block */
	__u64 bytes_total;	/* file size */
	__u64 bytes_cut;	/* bytes_total - bytes_valid */
	char reason[160];	/* one line: "complete", or why the file is incomplete */
};

/*
 * Open a trace file and check its header. Errors, with a one-line reason in
 * err: -errno for I/O; -EBADMSG: empty, too short, bad magic or bad header;
 * -EPROTONOSUPPORT: a newer format version.
 */
int ph_tf_open(const char *path, struct ph_tf_reader **out, char *err, size_t errlen);
/* Same over a memory buffer, which must outlive the reader. */
int ph_tf_open_mem(const void *buf, size_t len, struct ph_tf_reader **out,
		   char *err, size_t errlen);
/*
 * Next record: 1 with type, data and len set (data valid until the next
 * call), 0 at the end of the usable data (END record, end of file or the
 * first bad block: see ph_tf_status), -errno on a read error or ENOMEM.
 * Callers skip record types they do not know.
 */
int ph_tf_next(struct ph_tf_reader *r, __u16 *type, const void **data, __u32 *len);
/* Where reading stands; final once ph_tf_next returned 0. */
void ph_tf_status(const struct ph_tf_reader *r, struct ph_tf_status *st);
void ph_tf_reader_close(struct ph_tf_reader *r);

#endif
