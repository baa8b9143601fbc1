// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The accounting engine, fed synthetic events and walks. */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "account.h"
#include "netns.h"

#define NS	4026531840u
#define SEC	1000000000ULL

static struct ph_acct *new_acct(void)
{
	struct ph_acct_opts o;
	struct ph_netns_info ni = {
		.inode = NS, .range_lo = 41000, .range_hi = 41063, .tw_reuse = 0,
	};
	struct ph_acct *a;

	ph_acct_opts_init(&o);
	a = ph_acct_new(&o);
	ph_acct_netns(a, &ni);
	return a;
}

static struct ph_event ev(__u8 type, __u32 pid, __u16 sport, __u64 ts)
{
	struct ph_event e = {
		.ts_ns = ts, .pid = pid, .tid = pid, .netns = NS, .family = AF_INET,
		.type = type, .sport = sport, .dport = 8080, .start_ns = 5 * SEC,
	};

	inet_pton(AF_INET, "127.0.0.1", e.saddr);
	inet_pton(AF_INET, "127.0.0.2", e.daddr);
	memcpy(e.comm, "leaky", 6);
	if (type == PH_EV_CONNECT_FAILED)
		e.err = 99;
	return e;
}

static const struct ph_proc_view *find_proc(struct ph_acct *a, __u32 pid)
{
	const struct ph_proc_view *v;
	size_t n = ph_acct_procs(a, PH_SORT_HELD, &v);

	for (size_t i = 0; i < n; i++)
		if (v[i].meta->key.pid == pid)
			return &v[i];
	return NULL;
}

UNIT_TEST(account_connect_close_failed)
{
	struct ph_acct *a = new_acct();
	const struct ph_dest_view *d;
	const struct ph_proc_view *p;
	struct ph_event e;

	for (int i = 0; i < 63; i++) {
		e = ev(PH_EV_CONNECT, 100, 41000 + i, SEC + i);
		ph_acct_event(a, &e);
	}
	e = ev(PH_EV_CONNECT, 200, 41063, SEC + 100);
	ph_acct_event(a, &e);
	for (int i = 0; i < 3; i++) {
		e = ev(PH_EV_CONNECT_FAILED, 100, 0, 2 * SEC + i);
		ph_acct_event(a, &e);
	}
	ph_acct_tick(a, 3 * SEC);
	p = find_proc(a, 100);
	CHECK(p != NULL);
	CHECK_EQ_INT(p->ports_held, 63);
	CHECK_EQ_INT(p->failed, 3);
	CHECK_EQ_INT(p->opened, 63);
	CHECK_EQ_INT(find_proc(a, 200)->ports_held, 1);
	CHECK_EQ_INT(ph_acct_dests(a, &d), 1);
	CHECK_EQ_INT(d[0].in_use, 64);
	CHECK_EQ_INT(d[0].capacity, 64);
	CHECK_EQ_INT(d[0].failed, 3);
	CHECK(d[0].headroom_pct == 0);
	CHECK(d[0].eta_s == 0);

	/* close: one plain, one into TIME_WAIT */
	e = ev(PH_EV_CLOSE, 100, 41000, 4 * SEC);
	ph_acct_event(a, &e);
	e = ev(PH_EV_CLOSE, 100, 41001, 4 * SEC);
	e.flags = PH_F_TIME_WAIT;
	ph_acct_event(a, &e);
	ph_acct_tick(a, 5 * SEC);
	p = find_proc(a, 100);
	CHECK_EQ_INT(p->ports_held, 61);
	CHECK_EQ_INT(p->time_wait, 1);
	CHECK_EQ_INT(p->closed, 2);
	ph_acct_dests(a, &d);
	CHECK_EQ_INT(d[0].in_use, 63);
	CHECK_EQ_INT(d[0].time_wait, 1);
	ph_acct_free(a);
}

UNIT_TEST(account_pid_reuse_is_not_merged)
{
	struct ph_acct *a = new_acct();
	struct ph_event e1 = ev(PH_EV_CONNECT, 300, 41000, SEC);
	struct ph_event e2 = ev(PH_EV_CONNECT, 300, 41001, SEC);
	const struct ph_proc_view *v;

	e2.start_ns = 9 * SEC;	/* same pid, later start: another process */
	ph_acct_event(a, &e1);
	ph_acct_event(a, &e2);
	ph_acct_tick(a, 2 * SEC);
	CHECK_EQ_INT(ph_acct_procs(a, PH_SORT_HELD, &v), 2);
	CHECK_EQ_INT(v[0].ports_held, 1);
	CHECK_EQ_INT(v[1].ports_held, 1);
	ph_acct_free(a);
}

UNIT_TEST(account_walk_reconciles_lost_close)
{
	struct ph_acct *a = new_acct();
	struct ph_event e = ev(PH_EV_CONNECT, 100, 41005, 1);
	struct ph_sock_rec r = {
		.netns = NS, .family = AF_INET, .state = 1, .sport = 41006, .dport = 8080,
		.owner_pid = 100, .owner_start_ns = 5 * SEC,
	};
	const struct ph_proc_view *p;

	inet_pton(AF_INET, "127.0.0.1", r.saddr);
	inet_pton(AF_INET, "127.0.0.2", r.daddr);
	ph_acct_event(a, &e);
	/* the walk sees 41006 only: 41005's close event was lost */
	ph_acct_walk_begin(a);
	ph_acct_walk_netns(a, NS);
	ph_acct_walk_sock(a, &r);
	ph_acct_walk_end(a);
	ph_acct_tick(a, mono_ns());
	p = find_proc(a, 100);
	CHECK(p != NULL);
	CHECK_EQ_INT(p->ports_held, 1);
	ph_acct_free(a);
}

UNIT_TEST(account_capacity_reserved_and_busy)
{
	struct ph_acct *a = new_acct();
	struct ph_netns_info ni = {
		.inode = NS, .range_lo = 41000, .range_hi = 41063,
		.reserved_in_range = 5, .tw_reuse = 0,
	};
	struct ph_sock_rec lis = { .netns = NS, .family = AF_INET, .state = PH_ST_LISTEN,
				   .sport = 41020 };
	struct ph_sock_rec est = { .netns = NS, .family = AF_INET, .state = PH_ST_ESTABLISHED,
				   .sport = 41000, .dport = 8080 };
	struct ph_event e = ev(PH_EV_CONNECT, 100, 41000, 1);
	const struct ph_dest_view *d;

	inet_pton(AF_INET, "127.0.0.1", est.saddr);
	inet_pton(AF_INET, "127.0.0.2", est.daddr);
	ph_acct_netns(a, &ni);
	ph_acct_event(a, &e);
	/* the walk sees the connected socket and a listener inside the range */
	ph_acct_walk_begin(a);
	ph_acct_walk_netns(a, NS);
	ph_acct_walk_sock(a, &lis);
	ph_acct_walk_sock(a, &est);
	ph_acct_walk_end(a);
	ph_acct_tick(a, mono_ns());
	CHECK_EQ_INT(ph_acct_dests(a, &d), 1);
	CHECK_EQ_INT(d[0].capacity, 64 - 5 - 1);
	ph_acct_free(a);
}

UNIT_TEST(account_eta_from_steady_growth)
{
	struct ph_acct *a = new_acct();
	const struct ph_dest_view *d;

	/* 10 new connections per second, sampled every second */
	for (int s = 0; s < 5; s++) {
		for (int i = 0; i < 10; i++) {
			struct ph_event e = ev(PH_EV_CONNECT, 100, 41000 + s * 10 + i,
					       s * SEC + i * (SEC / 10));

			ph_acct_event(a, &e);
		}
		ph_acct_tick(a, (s + 1) * SEC);
	}
	ph_acct_dests(a, &d);
	CHECK_EQ_INT(d[0].in_use, 50);
	/* 14 ports left at 10/s */
	CHECK(fabs(d[0].eta_s - 1.4) < 0.01);
	ph_acct_free(a);
}

UNIT_TEST(account_idle_owner_kept_across_long_tick_gap)
{
	/* ticks further apart than proc_ttl_s (serve/top --interval 60) */
	struct ph_acct *a = new_acct();
	struct ph_event e = ev(PH_EV_CONNECT, 100, 41000, SEC);
	struct ph_event e2 = ev(PH_EV_CONNECT, 200, 41001, SEC);
	const struct ph_proc_view *p;
	struct ph_sock_entry *se = NULL;

	ph_acct_event(a, &e);
	ph_acct_event(a, &e2);
	e2 = ev(PH_EV_CLOSE, 200, 41001, SEC);
	ph_acct_event(a, &e2);
	ph_acct_tick(a, 2 * SEC);
	ph_acct_tick(a, 60 * SEC);
	p = find_proc(a, 100);
	CHECK(p != NULL);
	if (p)
		CHECK_EQ_INT(p->ports_held, 1);
	/* the idle process without sockets is forgotten */
	CHECK(find_proc(a, 200) == NULL);
	CHECK_EQ_INT(ph_acct_socks(a, &se), 1);
	if (se)
		CHECK_EQ_INT(se[0].owner.pid, 100);
	free(se);
	ph_acct_tick(a, 120 * SEC);
	CHECK(find_proc(a, 100) != NULL);
	ph_acct_free(a);
}

UNIT_TEST(reserved_ports_parsing)
{
	CHECK_EQ_INT(ph_reserved_in_range("", 41000, 41063), 0);
	CHECK_EQ_INT(ph_reserved_in_range("41010-41014,50000", 41000, 41063), 5);
	CHECK_EQ_INT(ph_reserved_in_range("40990-41001", 41000, 41063), 2);
	CHECK_EQ_INT(ph_reserved_in_range("41063,41064", 41000, 41063), 1);
	CHECK_EQ_INT(ph_reserved_in_range("garbage", 41000, 41063), 0);
}

/* One process's sockets: its own outbound ones with state and connect time,
 * TIME_WAIT included; not another process's, not closed, not outside the range. */
UNIT_TEST(account_proc_socks)
{
	struct ph_acct *a = new_acct();
	struct ph_proc_key k = { .pid = 100, .start = start_ticks(5 * SEC) };
	struct ph_sock_entry *s;
	struct ph_event e;
	size_t n;

	for (int i = 0; i < 3; i++) {
		e = ev(PH_EV_CONNECT, 100, 41000 + i, SEC + i);
		ph_acct_event(a, &e);
	}
	e = ev(PH_EV_CONNECT, 100, 50000, SEC + 10);	/* outside the range: not outbound */
	ph_acct_event(a, &e);
	e = ev(PH_EV_CONNECT, 200, 41010, SEC + 20);	/* another process */
	ph_acct_event(a, &e);
	e = ev(PH_EV_CLOSE, 100, 41001, 2 * SEC);
	e.flags = PH_F_TIME_WAIT;
	ph_acct_event(a, &e);
	e = ev(PH_EV_CLOSE, 100, 41002, 2 * SEC);
	ph_acct_event(a, &e);
	ph_acct_tick(a, 3 * SEC);
	n = ph_acct_proc_socks(a, &k, &s);
	CHECK_EQ_INT(n, 2);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ_INT(s[i].owner.pid, 100);
		CHECK_EQ_INT(s[i].dport, 8080);
		if (s[i].sport == 41000) {
			CHECK_EQ_INT(s[i].state, PH_ST_ESTABLISHED);
			CHECK_EQ_INT(s[i].opened_ns, SEC);
		} else {
			CHECK_EQ_INT(s[i].sport, 41001);
			CHECK_EQ_INT(s[i].state, PH_ST_TIME_WAIT);
		}
	}
	free(s);
	/* the same pid, started at another time: another process */
	k.start++;
	CHECK_EQ_INT(ph_acct_proc_socks(a, &k, &s), 0);
	free(s);
	ph_acct_free(a);
}

static const struct ph_dest_view *find_dest(struct ph_acct *a, __u8 protocol, __u16 dport)
{
	const struct ph_dest_view *d;
	size_t n = ph_acct_dests(a, &d);

	for (size_t i = 0; i < n; i++)
		if (d[i].key.protocol == protocol && d[i].key.dport == dport)
			return &d[i];
	return NULL;
}

/* bind(0) holds a port for its process; connect() moves it to the destination, flagged */
UNIT_TEST(account_bind_then_connect)
{
	struct ph_acct *a = new_acct();
	const struct ph_netns_view *nv;
	const struct ph_proc_view *p;
	const struct ph_dest_view *d;
	struct ph_event e;

	for (int i = 0; i < 4; i++) {
		e = ev(PH_EV_BIND, 100, 41000 + i, SEC + i);
		e.protocol = PH_PROTO_TCP;
		e.flags = PH_F_BIND_EPHEMERAL;
		e.dport = 0;
		memset(e.daddr, 0, 16);
		ph_acct_event(a, &e);
	}
	e = ev(PH_EV_BIND_FAILED, 100, 0, SEC + 5);
	e.err = 98;
	ph_acct_event(a, &e);
	/* a TCP connect on 41000 elsewhere: bound ports are not connect()'s */
	e = ev(PH_EV_CONNECT, 200, 41010, SEC + 6);
	ph_acct_event(a, &e);
	ph_acct_tick(a, 2 * SEC);
	p = find_proc(a, 100);
	CHECK_EQ_INT(p->ports_held, 4);
	CHECK_EQ_INT(p->ports_held_tcp, 4);
	CHECK_EQ_INT(p->bound_only, 4);
	CHECK_EQ_INT(p->bind_ephemeral, 4);
	CHECK_EQ_INT(p->bind_failed, 1);
	d = find_dest(a, 0, 8080);
	CHECK_EQ_INT(d->in_use, 1);
	CHECK_EQ_INT(d->capacity, 60);
	CHECK_EQ_INT(ph_acct_netns_views(a, &nv), 1);
	CHECK_EQ_INT(nv[0].tcp.in_use, 5);
	CHECK_EQ_INT(nv[0].tcp.bound_only, 4);
	CHECK_EQ_INT(nv[0].tcp.capacity, 64);
	CHECK_EQ_INT(nv[0].tcp.failed, 1);

	/* two of them connect: held by the destination now, still flagged */
	for (int i = 0; i < 2; i++) {
		e = ev(PH_EV_CONNECT, 100, 41000 + i, 3 * SEC + i);
		e.flags = PH_F_BOUND | PH_F_BIND_EPHEMERAL;
		ph_acct_event(a, &e);
	}
	ph_acct_tick(a, 4 * SEC);
	p = find_proc(a, 100);
	CHECK_EQ_INT(p->ports_held, 4);
	CHECK_EQ_INT(p->bound_only, 2);
	CHECK_EQ_INT(p->bind_ephemeral, 4);
	d = find_dest(a, 0, 8080);
	CHECK_EQ_INT(d->in_use, 3);
	CHECK_EQ_INT(d->bind_ephemeral, 2);
	/* 64 - 2 bound-only; its own bind(0) ports are in in_use */
	CHECK_EQ_INT(d->capacity, 62);
	ph_acct_free(a);
}

/* UDP: its own port space; connected sockets by destination, the others in the pool */
UNIT_TEST(account_udp_destinations_and_pool)
{
	struct ph_acct *a = new_acct();
	const struct ph_netns_view *nv;
	const struct ph_proc_view *p;
	const struct ph_dest_view *d;
	struct ph_event e;

	for (int i = 0; i < 6; i++) {
		e = ev(PH_EV_CONNECT, 300, 41000 + i, SEC + i);
		e.protocol = PH_PROTO_UDP;
		e.dport = i < 4 ? 53 : 0;
		if (i >= 4)
			memset(e.daddr, 0, 16);
		ph_acct_event(a, &e);
	}
	/* TCP on the same port numbers: a separate space */
	e = ev(PH_EV_CONNECT, 301, 41000, SEC + 10);
	ph_acct_event(a, &e);
	e = ev(PH_EV_CONNECT_FAILED, 300, 0, SEC + 11);
	e.protocol = PH_PROTO_UDP;
	e.err = 11;
	e.dport = 53;
	ph_acct_event(a, &e);
	ph_acct_tick(a, 2 * SEC);
	p = find_proc(a, 300);
	CHECK_EQ_INT(p->ports_held, 6);
	CHECK_EQ_INT(p->ports_held_udp, 6);
	CHECK_EQ_INT(p->ports_held_tcp, 0);
	CHECK_EQ_INT(p->failed, 1);
	CHECK_EQ_INT(find_proc(a, 301)->ports_held_tcp, 1);
	d = find_dest(a, PH_PROTO_UDP, 53);
	CHECK_EQ_INT(d->in_use, 4);
	CHECK_EQ_INT(d->failed, 1);
	CHECK_EQ_INT(d->capacity, 64);
	/* every UDP port of the namespace counts against a UDP destination */
	CHECK_EQ_INT(d->pool_in_use, 6);
	d = find_dest(a, PH_PROTO_UDP, 0);
	CHECK_EQ_INT(d->in_use, 2);
	CHECK_EQ_INT(ph_acct_netns_views(a, &nv), 1);
	CHECK_EQ_INT(nv[0].udp.in_use, 6);
	CHECK_EQ_INT(nv[0].tcp.in_use, 1);
	CHECK_EQ_INT(nv[0].udp.failed, 1);

	/* a pool socket connects: it moves; then closes */
	e = ev(PH_EV_CONNECT, 300, 41004, 3 * SEC);
	e.protocol = PH_PROTO_UDP;
	e.dport = 53;
	ph_acct_event(a, &e);
	e = ev(PH_EV_CLOSE, 300, 41005, 3 * SEC + 1);
	e.protocol = PH_PROTO_UDP;
	e.dport = 0;
	memset(e.daddr, 0, 16);
	ph_acct_event(a, &e);
	ph_acct_tick(a, 4 * SEC);
	CHECK_EQ_INT(find_dest(a, PH_PROTO_UDP, 53)->in_use, 5);
	CHECK_EQ_INT(find_dest(a, PH_PROTO_UDP, 0)->in_use, 0);
	CHECK_EQ_INT(find_proc(a, 300)->ports_held_udp, 5);
	ph_acct_free(a);
}

/* IP_LOCAL_PORT_RANGE narrows a destination's capacity */
UNIT_TEST(account_socket_port_range)
{
	struct ph_acct *a = new_acct();
	const struct ph_dest_view *d;
	struct ph_event e;

	for (int i = 0; i < 5; i++) {
		e = ev(PH_EV_CONNECT, 100, 41010 + i, SEC + i);
		e.port_lo = 41010;
		e.port_hi = 41019;
		ph_acct_event(a, &e);
	}
	ph_acct_tick(a, 2 * SEC);
	d = find_dest(a, 0, 8080);
	CHECK_EQ_INT(d->capacity, 10);
	CHECK_EQ_INT(d->range_lo, 41010);
	CHECK_EQ_INT(d->range_hi, 41019);
	CHECK(fabs(d->headroom_pct - 50.0) < 1e-9);
	ph_acct_free(a);
}
