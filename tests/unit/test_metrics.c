// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Prometheus exposition of `porthog serve` (user/metrics.c): label escaping,
 * Accept negotiation, the --max-series cut into "other", exited processes.
 * The accounting engine is fed synthetic events, as in test_account.c.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "account.h"
#include "diagnose.h"
#include "metrics.h"

#define NS1	4026531840u
#define NS2	4026531841u
#define NS3	4026531842u
#define SEC	1000000000ULL

static struct ph_acct *new_acct(void)
{
	struct ph_acct_opts o;
	struct ph_acct *a;

	ph_acct_opts_init(&o);
	a = ph_acct_new(&o);
	for (__u32 ns = NS1; ns <= NS3; ns++) {
		struct ph_netns_info ni = {
			.inode = ns, .range_lo = 41000, .range_hi = 41063, .tw_reuse = 0,
		};

		ph_acct_netns(a, &ni);
	}
	return a;
}

/* One event of pid in netns ns towards 127.0.0.<dst>:dport. */
static void feed(struct ph_acct *a, __u8 type, __u32 pid, __u32 ns, __u16 sport, int dst,
		 __u16 dport, __u64 ts)
{
	struct ph_event e = {
		.ts_ns = ts, .pid = pid, .tid = pid, .netns = ns, .family = AF_INET,
		.type = type, .sport = sport, .dport = dport, .start_ns = 5 * SEC,
	};
	char daddr[32];

	snprintf(daddr, sizeof(daddr), "127.0.0.%d", dst);
	inet_pton(AF_INET, "127.0.0.1", e.saddr);
	inet_pton(AF_INET, daddr, e.daddr);
	snprintf(e.comm, sizeof(e.comm), "p%u", pid);
	if (type == PH_EV_CONNECT_FAILED)
		e.err = 99;	/* EADDRNOTAVAIL */
	ph_acct_event(a, &e);
}

/* n connects of pid from consecutive ports, the first being *port. */
static void connects(struct ph_acct *a, __u32 pid, __u32 ns, __u16 *port, int n, int dst,
		     __u16 dport, __u64 ts)
{
	for (int i = 0; i < n; i++)
		feed(a, PH_EV_CONNECT, pid, ns, (*port)++, dst, dport, ts);
}

static char *render(struct ph_metrics *m, enum ph_metrics_fmt fmt)
{
	char *buf = NULL;
	size_t len = 0;

	CHECK_EQ_INT(ph_metrics_render(m, fmt, &buf, &len), 0);
	CHECK(buf && strlen(buf) == len);
	return buf;
}

static char *update_render(struct ph_metrics *m, struct ph_acct *a, __u64 now)
{
	struct ph_metrics_info info = {
		.attach_mode = "tracepoint", .snapshot = "iter", .lost_events = 0, .ts = 1e9,
	};

	ph_acct_tick(a, now);
	CHECK_EQ_INT(ph_metrics_update(m, a, &info), 0);
	return render(m, PH_FMT_PROM);
}

/* The value of the sample "name{labels}" (series as written), or -1 if absent. */
static double val(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, series, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	return -1;
}

/* Number of samples of one metric name. */
static int nseries(const char *text, const char *name)
{
	size_t n = strlen(name);
	int k = 0;

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, name, n) && (l[n] == '{' || l[n] == ' '))
			k++;
	return k;
}

#define PROC(pid)	"{pid=\"" #pid "\",comm=\"p" #pid "\",cgroup=\"\",pod_uid=\"\",container=\"\"}"
#define OTHER_PROC	"{pid=\"other\",comm=\"other\",cgroup=\"other\",pod_uid=\"other\"," \
			"container=\"other\"}"
#define DEST(ns, dst, port) \
	"{netns=\"" #ns "\",saddr=\"127.0.0.1\",daddr=\"127.0.0." #dst "\",dport=\"" #port "\"," \
	"protocol=\"tcp\"}"
#define OTHER_DEST	"{netns=\"other\",saddr=\"other\",daddr=\"other\",dport=\"other\"," \
	"protocol=\"other\"}"

static size_t esc(const char *in, size_t max_in, char *out, size_t size)
{
	memset(out, 'X', size);
	return ph_prom_escape(in, max_in, out, size);
}

UNIT_TEST(metrics_label_escaping)
{
	char out[64];

	CHECK_EQ_INT(esc("a\"b\\c\nd", SIZE_MAX, out, sizeof(out)), 10);
	CHECK_EQ_STR(out, "a\\\"b\\\\c\\nd");
	/* other control bytes are shown as their control pictures, C1 as U+FFFD */
	esc("t\tr\r\x1b\x7f\xc2\x9b", SIZE_MAX, out, sizeof(out));
	CHECK_EQ_STR(out, "t\xe2\x90\x89r\xe2\x90\x8d\xe2\x90\x9b\xe2\x90\xa1\xef\xbf\xbd");
	/* valid multi-byte characters stay, invalid bytes become U+FFFD */
	esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", SIZE_MAX, out, sizeof(out));
	CHECK_EQ_STR(out, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	esc("a\xff" "b", SIZE_MAX, out, sizeof(out));
	CHECK_EQ_STR(out, "a\xef\xbf\xbd" "b");
	esc("\xc0\xaf", SIZE_MAX, out, sizeof(out));	/* overlong '/' */
	CHECK_EQ_STR(out, "\xef\xbf\xbd\xef\xbf\xbd");
	esc("\xed\xa0\x80", SIZE_MAX, out, sizeof(out));	/* a UTF-16 surrogate */
	CHECK_EQ_STR(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	esc("\xf4\x90\x80\x80", SIZE_MAX, out, sizeof(out));	/* above U+10FFFF */
	CHECK_EQ_STR(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	esc("e\xc3", SIZE_MAX, out, sizeof(out));	/* cut off by the string's end */
	CHECK_EQ_STR(out, "e\xef\xbf\xbd");
	/* the comm as the kernel gives it: 16 bytes, no NUL */
	esc("q\"b\\c\nd\xff" "e\xc3" "ABCDEFGHIJ", 10, out, sizeof(out));
	CHECK_EQ_STR(out, "q\\\"b\\\\c\\nd\xef\xbf\xbd" "e");
	/* max_in cuts at a character boundary: a partial character is left out */
	CHECK_EQ_INT(esc("ab\xe2\x82\xac", 4, out, sizeof(out)), 2);
	CHECK_EQ_STR(out, "ab");
	/* a small output buffer never gets half an escape or half a character */
	CHECK_EQ_INT(esc("\"\"", SIZE_MAX, out, 4), 2);
	CHECK_EQ_STR(out, "\\\"");
	CHECK_EQ_INT(esc("\xe2\x82\xac\xe2\x82\xac", SIZE_MAX, out, 6), 3);
	CHECK_EQ_STR(out, "\xe2\x82\xac");
	CHECK_EQ_INT(esc("abc", SIZE_MAX, out, 1), 0);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(esc(NULL, SIZE_MAX, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(ph_prom_escape("abc", SIZE_MAX, out, 0), 0);
}

UNIT_TEST(metrics_labels_in_exposition)
{
	struct ph_acct *a = new_acct();
	struct ph_metrics_opts o = { .max_series = 10 };
	struct ph_metrics *m = ph_metrics_new(&o);
	struct ph_proc_meta meta = {
		.key = { .pid = 77, .start = start_ticks(5 * SEC) },
		.comm = "x\"y\\z\n\xff",
		.cgroup = "/system.slice/we\"ird\\unit\n.service",
	};
	__u16 port = 41000;
	char *t;

	connects(a, 77, NS1, &port, 2, 2, 8080, SEC);
	ph_acct_proc_meta(a, &meta);
	t = update_render(m, a, 2 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held{pid=\"77\","
			 "comm=\"x\\\"y\\\\z\\n\xef\xbf\xbd\","
			 "cgroup=\"/system.slice/we\\\"ird\\\\unit\\n.service\","
			 "pod_uid=\"\",container=\"\"}"), 2);
	free(t);
	/* a pod's process: its UID as Kubernetes has it, the container's short id */
	meta.key.pid = 78;
	meta.comm[0] = 'k';
	meta.comm[1] = 0;
	meta.cgroup = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		      "0b1c2d3e_aaaa_bbbb_cccc_111122223333.slice/cri-containerd-"
		      "4f3a9c1b2d7e0123456789abcdef0123456789abcdef0123456789abcdef0123.scope";
	connects(a, 78, NS1, &port, 3, 2, 8080, 2 * SEC);
	ph_acct_proc_meta(a, &meta);
	t = update_render(m, a, 3 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held{pid=\"78\",comm=\"k\",cgroup=\"/kubepods.slice/"
			 "kubepods-burstable.slice/kubepods-burstable-pod0b1c2d3e_aaaa_bbbb_cccc_"
			 "111122223333.slice/cri-containerd-4f3a9c1b2d7e0123456789abcdef0123456789"
			 "abcdef0123456789abcdef0123.scope\",pod_uid=\"0b1c2d3e-aaaa-bbbb-cccc-"
			 "111122223333\",container=\"4f3a9c1b2d7e\"}"), 3);
	free(t);
	ph_metrics_free(m);
	ph_acct_free(a);
}

UNIT_TEST(metrics_accept_negotiation)
{
	/* what Prometheus 2.x sends */
	CHECK(ph_accept_openmetrics("application/openmetrics-text;version=1.0.0,"
				    "application/openmetrics-text;version=0.0.1;q=0.75,"
				    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
	CHECK(ph_accept_openmetrics("application/openmetrics-text"));
	CHECK(ph_accept_openmetrics("Application/OpenMetrics-Text; version=1.0.0"));
	CHECK(ph_accept_openmetrics(" , application/openmetrics-text ; charset=utf-8 ,"));
	CHECK(ph_accept_openmetrics("application/openmetrics-text;q=0.2"));
	CHECK(ph_accept_openmetrics("text/plain;q=0.3, application/openmetrics-text;q=0.5"));
	CHECK(ph_accept_openmetrics("text/plain, application/openmetrics-text"));	/* a tie */
	CHECK(ph_accept_openmetrics("application/openmetrics-text; Q = 0.9 , */*;q=0.8"));

	CHECK(!ph_accept_openmetrics(NULL));
	CHECK(!ph_accept_openmetrics(""));
	CHECK(!ph_accept_openmetrics("text/plain"));
	CHECK(!ph_accept_openmetrics("*/*"));
	CHECK(!ph_accept_openmetrics("application/json"));
	CHECK(!ph_accept_openmetrics("application/openmetrics-text;q=0"));
	CHECK(!ph_accept_openmetrics("application/openmetrics-text; q=0.000, text/plain"));
	CHECK(!ph_accept_openmetrics("application/openmetrics-text;q=0,text/plain"));
	CHECK(!ph_accept_openmetrics("application/openmetrics-text;q=bogus"));
	CHECK(!ph_accept_openmetrics("application/openmetrics-text;q="));
	/* the client prefers the text format */
	CHECK(!ph_accept_openmetrics("text/plain;q=1, application/openmetrics-text;q=0.5"));
	CHECK(!ph_accept_openmetrics("application/openmetrics-text;q=0.1,*/*"));
	CHECK(!ph_accept_openmetrics("application/openmetrics-text;q=0.1,text/*;q=0.2"));
	/* other types that merely start alike */
	CHECK(!ph_accept_openmetrics("application/openmetrics-textx"));
	CHECK(!ph_accept_openmetrics("application/openmetrics"));
	CHECK(!ph_accept_openmetrics("xapplication/openmetrics-text"));
}

UNIT_TEST(metrics_max_series_other)
{
	struct ph_acct *a = new_acct();
	struct ph_metrics_opts o = { .max_series = 2 };
	struct ph_metrics *m = ph_metrics_new(&o);
	__u16 port = 41000, port2 = 41000;
	char *t;

	/*
	 * NS1: 101 holds 10 and 102 holds 5 ports to .2:8080, 103 holds 2 to
	 * .3:9090, 104 holds 1 to .4:7070 where 3 of its connects failed.
	 * NS2: 105 holds 1 to .5:6060. NS3: nothing.
	 */
	connects(a, 101, NS1, &port, 10, 2, 8080, SEC);
	connects(a, 102, NS1, &port, 5, 2, 8080, SEC);
	connects(a, 103, NS1, &port, 2, 3, 9090, SEC);
	connects(a, 104, NS1, &port, 1, 4, 7070, SEC);
	for (int i = 0; i < 3; i++)
		feed(a, PH_EV_CONNECT_FAILED, 104, NS1, 0, 4, 7070, SEC);
	connects(a, 105, NS2, &port2, 1, 5, 6060, SEC);
	t = update_render(m, a, 2 * SEC);

	/* processes: 101 and 102 by ports held, the other three summed */
	CHECK_EQ_INT(nseries(t, "porthog_process_ports_held"), 3);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(101)), 10);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(102)), 5);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" OTHER_PROC), 2 + 1 + 1);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" OTHER_PROC), 2 + 1 + 1);
	CHECK_EQ_INT(val(t, "porthog_process_connect_failures_total" OTHER_PROC), 3);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(103)), -1);
	/* destinations: the failing one first, then by ports in use */
	CHECK_EQ_INT(nseries(t, "porthog_destination_ports_in_use"), 3);
	CHECK_EQ_INT(val(t, "porthog_destination_connect_failures_total" DEST(4026531840, 4, 7070)), 3);
	CHECK_EQ_INT(val(t, "porthog_destination_ports_in_use" DEST(4026531840, 4, 7070)), 1);
	CHECK_EQ_INT(val(t, "porthog_destination_ports_in_use" DEST(4026531840, 2, 8080)), 15);
	CHECK_EQ_INT(val(t, "porthog_destination_capacity_ports" DEST(4026531840, 2, 8080)), 64);
	CHECK_EQ_INT(val(t, "porthog_destination_ports_in_use" OTHER_DEST), 2 + 1);
	CHECK_EQ_INT(val(t, "porthog_destination_connect_failures_total" OTHER_DEST), 0);
	CHECK_EQ_INT(val(t, "porthog_destination_capacity_ports" OTHER_DEST), -1);
	/* other's headroom is the lowest of its members': .3:9090 with 2 of 64 */
	CHECK(val(t, "porthog_destination_headroom_ratio" OTHER_DEST) == 62.0 / 64);
	/* namespaces: NS1 and NS2 by ports in use; NS3 is other, which has no range */
	CHECK_EQ_INT(nseries(t, "porthog_netns_ports_in_use"), 3);
	CHECK_EQ_INT(val(t, "porthog_netns_ports_in_use{netns=\"4026531840\"}"), 18);
	CHECK_EQ_INT(val(t, "porthog_netns_ports_in_use{netns=\"4026531841\"}"), 1);
	CHECK_EQ_INT(val(t, "porthog_netns_ports_in_use{netns=\"other\"}"), 0);
	CHECK_EQ_INT(val(t, "porthog_netns_port_range_low{netns=\"4026531840\"}"), 41000);
	CHECK_EQ_INT(val(t, "porthog_netns_port_range_high{netns=\"4026531841\"}"), 41063);
	CHECK_EQ_INT(nseries(t, "porthog_netns_port_range_low"), 2);
	CHECK_EQ_INT(val(t, "porthog_tracked_processes"), 5);
	CHECK_EQ_INT(val(t, "porthog_tracked_sockets"), 19);
	free(t);

	/* 103 leaves other for the top, 102 drops into it: other's counters never shrink */
	connects(a, 103, NS1, &port, 20, 3, 9090, 3 * SEC);
	t = update_render(m, a, 4 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(103)), 22);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" PROC(103)), 22);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(101)), 10);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(102)), -1);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" OTHER_PROC), 5 + 1 + 1);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" OTHER_PROC), 4);
	CHECK_EQ_INT(val(t, "porthog_process_connect_failures_total" OTHER_PROC), 3);
	free(t);

	/* growth of members of other adds up: 104 connects twice, 102 once */
	connects(a, 104, NS1, &port, 2, 4, 7070, 5 * SEC);
	connects(a, 102, NS1, &port, 1, 2, 8080, 5 * SEC);
	t = update_render(m, a, 6 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" OTHER_PROC), 4 + 2 + 1);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" OTHER_PROC), 6 + 3 + 1);
	CHECK_EQ_INT(nseries(t, "porthog_process_ports_held"), 3);
	free(t);
	ph_metrics_free(m);
	ph_acct_free(a);
}

UNIT_TEST(metrics_no_other_below_max_series)
{
	struct ph_acct *a = new_acct();
	struct ph_metrics_opts o = { .max_series = 2 };
	struct ph_metrics *m = ph_metrics_new(&o);
	__u16 port = 41000;
	char *t;

	connects(a, 101, NS1, &port, 3, 2, 8080, SEC);
	connects(a, 102, NS1, &port, 1, 2, 8080, SEC);
	t = update_render(m, a, 2 * SEC);
	CHECK_EQ_INT(nseries(t, "porthog_process_ports_held"), 2);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" OTHER_PROC), -1);
	CHECK_EQ_INT(nseries(t, "porthog_destination_ports_in_use"), 1);
	CHECK_EQ_INT(val(t, "porthog_destination_ports_in_use" OTHER_DEST), -1);
	free(t);
	ph_metrics_free(m);
	ph_acct_free(a);
}

/* A fake /proc for proc_alive: the pids listed here have exited. */
static __u32 dead[8];
static int alive_calls;

static bool fake_alive(__u32 pid, __u64 start)
{
	alive_calls++;
	CHECK_EQ_INT(start, start_ticks(5 * SEC));
	for (size_t i = 0; i < ARRAY_SIZE(dead); i++)
		if (dead[i] == pid)
			return false;
	return true;
}

static void close_ports(struct ph_acct *a, __u32 pid, __u16 from, int n, int dst, __u16 dport,
			__u64 ts)
{
	for (int i = 0; i < n; i++)
		feed(a, PH_EV_CLOSE, pid, NS1, from + i, dst, dport, ts);
}

UNIT_TEST(metrics_exited_processes_drop_out)
{
	struct ph_acct *a = new_acct();
	struct ph_metrics_opts o = { .max_series = 50, .proc_alive = fake_alive };
	struct ph_metrics *m = ph_metrics_new(&o);
	__u16 port = 41000;
	char *t;

	memset(dead, 0, sizeof(dead));
	alive_calls = 0;
	connects(a, 200, NS1, &port, 3, 2, 8080, SEC);		/* 41000..41002, held */
	connects(a, 201, NS1, &port, 4, 2, 8080, SEC);		/* 41003..41006 */
	close_ports(a, 201, 41003, 4, 2, 8080, SEC);
	t = update_render(m, a, 2 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(200)), 3);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(201)), 0);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" PROC(201)), 4);
	/* asked only about the process that holds nothing */
	CHECK_EQ_INT(alive_calls, 1);
	free(t);

	/* 201 exits: its series are gone at the next update, and no "other" appears */
	dead[0] = 201;
	t = update_render(m, a, 3 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(201)), -1);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" PROC(201)), -1);
	CHECK_EQ_INT(val(t, "porthog_process_connect_failures_total" PROC(201)), -1);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" OTHER_PROC), -1);
	CHECK_EQ_INT(nseries(t, "porthog_process_ports_held"), 1);
	/* the engine still knows it (until proc_ttl_s) */
	CHECK_EQ_INT(val(t, "porthog_tracked_processes"), 2);
	free(t);

	/*
	 * 202 connects twice, closes and exits between two updates: it never gets
	 * a series, its connects are added to other's. 203 exits but its child
	 * still holds the port it opened: it keeps its series.
	 */
	connects(a, 202, NS1, &port, 2, 2, 8080, 4 * SEC);	/* 41007, 41008 */
	close_ports(a, 202, 41007, 2, 2, 8080, 4 * SEC);
	connects(a, 203, NS1, &port, 1, 2, 8080, 4 * SEC);	/* 41009 */
	dead[1] = 202;
	dead[2] = 203;
	t = update_render(m, a, 5 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" PROC(202)), -1);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" OTHER_PROC), 2);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" OTHER_PROC), 0);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(203)), 1);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(200)), 3);
	CHECK_EQ_INT(val(t, "porthog_destination_ports_in_use" DEST(4026531840, 2, 8080)), 4);
	free(t);

	/* later updates do not count 202 again, nor ask about 201 and 202 again */
	alive_calls = 0;
	t = update_render(m, a, 6 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" OTHER_PROC), 2);
	CHECK_EQ_INT(alive_calls, 0);
	free(t);
	ph_metrics_free(m);
	ph_acct_free(a);
}

UNIT_TEST(metrics_forgotten_processes_drop_out)
{
	/* without a liveness check, a process drops out when the engine forgets it */
	struct ph_acct *a = new_acct();
	struct ph_metrics_opts o = { .max_series = 50 };
	struct ph_metrics *m = ph_metrics_new(&o);
	__u16 port = 41000;
	char *t;

	connects(a, 300, NS1, &port, 2, 2, 8080, SEC);
	close_ports(a, 300, 41000, 2, 2, 8080, SEC);
	connects(a, 301, NS1, &port, 1, 2, 8080, SEC);
	t = update_render(m, a, 2 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" PROC(300)), 2);
	CHECK_EQ_INT(val(t, "porthog_tracked_processes"), 2);
	free(t);
	/* idle and port-less for longer than proc_ttl_s (30 s) */
	t = update_render(m, a, 40 * SEC);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" PROC(300)), -1);
	CHECK_EQ_INT(val(t, "porthog_process_ports_held" PROC(301)), 1);
	CHECK_EQ_INT(val(t, "porthog_tracked_processes"), 1);
	CHECK_EQ_INT(val(t, "porthog_process_connects_total" OTHER_PROC), -1);
	free(t);
	ph_metrics_free(m);
	ph_acct_free(a);
}

UNIT_TEST(metrics_formats)
{
	struct ph_acct *a = new_acct();
	struct ph_metrics_opts o = { .max_series = 50 };
	struct ph_metrics *m = ph_metrics_new(&o);
	__u16 port = 41000;
	char tail[256], *t, *om;

	connects(a, 400, NS1, &port, 1, 2, 8080, SEC);
	t = update_render(m, a, 2 * SEC);
	om = render(m, PH_FMT_OPENMETRICS);
	CHECK(strstr(t, "# TYPE porthog_destination_connect_failures_total counter\n"));
	CHECK(strstr(t, "# TYPE porthog_info gauge\n"));
	CHECK(strstr(t, "porthog_info{version=\"" PORTHOG_VERSION
			"\",attach_mode=\"tracepoint\",snapshot=\"iter\"} 1\n"));
	CHECK(!strstr(t, "# EOF"));
	/* OpenMetrics: counter families without _total, an info family, # EOF in the tail */
	CHECK(strstr(om, "# TYPE porthog_destination_connect_failures counter\n"));
	CHECK(strstr(om, "\nporthog_destination_connect_failures_total{"));
	CHECK(strstr(om, "# TYPE porthog info\n"));
	CHECK(!strstr(om, "# EOF"));
	CHECK_EQ_INT(ph_metrics_render_tail(PH_FMT_OPENMETRICS, 7, tail, sizeof(tail)),
		     strlen(tail));
	CHECK_EQ_STR(tail, "# HELP porthog_scrapes Requests for /metrics served.\n"
			   "# TYPE porthog_scrapes counter\nporthog_scrapes_total 7\n# EOF\n");
	ph_metrics_render_tail(PH_FMT_PROM, 8, tail, sizeof(tail));
	CHECK_EQ_STR(tail, "# HELP porthog_scrapes_total Requests for /metrics served.\n"
			   "# TYPE porthog_scrapes_total counter\nporthog_scrapes_total 8\n");
	/* a too small buffer: cut, NUL-terminated */
	CHECK_EQ_INT(ph_metrics_render_tail(PH_FMT_PROM, 8, tail, 10), 9);
	/* every sample has HELP and TYPE before it */
	for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
		char name[128], help[160];
		size_t n = strcspn(l, "{ ");

		if (*l == '#' || n >= sizeof(name))
			continue;
		memcpy(name, l, n);
		name[n] = '\0';
		snprintf(help, sizeof(help), "# HELP %s ", name);
		CHECK(strstr(t, help) && strstr(t, help) < l);
	}
	free(t);
	free(om);
	ph_metrics_free(m);
	ph_acct_free(a);
}

/* Findings name the pod and the container of the process, as the metrics do: pid 79,
 * in a pod, holds 1 port and fails while pid 80 holds the other 63 (a victim). */
UNIT_TEST(findings_pod_and_container)
{
	struct ph_acct *a = new_acct();
	struct ph_diag_opts o;
	struct ph_finding *fs = NULL;
	struct ph_proc_meta meta = {
		.key = { .pid = 79, .start = start_ticks(5 * SEC) },
		.comm = "leaky",
		.cgroup = "/kubepods/burstable/pod0b1c2d3e-aaaa-bbbb-cccc-111122223333/"
			  "4f3a9c1b2d7e0123456789abcdef0123456789abcdef0123456789abcdef0123",
	};
	__u16 port = 41000;
	size_t n, k = 0, len = 0;
	struct ph_metrics_opts mo = { .max_series = 50 };
	struct ph_metrics *m;
	char *buf = NULL, *t;
	FILE *js;

	connects(a, 80, NS1, &port, 63, 2, 8080, SEC);
	connects(a, 79, NS1, &port, 1, 2, 8080, SEC);
	feed(a, PH_EV_CONNECT_FAILED, 79, NS1, 0, 2, 8080, 2 * SEC);
	ph_acct_proc_meta(a, &meta);
	ph_acct_tick(a, 120 * SEC);
	ph_diag_opts_init(&o);
	n = ph_diagnose(a, &o, &fs);
	for (size_t i = 0; i < n; i++) {
		if (fs[i].pid != 79)
			continue;
		k++;
		CHECK_EQ_INT(fs[i].kind, PH_FIND_VICTIM);
		CHECK_EQ_STR(fs[i].pod_uid, "0b1c2d3e-aaaa-bbbb-cccc-111122223333");
		CHECK_EQ_STR(fs[i].container, "4f3a9c1b2d7e");
	}
	CHECK_EQ_INT(k, 1);
	js = open_memstream(&buf, &len);
	ph_findings_json(js, fs, n);
	fclose(js);
	CHECK(strstr(buf, "\"container\":\"4f3a9c1b2d7e\",\"pod_uid\":"
			  "\"0b1c2d3e-aaaa-bbbb-cccc-111122223333\"") != NULL);
	free(buf);
	/* and the finding's series in serve */
	mo.diag = &o;
	m = ph_metrics_new(&mo);
	t = update_render(m, a, 121 * SEC);
	CHECK_EQ_INT(val(t, "porthog_finding_ports{kind=\"victim\",severity=\"critical\","
			 "comm=\"leaky\",cgroup=\"/kubepods/burstable/pod0b1c2d3e-aaaa-bbbb-cccc-"
			 "111122223333/4f3a9c1b2d7e0123456789abcdef0123456789abcdef0123456789abcdef"
			 "0123\",pod_uid=\"0b1c2d3e-aaaa-bbbb-cccc-111122223333\",container=\""
			 "4f3a9c1b2d7e\",netns=\"4026531840\",daddr=\"127.0.0.2\",dport=\"8080\"}"), 1);
	free(t);
	ph_metrics_free(m);
	free(fs);
	ph_acct_free(a);
}

/*
 * NS1: pid 80 holds 63 ports to 127.0.0.2:8080 and pid 79 (comm with a quote
 * and a backslash) fails next to it: a victim. NS2: pid 91 fails to
 * 127.0.0.3:9090. Both namespaces have a 64 port range: a range finding each.
 */
static struct ph_acct *findings_acct(void)
{
	struct ph_acct *a = new_acct();
	struct ph_proc_meta meta = { .key = { .pid = 79, .start = start_ticks(5 * SEC) },
				     .comm = "we\"ird\\" };
	__u16 port = 41000;

	connects(a, 80, NS1, &port, 63, 2, 8080, SEC);
	connects(a, 79, NS1, &port, 1, 2, 8080, SEC);
	feed(a, PH_EV_CONNECT_FAILED, 79, NS1, 0, 2, 8080, 2 * SEC);
	ph_acct_proc_meta(a, &meta);
	port = 41000;
	connects(a, 90, NS2, &port, 5, 3, 9090, SEC);
	feed(a, PH_EV_CONNECT_FAILED, 91, NS2, 0, 3, 9090, 2 * SEC);
	return a;
}

#define FIND_VICTIM \
	"porthog_finding_ports{kind=\"victim\",severity=\"critical\",comm=\"we\\\"ird\\\\\"," \
	"cgroup=\"\",pod_uid=\"\",container=\"\",netns=\"4026531840\",daddr=\"127.0.0.2\"," \
	"dport=\"8080\"}"
#define FIND_RANGE(ns) \
	"porthog_finding_ports{kind=\"range\",severity=\"critical\",comm=\"\",cgroup=\"\"," \
	"pod_uid=\"\",container=\"\",netns=\"" #ns "\",daddr=\"\",dport=\"\"}"
#define FIND_OTHER(kind, sev) \
	"porthog_finding_ports{kind=\"" kind "\",severity=\"" sev "\",comm=\"other\"," \
	"cgroup=\"other\",pod_uid=\"other\",container=\"other\",netns=\"other\",daddr=\"other\"," \
	"dport=\"other\"}"

UNIT_TEST(metrics_finding_series)
{
	struct ph_acct *a = findings_acct();
	struct ph_diag_opts d;
	struct ph_metrics_opts mo = { .max_series = 50, .diag = &d };
	struct ph_metrics *m, *plain;
	char *t;

	ph_diag_opts_init(&d);
	m = ph_metrics_new(&mo);
	t = update_render(m, a, 120 * SEC);
	CHECK(strstr(t, "# TYPE porthog_finding_ports gauge\n") != NULL);
	/* the victim, its comm escaped for the label; ports: the one it holds */
	CHECK_EQ_INT(val(t, FIND_VICTIM), 1);
	/* namespace-wide: the ports the 64 port range cuts from the default 28232 */
	CHECK_EQ_INT(val(t, FIND_RANGE(4026531840)), 28232 - 64);
	CHECK_EQ_INT(val(t, FIND_RANGE(4026531841)), 28232 - 64);
	CHECK_EQ_INT(nseries(t, "porthog_finding_ports"), 4);
	free(t);

	/* -p 79: only its finding */
	mo.pid = 79;
	ph_metrics_free(m);
	m = ph_metrics_new(&mo);
	t = update_render(m, a, 121 * SEC);
	CHECK_EQ_INT(nseries(t, "porthog_finding_ports"), 1);
	CHECK_EQ_INT(val(t, FIND_VICTIM), 1);
	free(t);

	/* without diagnosis options: no family at all */
	mo.diag = NULL;
	mo.pid = 0;
	plain = ph_metrics_new(&mo);
	t = update_render(plain, a, 122 * SEC);
	CHECK(strstr(t, "porthog_finding_ports") == NULL);
	free(t);
	ph_metrics_free(plain);
	ph_metrics_free(m);
	ph_acct_free(a);
}

/* --max-series 1: the most severe, largest finding keeps its series; the rest
 * add up per kind and severity, so an alert on kind and severity still fires. */
UNIT_TEST(metrics_finding_max_series)
{
	struct ph_acct *a = findings_acct();
	struct ph_diag_opts d;
	struct ph_metrics_opts mo = { .max_series = 1, .diag = &d };
	struct ph_metrics *m;
	char *t;

	ph_diag_opts_init(&d);
	m = ph_metrics_new(&mo);
	t = update_render(m, a, 120 * SEC);
	CHECK_EQ_INT(nseries(t, "porthog_finding_ports"), 3);
	CHECK_EQ_INT((val(t, FIND_RANGE(4026531840)) >= 0) + (val(t, FIND_RANGE(4026531841)) >= 0), 1);
	CHECK_EQ_INT(val(t, FIND_OTHER("range", "critical")), 28232 - 64);
	/* both victims: pid 79 holds 1 port, pid 91 none */
	CHECK_EQ_INT(val(t, FIND_OTHER("victim", "critical")), 1);
	CHECK_EQ_INT(val(t, FIND_VICTIM), -1);
	free(t);
	ph_metrics_free(m);
	ph_acct_free(a);
}
