// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Trace file container and record codecs, on real files in a temp directory. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "tracefile.h"
#include "tracerec.h"

/* ---- helpers ---- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static char *tmpdir_new(void)
{
	char *d = strdup("/tmp/ph-tf-XXXXXX");

	if (!d || !mkdtemp(d)) {
		UNIT_FAIL("mkdtemp: %s", strerror(errno));
		free(d);
		return NULL;
	}
	return d;
}

static void tmpdir_rm(char *d)
{
	if (d)
		nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static void *slurp(const char *path, size_t *len)
{
	struct stat sb;
	void *buf = NULL;
	int fd = open(path, O_RDONLY);

	*len = 0;
	if (fd < 0)
		return NULL;
	if (!fstat(fd, &sb)) {
		buf = malloc(sb.st_size + 1);
		if (buf && read(fd, buf, sb.st_size) == sb.st_size) {
			*len = sb.st_size;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	close(fd);
	return buf;
}

static int spill(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, buf, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -EIO;
}

/* Count the records of an open reader, optionally per type. */
static __u64 drain(struct ph_tf_reader *r, struct ph_tf_status *st, __u64 *by_type)
{
	const void *data;
	__u64 n = 0;
	__u16 type;
	__u32 len;

	while (ph_tf_next(r, &type, &data, &len) == 1) {
		if (by_type)
			by_type[type < 16 ? type : 15]++;
		n++;
	}
	ph_tf_status(r, st);
	ph_tf_reader_close(r);
	return n;
}

static int read_mem(const void *buf, size_t len, struct ph_tf_status *st, __u64 *nrec)
{
	struct ph_tf_reader *r;
	char err[160];
	int ret;

	*nrec = 0;
	memset(st, 0, sizeof(*st));
	ret = ph_tf_open_mem(buf, len, &r, err, sizeof(err));
	if (ret)
		return ret;
	*nrec = drain(r, st, NULL);
	return 0;
}

static struct ph_event mk_event(int i)
{
	struct ph_event e = {
		.ts_ns = 1000000000ULL * i + 17, .cgroup_id = 0x1122334455667788ULL,
		.start_ns = 42ULL << 33, .pid = 1000 + i, .tid = 2000 + i, .uid = 65534,
		.netns = 4026531840u, .err = -99, .sport = 40000 + i, .dport = 8080,
		.type = PH_EV_CONNECT_FAILED, .family = AF_INET6, .oldstate = 2,
		.flags = PH_F_BOUND | PH_F_SYSCALL_ERRNO,
	};

	for (int k = 0; k < 16; k++) {
		e.saddr[k] = k + i;
		e.daddr[k] = 0xf0 ^ k;
	}
	snprintf(e.comm, sizeof(e.comm), "worker-%d", i);
	return e;
}

/* Field by field: struct padding is not part of the format. */
static bool event_eq(const struct ph_event *a, const struct ph_event *b)
{
	return a->ts_ns == b->ts_ns && a->cgroup_id == b->cgroup_id &&
	       a->start_ns == b->start_ns && a->pid == b->pid && a->tid == b->tid &&
	       a->uid == b->uid && a->netns == b->netns && a->err == b->err &&
	       a->sport == b->sport && a->dport == b->dport && a->type == b->type &&
	       a->family == b->family && a->oldstate == b->oldstate &&
	       a->flags == b->flags && !memcmp(a->saddr, b->saddr, 16) &&
	       !memcmp(a->daddr, b->daddr, 16) && !memcmp(a->comm, b->comm, PH_COMM_LEN);
}

static bool sock_eq(const struct ph_sock_entry *a, const struct ph_sock_entry *b)
{
	return a->netns == b->netns && a->family == b->family && a->state == b->state &&
	       a->sport == b->sport && a->dport == b->dport &&
	       !memcmp(a->saddr, b->saddr, 16) && !memcmp(a->daddr, b->daddr, 16) &&
	       a->owner.pid == b->owner.pid && a->owner.start == b->owner.start &&
	       a->opened_ns == b->opened_ns && !memcmp(&a->act, &b->act, sizeof(a->act));
}

/*
 * A file of three data blocks (2, 3 and 4 events) and the END block.
 * ends[i]: offset after block i; recs[i]: records in block i.
 */
static int write_three(const char *path, __u64 ends[4], __u64 recs[4])
{
	static const int per[3] = { 2, 3, 4 };
	struct ph_tf_writer *w;
	int ret, i = 0;

	ret = ph_tf_create(path, 0, &w);
	if (ret)
		return ret;
	for (int b = 0; b < 3; b++) {
		for (int k = 0; k < per[b]; k++) {
			struct ph_event e = mk_event(i++);

			ret = ph_rec_put_event(w, &e);
			if (ret)
				goto out;
		}
		ret = ph_tf_flush(w);
		if (ret)
			goto out;
		ends[b] = ph_tf_bytes(w);
		recs[b] = per[b];
	}
	recs[3] = 1;
out:
	ret = ph_tf_close(w, true) ?: ret;
	return ret;
}

/* ---- tests ---- */

UNIT_TEST(tracefile_roundtrip_all_types)
{
	struct ph_rec_header h, h2;
	struct ph_netns_info ni = {
		.inode = 4026532001u, .range_lo = 32768, .range_hi = 60999,
		.reserved_in_range = 3, .tw_reuse = 2, .reserved = "40000-40002,8080",
		.syn_retries = 3, .timestamps = 1,
	}, ni2;
	struct ph_netns_info ni_null = { .inode = 7, .tw_reuse = -1 };
	struct ph_proc_meta pm = {
		.key = { .pid = 4242, .start = 987654321 }, .uid = 1000,
		.cgroup_id = 0xdeadbeefcafeULL, .comm = "python3",
		.cmdline = "python3 app.py --password=hunter2",
		.cgroup = "/system.slice/app.service",
	}, pm2;
	struct ph_proc_meta pm_null = { .key = { .pid = 1, .start = 2 }, .comm = "" };
	struct ph_sock_entry se = {
		.netns = 4026531840u, .family = AF_INET, .state = 6, .sport = 50001,
		.dport = 443, .owner = { .pid = 4242, .start = 987654321 },
		.opened_ns = 123456789012ULL,
		.act = { .ts_ns = 5 * 1000000000ULL, .bytes_acked = 1ULL << 40, .bytes_received = 7,
			 .tx_idle_ms = 31000, .rx_idle_ms = 0xffffffffu, .segs_out = 9, .segs_in = 8,
			 .retrans = 3, .flags = PH_SR_ACTIVITY | PH_SR_BOUND },
	}, se2;
	struct ph_event ev = mk_event(3), ev2;
	struct ph_rec_snap_begin sb;
	struct ph_rec_snap_end sn;
	struct ph_rec_lost lo;
	struct ph_rec_trigger tr;
	struct ph_rec_end en;
	struct ph_tf_writer *w;
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	char *dir = tmpdir_new(), *path, err[160];
	const void *data;
	__u16 type;
	__u32 len;
	int n = 0, nproc = 0, nnetns = 0, ret;

	if (!dir)
		return;
	path = path_in(dir, "t.phtrace");
	memset(&h, 0, sizeof(h));
	ph_rec_header_fill(&h, "fentry");
	CHECK(h.hostname[0]);
	CHECK(h.kernel[0]);
	CHECK_EQ_STR(h.version, PORTHOG_VERSION);
	CHECK(h.clk_tck > 0);
	inet_pton(AF_INET, "10.0.0.1", se.saddr);
	inet_pton(AF_INET, "10.0.0.2", se.daddr);

	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	if (!w)
		goto out;
	CHECK_EQ_INT(ph_rec_put_header(w, &h), 0);
	CHECK_EQ_INT(ph_rec_put_netns(w, &ni), 0);
	CHECK_EQ_INT(ph_rec_put_netns(w, &ni_null), 0);
	CHECK_EQ_INT(ph_rec_put_proc(w, &pm), 0);
	CHECK_EQ_INT(ph_rec_put_proc(w, &pm_null), 0);
	CHECK_EQ_INT(ph_rec_put_snap_begin(w, 555, PH_SNAP_START), 0);
	CHECK_EQ_INT(ph_rec_put_sock(w, &se), 0);
	CHECK_EQ_INT(ph_rec_put_snap_end(w, 556, 1), 0);
	/* a record type from the future: readers must skip it */
	CHECK_EQ_INT(ph_tf_append(w, 999, "future", 6), 0);
	CHECK_EQ_INT(ph_rec_put_event(w, &ev), 0);
	CHECK_EQ_INT(ph_rec_put_lost(w, 777, 12, 5), 0);
	CHECK_EQ_INT(ph_rec_put_trigger(w, 888, PH_TRIG_HEADROOM, "headroom 4% < 10%"), 0);
	CHECK_EQ_INT(ph_tf_append(w, PH_REC_EVENT, NULL, 0), 0);	/* garbage event */
	CHECK_EQ_INT(ph_tf_pending(w), 13);
	CHECK_EQ_INT(ph_tf_bytes(w), PH_TF_HDR_LEN);
	CHECK_EQ_INT(ph_tf_close(w, true), 0);

	ret = ph_tf_open(path, &r, err, sizeof(err));
	CHECK_EQ_INT(ret, 0);
	if (ret)
		goto out;
	while (ph_tf_next(r, &type, &data, &len) == 1) {
		n++;
		switch (type) {
		case PH_REC_HEADER:
			CHECK_EQ_INT(n, 1);
			CHECK_EQ_INT(ph_rec_get_header(data, len, &h2), 0);
			CHECK_EQ_STR(h2.hostname, h.hostname);
			CHECK_EQ_STR(h2.kernel, h.kernel);
			CHECK_EQ_STR(h2.version, h.version);
			CHECK_EQ_STR(h2.attach, "fentry");
			CHECK_EQ_INT(h2.mono_to_wall_ns, h.mono_to_wall_ns);
			CHECK_EQ_INT(h2.start_mono_ns, h.start_mono_ns);
			CHECK(h2.start_wall == h.start_wall);
			CHECK(h2.boot_wall == h.boot_wall);
			CHECK_EQ_INT(h2.clk_tck, h.clk_tck);
			break;
		case PH_REC_NETNS:
			CHECK_EQ_INT(ph_rec_get_netns(data, len, &ni2), 0);
			if (nnetns++ == 0) {
				CHECK_EQ_INT(ni2.inode, ni.inode);
				CHECK_EQ_INT(ni2.range_lo, 32768);
				CHECK_EQ_INT(ni2.range_hi, 60999);
				CHECK_EQ_INT(ni2.reserved_in_range, 3);
				CHECK_EQ_INT(ni2.tw_reuse, 2);
				CHECK_EQ_STR(ni2.reserved, ni.reserved);
				CHECK_EQ_INT(ni2.syn_retries, 3);
				CHECK_EQ_INT(ni2.timestamps, 1);
				/* written before syn_retries and timestamps: unknown */
				ph_rec_netns_free(&ni2);
				CHECK_EQ_INT(ph_rec_get_netns(data, len - 8, &ni2), 0);
				CHECK_EQ_INT(ni2.syn_retries, -1);
				CHECK_EQ_INT(ni2.timestamps, -1);
			} else {
				CHECK_EQ_INT(ni2.inode, 7);
				CHECK_EQ_INT(ni2.tw_reuse, -1);
				CHECK(ni2.reserved == NULL);
			}
			ph_rec_netns_free(&ni2);
			break;
		case PH_REC_PROC:
			CHECK_EQ_INT(ph_rec_get_proc(data, len, &pm2), 0);
			if (nproc++ == 0) {
				CHECK_EQ_INT(pm2.key.pid, 4242);
				CHECK_EQ_INT(pm2.key.start, 987654321);
				CHECK_EQ_INT(pm2.uid, 1000);
				CHECK_EQ_INT(pm2.cgroup_id, pm.cgroup_id);
				CHECK_EQ_STR(pm2.comm, "python3");
				CHECK_EQ_STR(pm2.cmdline, pm.cmdline);
				CHECK_EQ_STR(pm2.cgroup, pm.cgroup);
			} else {
				CHECK_EQ_INT(pm2.key.pid, 1);
				CHECK_EQ_STR(pm2.comm, "");
				CHECK(pm2.cmdline == NULL);
				CHECK(pm2.cgroup == NULL);
			}
			ph_rec_proc_free(&pm2);
			break;
		case PH_REC_SNAP_BEGIN:
			CHECK_EQ_INT(ph_rec_get_snap_begin(data, len, &sb), 0);
			CHECK_EQ_INT(sb.ts_ns, 555);
			CHECK_EQ_INT(sb.reason, PH_SNAP_START);
			break;
		case PH_REC_SOCK:
			CHECK_EQ_INT(ph_rec_get_sock(data, len, &se2), 0);
			CHECK(sock_eq(&se, &se2));
			break;
		case PH_REC_SNAP_END:
			CHECK_EQ_INT(ph_rec_get_snap_end(data, len, &sn), 0);
			CHECK_EQ_INT(sn.ts_ns, 556);
			CHECK_EQ_INT(sn.count, 1);
			break;
		case PH_REC_EVENT:
			if (!len) {
				CHECK_EQ_INT(ph_rec_get_event(data, len, &ev2), -EBADMSG);
				break;
			}
			CHECK_EQ_INT(len, PH_REC_EVENT_LEN);
			CHECK_EQ_INT(ph_rec_get_event(data, len, &ev2), 0);
			CHECK(event_eq(&ev, &ev2));
			break;
		case PH_REC_LOST:
			CHECK_EQ_INT(ph_rec_get_lost(data, len, &lo), 0);
			CHECK_EQ_INT(lo.ts_ns, 777);
			CHECK_EQ_INT(lo.lost_total, 12);
			CHECK_EQ_INT(lo.skipped_total, 5);
			break;
		case PH_REC_TRIGGER:
			CHECK_EQ_INT(ph_rec_get_trigger(data, len, &tr), 0);
			CHECK_EQ_INT(tr.ts_ns, 888);
			CHECK_EQ_INT(tr.kind, PH_TRIG_HEADROOM);
			CHECK_EQ_STR(tr.text, "headroom 4% < 10%");
			ph_rec_trigger_free(&tr);
			break;
		case PH_REC_END:
			CHECK_EQ_INT(ph_rec_get_end(data, len, &en), 0);
			CHECK_EQ_INT(en.flags, 0);
			CHECK_EQ_INT(en.dropped, 0);
			break;
		default:
			CHECK_EQ_INT(type, 999);
			CHECK_EQ_INT(len, 6);
			CHECK(!memcmp(data, "future", 6));
			CHECK_EQ_STR(ph_rec_type_name(type), "unknown");
			break;
		}
	}
	CHECK_EQ_INT(n, 14);
	CHECK_EQ_INT(nproc, 2);
	CHECK_EQ_INT(nnetns, 2);
	CHECK_EQ_INT(ph_tf_next(r, &type, &data, &len), 0);	/* stays at the end */
	ph_tf_status(r, &st);
	ph_tf_reader_close(r);
	CHECK(st.clean_end);
	CHECK_EQ_INT(st.version, 1);
	CHECK_EQ_INT(st.blocks_ok, 2);
	CHECK_EQ_INT(st.records, 14);
	CHECK_EQ_INT(st.bytes_cut, 0);
	CHECK_EQ_INT(st.bytes_valid, st.bytes_total);
	CHECK_EQ_STR(st.reason, "complete");
out:
	free(path);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_mode_0600)
{
	char *dir = tmpdir_new(), *path;
	struct ph_tf_writer *w;
	struct stat sb;
	int fd;

	if (!dir)
		return;
	path = path_in(dir, "t.phtrace");
	/* an existing world-readable file is tightened too */
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ_INT(fchmod(fd, 0644), 0);
		CHECK_EQ_INT(write(fd, "old contents", 12), 12);
		close(fd);
	}
	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	CHECK_EQ_INT(stat(path, &sb), 0);
	CHECK_EQ_INT(sb.st_mode & 07777, 0600);
	CHECK_EQ_INT(sb.st_size, PH_TF_HDR_LEN);	/* truncated, header written */
	if (w)
		CHECK_EQ_INT(ph_tf_close(w, true), 0);
	unlink(path);
	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	CHECK_EQ_INT(stat(path, &sb), 0);
	CHECK_EQ_INT(sb.st_mode & 07777, 0600);
	if (w)
		CHECK_EQ_INT(ph_tf_close(w, false), 0);
	free(path);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_truncated_at_every_offset)
{
	__u64 ends[4] = {}, recs[4] = {}, valid, want;
	char *dir = tmpdir_new(), *path, *cut_path, err[160];
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	size_t size = 0;
	__u8 *full;
	int ret;

	if (!dir)
		return;
	path = path_in(dir, "full.phtrace");
	cut_path = path_in(dir, "cut.phtrace");
	CHECK_EQ_INT(write_three(path, ends, recs), 0);
	full = slurp(path, &size);
	CHECK(full != NULL);
	ends[3] = size;
	CHECK_EQ_INT(ends[3] - ends[2], PH_TF_END_BLOCK_LEN);
	for (size_t l = 0; full && l <= size; l++) {
		if (spill(cut_path, full, l)) {
			UNIT_FAIL("cannot write %s", cut_path);
			break;
		}
		ret = ph_tf_open(cut_path, &r, err, sizeof(err));
		if (l < PH_TF_HDR_LEN) {
			if (ret != -EBADMSG)
				UNIT_FAIL("length %zu: open returned %d", l, ret);
			continue;
		}
		if (ret) {
			UNIT_FAIL("length %zu: open returned %d (%s)", l, ret, err);
			continue;
		}
		want = 0;
		valid = PH_TF_HDR_LEN;
		for (int b = 0; b < 4; b++) {
			if (ends[b] <= l) {
				want += recs[b];
				valid = ends[b];
			}
		}
		if (drain(r, &st, NULL) != want || st.records != want ||
		    st.bytes_valid != valid || st.bytes_cut != l - valid ||
		    st.bytes_total != l || st.clean_end != (l == size) || !st.reason[0]) {
			UNIT_FAIL("length %zu: %llu records, valid %llu cut %llu clean %d (%s)",
				  l, (unsigned long long)st.records,
				  (unsigned long long)st.bytes_valid,
				  (unsigned long long)st.bytes_cut, st.clean_end, st.reason);
			continue;
		}
		if (valid == l && l != size && !strstr(st.reason, "no end marker"))
			UNIT_FAIL("length %zu: reason %s", l, st.reason);
		if (valid != l && !strstr(st.reason, "truncated block at offset"))
			UNIT_FAIL("length %zu: reason %s", l, st.reason);
	}
	free(full);
	free(path);
	free(cut_path);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_flipped_byte_in_block2)
{
	__u64 ends[4] = {}, recs[4] = {}, nrec;
	char *dir = tmpdir_new(), *path, err[160];
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	size_t size = 0;
	__u8 *buf;

	if (!dir)
		return;
	path = path_in(dir, "t.phtrace");
	CHECK_EQ_INT(write_three(path, ends, recs), 0);
	buf = slurp(path, &size);
	if (!buf) {
		UNIT_FAIL("slurp");
		goto out;
	}
	/* every byte of block 2, header and payload: only block 1 survives */
	for (__u64 off = ends[0]; off < ends[1]; off++) {
		buf[off] ^= 0x20;
		if (read_mem(buf, size, &st, &nrec) || nrec != recs[0] ||
		    st.blocks_ok != 1 || st.bytes_valid != ends[0] || st.clean_end ||
		    st.bytes_cut != size - ends[0])
			UNIT_FAIL("flip at %llu: %llu records, %llu blocks (%s)",
				  (unsigned long long)off, (unsigned long long)nrec,
				  (unsigned long long)st.blocks_ok, st.reason);
		buf[off] ^= 0x20;
	}
	/* the same through a real file, payload byte: a crc mismatch */
	buf[ends[0] + PH_TF_BLK_HDR_LEN + 13] ^= 0xff;
	CHECK_EQ_INT(spill(path, buf, size), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_INT(drain(r, &st, NULL), recs[0]);
		CHECK(!st.clean_end);
		CHECK_EQ_INT(st.bytes_valid, ends[0]);
		CHECK_EQ_INT(st.bytes_cut, size - ends[0]);
		snprintf(err, sizeof(err), "truncated block at offset %llu (crc mismatch)",
			 (unsigned long long)ends[0]);
		CHECK_EQ_STR(st.reason, err);
	}
	free(buf);
out:
	free(path);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_bad_files)
{
	char *dir = tmpdir_new(), *path, err[160];
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	__u8 hdr[64] = {};
	__u8 rnd[4096];
	__u64 nrec;

	if (!dir)
		return;
	path = path_in(dir, "t.phtrace");
	memcpy(hdr, PH_TF_MAGIC, 8);
	ph_le16_put(hdr + 8, 1);
	ph_le16_put(hdr + 10, PH_TF_HDR_LEN);

	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), -ENOENT);
	CHECK(r == NULL);
	CHECK(strstr(err, "No such file") != NULL);
	CHECK_EQ_INT(ph_tf_open(dir, &r, err, sizeof(err)), -EISDIR);

	CHECK_EQ_INT(spill(path, "", 0), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "empty") != NULL);

	memcpy(rnd, "GIF89a", 6);
	memset(rnd + 6, 0, 26);
	CHECK_EQ_INT(spill(path, rnd, 32), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), -EBADMSG);
	CHECK_EQ_STR(err, "not a porthog trace file (bad magic)");

	CHECK_EQ_INT(spill(path, hdr, 12), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "too short") != NULL);
	CHECK_EQ_INT(spill(path, hdr, 20), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "too short") != NULL);

	ph_le16_put(hdr + 8, 2);
	CHECK_EQ_INT(spill(path, hdr, 32), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), -EPROTONOSUPPORT);
	CHECK_EQ_STR(err, "trace format version 2 is newer than this porthog supports (1)");
	ph_le16_put(hdr + 8, 0);
	CHECK_EQ_INT(ph_tf_open_mem(hdr, 32, &r, err, sizeof(err)), -EBADMSG);
	ph_le16_put(hdr + 8, 1);
	ph_le16_put(hdr + 10, 8);
	CHECK_EQ_INT(ph_tf_open_mem(hdr, 32, &r, err, sizeof(err)), -EBADMSG);

	/* a longer header (a later 1.x writer): its extra bytes are skipped */
	ph_le16_put(hdr + 10, 40);
	CHECK_EQ_INT(ph_tf_open_mem(hdr, 40, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_INT(drain(r, &st, NULL), 0);
		CHECK_EQ_INT(st.bytes_valid, 40);
		CHECK_EQ_INT(st.bytes_cut, 0);
		CHECK(!st.clean_end);
		CHECK_EQ_STR(st.reason, "no end marker: recorder was killed?");
	}
	ph_le16_put(hdr + 10, PH_TF_HDR_LEN);

	/* random bytes: bad magic as a file; after a good header: cut, no crash */
	srandom(7);
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = random();
	CHECK_EQ_INT(spill(path, rnd, sizeof(rnd)), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), -EBADMSG);
	memcpy(rnd, hdr, PH_TF_HDR_LEN);
	CHECK_EQ_INT(read_mem(rnd, sizeof(rnd), &st, &nrec), 0);
	CHECK_EQ_INT(nrec, 0);
	CHECK_EQ_INT(st.bytes_valid, PH_TF_HDR_LEN);
	CHECK_EQ_INT(st.bytes_cut, sizeof(rnd) - PH_TF_HDR_LEN);
	CHECK(strstr(st.reason, "truncated block at offset 32 (bad block magic)") != NULL);
	/* a block header claiming 4 GiB: refused without allocating it */
	ph_le32_put(rnd + 32, PH_TF_BLK_MAGIC);
	ph_le32_put(rnd + 36, 0xfffffff8u);
	CHECK_EQ_INT(read_mem(rnd, sizeof(rnd), &st, &nrec), 0);
	CHECK(strstr(st.reason, "bad block length") != NULL);
	ph_le32_put(rnd + 36, 1u << 20);
	ph_le64_put(rnd + 48, 0);
	CHECK_EQ_INT(read_mem(rnd, sizeof(rnd), &st, &nrec), 0);
	CHECK(strstr(st.reason, "payload bytes present") != NULL);
	free(path);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_killed_and_trailing_data)
{
	char *dir = tmpdir_new(), *path, err[160];
	struct ph_tf_writer *w;
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	struct ph_event e = mk_event(1);
	__u64 bytes;
	int fd;

	if (!dir)
		return;
	path = path_in(dir, "t.phtrace");
	/* close without END: what a killed recorder leaves (after its last flush) */
	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	CHECK_EQ_INT(ph_rec_put_event(w, &e), 0);
	CHECK_EQ_INT(ph_tf_close(w, false), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_INT(drain(r, &st, NULL), 1);
		CHECK(!st.clean_end);
		CHECK_EQ_INT(st.bytes_cut, 0);
		CHECK_EQ_STR(st.reason, "no end marker: recorder was killed?");
	}
	/* a clean file with junk appended: complete, the junk reported */
	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	CHECK_EQ_INT(ph_rec_put_event(w, &e), 0);
	CHECK_EQ_INT(ph_tf_flush(w), 0);
	bytes = ph_tf_bytes(w);
	CHECK_EQ_INT(bytes, PH_TF_HDR_LEN + PH_TF_BLK_HDR_LEN + PH_TF_REC_HDR_LEN + ((PH_REC_EVENT_LEN + 7) & ~7));
	CHECK_EQ_INT(ph_tf_close(w, true), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK_EQ_INT(write(fd, "junkjunk!", 9), 9);
	close(fd);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_INT(drain(r, &st, NULL), 2);
		CHECK(st.clean_end);
		CHECK_EQ_INT(st.bytes_cut, 9);
		CHECK_EQ_STR(st.reason, "9 bytes after the end marker ignored");
	}
	free(path);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_record_limits_and_auto_flush)
{
	char *dir = tmpdir_new(), *path, err[160];
	struct ph_tf_writer *w;
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	__u64 by_type[16] = {};
	void *big = calloc(1, PH_TF_MAX_REC + 1);
	int n = 20000;

	if (!dir || !big)
		goto out_free;
	path = path_in(dir, "t.phtrace");
	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	if (!w)
		goto out;
	CHECK_EQ_INT(ph_tf_append(w, 77, big, PH_TF_MAX_REC + 1), -EMSGSIZE);
	CHECK_EQ_INT(ph_tf_append(w, 77, big, PH_TF_MAX_REC), 0);
	for (int i = 0; i < n; i++) {
		struct ph_event e = mk_event(i);

		if (ph_rec_put_event(w, &e)) {
			UNIT_FAIL("put_event %d", i);
			break;
		}
	}
	/* blocks went out on their own, none past the target (but the big one) */
	CHECK(ph_tf_bytes(w) > (__u64)n * 112 / 2);
	CHECK(ph_tf_pending(w) < PH_TF_BLOCK_TARGET / 112);
	CHECK_EQ_INT(ph_tf_dropped(w), 0);
	CHECK_EQ_INT(ph_tf_close(w, true), 0);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_INT(drain(r, &st, by_type), n + 2);
		CHECK_EQ_INT(by_type[PH_REC_EVENT], n);
		CHECK_EQ_INT(by_type[15], 1);	/* type 77 */
		CHECK(st.clean_end);
		CHECK(st.blocks_ok >= (__u64)n * 112 / PH_TF_BLOCK_TARGET + 2);
	}
out:
	free(path);
out_free:
	free(big);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_size_cap)
{
	char *dir = tmpdir_new(), *path, err[160];
	/* 32 + 6 blocks of 584 + 40: a 6th block would leave no room for END */
	const __u64 cap = 3576;
	struct ph_tf_writer *w;
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	__u64 ok_recs = 0, ok_bytes = 0;
	int ret = 0, i;
	struct stat sb;

	if (!dir)
		return;
	path = path_in(dir, "t.phtrace");
	CHECK_EQ_INT(ph_tf_create(path, 16, &w), -EINVAL);
	CHECK_EQ_INT(ph_tf_create(path, cap, &w), 0);
	if (!w)
		goto out;
	/* blocks of 5 events (584 bytes) until the cap refuses one */
	for (i = 0; i < 100 && !ret; i++) {
		for (int k = 0; k < 5 && !ret; k++) {
			struct ph_event e = mk_event(k);

			ret = ph_rec_put_event(w, &e);
		}
		if (!ret)
			ret = ph_tf_flush(w);
		if (!ret) {
			ok_recs += 5;
			ok_bytes = ph_tf_bytes(w);
		}
	}
	CHECK_EQ_INT(ret, -EFBIG);
	CHECK(ok_recs > 0);
	CHECK(ok_bytes + PH_TF_END_BLOCK_LEN <= cap);
	CHECK_EQ_INT(ph_tf_bytes(w), ok_bytes);
	/* sticky: nothing more goes in */
	{
		struct ph_event e = mk_event(0);

		CHECK_EQ_INT(ph_rec_put_event(w, &e), -EFBIG);
	}
	CHECK_EQ_INT(ph_tf_flush(w), -EFBIG);
	CHECK_EQ_INT(ph_tf_dropped(w), 6);
	CHECK_EQ_INT(ph_tf_close(w, true), -EFBIG);
	CHECK_EQ_INT(stat(path, &sb), 0);
	CHECK(sb.st_size <= (off_t)cap);
	CHECK_EQ_INT(sb.st_size, ok_bytes + PH_TF_END_BLOCK_LEN);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_INT(drain(r, &st, NULL), ok_recs + 1);
		CHECK(st.clean_end);
		CHECK_EQ_INT(st.end_flags, PH_TF_END_SIZE_CAP);
		CHECK_EQ_INT(st.end_dropped, 6);
		CHECK_EQ_INT(st.bytes_cut, 0);
		CHECK_EQ_STR(st.reason, "size cap reached: 6 records not written");
	}
out:
	free(path);
	tmpdir_rm(dir);
}

UNIT_TEST(tracefile_enospc)
{
	char *dir = tmpdir_new(), *path = NULL, err[160];
	struct ph_tf_writer *w = NULL;
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	__u64 ok_recs = 0, ok_bytes = 0, by_type[16] = {};
	char text[600];
	int ret = 0, i;
	struct stat sb;

	if (!dir)
		return;
	if (mount("porthog-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700")) {
		UNIT_FAIL("mount tmpfs on %s: %s (needs root)", dir, strerror(errno));
		tmpdir_rm(dir);
		return;
	}
	path = path_in(dir, "t.phtrace");
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	if (!w)
		goto out;
	/* blocks of about 3 KiB, not page multiples, until the disk is full */
	for (i = 0; i < 1000 && !ret; i++) {
		for (int k = 0; k < 5 && !ret; k++)
			ret = ph_rec_put_trigger(w, i, PH_TRIG_OTHER, text);
		if (!ret)
			ret = ph_tf_flush(w);
		if (!ret) {
			ok_recs += 5;
			ok_bytes = ph_tf_bytes(w);
		}
	}
	CHECK_EQ_INT(ret, -ENOSPC);
	CHECK(ok_recs >= 50);
	CHECK_EQ_INT(ph_tf_bytes(w), ok_bytes);
	/* the partial block was cut off: the file ends at the last good block */
	CHECK_EQ_INT(stat(path, &sb), 0);
	CHECK_EQ_INT(sb.st_size, ok_bytes);
	CHECK_EQ_INT(ph_rec_put_trigger(w, 1, PH_TRIG_OTHER, "x"), -ENOSPC);
	CHECK_EQ_INT(ph_tf_flush(w), -ENOSPC);
	CHECK_EQ_INT(ph_tf_close(w, true), -ENOSPC);
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), 0);
	if (r) {
		drain(r, &st, by_type);
		CHECK_EQ_INT(by_type[PH_REC_TRIGGER], ok_recs);
		CHECK_EQ_INT(st.bytes_cut, 0);
		/* END may still fit in the last page; if so it says records were lost */
		if (st.clean_end) {
			CHECK_EQ_INT(st.end_flags, PH_TF_END_WRITE_ERROR);
			CHECK(strstr(st.reason, "write error") != NULL);
		} else
			CHECK_EQ_STR(st.reason, "no end marker: recorder was killed?");
	}
out:
	unlink(path);
	free(path);
	if (umount2(dir, MNT_DETACH))
		UNIT_FAIL("umount %s: %s", dir, strerror(errno));
	tmpdir_rm(dir);
}

/* Write one event to a file and read it back. */
static int rec_roundtrip_event(const struct ph_event *e, struct ph_event *out)
{
	char *dir = tmpdir_new(), path[256], err[160];
	struct ph_tf_writer *w;
	struct ph_tf_reader *r = NULL;
	const void *data;
	__u32 len;
	__u16 type;
	int ret = -1;

	if (!dir)
		return -1;
	snprintf(path, sizeof(path), "%s/e.phtrace", dir);
	if (!ph_tf_create(path, 0, &w) && !ph_rec_put_event(w, e) && !ph_tf_close(w, true) &&
	    !ph_tf_open(path, &r, err, sizeof(err))) {
		while (ph_tf_next(r, &type, &data, &len) == 1)
			if (type == PH_REC_EVENT)
				ret = ph_rec_get_event(data, len, out);
	}
	ph_tf_reader_close(r);
	tmpdir_rm(dir);
	return ret;
}

/* protocol and per-socket range survive a round trip; 100-byte events of old files are TCP */
UNIT_TEST(tracerec_event_protocol_fields)
{
	struct ph_event e = {}, d;
	__u8 old[PH_REC_EVENT_LEN_V1] = {};

	e.type = PH_EV_BIND_FAILED;
	e.protocol = PH_PROTO_UDP;
	e.err = 98;
	e.sport = 0;
	e.port_lo = 41010;
	e.port_hi = 41019;
	e.flags = PH_F_INFERRED | PH_F_BIND_EPHEMERAL;
	CHECK_EQ_INT(rec_roundtrip_event(&e, &d), 0);
	CHECK_EQ_INT(d.type, PH_EV_BIND_FAILED);
	CHECK_EQ_INT(d.protocol, PH_PROTO_UDP);
	CHECK_EQ_INT(d.err, 98);
	CHECK_EQ_INT(d.port_lo, 41010);
	CHECK_EQ_INT(d.port_hi, 41019);
	CHECK_EQ_INT(d.flags, PH_F_INFERRED | PH_F_BIND_EPHEMERAL);
	old[48] = PH_EV_CONNECT;
	CHECK_EQ_INT(ph_rec_get_event(old, sizeof(old), &d), 0);
	CHECK_EQ_INT(d.protocol, PH_PROTO_TCP);
	CHECK_EQ_INT(d.port_lo, 0);
}

UNIT_TEST(tracerec_decode_rejects_garbage)
{
	__u8 b[256] = {}, ev[PH_REC_EVENT_LEN] = {};
	struct ph_proc_meta m;
	struct ph_netns_info n;
	struct ph_rec_trigger t;
	struct ph_rec_header h;
	struct ph_event e;
	struct ph_sock_entry s;
	struct ph_rec_lost l;
	struct ph_rec_end en;

	/* every short length of the fixed-size records */
	for (__u32 len = 0; len < PH_REC_EVENT_LEN_V1; len++)
		CHECK_EQ_INT(ph_rec_get_event(ev, len, &e), -EBADMSG);
	CHECK_EQ_INT(ph_rec_get_event(ev, PH_REC_EVENT_LEN, &e), 0);
	CHECK_EQ_INT(ph_rec_get_event(NULL, PH_REC_EVENT_LEN, &e), -EBADMSG);
	for (__u32 len = 0; len < PH_REC_SOCK_MIN; len++)
		CHECK_EQ_INT(ph_rec_get_sock(b, len, &s), -EBADMSG);
	/* a SOCK of a file before the activity part: read, with no activity */
	b[105] = PH_SR_ACTIVITY;
	CHECK_EQ_INT(ph_rec_get_sock(b, PH_REC_SOCK_MIN, &s), 0);
	CHECK_EQ_INT(s.act.flags, 0);
	CHECK_EQ_INT(ph_rec_get_sock(b, PH_REC_SOCK_LEN, &s), 0);
	CHECK_EQ_INT(s.act.flags, PH_SR_ACTIVITY);
	b[105] = 0;
	for (__u32 len = 0; len < 16; len++) {
		CHECK_EQ_INT(ph_rec_get_lost(b, len, &l), -EBADMSG);
		CHECK_EQ_INT(ph_rec_get_end(b, len, &en), -EBADMSG);
	}
	/* fields appended by a newer writer are ignored */
	CHECK_EQ_INT(ph_rec_get_lost(b, 40, &l), 0);
	/* LOST of files written before skipped_total (16 bytes): no skipped events */
	ph_le64_put(b + 8, 7);
	ph_le64_put(b + 16, 9);
	CHECK_EQ_INT(ph_rec_get_lost(b, 16, &l), 0);
	CHECK_EQ_INT(l.lost_total, 7);
	CHECK_EQ_INT(l.skipped_total, 0);
	CHECK_EQ_INT(ph_rec_get_lost(b, 24, &l), 0);
	CHECK_EQ_INT(l.skipped_total, 9);
	memset(b, 0, sizeof(b));

	/* PROC: pid, uid, start, cgroup_id, then strings */
	memset(b, 0, sizeof(b));
	ph_le32_put(b, 5);
	ph_le32_put(b + 24, 2);
	memcpy(b + 28, "sh", 2);
	ph_le32_put(b + 30, PH_REC_STR_NONE);
	ph_le32_put(b + 34, 0);
	CHECK_EQ_INT(ph_rec_get_proc(b, 38, &m), 0);
	CHECK_EQ_INT(m.key.pid, 5);
	CHECK_EQ_STR(m.comm, "sh");
	CHECK(m.cmdline == NULL);
	CHECK_EQ_STR(m.cgroup, "");
	ph_rec_proc_free(&m);
	for (__u32 len = 0; len < 38; len++) {
		if (ph_rec_get_proc(b, len, &m) != -EBADMSG)
			UNIT_FAIL("proc accepted %u bytes", len);
		CHECK(m.cmdline == NULL && m.cgroup == NULL);
	}
	/* a string running past the payload, an insane length, an embedded NUL */
	ph_le32_put(b + 34, 5);
	CHECK_EQ_INT(ph_rec_get_proc(b, 38 + 4, &m), -EBADMSG);
	CHECK(m.cmdline == NULL && m.cgroup == NULL);
	ph_le32_put(b + 34, PH_REC_STR_MAX + 1);
	CHECK_EQ_INT(ph_rec_get_proc(b, sizeof(b), &m), -EBADMSG);
	ph_le32_put(b + 34, 3);
	memcpy(b + 38, "a\0b", 3);
	CHECK_EQ_INT(ph_rec_get_proc(b, 41, &m), -EBADMSG);
	memcpy(b + 38, "a/b", 3);
	CHECK_EQ_INT(ph_rec_get_proc(b, 41, &m), 0);
	CHECK_EQ_STR(m.cgroup, "a/b");
	ph_rec_proc_free(&m);
	/* a wrong string length misframes the rest */
	ph_le32_put(b + 24, 4);
	CHECK_EQ_INT(ph_rec_get_proc(b, 41, &m), -EBADMSG);	/* now misframed */

	/* NETNS and TRIGGER strings */
	memset(b, 0, sizeof(b));
	ph_le32_put(b + 16, 0xfffffffeu);
	CHECK_EQ_INT(ph_rec_get_netns(b, 20, &n), -EBADMSG);
	CHECK(n.reserved == NULL);
	ph_le32_put(b + 16, 0);
	CHECK_EQ_INT(ph_rec_get_netns(b, 20, &n), 0);
	CHECK_EQ_STR(n.reserved, "");
	ph_rec_netns_free(&n);
	ph_le32_put(b + 12, PH_REC_STR_NONE);
	CHECK_EQ_INT(ph_rec_get_trigger(b, 16, &t), 0);
	CHECK_EQ_STR(t.text, "");	/* never NULL */
	ph_rec_trigger_free(&t);
	CHECK_EQ_INT(ph_rec_get_trigger(b, 15, &t), -EBADMSG);
	CHECK(t.text == NULL);

	/* HEADER: fixed strings longer than their arrays are cut */
	memset(b, 0, sizeof(b));
	ph_le32_put(b + 40, 100);
	memset(b + 44, 'h', 100);
	CHECK_EQ_INT(ph_rec_get_header(b, 144 + 12, &h), 0);
	CHECK_EQ_INT(strlen(h.hostname), 64);
	CHECK_EQ_INT(ph_rec_get_header(b, 144 + 11, &h), -EBADMSG);
	CHECK_EQ_INT(ph_rec_get_header(b, 39, &h), -EBADMSG);
}

UNIT_TEST(tracerec_long_strings_are_cut)
{
	char *dir = tmpdir_new(), *path, *big, err[160];
	struct ph_proc_meta m = { .key = { .pid = 9 }, .comm = "x" }, m2;
	struct ph_tf_writer *w;
	struct ph_tf_reader *r;
	const void *data;
	__u16 type;
	__u32 len;

	big = malloc(PH_REC_STR_MAX + 100);
	if (!dir || !big)
		goto out_free;
	memset(big, 'c', PH_REC_STR_MAX + 99);
	big[PH_REC_STR_MAX + 99] = 0;
	m.cmdline = big;
	m.cgroup = big;
	path = path_in(dir, "t.phtrace");
	CHECK_EQ_INT(ph_tf_create(path, 0, &w), 0);
	if (w) {
		CHECK_EQ_INT(ph_rec_put_proc(w, &m), 0);
		CHECK_EQ_INT(ph_tf_close(w, true), 0);
	}
	CHECK_EQ_INT(ph_tf_open(path, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK_EQ_INT(ph_tf_next(r, &type, &data, &len), 1);
		CHECK_EQ_INT(type, PH_REC_PROC);
		CHECK_EQ_INT(ph_rec_get_proc(data, len, &m2), 0);
		CHECK_EQ_INT(strlen(m2.cmdline), PH_REC_STR_MAX);
		CHECK_EQ_INT(strlen(m2.cgroup), PH_REC_STR_MAX);
		ph_rec_proc_free(&m2);
		ph_tf_reader_close(r);
	}
	free(path);
out_free:
	free(big);
	tmpdir_rm(dir);
}
