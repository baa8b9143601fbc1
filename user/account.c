// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "account.h"
#include "htab.h"

#define EADDRNOTAVAIL_ERR	99
#define HIST_LEN		128
#define PROC_DEST_SLOTS		8
#define PORT_WORDS		(65536 / 64)

/*
 * UDP sockets are keyed by their port alone (netns, family, sport): an
 * autobound port is the socket's on the whole host, connected or not, and
 * connect() moves it to a destination. A TCP socket bound but not connected
 * has zero addresses and dport.
 */
struct sock_key {
	__u32 netns;
	__u8 family;
	__u8 protocol;		/* 0: TCP, PH_PROTO_UDP */
	__u16 sport;
	__u16 dport;
	__u16 pad2;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct proc_ent;

struct sock_ent {
	struct hnode node;
	struct sock_key key;
	__u8 state;
	__u64 gen;		/* walk generation that last saw it */
	__u64 touched_ns;	/* last event for it */
	__u64 opened_ns;
	struct proc_ent *owner;
	struct ph_sock_act act;
	__u8 pflags;		/* PH_F_BIND_EPHEMERAL */
	__u16 range_lo, range_hi;	/* IP_LOCAL_PORT_RANGE, 0: none */
	__u16 peer_port;	/* UDP: connected destination, 0: the host pool */
	__u8 peer[16];
};

/* A flow: one process's connections to one destination (events part). */
struct flow_key {
	struct ph_proc_key owner;
	struct ph_dest_key dest;
};

struct flow_ent {
	struct hnode node;
	struct flow_key key;
	__u64 opened, closed, closed_tw, failed, opened_bound;
	__u64 last_ns;		/* last event */
	__u32 life_n, life_pos;
	float life_s[PH_LIFE_KEEP];
	__u32 nsocks, fill;	/* scratch of ph_acct_flows */
	__s64 view_idx;
};

struct proc_ent {
	struct hnode node;
	struct ph_proc_key key;
	struct ph_proc_meta meta;
	__u64 opened, closed, failed;
	__u64 bind_failed;
	__u64 opened_last;	/* at the previous tick */
	__u64 last_active_ns;
	__u32 netns;
	double open_rate;
	struct ph_proc_view *view;	/* scratch during a tick */
	struct {
		struct dest_ent *dest;
		__u32 count;
	} dslot[PROC_DEST_SLOTS];
};

struct dest_ent {
	struct hnode node;
	struct ph_dest_key key;
	__u64 failed;
	__u32 peak;
	__u32 in_use, time_wait;
	__u64 last_active_ns;
	__u32 hist_n, hist_pos;
	__u64 hist_t[HIST_LEN];
	__u32 hist_v[HIST_LEN];
	__u32 view_idx;
	__u32 bind_ephemeral;		/* scratch per tick */
	__u16 range_lo, range_hi;	/* narrowest IP_LOCAL_PORT_RANGE of its sockets */
};

struct netns_ent {
	struct hnode node;
	__u32 inode;
	bool known;		/* settings were fed */
	bool walked;		/* walked in the current generation */
	struct ph_netns_info info;
	__u64 busy[PORT_WORDS];	/* listening or bound-only ports, rebuilt per walk */
	__u64 used[PORT_WORDS];	/* scratch per tick */
	__u32 busy_in_range;
	/* scratch per tick: UDP ports, TCP bound-only ports, TCP ports from bind(0) */
	__u64 used_udp[PORT_WORDS];
	__u64 bound_only[PORT_WORDS];
	__u64 bound_eph[PORT_WORDS];
	__u32 bound_extra;	/* bound-only ports in range not already in busy */
	__u32 eph_conn;		/* connected TCP sockets whose port came from bind(0) */
	__u64 bind_failed, udp_failed;
};

struct ph_acct {
	struct ph_acct_opts o;
	struct htab socks, procs, dests, nets, flows;
	struct netns_ent *last_ns;	/* of the last lookup: records come grouped by netns */
	struct proc_ent *last_proc;	/* the same, by process */
	struct dest_ent *last_dest;	/* the same, by destination */
	struct flow_ent *last_flow;	/* the same, by process and destination */
	__u64 gen;
	__u64 fd_gen;		/* generation of the last walk that listed open files */
	__u64 start_ns;		/* first input */
	__u64 walk_start_ns;
	__u64 now_ns, last_tick_ns;
	__u64 sockets_dropped, events;
	ph_meta_fn meta_fn;
	void *meta_ctx;
	struct ph_proc_view *pviews;
	size_t npviews, pview_cap;
	struct ph_dest_view *dviews;
	size_t ndviews, dview_cap;
	struct ph_netns_view *nviews;
	size_t nnviews, nview_cap;
	struct ph_flow_view *fviews;
	size_t fview_cap;
	struct ph_flow_sock *fsocks;
	size_t fsock_cap;
};

static inline void bit_set(__u64 *m, __u16 port)
{
	m[port / 64] |= 1ULL << (port % 64);
}

/* Set bits in [lo, hi]: whole words by popcount. */
static __u32 bits_in_range(const __u64 *m, __u16 lo, __u16 hi)
{
	__u32 n = 0, w, wlo = lo / 64, whi = hi / 64;

	if (!lo || lo > hi)
		return 0;
	for (w = wlo; w <= whi; w++) {
		__u64 v = m[w];

		if (w == wlo)
			v &= ~0ULL << (lo % 64);
		if (w == whi && hi % 64 != 63)
			v &= (1ULL << (hi % 64 + 1)) - 1;
		n += __builtin_popcountll(v);
	}
	return n;
}

static inline bool bit_test(const __u64 *m, __u16 port)
{
	return m[port / 64] & (1ULL << (port % 64));
}

void ph_acct_opts_init(struct ph_acct_opts *o)
{
	memset(o, 0, sizeof(*o));	/* tw_expire_s and any later field: off */
	o->max_sockets = 131072;
	o->max_procs = 16384;
	o->proc_ttl_s = 30;
	o->eta_window_s = 30;
}

struct ph_acct *ph_acct_new(const struct ph_acct_opts *o)
{
	struct ph_acct *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->o = *o;
	htab_init(&a->socks, offsetof(struct sock_ent, key) - offsetof(struct sock_ent, node),
		  sizeof(struct sock_key));
	htab_init(&a->procs, offsetof(struct proc_ent, key) - offsetof(struct proc_ent, node),
		  sizeof(struct ph_proc_key));
	htab_init(&a->dests, offsetof(struct dest_ent, key) - offsetof(struct dest_ent, node),
		  sizeof(struct ph_dest_key));
	htab_init(&a->nets, offsetof(struct netns_ent, inode) - offsetof(struct netns_ent, node),
		  sizeof(__u32));
	htab_init(&a->flows, offsetof(struct flow_ent, key) - offsetof(struct flow_ent, node),
		  sizeof(struct flow_key));
	return a;
}

static void free_meta(struct ph_proc_meta *m)
{
	free(m->cmdline);
	free(m->cgroup);
	m->cmdline = m->cgroup = NULL;
}

void ph_acct_free(struct ph_acct *a)
{
	struct hnode *n, *tmp;
	size_t i;

	if (!a)
		return;
	htab_for_each(&a->socks, n, tmp, i)
		free(htab_entry(n, struct sock_ent, node));
	htab_for_each(&a->procs, n, tmp, i) {
		struct proc_ent *p = htab_entry(n, struct proc_ent, node);

		free_meta(&p->meta);
		free(p);
	}
	htab_for_each(&a->dests, n, tmp, i)
		free(htab_entry(n, struct dest_ent, node));
	htab_for_each(&a->nets, n, tmp, i) {
		struct netns_ent *ns = htab_entry(n, struct netns_ent, node);

		free(ns->info.reserved);
		free(ns);
	}
	htab_free_entries(&a->flows, offsetof(struct flow_ent, node));
	htab_free(&a->socks);
	htab_free(&a->procs);
	htab_free(&a->dests);
	htab_free(&a->nets);
	free(a->pviews);
	free(a->dviews);
	free(a->nviews);
	free(a->fviews);
	free(a->fsocks);
	free(a);
}

void ph_acct_set_meta_fn(struct ph_acct *a, ph_meta_fn fn, void *ctx)
{
	a->meta_fn = fn;
	a->meta_ctx = ctx;
}

static struct netns_ent *find_netns(struct ph_acct *a, __u32 inode)
{
	struct hnode *n;

	if (a->last_ns && a->last_ns->inode == inode)
		return a->last_ns;
	n = htab_find(&a->nets, &inode);
	if (n)
		a->last_ns = htab_entry(n, struct netns_ent, node);
	return n ? a->last_ns : NULL;
}

static struct netns_ent *get_netns(struct ph_acct *a, __u32 inode)
{
	struct netns_ent *ns = find_netns(a, inode);

	if (ns)
		return ns;
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return NULL;
	ns->inode = inode;
	ns->info.inode = inode;
	/* kernel defaults until the namespace's sysctls are known */
	ns->info.range_lo = 32768;
	ns->info.range_hi = 60999;
	ns->info.tw_reuse = -1;
	ns->info.syn_retries = -1;
	ns->info.timestamps = -1;
	if (htab_insert(&a->nets, &ns->node)) {
		free(ns);
		return NULL;
	}
	return ns;
}

void ph_acct_netns(struct ph_acct *a, const struct ph_netns_info *n)
{
	struct netns_ent *ns = get_netns(a, n->inode);

	if (!ns)
		return;
	free(ns->info.reserved);
	ns->info = *n;
	ns->info.reserved = n->reserved ? strdup(n->reserved) : NULL;
	ns->known = true;
}

static struct proc_ent *get_proc(struct ph_acct *a, __u32 pid, __u64 start, bool create)
{
	struct ph_proc_key key = { .pid = pid, .start = start };
	struct proc_ent *p = a->last_proc;
	struct hnode *n;

	if (p && p->key.pid == pid && p->key.start == start)
		return p;
	n = htab_find(&a->procs, &key);
	if (n)
		return a->last_proc = htab_entry(n, struct proc_ent, node);
	if (!create || a->procs.count >= a->o.max_procs)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->key = key;
	p->meta.key = key;
	p->last_active_ns = a->now_ns;
	if (htab_insert(&a->procs, &p->node)) {
		free(p);
		return NULL;
	}
	if (a->meta_fn)
		a->meta_fn(a->meta_ctx, &p->meta);
	return a->last_proc = p;
}

void ph_acct_proc_meta(struct ph_acct *a, const struct ph_proc_meta *m)
{
	struct proc_ent *p = get_proc(a, m->key.pid, m->key.start, true);

	if (!p)
		return;
	if (p->meta.cmdline && p->meta.comm[0])
		return;
	free_meta(&p->meta);
	p->meta = *m;
	p->meta.key = p->key;
	p->meta.comm[PH_COMM_LEN] = 0;
	p->meta.cmdline = m->cmdline ? strdup(m->cmdline) : NULL;
	p->meta.cgroup = m->cgroup ? strdup(m->cgroup) : NULL;
}

static struct dest_ent *get_dest(struct ph_acct *a, const struct ph_dest_key *key)
{
	struct dest_ent *d = a->last_dest;
	struct hnode *n;

	if (d && !memcmp(&d->key, key, sizeof(*key)))
		return d;
	n = htab_find(&a->dests, key);
	if (n)
		return a->last_dest = htab_entry(n, struct dest_ent, node);
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->key = *key;
	d->last_active_ns = a->now_ns;
	if (htab_insert(&a->dests, &d->node)) {
		free(d);
		return NULL;
	}
	return a->last_dest = d;
}

static bool in_range(const struct netns_ent *ns, __u16 port)
{
	return port >= ns->info.range_lo && port <= ns->info.range_hi;
}

/* Until a namespace's settings are known, its sockets are kept (tick filters them). */
static bool port_in_range(struct ph_acct *a, __u32 netns, __u16 port)
{
	struct netns_ent *ns = get_netns(a, netns);

	return !ns || !ns->known || in_range(ns, port);
}

static void fill_meta_from_event(struct proc_ent *p, const struct ph_event *e)
{
	if (!p->meta.comm[0]) {
		memcpy(p->meta.comm, e->comm, PH_COMM_LEN);
		p->meta.comm[PH_COMM_LEN] = 0;
	}
	p->meta.uid = e->uid;
	p->meta.cgroup_id = e->cgroup_id;
}

static bool addr_zero(const __u8 *a)
{
	static const __u8 zero[16];

	return !memcmp(a, zero, 16);
}

/* UDP: the port alone; TCP bound-only: no addresses (see struct sock_key) */
static void norm_key(struct sock_key *k, __u8 protocol)
{
	if (protocol == PH_PROTO_UDP) {
		k->protocol = PH_PROTO_UDP;
		k->dport = 0;
		memset(k->saddr, 0, 16);
		memset(k->daddr, 0, 16);
	} else if (!k->dport && addr_zero(k->daddr)) {
		memset(k->saddr, 0, 16);
	}
}

static bool bound_only(const struct sock_key *k)
{
	return !k->protocol && !k->dport && addr_zero(k->daddr);
}

static void event_sock_key(const struct ph_event *e, struct sock_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns = e->netns;
	k->family = e->family;
	k->sport = e->sport;
	k->dport = e->dport;
	memcpy(k->saddr, e->saddr, 16);
	memcpy(k->daddr, e->daddr, 16);
	norm_key(k, e->protocol);
}

static struct sock_ent *find_sock(struct ph_acct *a, const struct sock_key *k)
{
	struct hnode *n = htab_find(&a->socks, k);

	return n ? htab_entry(n, struct sock_ent, node) : NULL;
}

static struct sock_ent *add_sock(struct ph_acct *a, const struct sock_key *k)
{
	struct sock_ent *s;

	if (a->socks.count >= a->o.max_sockets) {
		a->sockets_dropped++;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = *k;
	if (htab_insert(&a->socks, &s->node)) {
		free(s);
		return NULL;
	}
	return s;
}

static void set_owner(struct ph_acct *a, struct sock_ent *s, struct proc_ent *p)
{
	s->owner = p;
	if (p && p->last_active_ns < a->now_ns)
		p->last_active_ns = a->now_ns;
}

static void del_sock(struct ph_acct *a, struct sock_ent *s)
{
	htab_remove(&a->socks, &s->node);
	free(s);
}

static void dest_key_of(const struct sock_key *k, struct ph_dest_key *d)
{
	memset(d, 0, sizeof(*d));
	d->netns = k->netns;
	d->family = k->family;
	d->dport = k->dport;
	memcpy(d->saddr, k->saddr, 16);
	memcpy(d->daddr, k->daddr, 16);
}

/* A UDP destination: (netns, family, daddr, dport), no source; zero for the host pool */
static void udp_dest_key(__u32 netns, __u8 family, const __u8 *daddr, __u16 dport,
			 struct ph_dest_key *d)
{
	memset(d, 0, sizeof(*d));
	d->netns = netns;
	d->family = family;
	d->protocol = PH_PROTO_UDP;
	d->dport = dport;
	memcpy(d->daddr, daddr, 16);
}

static struct dest_ent *touch_dest(struct ph_acct *a, const struct sock_key *k, __u64 ts)
{
	struct ph_dest_key dk;
	struct dest_ent *d;

	dest_key_of(k, &dk);
	d = get_dest(a, &dk);
	if (d)
		d->last_active_ns = ts;
	return d;
}

static void advance(struct ph_acct *a, __u64 ts)
{
	if (ts > a->now_ns)
		a->now_ns = ts;
	if (!a->start_ns)
		a->start_ns = ts;
}

static struct flow_ent *get_flow(struct ph_acct *a, const struct ph_proc_key *owner,
				 const struct sock_key *k, bool create)
{
	struct flow_key fk;
	struct hnode *n;
	struct flow_ent *f;

	memset(&fk, 0, sizeof(fk));
	if (owner)
		fk.owner = *owner;
	dest_key_of(k, &fk.dest);
	f = a->last_flow;
	if (f && !memcmp(&f->key, &fk, sizeof(fk)))
		return f;
	n = htab_find(&a->flows, &fk);
	if (n)
		return a->last_flow = htab_entry(n, struct flow_ent, node);
	if (!create || a->flows.count >= a->o.max_sockets)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->key = fk;
	f->last_ns = a->now_ns;
	if (htab_insert(&a->flows, &f->node)) {
		free(f);
		return NULL;
	}
	return a->last_flow = f;
}

/* The flow an event counts in: its process and destination. */
static struct flow_ent *event_flow(struct ph_acct *a, const struct proc_ent *p,
				   const struct sock_key *k, __u64 ts)
{
	struct flow_ent *f = get_flow(a, p ? &p->key : NULL, k, true);

	if (f)
		f->last_ns = ts;
	return f;
}

/*
 * Ports of bind() and of UDP: a TCP socket bound but not connected is held
 * by its process; a UDP socket goes to its destination once connected, to
 * the host pool otherwise.
 */
static void port_event(struct ph_acct *a, const struct ph_event *e, struct proc_ent *p,
		       const struct sock_key *k)
{
	struct netns_ent *ns = get_netns(a, e->netns);
	struct ph_dest_key dk;
	struct dest_ent *d;
	struct sock_ent *s;

	switch (e->type) {
	case PH_EV_CONNECT:
	case PH_EV_BIND:
		if (p && e->type == PH_EV_CONNECT)
			p->opened++;
		if (!port_in_range(a, e->netns, e->sport))
			break;
		s = find_sock(a, k);
		if (!s)
			s = add_sock(a, k);
		if (!s)
			break;
		set_owner(a, s, p);
		if (!s->opened_ns)
			s->opened_ns = e->ts_ns;
		s->touched_ns = e->ts_ns;
		s->gen = a->gen;
		s->pflags |= e->flags & PH_F_BIND_EPHEMERAL;
		if (e->port_lo) {
			s->range_lo = e->port_lo;
			s->range_hi = e->port_hi;
		}
		s->state = PH_ST_CLOSE;
		if (k->protocol) {
			memcpy(s->peer, e->daddr, 16);
			s->peer_port = e->dport;
			if (e->dport)
				s->state = PH_ST_ESTABLISHED;
			udp_dest_key(e->netns, e->family, s->peer, s->peer_port, &dk);
			d = get_dest(a, &dk);
			if (d)
				d->last_active_ns = e->ts_ns;
		}
		break;
	case PH_EV_BIND_FAILED:
		if (p)
			p->bind_failed++;
		if (ns && !k->protocol)
			ns->bind_failed++;
		else if (ns)
			ns->udp_failed++;
		break;
	case PH_EV_CONNECT_FAILED:
		if (p)
			p->failed++;
		if (ns)
			ns->udp_failed++;
		udp_dest_key(e->netns, e->family, e->daddr, e->dport, &dk);
		d = get_dest(a, &dk);
		if (d) {
			d->failed++;
			d->last_active_ns = e->ts_ns;
		}
		break;
	case PH_EV_CLOSE:
		if (p)
			p->closed++;
		s = find_sock(a, k);
		if (s)
			del_sock(a, s);
		break;
	}
}

void ph_acct_event(struct ph_acct *a, const struct ph_event *e)
{
	struct flow_ent *f;
	struct proc_ent *p;
	struct sock_ent *s;
	struct sock_key k;

	a->events++;
	advance(a, e->ts_ns);
	get_netns(a, e->netns);
	p = get_proc(a, e->pid, start_ticks(e->start_ns), true);
	if (p) {
		fill_meta_from_event(p, e);
		p->last_active_ns = e->ts_ns;
		p->netns = e->netns;
	}
	event_sock_key(e, &k);
	if (k.protocol || bound_only(&k) || e->type == PH_EV_BIND || e->type == PH_EV_BIND_FAILED) {
		port_event(a, e, p, &k);
		return;
	}

	switch (e->type) {
	case PH_EV_CONNECT:
		if (p)
			p->opened++;
		if (e->flags & PH_F_BOUND) {
			/* the bound-only socket is now connected: it moves to its destination */
			struct sock_key bk = k;

			bk.dport = 0;
			memset(bk.saddr, 0, 16);
			memset(bk.daddr, 0, 16);
			s = find_sock(a, &bk);
			if (s)
				del_sock(a, s);
		}
		f = event_flow(a, p, &k, e->ts_ns);
		if (f) {
			f->opened++;
			if (e->flags & PH_F_BOUND)
				f->opened_bound++;
		}
		if (!port_in_range(a, e->netns, e->sport))
			break;
		s = find_sock(a, &k);
		if (!s)
			s = add_sock(a, &k);
		if (!s)
			break;
		s->state = e->flags & PH_F_SYN_SENT ? PH_ST_SYN_SENT : PH_ST_ESTABLISHED;
		s->owner = p;
		s->opened_ns = e->ts_ns;
		s->touched_ns = e->ts_ns;
		if (e->flags & PH_F_BOUND)
			s->act.flags |= PH_SR_BOUND;
		s->pflags = e->flags & PH_F_BIND_EPHEMERAL;
		s->range_lo = e->port_lo;
		s->range_hi = e->port_hi;
		/* a destination stays known while connects flow, held at a tick or not */
		touch_dest(a, &k, e->ts_ns);
		break;
	case PH_EV_CONNECT_FAILED:
		if (p)
			p->failed++;
		if (e->err == EADDRNOTAVAIL_ERR) {
			struct dest_ent *d = touch_dest(a, &k, e->ts_ns);

			if (d)
				d->failed++;
			f = event_flow(a, p, &k, e->ts_ns);
			if (f)
				f->failed++;
		}
		break;
	case PH_EV_CLOSE:
		if (p)
			p->closed++;
		s = find_sock(a, &k);
		f = event_flow(a, p, &k, e->ts_ns);
		if (f) {
			f->closed++;
			if (e->flags & PH_F_TIME_WAIT)
				f->closed_tw++;
			if (s && s->opened_ns && e->ts_ns >= s->opened_ns) {
				f->life_s[f->life_pos] = (e->ts_ns - s->opened_ns) / 1e9;
				f->life_pos = (f->life_pos + 1) % PH_LIFE_KEEP;
				if (f->life_n < PH_LIFE_KEEP)
					f->life_n++;
			}
		}
		if (!s)
			break;
		if (e->flags & PH_F_TIME_WAIT) {
			s->state = PH_ST_TIME_WAIT;
			s->touched_ns = e->ts_ns;
		} else {
			del_sock(a, s);
		}
		break;
	}
}

void ph_acct_walk_begin(struct ph_acct *a)
{
	a->gen++;
	a->walk_start_ns = mono_ns();
	advance(a, a->walk_start_ns);
}

void ph_acct_walk_netns(struct ph_acct *a, __u32 netns)
{
	struct netns_ent *ns = get_netns(a, netns);

	if (!ns)
		return;
	ns->walked = true;
	memset(ns->busy, 0, sizeof(ns->busy));
}


void ph_acct_walk_fd(struct ph_acct *a, const struct ph_fd_rec *r)
{
	const struct ph_sock_rec *sr = &r->sock;
	struct proc_ent *p = get_proc(a, sr->owner_pid, start_ticks(sr->owner_start_ns), true);

	if (p) {
		p->netns = sr->netns;
		if (!p->meta.comm[0]) {
			memcpy(p->meta.comm, r->comm, PH_COMM_LEN);
			p->meta.comm[PH_COMM_LEN] = 0;
		}
		p->meta.uid = r->uid;
		if (r->cgroup_id)
			p->meta.cgroup_id = r->cgroup_id;
	}
	/* bound but neither connected nor listening: connect() cannot use the port */
	if (r->protocol == PH_PROTO_TCP && sr->state == PH_ST_CLOSE && sr->sport) {
		struct netns_ent *ns = get_netns(a, sr->netns);

		if (ns)
			bit_set(ns->busy, sr->sport);
	}
	a->fd_gen = a->gen;
	/* UDP and bound-only TCP sockets: iter/tcp does not list them, the files do */
	if (sr->sport && (r->protocol == PH_PROTO_UDP ||
			 (sr->state == PH_ST_CLOSE && !sr->dport && addr_zero(sr->daddr))) &&
	    port_in_range(a, sr->netns, sr->sport)) {
		struct sock_key k = {
			.netns = sr->netns, .family = sr->family, .sport = sr->sport,
		};
		struct sock_ent *s;

		norm_key(&k, r->protocol);
		s = find_sock(a, &k);
		if (!s)
			s = add_sock(a, &k);
		if (s) {
			if (!s->touched_ns)
				s->touched_ns = a->now_ns;
			s->gen = a->gen;
			s->state = sr->state;
			s->pflags |= r->flags & PH_F_BIND_EPHEMERAL;
			if (k.protocol) {
				memcpy(s->peer, sr->daddr, 16);
				s->peer_port = sr->dport;
			}
			if (!s->owner)
				set_owner(a, s, p);
		}
	}
}

void ph_acct_walk_sock(struct ph_acct *a, const struct ph_sock_rec *r)
{
	struct sock_key k = {
		.netns = r->netns, .family = r->family, .sport = r->sport, .dport = r->dport,
	};
	struct sock_ent *s;

	if (r->state == PH_ST_LISTEN) {
		struct netns_ent *ns = get_netns(a, r->netns);

		if (ns)
			bit_set(ns->busy, r->sport);
		return;
	}
	/* only ephemeral ports are tracked: accepted server sockets are not */
	if (!port_in_range(a, r->netns, r->sport))
		return;
	memcpy(k.saddr, r->saddr, 16);
	memcpy(k.daddr, r->daddr, 16);
	s = find_sock(a, &k);
	if (!s) {
		s = add_sock(a, &k);
		if (!s)
			return;
	}
	/* TIME_WAIT ageing counts from when the state was first seen */
	if (!s->touched_ns || s->state != r->state)
		s->touched_ns = a->now_ns;
	s->state = r->state;
	s->gen = a->gen;
	if (r->flags & PH_SR_ACTIVITY) {
		__u8 bound = s->act.flags & PH_SR_BOUND;

		s->act.ts_ns = a->walk_start_ns;
		s->act.bytes_acked = r->bytes_acked;
		s->act.bytes_received = r->bytes_received;
		s->act.tx_idle_ms = r->tx_idle_ms;
		s->act.rx_idle_ms = r->rx_idle_ms;
		s->act.segs_out = r->segs_out;
		s->act.segs_in = r->segs_in;
		s->act.retrans = r->retrans;
		s->act.flags = r->flags | bound;
	} else {
		s->act.flags |= r->flags & PH_SR_BOUND;
	}
	if (!s->owner && r->owner_pid)
		set_owner(a, s, get_proc(a, r->owner_pid, start_ticks(r->owner_start_ns), true));
	/* iter/task_file saw the port's bind bucket: from bind(0), not connect() */
	if (r->flags & PH_SR_BIND_EPHEMERAL)
		s->pflags |= PH_F_BIND_EPHEMERAL;
}

void ph_acct_walk_end(struct ph_acct *a)
{
	struct hnode *n, *tmp;
	size_t i;

	htab_for_each(&a->socks, n, tmp, i) {
		struct sock_ent *s = htab_entry(n, struct sock_ent, node);
		struct netns_ent *ns = find_netns(a, s->key.netns);

		/* gone from a walked namespace, and no event since the walk began */
		if (ns && ns->walked && s->gen != a->gen && s->touched_ns < a->walk_start_ns &&
		    ((!s->key.protocol && !bound_only(&s->key)) || a->fd_gen == a->gen))
			del_sock(a, s);
	}
	htab_for_each(&a->nets, n, tmp, i)
		htab_entry(n, struct netns_ent, node)->walked = false;
}

void ph_acct_restore_begin(struct ph_acct *a, __u64 ts_ns)
{
	a->gen++;
	a->walk_start_ns = ts_ns;
	advance(a, ts_ns);
}

void ph_acct_restore_end(struct ph_acct *a)
{
	struct hnode *n, *tmp;
	size_t i;

	htab_for_each(&a->socks, n, tmp, i) {
		struct sock_ent *s = htab_entry(n, struct sock_ent, node);

		if (s->gen != a->gen && s->touched_ns <= a->walk_start_ns)
			del_sock(a, s);
	}
}

void ph_acct_add_sock(struct ph_acct *a, const struct ph_sock_entry *e)
{
	struct sock_key k = {
		.netns = e->netns, .family = e->family, .sport = e->sport, .dport = e->dport,
	};
	struct sock_ent *s;

	if (e->state == PH_ST_LISTEN) {
		struct netns_ent *ns = get_netns(a, e->netns);

		if (ns)
			bit_set(ns->busy, e->sport);
		return;
	}
	memcpy(k.saddr, e->saddr, 16);
	memcpy(k.daddr, e->daddr, 16);
	norm_key(&k, e->protocol);
	s = find_sock(a, &k);
	if (!s)
		s = add_sock(a, &k);
	if (!s)
		return;
	s->state = e->state;
	s->opened_ns = e->opened_ns;
	s->act = e->act;
	s->pflags = e->pflags;
	s->range_lo = e->range_lo;
	s->range_hi = e->range_hi;
	if (k.protocol) {
		memcpy(s->peer, e->daddr, 16);
		s->peer_port = e->dport;
	}
	s->touched_ns = a->now_ns;
	s->gen = a->gen;
	if (e->owner.pid)
		set_owner(a, s, get_proc(a, e->owner.pid, e->owner.start, true));
}

static void sock_entry_of(const struct sock_ent *s, struct ph_sock_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->netns = s->key.netns;
	e->family = s->key.family;
	e->state = s->state;
	e->sport = s->key.sport;
	e->dport = s->key.dport;
	memcpy(e->saddr, s->key.saddr, 16);
	memcpy(e->daddr, s->key.daddr, 16);
	if (s->owner)
		e->owner = s->owner->key;
	e->opened_ns = s->opened_ns;
	e->act = s->act;
	e->protocol = s->key.protocol ? s->key.protocol : PH_PROTO_TCP;
	e->pflags = s->pflags;
	e->range_lo = s->range_lo;
	e->range_hi = s->range_hi;
	if (s->key.protocol) {
		memcpy(e->daddr, s->peer, 16);
		e->dport = s->peer_port;
	}
}

size_t ph_acct_proc_socks(struct ph_acct *a, const struct ph_proc_key *key,
			  struct ph_sock_entry **out)
{
	struct ph_sock_entry *arr = NULL, *p;
	struct hnode *n, *tmp;
	size_t i, k = 0, cap = 0;

	htab_for_each(&a->socks, n, tmp, i) {
		struct sock_ent *s = htab_entry(n, struct sock_ent, node);
		struct netns_ent *ns;

		if (!s->owner || s->owner->key.pid != key->pid || s->owner->key.start != key->start)
			continue;
		if (s->state == PH_ST_CLOSE || s->state == PH_ST_LISTEN)
			continue;
		/* outbound only, as the tick counts them */
		ns = find_netns(a, s->key.netns);
		if (!ns || !in_range(ns, s->key.sport) || bit_test(ns->busy, s->key.sport))
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			p = realloc(arr, cap * sizeof(*arr));
			if (!p)
				break;
			arr = p;
		}
		sock_entry_of(s, &arr[k++]);
	}
	*out = arr;
	return k;
}

size_t ph_acct_socks(struct ph_acct *a, struct ph_sock_entry **out)
{
	struct ph_sock_entry *arr;
	struct hnode *n, *tmp;
	size_t i, k = 0, cnt = a->socks.count;
	struct netns_ent *ns;

	/* listening ports are kept as busy bits, exported as LISTEN entries */
	htab_for_each(&a->nets, n, tmp, i) {
		ns = htab_entry(n, struct netns_ent, node);
		for (size_t w = 0; w < PORT_WORDS; w++)
			cnt += __builtin_popcountll(ns->busy[w]);
	}
	arr = calloc(cnt ? cnt : 1, sizeof(*arr));
	if (!arr) {
		*out = NULL;
		return 0;
	}
	htab_for_each(&a->socks, n, tmp, i)
		sock_entry_of(htab_entry(n, struct sock_ent, node), &arr[k++]);
	htab_for_each(&a->nets, n, tmp, i) {
		ns = htab_entry(n, struct netns_ent, node);
		for (__u32 port = 1; port < 65536; port++) {
			if (!bit_test(ns->busy, port) || k >= cnt)
				continue;
			arr[k].netns = ns->inode;
			arr[k].state = PH_ST_LISTEN;
			arr[k].sport = port;
			k++;
		}
	}
	*out = arr;
	return k;
}

/* Drop processes that hold nothing and were idle for proc_ttl_s. */
static void age_procs(struct ph_acct *a)
{
	struct hnode *n, *tmp;
	size_t i;

	/*
	 * An owner of any socket of the table is in use, however long ago its
	 * last event or tick was (ticks further apart than proc_ttl_s, sockets
	 * the views skip): never free a process a socket still points to.
	 */
	htab_for_each(&a->socks, n, tmp, i) {
		struct sock_ent *s = htab_entry(n, struct sock_ent, node);

		if (s->owner && s->owner->last_active_ns < a->now_ns)
			s->owner->last_active_ns = a->now_ns;
	}
	htab_for_each(&a->procs, n, tmp, i) {
		struct proc_ent *p = htab_entry(n, struct proc_ent, node);

		if ((a->now_ns - p->last_active_ns) / 1e9 <= a->o.proc_ttl_s)
			continue;
		/* owners of sockets were refreshed above, so p is unreferenced */
		htab_remove(&a->procs, n);
		if (a->last_proc == p)
			a->last_proc = NULL;
		free_meta(&p->meta);
		free(p);
	}
}

/*
 * A flow without events for this long forgets its counts and lifetimes (its
 * sockets, if any, bring it back): 5 TIME_WAIT periods.
 */
#define FLOW_TTL_S	300

static void age_flows(struct ph_acct *a)
{
	struct hnode *n, *tmp;
	size_t i;

	htab_for_each(&a->flows, n, tmp, i) {
		struct flow_ent *f = htab_entry(n, struct flow_ent, node);

		if ((a->now_ns - f->last_ns) / 1e9 > FLOW_TTL_S) {
			htab_remove(&a->flows, n);
			if (a->last_flow == f)
				a->last_flow = NULL;
			free(f);
		}
	}
}

/* Least-squares slope of in_use over the window, in sockets per second. */
static double dest_slope(const struct dest_ent *d, __u64 now, double window_s)
{
	double n = 0, st = 0, sv = 0, stt = 0, stv = 0;

	for (__u32 i = 0; i < d->hist_n; i++) {
		__u32 j = (d->hist_pos + HIST_LEN - 1 - i) % HIST_LEN;
		double t = ((double)d->hist_t[j] - (double)now) / 1e9;

		if (-t > window_s)
			break;
		n++;
		st += t;
		sv += d->hist_v[j];
		stt += t * t;
		stv += t * d->hist_v[j];
	}
	if (n < 3 || n * stt - st * st <= 0)
		return 0;
	return (n * stv - st * sv) / (n * stt - st * st);
}

static void proc_count_dest(struct proc_ent *p, struct dest_ent *d)
{
	for (int i = 0; i < PROC_DEST_SLOTS; i++) {
		if (p->dslot[i].dest == d) {
			p->dslot[i].count++;
			return;
		}
		if (!p->dslot[i].dest) {
			p->dslot[i].dest = d;
			p->dslot[i].count = 1;
			return;
		}
	}
}

static int cmp_dest_view(const void *x, const void *y)
{
	const struct ph_dest_view *a = x, *b = y;

	if (a->headroom_pct != b->headroom_pct)
		return a->headroom_pct < b->headroom_pct ? -1 : 1;
	if (a->in_use != b->in_use)
		return a->in_use > b->in_use ? -1 : 1;
	return a->failed > b->failed ? -1 : a->failed < b->failed;
}

static void grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return;
	free(*arr);
	*cap = need * 2;
	*arr = calloc(*cap, elem);
	if (!*arr)
		*cap = 0;
}

static void narrow_range(struct dest_ent *d, const struct sock_ent *s)
{
	if (!s->range_lo)
		return;
	if (!d->range_lo || (__u32)s->range_hi - s->range_lo < (__u32)d->range_hi - d->range_lo) {
		d->range_lo = s->range_lo;
		d->range_hi = s->range_hi;
	}
}

/* A UDP socket or a bound-only TCP socket at a tick: held by its process. */
static void tick_port_sock(struct ph_acct *a, struct netns_ent *ns, struct sock_ent *s, __u64 now)
{
	struct ph_proc_view *v = s->owner ? s->owner->view : NULL;
	struct dest_ent *d = NULL;
	struct ph_dest_key dk;

	if (!in_range(ns, s->key.sport))
		return;
	if (s->key.protocol) {
		bit_set(ns->used_udp, s->key.sport);
		udp_dest_key(s->key.netns, s->key.family, s->peer, s->peer_port, &dk);
		d = get_dest(a, &dk);
		if (d) {
			d->in_use++;
			d->last_active_ns = now;
			narrow_range(d, s);
		}
	} else {
		bit_set(ns->bound_only, s->key.sport);
	}
	if (!v)
		return;
	v->ports_held++;
	if (s->key.protocol) {
		v->ports_held_udp++;
	} else {
		v->ports_held_tcp++;
		v->bound_only++;
	}
	if (s->pflags & PH_F_BIND_EPHEMERAL)
		v->bind_ephemeral++;
	if (d)
		proc_count_dest(s->owner, d);
	s->owner->last_active_ns = now;
	s->owner->netns = s->key.netns;
	v->netns = s->key.netns;
}

/* Ports a destination can still get, within the narrowest per-socket range. */
static __s64 dest_capacity(const struct netns_ent *ns, const struct dest_ent *d)
{
	__u16 lo = ns->info.range_lo, hi = ns->info.range_hi;
	__s64 cap, sub;

	if (d->key.protocol)
		cap = (__s64)hi - lo + 1 - ns->info.reserved_in_range;
	else
		/* bind(0) ports of other destinations are not shared with connect() */
		cap = (__s64)hi - lo + 1 - ns->info.reserved_in_range - ns->busy_in_range -
		      ns->bound_extra - (ns->eph_conn - d->bind_ephemeral);
	if (d->range_lo) {
		lo = d->range_lo > lo ? d->range_lo : lo;
		hi = d->range_hi < hi ? d->range_hi : hi;
		sub = hi >= lo ? (__s64)hi - lo + 1 : 0;
		if (!d->key.protocol)
			sub -= bits_in_range(ns->busy, lo, hi);
		if (sub < cap)
			cap = sub;
	}
	return cap;
}

/* Usage and capacity of each port space of a namespace. */
static void netns_proto_view(const struct netns_ent *ns, struct ph_netns_view *v)
{
	__u16 lo = ns->info.range_lo, hi = ns->info.range_hi;
	__s64 cap = (__s64)hi - lo + 1 - ns->info.reserved_in_range;
	__u64 tcp[PORT_WORDS];

	for (size_t w = 0; w < PORT_WORDS; w++)
		tcp[w] = ns->used[w] | ns->busy[w] | ns->bound_only[w];
	v->tcp.in_use = bits_in_range(tcp, lo, hi);
	v->tcp.capacity = cap > 0 ? cap : 0;
	v->tcp.failed = ns->bind_failed;
	v->tcp.bound_only = bits_in_range(ns->bound_only, lo, hi);
	v->udp.in_use = bits_in_range(ns->used_udp, lo, hi);
	v->udp.capacity = v->tcp.capacity;
	v->udp.failed = ns->udp_failed;
}

void ph_acct_tick(struct ph_acct *a, __u64 now)
{
	struct hnode *n, *tmp;
	double dt = a->last_tick_ns && now > a->last_tick_ns ?
		(now - a->last_tick_ns) / 1e9 : 0;
	size_t i, k;

	advance(a, now);
	now = a->now_ns;

	age_procs(a);
	age_flows(a);
	if (a->o.tw_expire_s > 0) {
		/* no walks in a replay: a timewait socket expires on its own */
		htab_for_each(&a->socks, n, tmp, i) {
			struct sock_ent *s = htab_entry(n, struct sock_ent, node);

			if (s->state == PH_ST_TIME_WAIT &&
			    (now - s->touched_ns) / 1e9 > a->o.tw_expire_s)
				del_sock(a, s);
		}
	}
	htab_for_each(&a->dests, n, tmp, i) {
		struct dest_ent *d = htab_entry(n, struct dest_ent, node);

		d->in_use = d->time_wait = 0;
		d->bind_ephemeral = 0;
		d->range_lo = d->range_hi = 0;
	}
	htab_for_each(&a->nets, n, tmp, i) {
		struct netns_ent *ns = htab_entry(n, struct netns_ent, node);

		memset(ns->used, 0, sizeof(ns->used));
		memset(ns->used_udp, 0, sizeof(ns->used_udp));
		memset(ns->bound_only, 0, sizeof(ns->bound_only));
		memset(ns->bound_eph, 0, sizeof(ns->bound_eph));
		ns->busy_in_range = bits_in_range(ns->busy, ns->info.range_lo, ns->info.range_hi);
	}

	/* process scratch views: one per process */
	grow_array((void **)&a->pviews, &a->pview_cap, a->procs.count + 1, sizeof(*a->pviews));
	k = 0;
	htab_for_each(&a->procs, n, tmp, i) {
		struct proc_ent *p = htab_entry(n, struct proc_ent, node);
		struct ph_proc_view *v = &a->pviews[k++];

		memset(v, 0, sizeof(*v));
		memset(p->dslot, 0, sizeof(p->dslot));
		v->meta = &p->meta;
		v->opened = p->opened;
		v->closed = p->closed;
		v->failed = p->failed;
		v->bind_failed = p->bind_failed;
		v->oldest_s = -1;
		v->netns = p->netns;
		if (dt > 0) {
			p->open_rate = (p->opened - p->opened_last) / dt;
			p->opened_last = p->opened;
		}
		v->open_rate = p->open_rate;
		p->view = v;
	}
	a->npviews = k;

	htab_for_each(&a->socks, n, tmp, i) {
		struct sock_ent *s = htab_entry(n, struct sock_ent, node);
		struct netns_ent *ns = find_netns(a, s->key.netns);
		struct ph_dest_key dk;
		struct dest_ent *d;

		if (ns && (s->key.protocol || bound_only(&s->key))) {
			tick_port_sock(a, ns, s, now);
			continue;
		}
		/* outbound only: ephemeral local port that is not a listener's */
		if (!ns || !in_range(ns, s->key.sport) || bit_test(ns->busy, s->key.sport))
			continue;
		if (s->state == PH_ST_CLOSE || s->state == PH_ST_LISTEN)
			continue;
		bit_set(ns->used, s->key.sport);
		dest_key_of(&s->key, &dk);
		d = get_dest(a, &dk);
		if (d) {
			d->in_use++;
			if (s->state == PH_ST_TIME_WAIT)
				d->time_wait++;
			d->last_active_ns = now;
			if (s->pflags & PH_F_BIND_EPHEMERAL)
				d->bind_ephemeral++;
			narrow_range(d, s);
		}
		if (s->pflags & PH_F_BIND_EPHEMERAL)
			bit_set(ns->bound_eph, s->key.sport);
		if (s->owner && s->owner->view) {
			struct ph_proc_view *v = s->owner->view;

			if (s->pflags & PH_F_BIND_EPHEMERAL)
				v->bind_ephemeral++;
			if (s->state == PH_ST_TIME_WAIT) {
				v->time_wait++;
			} else {
				v->ports_held++;
				v->ports_held_tcp++;
				if (s->state < PH_TCP_STATES)
					v->by_state[s->state]++;
				if (s->opened_ns && now > s->opened_ns) {
					double age = (now - s->opened_ns) / 1e9;

					if (age > v->oldest_s)
						v->oldest_s = age;
				}
			}
			if (d)
				proc_count_dest(s->owner, d);
			s->owner->last_active_ns = now;
			s->owner->netns = s->key.netns;
			v->netns = s->key.netns;
		}
	}

	htab_for_each(&a->nets, n, tmp, i) {
		struct netns_ent *ns = htab_entry(n, struct netns_ent, node);
		__u64 extra[PORT_WORDS];

		for (size_t w = 0; w < PORT_WORDS; w++)
			extra[w] = ns->bound_only[w] & ~ns->busy[w];
		ns->bound_extra = bits_in_range(extra, ns->info.range_lo, ns->info.range_hi);
		ns->eph_conn = bits_in_range(ns->bound_eph, ns->info.range_lo, ns->info.range_hi);
	}

	/* destinations */
	grow_array((void **)&a->dviews, &a->dview_cap, a->dests.count + 1, sizeof(*a->dviews));
	k = 0;
	htab_for_each(&a->dests, n, tmp, i) {
		struct dest_ent *d = htab_entry(n, struct dest_ent, node);
		struct netns_ent *ns = find_netns(a, d->key.netns);
		struct ph_dest_view *v;
		__s64 cap = 0;
		__u32 used;
		double slope;

		if (!d->in_use && !d->failed &&
		    (now - d->last_active_ns) / 1e9 > a->o.proc_ttl_s) {
			htab_remove(&a->dests, n);
			if (a->last_dest == d)
				a->last_dest = NULL;
			free(d);
			continue;
		}
		if (ns)
			cap = dest_capacity(ns, d);
		if (cap < 0)
			cap = 0;
		d->hist_t[d->hist_pos] = now;
		d->hist_v[d->hist_pos] = d->in_use;
		d->hist_pos = (d->hist_pos + 1) % HIST_LEN;
		if (d->hist_n < HIST_LEN)
			d->hist_n++;
		if (d->in_use > d->peak)
			d->peak = d->in_use;
		v = &a->dviews[k];
		d->view_idx = k++;
		v->key = d->key;
		v->in_use = d->in_use;
		v->time_wait = d->time_wait;
		v->capacity = cap;
		v->failed = d->failed;
		v->peak_in_use = d->peak;
		v->bind_ephemeral = d->bind_ephemeral;
		v->range_lo = d->range_lo;
		v->range_hi = d->range_hi;
		/* UDP: every socket of the namespace draws from the same ports */
		used = d->in_use;
		if (d->key.protocol && ns)
			used = bits_in_range(ns->used_udp, d->range_lo ?: ns->info.range_lo,
					     d->range_hi ?: ns->info.range_hi);
		v->pool_in_use = used;
		v->headroom_pct = cap ? 100.0 * ((double)cap - used) / cap : 0;
		if (v->headroom_pct < 0)
			v->headroom_pct = 0;
		slope = dest_slope(d, now, a->o.eta_window_s);
		if (used >= cap)
			v->eta_s = 0;
		else if (slope > 0.01)
			v->eta_s = (cap - used) / slope;
		else
			v->eta_s = NAN;
	}
	a->ndviews = k;

	/* top destinations per process, then age out idle processes */
	htab_for_each(&a->procs, n, tmp, i) {
		struct proc_ent *p = htab_entry(n, struct proc_ent, node);
		struct ph_proc_view *v = p->view;

		for (int t = 0; t < 3; t++) {
			int best = -1;

			for (int j = 0; j < PROC_DEST_SLOTS; j++) {
				if (!p->dslot[j].dest || !p->dslot[j].count)
					continue;
				if (best < 0 || p->dslot[j].count > p->dslot[best].count)
					best = j;
			}
			if (best < 0)
				break;
			v->top_dest[t].dest_idx = p->dslot[best].dest->view_idx;
			v->top_dest[t].count = p->dslot[best].count;
			v->ndest++;
			p->dslot[best].count = 0;
		}
		p->view = NULL;
	}
	qsort(a->dviews, a->ndviews, sizeof(*a->dviews), cmp_dest_view);
	/* dest_idx must follow the sort: remap through view_idx */
	{
		__u32 *map = calloc(a->ndviews + 1, sizeof(*map));

		if (map) {
			for (size_t j = 0; j < a->ndviews; j++) {
				struct hnode *dn = htab_find(&a->dests, &a->dviews[j].key);

				if (dn)
					map[htab_entry(dn, struct dest_ent, node)->view_idx] = j;
			}
			for (size_t j = 0; j < a->npviews; j++)
				for (__u32 t = 0; t < a->pviews[j].ndest; t++)
					a->pviews[j].top_dest[t].dest_idx =
						map[a->pviews[j].top_dest[t].dest_idx];
			for (size_t j = 0; j < a->ndviews; j++) {
				struct hnode *dn = htab_find(&a->dests, &a->dviews[j].key);

				if (dn)
					htab_entry(dn, struct dest_ent, node)->view_idx = j;
			}
			free(map);
		}
	}

	/* netns */
	grow_array((void **)&a->nviews, &a->nview_cap, a->nets.count + 1, sizeof(*a->nviews));
	k = 0;
	htab_for_each(&a->nets, n, tmp, i) {
		struct netns_ent *ns = htab_entry(n, struct netns_ent, node);
		struct ph_netns_view *v = &a->nviews[k++];
		__s64 cap = (__s64)ns->info.range_hi - ns->info.range_lo + 1 -
			    ns->info.reserved_in_range - ns->busy_in_range;

		v->info = &ns->info;
		v->busy = ns->busy_in_range;
		v->capacity = cap > 0 ? cap : 0;
		v->ports_in_use = 0;
		for (size_t w = 0; w < PORT_WORDS; w++)
			v->ports_in_use += __builtin_popcountll(ns->used[w]);
		netns_proto_view(ns, v);
	}
	a->nnviews = k;
	a->last_tick_ns = now;
}

static enum ph_sort g_sort;

static int cmp_proc_view(const void *x, const void *y)
{
	const struct ph_proc_view *a = x, *b = y;
	double ka, kb;

	switch (g_sort) {
	case PH_SORT_TIME_WAIT:
		ka = a->time_wait;
		kb = b->time_wait;
		break;
	case PH_SORT_OPENED:
		ka = a->opened;
		kb = b->opened;
		break;
	case PH_SORT_FAILED:
		ka = a->failed;
		kb = b->failed;
		break;
	case PH_SORT_RATE:
		ka = a->open_rate;
		kb = b->open_rate;
		break;
	case PH_SORT_PID:
		ka = -(double)a->meta->key.pid;
		kb = -(double)b->meta->key.pid;
		break;
	default:
		ka = a->ports_held + a->time_wait;
		kb = b->ports_held + b->time_wait;
		break;
	}
	if (ka != kb)
		return ka > kb ? -1 : 1;
	if (a->failed != b->failed)
		return a->failed > b->failed ? -1 : 1;
	return a->meta->key.pid < b->meta->key.pid ? -1 : a->meta->key.pid > b->meta->key.pid;
}

size_t ph_acct_procs(struct ph_acct *a, enum ph_sort sort, const struct ph_proc_view **out)
{
	g_sort = sort;
	qsort(a->pviews, a->npviews, sizeof(*a->pviews), cmp_proc_view);
	*out = a->pviews;
	return a->npviews;
}

size_t ph_acct_dests(struct ph_acct *a, const struct ph_dest_view **out)
{
	*out = a->dviews;
	return a->ndviews;
}

size_t ph_acct_netns_views(struct ph_acct *a, const struct ph_netns_view **out)
{
	*out = a->nviews;
	return a->nnviews;
}

/* The sockets ph_acct_tick counts: outbound, ephemeral, not a listener's port. */
static bool sock_counted(struct ph_acct *a, const struct sock_ent *s)
{
	struct netns_ent *ns = find_netns(a, s->key.netns);

	if (!ns || !in_range(ns, s->key.sport) || bit_test(ns->busy, s->key.sport))
		return false;
	if (s->key.protocol)
		return false;	/* flows are TCP connections */
	return s->state != PH_ST_CLOSE && s->state != PH_ST_LISTEN;
}

static int cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;

	return a < b ? -1 : a > b;
}

static double pct(const float *sorted, __u32 n, double q)
{
	return n ? sorted[(__u32)(q * (n - 1) + 0.5)] : NAN;
}

static void flow_view_fill(struct ph_acct *a, struct flow_ent *f, struct ph_flow_view *v)
{
	struct proc_ent *p = f->key.owner.pid ?
		get_proc(a, f->key.owner.pid, f->key.owner.start, false) : NULL;
	float life[PH_LIFE_KEEP];

	memset(v, 0, sizeof(*v));
	v->owner = f->key.owner;
	v->meta = p ? &p->meta : NULL;
	v->dest = f->key.dest;
	v->opened = f->opened;
	v->closed = f->closed;
	v->closed_tw = f->closed_tw;
	v->failed = f->failed;
	v->opened_bound = f->opened_bound;
	v->watched_s = a->start_ns ? (a->now_ns - a->start_ns) / 1e9 : 0;
	v->life_n = f->life_n;
	memcpy(life, f->life_s, f->life_n * sizeof(float));
	qsort(life, f->life_n, sizeof(float), cmp_float);
	v->life_p50_s = pct(life, f->life_n, 0.5);
	v->life_p90_s = pct(life, f->life_n, 0.9);
}

size_t ph_acct_flows(struct ph_acct *a, const struct ph_flow_view **out)
{
	struct hnode *n, *tmp;
	size_t i, nf = 0, total = 0;

	htab_for_each(&a->flows, n, tmp, i) {
		struct flow_ent *f = htab_entry(n, struct flow_ent, node);

		f->nsocks = f->fill = 0;
		f->view_idx = -1;
	}
	htab_for_each(&a->socks, n, tmp, i) {
		struct sock_ent *s = htab_entry(n, struct sock_ent, node);
		struct flow_ent *f;

		if (!sock_counted(a, s))
			continue;
		f = get_flow(a, s->owner ? &s->owner->key : NULL, &s->key, true);
		if (!f)
			continue;
		f->nsocks++;
		total++;
	}
	grow_array((void **)&a->fviews, &a->fview_cap, a->flows.count + 1, sizeof(*a->fviews));
	grow_array((void **)&a->fsocks, &a->fsock_cap, total + 1, sizeof(*a->fsocks));
	if (!a->fviews || !a->fsocks) {
		*out = NULL;
		return 0;
	}
	total = 0;
	htab_for_each(&a->flows, n, tmp, i) {
		struct flow_ent *f = htab_entry(n, struct flow_ent, node);
		struct ph_flow_view *v = &a->fviews[nf];

		flow_view_fill(a, f, v);
		v->socks = &a->fsocks[total];
		total += f->nsocks;
		f->view_idx = nf++;
	}
	htab_for_each(&a->socks, n, tmp, i) {
		struct sock_ent *s = htab_entry(n, struct sock_ent, node);
		struct ph_flow_view *v;
		struct ph_flow_sock *fs;
		struct flow_ent *f;

		if (!sock_counted(a, s))
			continue;
		f = get_flow(a, s->owner ? &s->owner->key : NULL, &s->key, false);
		if (!f || f->view_idx < 0 || f->fill >= f->nsocks)
			continue;
		v = &a->fviews[f->view_idx];
		fs = (struct ph_flow_sock *)&v->socks[f->fill++];
		v->nsocks = f->fill;
		v->ports++;
		if (s->state < PH_TCP_STATES)
			v->by_state[s->state]++;
		if (s->act.flags & PH_SR_BOUND)
			v->bound++;
		if (s->pflags & PH_F_BIND_EPHEMERAL)
			v->bind_ephemeral++;
		fs->state = s->state;
		fs->act = s->act;
		fs->age_known = s->opened_ns && s->opened_ns <= a->now_ns;
		fs->age_s = ((fs->age_known ? a->now_ns - s->opened_ns :
			      a->now_ns - a->start_ns)) / 1e9;
	}
	*out = a->fviews;
	return nf;
}

__u64 ph_acct_start_ns(struct ph_acct *a)
{
	return a->start_ns;
}

__u64 ph_acct_now_ns(struct ph_acct *a)
{
	return a->now_ns;
}

const struct ph_proc_meta *ph_acct_find_proc(struct ph_acct *a, __u32 pid, __u64 start)
{
	struct proc_ent *p = get_proc(a, pid, start, false);

	return p ? &p->meta : NULL;
}

const struct ph_netns_info *ph_acct_find_netns(struct ph_acct *a, __u32 inode)
{
	struct netns_ent *ns = find_netns(a, inode);

	return ns && ns->known ? &ns->info : NULL;
}

void ph_acct_netns_each(struct ph_acct *a, ph_netns_fn fn, void *ctx)
{
	struct hnode *n, *tmp;
	size_t i;

	htab_for_each(&a->nets, n, tmp, i) {
		struct netns_ent *ns = htab_entry(n, struct netns_ent, node);

		if (ns->known)
			fn(ctx, &ns->info);
	}
}

void ph_acct_counts(struct ph_acct *a, struct ph_acct_counts *c)
{
	c->sockets = a->socks.count;
	c->procs = a->procs.count;
	c->sockets_dropped = a->sockets_dropped;
	c->events = a->events;
}
