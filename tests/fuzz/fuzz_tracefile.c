// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the trace file reader: open the input as a trace file,
 * walk every record and decode it with its codec, then run what `porthog
 * report` runs on it: the replay and every output format. Built with -DPH_FUZZING,
 * which lets blocks with a bad CRC through so that mutations reach the record
 * framing and the decoders. Invariants of the reader status are checked too.
 *
 * The seed corpus in tests/fuzz/corpus is written by this same file built as
 * a plain program:
 *   cc -DPH_FUZZ_SEED_MAIN -D_GNU_SOURCE -Ibuild -Ibpf -Iuser \
 *      tests/fuzz/fuzz_tracefile.c user/tracefile.c user/tracerec.c user/common.c \
 *      -lz -o /tmp/gen-seeds && /tmp/gen-seeds tests/fuzz/corpus
 * The seeds other than bind-udp.phtrace were written before events carried a
 * protocol (100-byte EVENT, 64-byte SOCK records): keep them, old files must read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procinfo.h"
#include "report_feed.h"
#include "tracefile.h"
#include "tracerec.h"

#ifndef PH_FUZZ_SEED_MAIN

static void decode(__u16 type, const void *p, __u32 len)
{
	struct ph_rec_header h;
	struct ph_netns_info n;
	struct ph_proc_meta m;
	struct ph_rec_snap_begin sb;
	struct ph_sock_entry s;
	struct ph_rec_snap_end se;
	struct ph_event e;
	struct ph_rec_lost l;
	struct ph_rec_trigger t;
	struct ph_rec_end end;
	volatile size_t sink = 0;

	switch (type) {
	case PH_REC_HEADER:
		if (!ph_rec_get_header(p, len, &h))
			sink += strlen(h.hostname) + strlen(h.kernel) +
				strlen(h.version) + strlen(h.attach);
		break;
	case PH_REC_NETNS:
		if (!ph_rec_get_netns(p, len, &n)) {
			if (n.reserved)
				sink += strlen(n.reserved);
			ph_rec_netns_free(&n);
		}
		break;
	case PH_REC_PROC:
		if (!ph_rec_get_proc(p, len, &m)) {
			sink += strlen(m.comm);
			if (m.cmdline)
				sink += strlen(m.cmdline);
			if (m.cgroup) {
				struct ph_workload wl;

				sink += strlen(m.cgroup);
				/* the cgroup path parser on what any process could name its cgroup */
				if (ph_cgroup_workload(m.cgroup, &wl)) {
					size_t cl = strlen(wl.container), pl = strlen(wl.pod_uid);

					if ((cl && cl != PH_CONTAINER_ID_LEN) ||
					    strspn(wl.container, "0123456789abcdef") != cl ||
					    (pl && pl != PH_POD_UID_LEN && pl != 32) ||
					    strspn(wl.pod_uid, "0123456789abcdef-") != pl)
						abort();
				}
			}
			ph_rec_proc_free(&m);
		}
		break;
	case PH_REC_SNAP_BEGIN:
		if (!ph_rec_get_snap_begin(p, len, &sb))
			sink += sb.reason;
		break;
	case PH_REC_SOCK:
		if (!ph_rec_get_sock(p, len, &s))
			sink += s.sport;
		break;
	case PH_REC_SNAP_END:
		if (!ph_rec_get_snap_end(p, len, &se))
			sink += se.count;
		break;
	case PH_REC_EVENT:
		if (!ph_rec_get_event(p, len, &e))
			sink += strlen(e.comm);
		break;
	case PH_REC_LOST:
		if (!ph_rec_get_lost(p, len, &l))
			sink += l.lost_total + l.skipped_total;
		break;
	case PH_REC_TRIGGER:
		if (!ph_rec_get_trigger(p, len, &t)) {
			if (!t.text)
				abort();
			sink += strlen(t.text);
			ph_rec_trigger_free(&t);
		}
		break;
	case PH_REC_END:
		if (!ph_rec_get_end(p, len, &end))
			sink += end.flags;
		break;
	default:
		/* unknown types are skipped; their bytes must still be readable */
		if (len)
			sink += ((const volatile __u8 *)p)[len - 1];
		break;
	}
	(void)sink;
	(void)ph_rec_type_name(type);
}

/* The report path: replay and summary, written nowhere. */
static void report(const uint8_t *data, size_t size)
{
	static FILE *null;
	struct ph_replay_opts o;
	struct ph_feed f = {};
	struct ph_tf_reader *r;
	const struct ph_summary *s;
	char err[160];
	const void *p;
	__u16 type;
	__u32 len;

	if (!null)
		null = fopen("/dev/null", "w");
	if (ph_tf_open_mem(data, size, &r, err, sizeof(err)))
		return;
	ph_replay_opts_init(&o);
	f.rp = ph_replay_new(&o);
	if (!f.rp)
		abort();
	while (ph_tf_next(r, &type, &p, &len) == 1)
		if (ph_feed_record(&f, type, p, len))
			break;
	s = ph_replay_finish(f.rp);
	ph_summary_text(null, s);
	ph_summary_json(null, s);
	ph_summary_html(null, s);
	ph_replay_free(f.rp);
	ph_tf_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ph_tf_reader *r;
	struct ph_tf_status st;
	__u64 n = 0;
	char err[160];
	const void *p;
	__u16 type;
	__u32 len;
	int ret;

	err[0] = 0;
	ret = ph_tf_open_mem(data, size, &r, err, sizeof(err));
	if (ret) {
		/* a specific error and a one-line reason */
		if ((ret != -EBADMSG && ret != -EPROTONOSUPPORT) || r || !err[0] ||
		    strchr(err, '\n'))
			abort();
		return 0;
	}
	while ((ret = ph_tf_next(r, &type, &p, &len)) == 1) {
		if (len > PH_TF_MAX_REC || !p)
			abort();
		decode(type, p, len);
		n++;
	}
	if (ret != 0 || ph_tf_next(r, &type, &p, &len) != 0)
		abort();
	ph_tf_status(r, &st);
	if (st.bytes_total != size || st.bytes_valid > st.bytes_total ||
	    st.bytes_cut != st.bytes_total - st.bytes_valid || st.records != n ||
	    st.bytes_valid < PH_TF_HDR_LEN || !st.reason[0] ||
	    st.version != PH_TF_VERSION || (st.clean_end && !n))
		abort();
	ph_tf_reader_close(r);
	report(data, size);
	return 0;
}

#else /* PH_FUZZ_SEED_MAIN: write the seed corpus */

#include <arpa/inet.h>
#include <stdio.h>

static const char *seed_dir;

static char *seed_path(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	return path;
}

static struct ph_event seed_event(int i, __u8 type)
{
	struct ph_event e = {
		.ts_ns = 5000000000ULL + i * 1000000ULL, .cgroup_id = 4242,
		.start_ns = 3000000000ULL, .pid = 700 + i % 3, .tid = 700 + i % 3,
		.uid = 1000, .netns = 4026531840u, .sport = 41000 + i, .dport = 5432,
		.type = type, .family = AF_INET, .oldstate = 2,
	};

	if (type == PH_EV_CONNECT_FAILED)
		e.err = 99;
	if (type == PH_EV_CLOSE)
		e.flags = PH_F_TIME_WAIT;
	inet_pton(AF_INET, "10.1.0.5", e.saddr);
	inet_pton(AF_INET, "10.1.0.9", e.daddr);
	snprintf(e.comm, sizeof(e.comm), "leaky");
	return e;
}

static void seed_header(struct ph_tf_writer *w)
{
	struct ph_rec_header h = {
		.hostname = "db-proxy-3", .kernel = "6.1.0-13-amd64",
		.version = PORTHOG_VERSION, .attach = "fentry",
		.mono_to_wall_ns = 1700000000000000000LL, .start_wall = 1700000004.5,
		.start_mono_ns = 4500000000ULL, .boot_wall = 1700000000.0, .clk_tck = 100,
	};

	ph_rec_put_header(w, &h);
}

static void seed_preamble(struct ph_tf_writer *w)
{
	struct ph_netns_info n = {
		.inode = 4026531840u, .range_lo = 41000, .range_hi = 41063,
		.reserved_in_range = 2, .tw_reuse = 2, .reserved = "41010-41011",
	};
	struct ph_proc_meta m = {
		.key = { .pid = 700, .start = 300 }, .uid = 1000, .cgroup_id = 4242,
		.comm = "leaky", .cmdline = "leaky --pool=0 --db=10.1.0.9:5432",
		.cgroup = "/system.slice/leaky.service",
	};
	struct ph_sock_entry s = {
		.netns = 4026531840u, .family = AF_INET, .state = 1, .sport = 41001,
		.dport = 5432, .owner = { .pid = 700, .start = 300 }, .opened_ns = 4400000000ULL,
	};

	inet_pton(AF_INET, "10.1.0.5", s.saddr);
	inet_pton(AF_INET, "10.1.0.9", s.daddr);
	seed_header(w);
	ph_rec_put_netns(w, &n);
	ph_rec_put_proc(w, &m);
	m.key.pid = 701;
	m.cmdline = NULL;
	m.cgroup = NULL;
	ph_rec_put_proc(w, &m);
	/* a pod's process (systemd driver) and a container's (cgroupfs) */
	m.key.pid = 702;
	m.cgroup = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		   "0b1c2d3e_aaaa_bbbb_cccc_111122223333.slice/cri-containerd-"
		   "4f3a9c1b2d7e0123456789abcdef0123456789abcdef0123456789abcdef0123.scope";
	ph_rec_put_proc(w, &m);
	m.key.pid = 703;
	m.cgroup = "/kubepods/besteffort/pod0b1c2d3e-aaaa-bbbb-cccc-111122223334/"
		   "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
	ph_rec_put_proc(w, &m);
	ph_rec_put_snap_begin(w, 4500000000ULL, PH_SNAP_START);
	ph_rec_put_sock(w, &s);
	s.family = AF_INET6;
	s.state = 6;
	inet_pton(AF_INET6, "fd00::5", s.saddr);
	inet_pton(AF_INET6, "fd00::9", s.daddr);
	ph_rec_put_sock(w, &s);
	ph_rec_put_snap_end(w, 4500000000ULL, 2);
}

static void seed_events(struct ph_tf_writer *w, int from, int n)
{
	static const __u8 types[] = { PH_EV_CONNECT, PH_EV_CONNECT, PH_EV_CLOSE,
				      PH_EV_CONNECT_FAILED };

	for (int i = from; i < from + n; i++) {
		struct ph_event e = seed_event(i, types[i % 4]);

		ph_rec_put_event(w, &e);
	}
}

/* bind() and UDP: bound-only TCP and UDP sockets in the snapshot, their events */
static void seed_ports(struct ph_tf_writer *w)
{
	struct ph_sock_entry s = {
		.netns = 4026531840u, .family = AF_INET, .state = 7, .sport = 41020,
		.owner = { .pid = 701, .start = 300 }, .protocol = PH_PROTO_TCP,
		.pflags = PH_F_BIND_EPHEMERAL,
	};
	struct ph_event e;

	seed_header(w);
	ph_rec_put_snap_begin(w, 4500000000ULL, PH_SNAP_START);
	ph_rec_put_sock(w, &s);			/* TCP bound, not connected */
	s.protocol = PH_PROTO_UDP;
	s.pflags = 0;
	s.sport = 41021;
	ph_rec_put_sock(w, &s);			/* UDP, host pool */
	s.sport = 41022;
	s.state = 1;
	s.dport = 53;
	s.range_lo = 41020;
	s.range_hi = 41029;
	inet_pton(AF_INET, "10.1.0.53", s.daddr);
	ph_rec_put_sock(w, &s);			/* UDP connected, own port range */
	ph_rec_put_snap_end(w, 4500000000ULL, 3);
	for (int i = 0; i < 8; i++) {
		static const __u8 types[] = { PH_EV_BIND, PH_EV_BIND_FAILED, PH_EV_CONNECT,
					      PH_EV_CONNECT_FAILED, PH_EV_CLOSE };

		e = seed_event(i, types[i % 5]);
		e.protocol = i % 2 ? PH_PROTO_UDP : PH_PROTO_TCP;
		e.flags = 0;
		if (e.type == PH_EV_BIND || e.type == PH_EV_BIND_FAILED) {
			memset(e.daddr, 0, 16);
			e.dport = 0;
			e.flags = PH_F_BIND_EPHEMERAL;
		}
		if (e.type == PH_EV_BIND_FAILED || e.type == PH_EV_CONNECT_FAILED) {
			e.sport = 0;
			e.err = e.type == PH_EV_BIND_FAILED ? 98 : 11;
			e.flags |= PH_F_INFERRED;
		}
		if (i == 6) {
			e.port_lo = 41020;
			e.port_hi = 41029;
		}
		ph_rec_put_event(w, &e);
	}
}

static int seed(const char *name, __u64 cap, int variant)
{
	struct ph_tf_writer *w;
	int ret;

	ret = ph_tf_create(seed_path(name), cap, &w);
	if (ret)
		return ret;
	switch (variant) {
	case 0:	/* every record type once, clean */
		seed_preamble(w);
		seed_events(w, 0, 4);
		ph_rec_put_lost(w, 5100000000ULL, 3, 2);
		ph_rec_put_trigger(w, 5200000000ULL, PH_TRIG_CONNECT_FAILED,
				   "connect failed: EADDRNOTAVAIL 10.1.0.9:5432");
		ph_tf_append(w, 4000, "from-the-future", 15);
		break;
	case 1:	/* three blocks of events, clean */
		seed_header(w);
		for (int b = 0; b < 3; b++) {
			seed_events(w, b * 5, 5);
			ph_tf_flush(w);
		}
		break;
	case 2:	/* killed: no END */
		seed_preamble(w);
		seed_events(w, 0, 6);
		ph_tf_flush(w);
		seed_events(w, 6, 2);
		ph_tf_close(w, false);
		return 0;
	case 3:	/* size cap reached */
		seed_header(w);
		for (int b = 0; b < 10; b++) {
			seed_events(w, b * 3, 3);
			ph_tf_flush(w);
		}
		break;
	case 4:	/* header only */
		ph_tf_close(w, false);
		return 0;
	case 5:
		seed_ports(w);
		break;
	}
	ret = ph_tf_close(w, true);
	return ret == -EFBIG ? 0 : ret;
}

int main(int argc, char **argv)
{
	int ret = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	seed_dir = argv[1];
	ret = ret ?: seed("all-types.phtrace", 0, 0);
	ret = ret ?: seed("three-blocks.phtrace", 0, 1);
	ret = ret ?: seed("killed.phtrace", 0, 2);
	ret = ret ?: seed("capped.phtrace", 1024, 3);
	ret = ret ?: seed("header-only.phtrace", 0, 4);
	ret = ret ?: seed("bind-udp.phtrace", 0, 5);
	if (ret) {
		fprintf(stderr, "seed: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}

#endif
