// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The classifier on synthetic tables: events and socket activity fed to the engine. */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "account.h"
#include "diagnose.h"

#define NS	4026531999u
#define SEC	1000000000ULL
#define T0	(1000 * SEC)

static struct ph_acct *acct_range(__u16 lo, __u16 hi, int tw_reuse)
{
	struct ph_acct_opts o;
	struct ph_netns_info ni = {
		.inode = NS, .range_lo = lo, .range_hi = hi, .tw_reuse = tw_reuse,
		.timestamps = 1, .syn_retries = 6,
	};
	struct ph_acct *a;

	ph_acct_opts_init(&o);
	a = ph_acct_new(&o);
	ph_acct_netns(a, &ni);
	return a;
}

static struct ph_event ev(__u8 type, __u32 pid, const char *daddr, __u16 dport, __u16 sport,
			  __u64 ts)
{
	struct ph_event e = {
		.ts_ns = ts, .pid = pid, .tid = pid, .netns = NS, .family = AF_INET,
		.type = type, .sport = sport, .dport = dport, .start_ns = pid * SEC,
	};

	inet_pton(AF_INET, "10.0.0.1", e.saddr);
	inet_pton(AF_INET, daddr, e.daddr);
	snprintf(e.comm, sizeof(e.comm), "app%u", pid);
	if (type == PH_EV_CONNECT_FAILED)
		e.err = 99;
	return e;
}

/* The socket of event e, as a walk at ts saw it: state and traffic. */
static void walk_seen(struct ph_acct *a, const struct ph_event *e, __u8 state, __u64 bytes,
		      __u32 idle_ms, __u8 retrans, __u64 ts)
{
	struct ph_sock_entry s = {
		.netns = e->netns, .family = e->family, .state = state, .sport = e->sport,
		.dport = e->dport, .owner = { .pid = e->pid, .start = start_ticks(e->start_ns) },
		.opened_ns = e->ts_ns,
		.act = { .ts_ns = ts, .bytes_acked = bytes / 2, .bytes_received = bytes - bytes / 2,
			 .tx_idle_ms = idle_ms, .rx_idle_ms = idle_ms, .retrans = retrans,
			 .flags = PH_SR_ACTIVITY },
	};

	memcpy(s.saddr, e->saddr, 16);
	memcpy(s.daddr, e->daddr, 16);
	ph_acct_add_sock(a, &s);
}

/* An ESTABLISHED socket older than porthog (no connect seen), idle for idle_ms at now. */
static void add_old(struct ph_acct *a, __u32 pid, __u16 dport, __u16 sport, __u32 idle_ms,
		    __u64 now)
{
	struct ph_event e = ev(PH_EV_CONNECT, pid, "10.0.0.7", dport, sport, 0);
	struct ph_sock_entry s = {
		.netns = NS, .family = AF_INET, .state = PH_ST_ESTABLISHED, .sport = sport,
		.dport = dport, .owner = { .pid = pid, .start = pid },
		.act = { .ts_ns = now, .tx_idle_ms = idle_ms, .rx_idle_ms = idle_ms,
			 .bytes_acked = 100, .flags = PH_SR_ACTIVITY },
	};

	memcpy(s.saddr, e.saddr, 16);
	memcpy(s.daddr, e.daddr, 16);
	ph_acct_add_sock(a, &s);
}

static size_t diagnose(struct ph_acct *a, __u64 now, struct ph_finding **fs)
{
	struct ph_diag_opts o;

	ph_diag_opts_init(&o);
	ph_acct_tick(a, now);
	return ph_diagnose(a, &o, fs);
}

static const struct ph_finding *find(const struct ph_finding *fs, size_t n,
				     enum ph_find_kind k, __u32 pid)
{
	for (size_t i = 0; i < n; i++)
		if (fs[i].kind == k && fs[i].pid == pid)
			return &fs[i];
	return NULL;
}

/* Nothing names pid, alone or in a pids list. */
static bool unflagged(const struct ph_finding *fs, size_t n, __u32 pid)
{
	for (size_t i = 0; i < n; i++) {
		if (fs[i].pid == pid)
			return false;
		for (__u32 j = 0; j < fs[i].npids && j < PH_FIND_PIDS; j++)
			if (fs[i].pids[j] == pid)
				return false;
	}
	return true;
}

/* 40 connections at 4/s to the broker, each carrying a heartbeat: a leak. */
UNIT_TEST(diagnose_heartbeat_leak)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	__u64 now = T0 + 20 * SEC;
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	size_t n;

	for (int i = 0; i < 40; i++) {
		struct ph_event e = ev(PH_EV_CONNECT, 100, "10.0.0.5", 5672, 40000 + i,
				       T0 + i * SEC / 4);

		ph_acct_event(a, &e);
		/* 8 bytes each way a second */
		walk_seen(a, &e, PH_ST_ESTABLISHED, 16 * (now - e.ts_ns) / SEC, 400, 0, now);
	}
	n = diagnose(a, now, &fs);
	f = find(fs, n, PH_FIND_LEAK, 100);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->ports, 40);
		CHECK_EQ_INT(f->dport, 5672);
		CHECK_EQ_INT(f->ev.opened, 40);
		CHECK_EQ_INT(f->ev.closed, 0);
		CHECK_EQ_INT(f->ev.quiet, 40);
		CHECK(!strcmp(f->comm, "app100"));
		CHECK(strstr(f->advice, "heartbeat") != NULL);
		CHECK(f->ev.age_max_s >= 19 && f->ev.age_min_s <= 11);
	}
	CHECK(find(fs, n, PH_FIND_CHURN, 100) == NULL);
	free(fs);
	ph_acct_free(a);
}

/*
 * Healthy: one pooled connection with thousands of requests, and 40
 * long-lived connections that each carry real traffic. Neither is flagged.
 */
UNIT_TEST(diagnose_healthy_clients_not_flagged)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	__u64 now = T0 + 60 * SEC;
	struct ph_finding *fs = NULL;
	struct ph_event e;
	size_t n;

	e = ev(PH_EV_CONNECT, 200, "10.0.0.5", 6379, 33000, T0);
	ph_acct_event(a, &e);
	walk_seen(a, &e, PH_ST_ESTABLISHED, 5000000, 5, 0, now);
	for (int i = 0; i < 40; i++) {
		e = ev(PH_EV_CONNECT, 201, "10.0.0.6", 5432, 34000 + i, T0 + i * SEC);
		ph_acct_event(a, &e);
		walk_seen(a, &e, PH_ST_ESTABLISHED, 200000 * (60 - i), 100, 0, now);
	}
	n = diagnose(a, now, &fs);
	CHECK(unflagged(fs, n, 200));
	CHECK(unflagged(fs, n, 201));
	CHECK_EQ_INT(n, 0);
	free(fs);
	ph_acct_free(a);
}

/* An idle pool opened at once is not growing: no leak from one look either. */
UNIT_TEST(diagnose_idle_pool_opened_at_once_not_a_leak)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	__u64 now = T0 + 5 * SEC;
	struct ph_finding *fs = NULL;
	size_t n;

	for (int i = 0; i < 30; i++)
		add_old(a, 300, 5432, 35000 + i, 600000, now);
	n = diagnose(a, now, &fs);
	CHECK(unflagged(fs, n, 300));
	free(fs);
	ph_acct_free(a);
}

/* Idle connections whose idle times spread from seconds to minutes: a leak at one look. */
UNIT_TEST(diagnose_leak_from_idle_ages_one_look)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	__u64 now = T0 + 1 * SEC;
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	size_t n;

	for (int i = 0; i < 30; i++)
		add_old(a, 310, 5672, 35000 + i, 10000 * (i + 1), now);
	n = diagnose(a, now, &fs);
	f = find(fs, n, PH_FIND_LEAK, 310);
	CHECK(f != NULL);
	if (f) {
		CHECK(f->ev.age_max_at_least);
		CHECK(f->ev.age_max_s >= 300);
		CHECK_EQ_INT(f->ev.idle, 28);	/* 30 s and more */
	}
	free(fs);
	ph_acct_free(a);
}

/* 20 connections a second, 50 ms each, closed by this side: churn. */
UNIT_TEST(diagnose_churn_cites_tw_reuse)
{
	struct ph_acct *a = acct_range(32768, 60999, 2);
	__u64 now = T0 + 10 * SEC;
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	size_t n;

	for (int i = 0; i < 200; i++) {
		__u64 t = T0 + i * SEC / 20;
		struct ph_event c = ev(PH_EV_CONNECT, 400, "10.0.0.8", 80, 36000 + i, t);
		struct ph_event x = ev(PH_EV_CLOSE, 400, "10.0.0.8", 80, 36000 + i, t + SEC / 20);

		x.flags = PH_F_TIME_WAIT;
		ph_acct_event(a, &c);
		ph_acct_event(a, &x);
	}
	n = diagnose(a, now, &fs);
	f = find(fs, n, PH_FIND_CHURN, 400);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->ports, 200);
		CHECK(fabs(f->ev.life_p50_s - 0.05) < 0.001);
		CHECK(fabs(f->ev.tw_share - 1) < 1e-9);
		CHECK(fabs(f->ev.open_rate - 20) < 0.1);
		/* a remote destination: tw_reuse 2 does not apply */
		CHECK(strstr(f->advice, "loopback only") != NULL);
	}
	CHECK(find(fs, n, PH_FIND_LEAK, 400) == NULL);
	free(fs);
	ph_acct_free(a);
}

/* The peer closes first (no TIME_WAIT here): not churn of this side. */
UNIT_TEST(diagnose_peer_closes_first_not_churn)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	struct ph_finding *fs = NULL;
	size_t n;

	for (int i = 0; i < 200; i++) {
		__u64 t = T0 + i * SEC / 20;
		struct ph_event c = ev(PH_EV_CONNECT, 410, "10.0.0.8", 80, 36000 + i, t);
		struct ph_event x = ev(PH_EV_CLOSE, 410, "10.0.0.8", 80, 36000 + i, t + SEC / 20);

		ph_acct_event(a, &c);
		ph_acct_event(a, &x);
	}
	n = diagnose(a, T0 + 10 * SEC, &fs);
	CHECK(unflagged(fs, n, 410));
	free(fs);
	ph_acct_free(a);
}

/* SYNs resent, no answer: syn_hang, with the timeout tcp_syn_retries implies. */
UNIT_TEST(diagnose_syn_hang)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	__u64 now = T0 + 4 * SEC;
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	size_t n;

	for (int i = 0; i < 5; i++) {
		struct ph_event e = ev(PH_EV_CONNECT, 500, "10.0.0.9", 443, 37000 + i, T0);

		e.flags = PH_F_SYN_SENT;
		ph_acct_event(a, &e);
		walk_seen(a, &e, PH_ST_SYN_SENT, 0, 4000, 2, now);
	}
	n = diagnose(a, now, &fs);
	f = find(fs, n, PH_FIND_SYN_HANG, 500);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->ports, 5);
		CHECK_EQ_INT(f->ev.syn_retrans_max, 2);
		CHECK(fabs(f->ev.syn_timeout_s - 127) < 1e-9);
		CHECK(strstr(f->advice, "tcp_syn_retries is 6 here: a connect gives up after 127 s"));
	}
	free(fs);
	ph_acct_free(a);
}

/* bind() before connect() to several destinations: one bind_hog for the process. */
UNIT_TEST(diagnose_bind_hog)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	size_t n;

	for (int i = 0; i < 30; i++) {
		struct ph_event e = ev(PH_EV_CONNECT, 600, i % 2 ? "10.0.1.1" : "10.0.1.2", 80,
				       38000 + i, T0 + i * SEC / 10);

		e.flags = PH_F_BOUND;
		ph_acct_event(a, &e);
	}
	n = diagnose(a, T0 + 5 * SEC, &fs);
	f = find(fs, n, PH_FIND_BIND_HOG, 600);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->ports, 30);
		CHECK(strstr(f->summary, "2 destinations") != NULL);
		CHECK(strstr(f->advice, "IP_BIND_ADDRESS_NO_PORT") != NULL);
	}
	free(fs);
	ph_acct_free(a);
}

/* Process 701 fails while 700 holds the range: 701 is a victim naming 700. */
UNIT_TEST(diagnose_victim_names_holder)
{
	struct ph_acct *a = acct_range(41000, 41063, 0);
	__u64 now = T0 + 10 * SEC;
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	struct ph_event e;
	size_t n;

	for (int i = 0; i < 64; i++) {
		e = ev(PH_EV_CONNECT, 700, "10.0.0.5", 5672, 41000 + i, T0 + i * SEC / 10);
		ph_acct_event(a, &e);
		walk_seen(a, &e, PH_ST_ESTABLISHED, 10, 2000, 0, now);
	}
	for (int i = 0; i < 3; i++) {
		e = ev(PH_EV_CONNECT_FAILED, 701, "10.0.0.5", 5672, 0, T0 + 8 * SEC + i);
		memset(e.saddr, 0, 16);		/* a failed connect may have none */
		ph_acct_event(a, &e);
	}
	n = diagnose(a, now, &fs);
	f = find(fs, n, PH_FIND_VICTIM, 701);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->severity, PH_SEV_CRITICAL);
		CHECK_EQ_INT(f->ev.failed, 3);
		CHECK_EQ_INT(f->ports, 0);
		CHECK_EQ_INT(f->ev.nholders, 1);
		CHECK_EQ_INT(f->ev.holders[0].pid, 700);
		CHECK_EQ_INT(f->ev.holders[0].ports, 64);
		CHECK_EQ_INT(f->ev.holders[0].kind, PH_FIND_LEAK);
		CHECK(strstr(f->advice, "PID 700 (64 ports)") != NULL);
	}
	/* the holder itself is not a victim of its own failures */
	CHECK(find(fs, n, PH_FIND_VICTIM, 700) == NULL);
	CHECK(find(fs, n, PH_FIND_RANGE, 0) != NULL);
	/* ranked: critical first */
	CHECK_EQ_INT(fs[0].severity, PH_SEV_CRITICAL);
	free(fs);
	ph_acct_free(a);
}

/* Short-lived processes of one command, one connection each: pooled, pid null. */
UNIT_TEST(diagnose_short_lived_processes_aggregate)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	struct ph_finding *fs = NULL;
	size_t n, k = 0;

	for (int i = 0; i < 100; i++) {
		__u64 t = T0 + i * SEC / 10;
		struct ph_event c = ev(PH_EV_CONNECT, 1000 + i, "10.0.0.8", 80, 39000 + i, t);
		struct ph_event x = ev(PH_EV_CLOSE, 1000 + i, "10.0.0.8", 80, 39000 + i, t + SEC / 50);

		snprintf(c.comm, sizeof(c.comm), "curl");
		memcpy(x.comm, c.comm, sizeof(c.comm));
		x.flags = PH_F_TIME_WAIT;
		ph_acct_event(a, &c);
		ph_acct_event(a, &x);
	}
	n = diagnose(a, T0 + 10 * SEC, &fs);
	for (size_t i = 0; i < n; i++) {
		if (fs[i].kind != PH_FIND_CHURN)
			continue;
		k++;
		CHECK_EQ_INT(fs[i].pid, 0);
		CHECK_EQ_INT(fs[i].npids, 100);
		CHECK_EQ_INT(fs[i].ports, 100);
		CHECK(!strcmp(fs[i].comm, "curl"));
	}
	CHECK_EQ_INT(k, 1);
	free(fs);
	ph_acct_free(a);
}

UNIT_TEST(diagnose_range_only_when_it_cuts)
{
	struct ph_acct *a = acct_range(32768, 60999, 0);
	struct ph_finding *fs = NULL;
	struct ph_event e = ev(PH_EV_CONNECT, 800, "10.0.0.5", 80, 40000, T0);
	size_t n;

	ph_acct_event(a, &e);
	n = diagnose(a, T0 + SEC, &fs);
	CHECK(find(fs, n, PH_FIND_RANGE, 0) == NULL);
	free(fs);
	ph_acct_free(a);

	a = acct_range(40000, 40999, 0);
	ph_acct_event(a, &e);
	n = diagnose(a, T0 + SEC, &fs);
	CHECK(find(fs, n, PH_FIND_RANGE, 0) != NULL);
	if (n) {
		CHECK(strstr(fs[0].summary, "40000-40999 is only 1000 ports") != NULL);
		CHECK(strstr(fs[0].advice, "ip_local_port_range=\"10000 65535\"") != NULL);
	}
	free(fs);
	ph_acct_free(a);
}

UNIT_TEST(diagnose_names_and_json)
{
	struct ph_finding f = { .kind = PH_FIND_SYN_HANG, .severity = PH_SEV_WARNING };
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	CHECK(!strcmp(ph_find_kind_name(PH_FIND_BIND_HOG), "bind_hog"));
	CHECK(!strcmp(ph_find_kind_label(PH_FIND_SYN_HANG), "HANG"));
	CHECK(!strcmp(ph_severity_name(PH_SEV_CRITICAL), "critical"));
	snprintf(f.comm, sizeof(f.comm), "a\"b\x1b");
	f.ev.headroom_pct = NAN;
	ph_findings_json(m, &f, 1);
	fclose(m);
	CHECK(strstr(buf, "\"kind\":\"syn_hang\",\"severity\":\"warning\",\"pid\":null") != NULL);
	CHECK(strstr(buf, "\"comm\":\"a\\\"b\\u001b\"") != NULL);
	CHECK(strstr(buf, "\"headroom_pct\":null") != NULL);
	free(buf);
}

/* n curl processes, one connection each to daddr:80 closed to TIME_WAIT after 5 ms. */
static void curl_churn(struct ph_acct *a, int n, __u32 pid0, const char *daddr, __u64 t0)
{
	for (int i = 0; i < n; i++) {
		__u64 t = t0 + i * SEC / 10;
		struct ph_event c = ev(PH_EV_CONNECT, pid0 + i, daddr, 80, 41000 + i, t);
		struct ph_event x = ev(PH_EV_CLOSE, pid0 + i, daddr, 80, 41000 + i, t + SEC / 200);

		snprintf(c.comm, sizeof(c.comm), "curl");
		memcpy(x.comm, c.comm, sizeof(c.comm));
		x.flags = PH_F_TIME_WAIT;
		ph_acct_event(a, &c);
		ph_acct_event(a, &x);
	}
}

static void curl_fail(struct ph_acct *a, __u32 pid, const char *daddr, __u16 dport, __u64 t)
{
	struct ph_event e = ev(PH_EV_CONNECT_FAILED, pid, daddr, dport, 0, t);

	snprintf(e.comm, sizeof(e.comm), "curl");
	ph_acct_event(a, &e);
}

/*
 * curl in a loop: 64 processes leave their ports in TIME_WAIT, the next 10 fail.
 * The failing ones are the churn itself (one finding with their failures), not
 * 10 victims of their predecessors.
 */
UNIT_TEST(diagnose_failing_churn_is_no_victim)
{
	struct ph_acct *a = acct_range(41000, 41063, 0);
	struct ph_finding *fs = NULL;
	size_t n, churn = 0;

	curl_churn(a, 64, 1000, "10.0.0.8", T0);
	for (int i = 0; i < 10; i++)
		curl_fail(a, 1100 + i, "10.0.0.8", 80, T0 + 7 * SEC + i * SEC / 10);
	n = diagnose(a, T0 + 9 * SEC, &fs);
	for (size_t i = 0; i < n; i++) {
		CHECK(fs[i].kind != PH_FIND_VICTIM);
		if (fs[i].kind != PH_FIND_CHURN)
			continue;
		churn++;
		CHECK_EQ_INT(fs[i].pid, 0);
		CHECK_EQ_INT(fs[i].npids, 74);
		CHECK_EQ_INT(fs[i].ports, 64);
		CHECK_EQ_INT(fs[i].ev.failed, 10);
		CHECK_EQ_INT(fs[i].severity, PH_SEV_CRITICAL);
		CHECK(strstr(fs[i].summary, "10 connects failed with EADDRNOTAVAIL") != NULL);
		CHECK(strstr(fs[i].summary, "median life 5 ms") != NULL);
	}
	CHECK_EQ_INT(churn, 1);
	/* ranked: what holds the ports, then the settings */
	CHECK(n >= 2 && fs[0].kind == PH_FIND_CHURN && fs[1].kind == PH_FIND_RANGE);
	free(fs);
	ph_acct_free(a);
}

/*
 * tcp_tw_reuse=2 frees a loopback TIME_WAIT port after 1 s: 10 connections/s
 * cannot run 64 ports out there, and is no churn; to another address it does not
 * apply, and the advice says so.
 */
UNIT_TEST(diagnose_churn_knows_tw_reuse)
{
	struct ph_acct *a = acct_range(41000, 41063, 2);
	struct ph_finding *fs = NULL;
	const struct ph_finding *f = NULL;
	size_t n;

	curl_churn(a, 60, 1000, "127.0.0.1", T0);
	n = diagnose(a, T0 + 7 * SEC, &fs);
	for (size_t i = 0; i < n; i++)
		CHECK(fs[i].kind != PH_FIND_CHURN);
	free(fs);
	ph_acct_free(a);

	a = acct_range(41000, 41063, 2);
	curl_churn(a, 60, 1000, "10.0.0.8", T0);
	n = diagnose(a, T0 + 7 * SEC, &fs);
	for (size_t i = 0; i < n; i++)
		if (fs[i].kind == PH_FIND_CHURN)
			f = &fs[i];
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->ev.tw_reuse, 2);
		CHECK(strstr(f->advice, "loopback only, so it does not apply to this destination; "
				 "net.ipv4.tcp_tw_reuse=1 would") != NULL);
	}
	free(fs);
	ph_acct_free(a);
}

/* Ten short-lived curl processes fail while one process leaks: one victim, ten pids. */
UNIT_TEST(diagnose_short_lived_victims_aggregate)
{
	struct ph_acct *a = acct_range(41000, 41063, 0);
	__u64 now = T0 + 10 * SEC;
	struct ph_finding *fs = NULL;
	const struct ph_finding *f = NULL;
	size_t n, victims = 0;

	for (int i = 0; i < 64; i++) {
		struct ph_event e = ev(PH_EV_CONNECT, 700, "10.0.0.5", 80, 41000 + i,
				       T0 + i * SEC / 10);

		ph_acct_event(a, &e);
		walk_seen(a, &e, PH_ST_ESTABLISHED, 10, 2000, 0, now);
	}
	for (int i = 0; i < 10; i++)
		curl_fail(a, 1100 + i, "10.0.0.5", 80, T0 + 8 * SEC + i * SEC / 10);
	n = diagnose(a, now, &fs);
	for (size_t i = 0; i < n; i++)
		if (fs[i].kind == PH_FIND_VICTIM) {
			victims++;
			f = &fs[i];
		}
	CHECK_EQ_INT(victims, 1);
	if (f) {
		CHECK_EQ_INT(f->pid, 0);
		CHECK_EQ_INT(f->npids, 10);
		CHECK_EQ_INT(f->ev.failed, 10);
		CHECK_EQ_INT(f->ev.holders[0].pid, 700);
		CHECK_EQ_INT(f->ev.holders[0].kind, PH_FIND_LEAK);
	}
	/* the leak first, the range, then the victim */
	CHECK(n == 3 && fs[0].kind == PH_FIND_LEAK && fs[1].kind == PH_FIND_RANGE &&
	      fs[2].kind == PH_FIND_VICTIM);
	free(fs);
	ph_acct_free(a);
}

/*
 * A leak still growing: 20 connections a walk saw (heartbeats only), 40 opened
 * since. The 20 known are enough to call it; all 60 are counted.
 */
UNIT_TEST(diagnose_leak_from_the_connections_a_walk_saw)
{
	struct ph_acct *a = acct_range(41000, 41063, 0);
	__u64 walk = T0 + 8 * SEC, now = T0 + 10 * SEC;
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	size_t n;

	for (int i = 0; i < 60; i++) {
		__u64 t = i < 20 ? T0 + i * SEC / 10 : walk + (i - 20) * SEC / 20;
		struct ph_event e = ev(PH_EV_CONNECT, 900, "10.0.0.5", 6379, 41000 + i, t);

		ph_acct_event(a, &e);
		if (i < 20)
			walk_seen(a, &e, PH_ST_ESTABLISHED, 8 * (walk - t) / SEC, 500, 0, walk);
	}
	n = diagnose(a, now, &fs);
	f = find(fs, n, PH_FIND_LEAK, 900);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->ports, 60);
		CHECK_EQ_INT(f->ev.activity_n, 20);
		CHECK_EQ_INT(f->ev.quiet, 20);
	}
	free(fs);
	ph_acct_free(a);
}

/* Text: a range finding says what its ports are; counts of one are singular. */
UNIT_TEST(diagnose_text_range_ports_and_plurals)
{
	struct ph_finding f[2] = {
		{ .kind = PH_FIND_RANGE, .severity = PH_SEV_CRITICAL, .netns = NS, .ports = 28168 },
		{ .kind = PH_FIND_VICTIM, .severity = PH_SEV_CRITICAL, .pid = 7, .netns = NS },
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	for (int i = 0; i < 2; i++) {
		f[i].ev.headroom_pct = f[i].ev.eta_s = NAN;
		f[i].ev.life_p50_s = f[i].ev.life_p90_s = f[i].ev.bytes_p50 = NAN;
		f[i].ev.age_min_s = f[i].ev.age_max_s = f[i].ev.tw_share = NAN;
		f[i].ev.open_rate = f[i].ev.watched_s = NAN;
	}
	f[1].ev.nholders = 1;
	f[1].ev.holders[0] = (struct ph_holder){ .pid = 9, .ports = 1, .kind = PH_FIND_KINDS };
	ph_findings_text(m, f, 2);
	fclose(m);
	CHECK(strstr(buf, "netns 4026531999  28168 ports short of the default range\n") != NULL);
	CHECK(strstr(buf, "holder pid 9  (1 port)") != NULL);
	free(buf);
}

/*
 * curl in a loop holds the ports (churn, short-lived processes); another
 * program's connects fail: its victim finding names the curls as one holder.
 */
UNIT_TEST(diagnose_victim_of_short_lived_holders)
{
	struct ph_acct *a = acct_range(41000, 41063, 0);
	struct ph_finding *fs = NULL;
	const struct ph_finding *f;
	struct ph_event e;
	size_t n;

	curl_churn(a, 64, 1000, "10.0.0.8", T0);
	e = ev(PH_EV_CONNECT_FAILED, 2000, "10.0.0.8", 80, 0, T0 + 7 * SEC);
	ph_acct_event(a, &e);
	n = diagnose(a, T0 + 8 * SEC, &fs);
	f = find(fs, n, PH_FIND_VICTIM, 2000);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(f->ev.nholders, 1);
		CHECK_EQ_INT(f->ev.holders[0].pid, 0);
		CHECK_EQ_INT(f->ev.holders[0].procs, 64);
		CHECK_EQ_INT(f->ev.holders[0].ports, 64);
		CHECK_EQ_INT(f->ev.holders[0].kind, PH_FIND_CHURN);
		CHECK(!strcmp(f->ev.holders[0].comm, "curl"));
		CHECK(strstr(f->advice, "64 processes of its churn finding (64 ports)") != NULL);
	}
	free(fs);
	ph_acct_free(a);
}
