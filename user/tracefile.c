// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace file container (docs/trace-format.md). The writer buffers records into
 * a block and writes each block whole at a known offset; a failed write is cut
 * back with ftruncate so the file always ends at a block boundary. The reader
 * loads one block at a time, checks everything before it returns any record of
 * it, and stops for good at the first block that does not check out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tracefile.h"
#include "tracerec.h"

#define ALIGN8(x)	(((x) + 7ULL) & ~7ULL)

struct ph_tf_writer {
	int fd;
	__u64 max_size;		/* 0: no cap */
	__u64 off;		/* file size: header and complete blocks */
	__u64 seq;		/* sequence number of the next block */
	__u8 *buf;		/* block header, then payload */
	size_t cap;
	__u32 len;		/* payload bytes buffered */
	__u32 nrec;		/* records buffered */
	__u64 dropped;		/* records lost to a sticky error */
	int err;		/* sticky: -EFBIG, -ENOSPC, ... */
};

struct ph_tf_reader {
	int fd;			/* -1: memory buffer */
	const __u8 *mem;
	__u64 size;
	__u64 off;		/* next block */
	__u8 *blk;		/* payload of the current block */
	__u32 blk_len;
	__u32 pos;		/* next record in blk */
	__u32 left;		/* records of blk not returned yet */
	bool done;		/* no more blocks will be read */
	struct ph_tf_status st;
};

static __u32 crc_of(const void *p, __u32 len)
{
	return (__u32)crc32(crc32(0L, Z_NULL, 0), p, len);
}

static int write_all(int fd, const __u8 *p, size_t len, __u64 off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* ---- writer ---- */

int ph_tf_create(const char *path, __u64 max_size, struct ph_tf_writer **out)
{
	__u8 hdr[PH_TF_HDR_LEN] = {};
	struct ph_tf_writer *w;
	int err;

	*out = NULL;
	if (max_size && max_size < PH_TF_HDR_LEN + PH_TF_END_BLOCK_LEN)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->max_size = max_size;
	w->cap = PH_TF_BLK_HDR_LEN + 64 * 1024;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		err = -ENOMEM;
		goto err_free;
	}
	w->fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		err = -errno;
		goto err_free;
	}
	/* O_TRUNC keeps the mode of an existing file: cmdlines may hold secrets */
	if (fchmod(w->fd, 0600)) {
		err = -errno;
		goto err_close;
	}
	memcpy(hdr, PH_TF_MAGIC, 8);
	ph_le16_put(hdr + 8, PH_TF_VERSION);
	ph_le16_put(hdr + 10, PH_TF_HDR_LEN);
	err = write_all(w->fd, hdr, sizeof(hdr), 0);
	if (err)
		goto err_close;
	w->off = PH_TF_HDR_LEN;
	*out = w;
	return 0;

err_close:
	close(w->fd);
err_free:
	free(w->buf);
	free(w);
	return err;
}

/* Copy one framed record into the block buffer, growing it as needed. */
static int add_rec(struct ph_tf_writer *w, __u16 type, const void *data, __u32 len)
{
	size_t framed = PH_TF_REC_HDR_LEN + ALIGN8(len);
	size_t need = PH_TF_BLK_HDR_LEN + w->len + framed;
	__u8 *p;

	if (need > w->cap) {
		size_t cap = w->cap * 2;

		while (cap < need)
			cap *= 2;
		p = realloc(w->buf, cap);
		if (!p)
			return -ENOMEM;
		w->buf = p;
		w->cap = cap;
	}
	p = w->buf + PH_TF_BLK_HDR_LEN + w->len;
	ph_le16_put(p, type);
	ph_le16_put(p + 2, 0);
	ph_le32_put(p + 4, len);
	if (len)
		memcpy(p + PH_TF_REC_HDR_LEN, data, len);
	memset(p + PH_TF_REC_HDR_LEN + len, 0, framed - PH_TF_REC_HDR_LEN - len);
	w->len += framed;
	w->nrec++;
	return 0;
}

static void drop_pending(struct ph_tf_writer *w)
{
	w->dropped += w->nrec;
	w->nrec = 0;
	w->len = 0;
}

/* Write the buffered records as block w->seq; on failure cut the file back. */
static int write_block(struct ph_tf_writer *w)
{
	__u32 total = PH_TF_BLK_HDR_LEN + w->len;
	__u8 *h = w->buf;
	int err;

	ph_le32_put(h, PH_TF_BLK_MAGIC);
	ph_le32_put(h + 4, w->len);
	ph_le32_put(h + 8, crc_of(h + PH_TF_BLK_HDR_LEN, w->len));
	ph_le32_put(h + 12, w->nrec);
	ph_le64_put(h + 16, w->seq);
	err = write_all(w->fd, h, total, w->off);
	if (err) {
		/*
		 * Cut the partial block off. Best effort: if this fails too,
		 * readers still stop at the partial block.
		 */
		int tr = ftruncate(w->fd, (off_t)w->off);

		(void)tr;
		return err;
	}
	w->off += total;
	w->seq++;
	w->nrec = 0;
	w->len = 0;
	return 0;
}

int ph_tf_flush(struct ph_tf_writer *w)
{
	int err;

	if (w->err)
		return w->err;
	if (!w->nrec)
		return 0;
	/* room for the END block stays reserved */
	if (w->max_size &&
	    w->off + PH_TF_BLK_HDR_LEN + w->len + PH_TF_END_BLOCK_LEN > w->max_size) {
		err = -EFBIG;
		goto fail;
	}
	err = write_block(w);
	if (err)
		goto fail;
	return 0;

fail:
	drop_pending(w);
	w->err = err;
	return err;
}

int ph_tf_append(struct ph_tf_writer *w, __u16 type, const void *data, __u32 len)
{
	size_t framed = PH_TF_REC_HDR_LEN + ALIGN8(len);
	int err;

	if (w->err) {
		w->dropped++;
		return w->err;
	}
	if (len > PH_TF_MAX_REC)
		return -EMSGSIZE;
	if (w->nrec && w->len + framed > PH_TF_BLOCK_TARGET) {
		err = ph_tf_flush(w);
		if (err) {
			w->dropped++;
			return err;
		}
	}
	err = add_rec(w, type, data, len);
	if (err)
		return err;
	if (w->len >= PH_TF_BLOCK_TARGET)
		return ph_tf_flush(w);
	return 0;
}

int ph_tf_close(struct ph_tf_writer *w, bool clean)
{
	__u8 end[16] = {};
	__u32 flags = 0;
	int ret, err;

	if (!w)
		return 0;
	ret = ph_tf_flush(w);
	if (clean) {
		if (w->err == -EFBIG)
			flags |= PH_TF_END_SIZE_CAP;
		else if (w->err)
			flags |= PH_TF_END_WRITE_ERROR;
		ph_le32_put(end, flags);
		ph_le64_put(end + 8, w->dropped);
		w->nrec = 0;
		w->len = 0;
		/* the END block fits the cap: flush kept room for it */
		err = add_rec(w, PH_REC_END, end, sizeof(end));
		if (!err)
			err = write_block(w);
		if (err && !ret)
			ret = err;
	}
	if (fdatasync(w->fd) && !ret)
		ret = -errno;
	if (close(w->fd) && !ret)
		ret = -errno;
	free(w->buf);
	free(w);
	return ret;
}

__u64 ph_tf_bytes(const struct ph_tf_writer *w)
{
	return w->off;
}

__u32 ph_tf_pending(const struct ph_tf_writer *w)
{
	return w->nrec;
}

__u64 ph_tf_dropped(const struct ph_tf_writer *w)
{
	return w->dropped;
}

/* ---- reader ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Read len bytes at off: len on success, fewer at end of file, -errno. */
static ssize_t read_at(struct ph_tf_reader *r, __u64 off, void *buf, size_t len)
{
	size_t got = 0;

	if (off >= r->size)
		return 0;
	if (len > r->size - off)
		len = r->size - off;
	if (!r->mem) {
		while (got < len) {
			ssize_t n = pread(r->fd, (__u8 *)buf + got, len - got,
					  (off_t)(off + got));

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (n == 0)
				break;	/* the file shrank */
			got += n;
		}
		return got;
	}
	memcpy(buf, r->mem + off, len);
	return len;
}

static void cut(struct ph_tf_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Stop reading at the block at r->off, which does not check out. */
static void cut(struct ph_tf_reader *r, const char *fmt, ...)
{
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->st.reason, sizeof(r->st.reason), "truncated block at offset %llu (%s)",
		 (unsigned long long)r->off, what);
	r->done = true;
}

static int read_fail(struct ph_tf_reader *r, int err)
{
	snprintf(r->st.reason, sizeof(r->st.reason), "read error at offset %llu: %s",
		 (unsigned long long)r->off, strerror(-err));
	r->done = true;
	return err;
}

/* Load and check the block at r->off: 1 loaded, 0 no more blocks, -errno. */
static int load_block(struct ph_tf_reader *r)
{
	__u32 magic, plen, crc, nrec, pos, count;
	__u64 seq, rest = r->size - r->off;
	__u8 h[PH_TF_BLK_HDR_LEN];
	ssize_t n;

	free(r->blk);
	r->blk = NULL;
	r->blk_len = r->pos = r->left = 0;
	if (!rest) {
		snprintf(r->st.reason, sizeof(r->st.reason),
			 "no end marker: recorder was killed?");
		r->done = true;
		return 0;
	}
	if (rest < sizeof(h)) {
		cut(r, "%llu of %d header bytes present", (unsigned long long)rest,
		    PH_TF_BLK_HDR_LEN);
		return 0;
	}
	n = read_at(r, r->off, h, sizeof(h));
	if (n < 0)
		return read_fail(r, n);
	if (n < (ssize_t)sizeof(h)) {
		cut(r, "short read");
		return 0;
	}
	magic = ph_le32_get(h);
	plen = ph_le32_get(h + 4);
	crc = ph_le32_get(h + 8);
	nrec = ph_le32_get(h + 12);
	seq = ph_le64_get(h + 16);
	if (magic != PH_TF_BLK_MAGIC) {
		cut(r, "bad block magic");
		return 0;
	}
	if (plen > PH_TF_MAX_BLOCK || plen % 8) {
		cut(r, "bad block length %u", plen);
		return 0;
	}
	if (seq != r->st.blocks_ok) {
		cut(r, "block sequence %llu, expected %llu", (unsigned long long)seq,
		    (unsigned long long)r->st.blocks_ok);
		return 0;
	}
	if (plen > rest - sizeof(h)) {
		cut(r, "%llu of %u payload bytes present",
		    (unsigned long long)(rest - sizeof(h)), plen);
		return 0;
	}
	if (nrec > plen / PH_TF_REC_HDR_LEN) {
		cut(r, "bad record count %u", nrec);
		return 0;
	}
	r->blk = malloc(plen ? plen : 1);
	if (!r->blk)
		return read_fail(r, -ENOMEM);
	n = read_at(r, r->off + sizeof(h), r->blk, plen);
	if (n < 0)
		return read_fail(r, n);
	if (n < (ssize_t)plen) {
		cut(r, "short read");
		return 0;
	}
	if (crc_of(r->blk, plen) != crc) {
#ifndef PH_FUZZING
		cut(r, "crc mismatch");
		return 0;
#endif
		/* fuzzing: let mutated payloads through to the framing and codecs */
	}
	/* framing: every record inside the block, and as many as announced */
	for (pos = 0, count = 0; pos < plen; count++) {
		__u32 rlen;

		if (plen - pos < PH_TF_REC_HDR_LEN) {
			cut(r, "record overruns block");
			return 0;
		}
		rlen = ph_le32_get(r->blk + pos + 4);
		if (rlen > PH_TF_MAX_REC) {
			cut(r, "record length %u too large", rlen);
			return 0;
		}
		if (PH_TF_REC_HDR_LEN + ALIGN8(rlen) > plen - pos) {
			cut(r, "record overruns block");
			return 0;
		}
		pos += PH_TF_REC_HDR_LEN + ALIGN8(rlen);
	}
	if (count != nrec) {
		cut(r, "record count %u, header says %u", count, nrec);
		return 0;
	}
	r->blk_len = plen;
	r->left = nrec;
	r->off += sizeof(h) + plen;
	r->st.blocks_ok++;
	r->st.bytes_valid = r->off;
	return 1;
}

/* The END record: reading stops after it, whatever follows is reported. */
static void saw_end(struct ph_tf_reader *r, const __u8 *data, __u32 len)
{
	__u64 after = r->size - r->st.bytes_valid;

	r->st.clean_end = true;
	if (len >= 4)
		r->st.end_flags = ph_le32_get(data);
	if (len >= 16)
		r->st.end_dropped = ph_le64_get(data + 8);
	r->done = true;
	if (r->left)
		snprintf(r->st.reason, sizeof(r->st.reason),
			 "%u records after the end marker ignored", r->left);
	else if (after)
		snprintf(r->st.reason, sizeof(r->st.reason),
			 "%llu bytes after the end marker ignored", (unsigned long long)after);
	else if (r->st.end_flags & PH_TF_END_SIZE_CAP)
		snprintf(r->st.reason, sizeof(r->st.reason),
			 "size cap reached: %llu records not written",
			 (unsigned long long)r->st.end_dropped);
	else if (r->st.end_flags & PH_TF_END_WRITE_ERROR)
		snprintf(r->st.reason, sizeof(r->st.reason),
			 "write error: %llu records not written",
			 (unsigned long long)r->st.end_dropped);
	else
		snprintf(r->st.reason, sizeof(r->st.reason), "complete");
	r->left = 0;
}

int ph_tf_next(struct ph_tf_reader *r, __u16 *type, const void **data, __u32 *len)
{
	int ret;

	for (;;) {
		if (r->left) {
			const __u8 *p = r->blk + r->pos;
			__u32 rlen = ph_le32_get(p + 4);

			*type = ph_le16_get(p);
			*data = p + PH_TF_REC_HDR_LEN;
			*len = rlen;
			r->pos += PH_TF_REC_HDR_LEN + ALIGN8(rlen);
			r->left--;
			r->st.records++;
			if (*type == PH_REC_END)
				saw_end(r, *data, rlen);
			return 1;
		}
		if (r->done)
			return 0;
		ret = load_block(r);
		if (ret <= 0)
			return ret;
	}
}

void ph_tf_status(const struct ph_tf_reader *r, struct ph_tf_status *st)
{
	*st = r->st;
	st->bytes_cut = st->bytes_total - st->bytes_valid;
}

static int open_common(struct ph_tf_reader *r, char *err, size_t errlen)
{
	__u8 h[PH_TF_HDR_MIN];
	__u16 version, hlen;
	ssize_t n;

	if (!r->size) {
		set_err(err, errlen, "empty file: not a porthog trace file");
		return -EBADMSG;
	}
	n = read_at(r, 0, h, sizeof(h));
	if (n < 0) {
		set_err(err, errlen, "read: %s", strerror(-n));
		return n;
	}
	if (memcmp(h, PH_TF_MAGIC, n < 8 ? n : 8)) {
		set_err(err, errlen, "not a porthog trace file (bad magic)");
		return -EBADMSG;
	}
	if (n < (ssize_t)sizeof(h)) {
		set_err(err, errlen, "file too short for a trace header (%zd bytes)", n);
		return -EBADMSG;
	}
	version = ph_le16_get(h + 8);
	hlen = ph_le16_get(h + 10);
	if (version > PH_TF_VERSION) {
		set_err(err, errlen,
			"trace format version %u is newer than this porthog supports (%u)",
			version, PH_TF_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (version == 0) {
		set_err(err, errlen, "bad trace format version 0");
		return -EBADMSG;
	}
	if (hlen < PH_TF_HDR_LEN) {
		set_err(err, errlen, "bad trace header length %u", hlen);
		return -EBADMSG;
	}
	if (hlen > r->size) {
		set_err(err, errlen, "file too short for a trace header (%llu of %u bytes)",
			(unsigned long long)r->size, hlen);
		return -EBADMSG;
	}
	/* header flags and reserved bytes: none defined in version 1, ignored */
	r->off = hlen;
	r->st.version = version;
	r->st.bytes_total = r->size;
	r->st.bytes_valid = hlen;
	snprintf(r->st.reason, sizeof(r->st.reason), "not read to the end");
	return 0;
}

int ph_tf_open(const char *path, struct ph_tf_reader **out, char *err, size_t errlen)
{
	struct ph_tf_reader *r;
	struct stat sb;
	int ret;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		set_err(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		ret = -errno;
		set_err(err, errlen, "cannot open: %s", strerror(-ret));
		free(r);
		return ret;
	}
	if (fstat(r->fd, &sb)) {
		ret = -errno;
		set_err(err, errlen, "stat: %s", strerror(-ret));
		goto err_close;
	}
	if (S_ISDIR(sb.st_mode)) {
		ret = -EISDIR;
		set_err(err, errlen, "is a directory");
		goto err_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = -EINVAL;
		set_err(err, errlen, "not a regular file");
		goto err_close;
	}
	r->size = sb.st_size;
	ret = open_common(r, err, errlen);
	if (ret)
		goto err_close;
	*out = r;
	return 0;

err_close:
	close(r->fd);
	free(r);
	return ret;
}

int ph_tf_open_mem(const void *buf, size_t len, struct ph_tf_reader **out,
		   char *err, size_t errlen)
{
	struct ph_tf_reader *r;
	int ret;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		set_err(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	r->fd = -1;
	r->mem = buf;
	r->size = len;
	ret = open_common(r, err, errlen);
	if (ret) {
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void ph_tf_reader_close(struct ph_tf_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->blk);
	free(r);
}
