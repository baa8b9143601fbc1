// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "diag.h"
#include "live.h"
#include "procinfo.h"

void ph_live_opts_init(struct ph_live_opts *o)
{
	memset(o, 0, sizeof(*o));
	ph_probe_opts_init(&o->probe);
	ph_acct_opts_init(&o->acct);
	/*
	 * Events keep the table current; the walk only repairs what lost events
	 * broke; one follows a loss within a second or so (walk_due).
	 */
	o->reconcile_s = 30;
	o->acct.tw_expire_s = 60;	/* TCP_TIMEWAIT_LEN: between walks */
	o->settings_s = 10;
}

int ph_snap_parse(const char *s, enum ph_snap_mode *out)
{
	if (!strcmp(s, "iter"))
		*out = PH_SNAP_ITER;
	else if (!strcmp(s, "diag"))
		*out = PH_SNAP_DIAG;
	else if (!strcmp(s, "auto"))
		*out = PH_SNAP_AUTO;
	else
		return -EINVAL;
	return 0;
}

static __u64 table_losses(struct ph_live *l);

static void live_meta(void *ctx, struct ph_proc_meta *m)
{
	struct ph_proc_meta tmp = {};

	/* read once, when the process is first seen */
	if (ph_procinfo_read(m->key.pid, m->key.start, &tmp))
		return;
	tmp.key = m->key;
	*m = tmp;
}

static int on_event(void *ctx, const struct ph_event *e)
{
	struct ph_live *l = ctx;

	if (!ph_netns_known(l->nets, e->netns)) {
		ph_netns_note_pid(l->nets, e->netns, e->pid);
		l->new_netns = true;
	}
	ph_acct_event(l->acct, e);
	return l->hook ? l->hook(l->hook_ctx, e) : 0;
}

static void note_held(struct ph_live *l, const struct ph_sock_rec *r)
{
	if (!l->held_ok || r->state == PH_ST_CLOSE)	/* not in the hash tables */
		return;
	if (l->nheld == l->held_cap) {
		size_t cap = l->held_cap ? l->held_cap * 2 : 1024;
		struct ph_sock_rec *h = realloc(l->held, cap * sizeof(*h));

		if (!h) {
			l->held_ok = false;
			return;
		}
		l->held = h;
		l->held_cap = cap;
	}
	l->held[l->nheld++] = *r;
}

static int on_fd(void *ctx, const struct ph_fd_rec *r)
{
	struct ph_live *l = ctx;

	if (!ph_netns_known(l->nets, r->sock.netns))
		ph_netns_note_pid(l->nets, r->sock.netns, r->sock.owner_pid);
	/* --netns: the other namespaces are not accounted at all */
	if (l->o.probe.netns && r->sock.netns != l->o.probe.netns)
		return 0;
	ph_acct_walk_fd(l->acct, r);
	/* the kernel's count that walk_held compares with is of TCP sockets */
	if (r->protocol == PH_PROTO_TCP)
		note_held(l, &r->sock);
	return 0;
}

static int on_sock(void *ctx, const struct ph_sock_rec *r)
{
	struct ph_live *l = ctx;

	ph_acct_walk_sock(l->acct, r);
	return 0;
}

/* The sockets of a namespace that processes hold, with the fd's process as owner */
static void feed_held(struct ph_live *l, __u32 inode)
{
	for (size_t i = 0; i < l->nheld; i++)
		if (l->held[i].netns == inode)
			ph_acct_walk_sock(l->acct, &l->held[i]);
}

struct unheld {
	struct ph_live *l;
	__u32 orphans;		/* hashed, no inode: no struct socket, orphaned by close() */
	__u32 with_ino;		/* hashed, with an inode: held by us or by a process we cannot see */
	__u32 tw;		/* TIME_WAIT */
};

static int on_unheld(void *ctx, const struct ph_sock_rec *r)
{
	struct unheld *u = ctx;

	if (r->state != PH_ST_TIME_WAIT) {
		if (r->ino)
			u->with_ino++;
		else
			u->orphans++;
	} else {
		u->tw++;
	}
	ph_acct_walk_sock(u->l->acct, r);
	return 0;
}

/*
 * A walk with fds has seen every socket a process holds. A namespace needs no
 * full walk of its own when the kernel's count of its hashed sockets is made up
 * of those, plus what a sock_diag dump of the states a socket may have without
 * a visible fd finds (PH_DIAG_UNHELD: the kernel skips other sockets cheaply):
 * orphans and the sockets of processes we cannot see; the dump brings TIME_WAIT
 * too. Anything else (a kernel socket, a connection waiting in an accept
 * queue, an fd two processes share, a socket born meanwhile) breaks the sum:
 * full walk. Returns the sockets accounted, or -1 for "walk it".
 */
static int walk_held(struct ph_live *l, __u32 inode, __u64 t0)
{
	struct unheld u = { .l = l };
	__u32 inuse, inuse6, tw, held = 0, held_dumped = 0;
	int n = 0;
	bool ok;

	if (!l->held_ok || ph_netns_tcp_counts(&inuse, &inuse6, &tw))
		return -1;
	for (size_t i = 0; i < l->nheld; i++) {
		if (l->held[i].netns != inode)
			continue;
		held++;
		held_dumped += !!(PH_DIAG_UNHELD & (1u << l->held[i].state));
	}
	ok = held == inuse && !tw;
	if (!ok && held <= inuse) {
		n = ph_diag_walk_tcp_unheld(on_unheld, &u, AF_INET);
		/* sockstat's TIME_WAIT count is of both families */
		if (n >= 0 && (inuse6 || u.tw != tw)) {
			int n6 = ph_diag_walk_tcp_unheld(on_unheld, &u, AF_INET6);

			n = n6 < 0 ? n6 : n + n6;
		}
		ok = n >= 0 && u.with_ino >= held_dumped &&
		     held + u.orphans + (u.with_ino - held_dumped) == inuse;
	}
	if (!ok) {
		if (ph_verbose)
			ph_info("netns %u: %u sockets hashed, %u held in open files, %u dumped: full walk",
				inode, inuse, held, n);
		return -1;
	}
	feed_held(l, inode);
	if (ph_verbose)
		ph_info("netns %u: %u sockets held in open files, %d dumped, %.1f ms; no full walk",
			inode, held, n, (mono_ns() - t0) / 1e6);
	return held + n;
}

static int walk_one_netns(void *ctx, __u32 inode)
{
	struct ph_live *l = ctx;
	__u64 now = mono_ns();
	int n;

	/* --netns: the other namespaces are not accounted at all */
	if (l->o.probe.netns && inode != l->o.probe.netns)
		return 0;
	if (!l->last_settings_ns || now - l->last_settings_ns >= l->o.settings_s * 1e9 ||
	    !ph_acct_find_netns(l->acct, inode) ||
	    !ph_acct_find_netns(l->acct, inode)->reserved) {
		struct ph_netns_info info;

		if (!ph_netns_read_settings(inode, &info)) {
			ph_acct_netns(l->acct, &info);
			free(info.reserved);
		}
	}
	ph_acct_walk_netns(l->acct, inode);
	if (walk_held(l, inode, now) >= 0)
		return 0;
	/* a full walk: the held sockets bring their owners (iter/tcp knows none) */
	feed_held(l, inode);
	if (l->snap == PH_SNAP_DIAG)
		n = ph_diag_walk_tcp(on_sock, l);
	else
		n = ph_probe_iter_tcp(l->probe, on_sock, l);
	if (n < 0)
		ph_warn("walking sockets of netns %u: %s", inode, strerror(-n));
	else if (ph_verbose)
		ph_info("netns %u: %d sockets, %.1f ms", inode, n, (mono_ns() - now) / 1e6);
	return 0;
}

int ph_live_walk(struct ph_live *l, bool with_fds)
{
	__u64 t0 = mono_ns();
	int err;

	l->walk_lost = table_losses(l);
	ph_acct_walk_begin(l->acct);
	l->nheld = 0;
	l->held_ok = with_fds;
	if (with_fds) {
		if (l->snap == PH_SNAP_DIAG)
			err = ph_diag_walk_fds(on_fd, l, 0);
		else
			err = ph_probe_iter_files(l->probe, on_fd, l);
		if (err < 0) {
			ph_warn("walking open files: %s", strerror(-err));
			l->held_ok = false;
		}
		if (ph_verbose)
			ph_info("open files walk: %.1f ms", (mono_ns() - t0) / 1e6);
	}
	ph_netns_scan(l->nets);
	err = ph_netns_each(l->nets, walk_one_netns, l);
	if (err < 0)
		ph_warn("entering network namespaces: %s", strerror(-err));
	ph_acct_walk_end(l->acct);
	free(l->held);
	l->held = NULL;
	l->nheld = l->held_cap = 0;
	l->held_ok = false;
	if (!l->last_settings_ns || t0 - l->last_settings_ns >= l->o.settings_s * 1e9)
		l->last_settings_ns = t0;
	l->last_walk_ns = mono_ns();
	l->walk_ms = (l->last_walk_ns - t0) / 1e6;
	if (ph_verbose)
		ph_info("socket walk: %.1f ms in all", l->walk_ms);
	return 0;
}

int ph_live_open(struct ph_live *l, const struct ph_live_opts *o, ph_event_fn hook, void *ctx)
{
	struct ph_probe_opts po;
	int err;

	memset(l, 0, sizeof(*l));
	err = ph_cgroupns_enter_host();
	if (err)
		ph_warn("cannot enter the host's cgroup namespace (%s): cgroup paths are relative to porthog's own",
			strerror(-err));
	l->o = *o;
	l->hook = hook;
	l->hook_ctx = ctx;
	l->snap = o->snap;
	/* --max-sockets bounds the kernel owner map and the table alike */
	l->o.acct.max_sockets = o->probe.max_sockets;
	l->acct = ph_acct_new(&l->o.acct);
	l->nets = ph_netns_reg_new();
	if (!l->acct || !l->nets) {
		ph_err("out of memory");
		return PH_EXIT_ERR;
	}
	ph_acct_set_meta_fn(l->acct, live_meta, l);
	ph_diag_activity(o->probe.sock_activity);

	po = o->probe;
	po.iterators = l->snap != PH_SNAP_DIAG;
	if (!po.events && !po.iterators) {
		err = ph_preflight();
		if (err)
			return err;
	} else {
		__u64 t0 = mono_ns();

		err = ph_probe_open(&po, on_event, l, &l->probe);
		if (err && l->snap == PH_SNAP_AUTO && po.iterators) {
			ph_warn("BPF iterators unavailable; falling back to sock_diag + /proc");
			po.iterators = false;
			l->snap = PH_SNAP_DIAG;
			err = ph_probe_open(&po, on_event, l, &l->probe);
		}
		if (err)
			return err;
		if (ph_verbose)
			ph_info("BPF programs loaded in %.1f ms", (mono_ns() - t0) / 1e6);
	}
	if (l->snap == PH_SNAP_AUTO)
		l->snap = PH_SNAP_ITER;
	l->wall_off = mono_to_wall_ns();
	return ph_live_walk(l, true);
}

void ph_live_close(struct ph_live *l)
{
	ph_probe_close(l->probe);
	ph_acct_free(l->acct);
	ph_netns_reg_free(l->nets);
	l->probe = NULL;
	l->acct = NULL;
	l->nets = NULL;
}

/* A namespace first seen in an event: read its port settings now, not at the next walk. */
static int read_new_settings(void *ctx, __u32 inode)
{
	struct ph_live *l = ctx;
	struct ph_netns_info info;

	if (ph_acct_find_netns(l->acct, inode) || (l->o.probe.netns && inode != l->o.probe.netns))
		return 0;
	if (!ph_netns_read_settings(inode, &info)) {
		ph_acct_netns(l->acct, &info);
		free(info.reserved);
	}
	return 0;
}

/*
 * Only losses that could have changed the table count: ring buffer drops and
 * skipped hits nothing caught, not the hits the catcher handled. Losses come
 * in bursts, under load: the walks they trigger are at least a second apart
 * and take at most 5% of a CPU (a 200 ms walk waits 4 s for the next one).
 */
/* A destination under this headroom: the diagnosis wants fresh socket activity. */
#define LOW_HEADROOM_PCT	20
#define LOW_WALK_NS		5000000000ULL

static bool running_out(struct ph_live *l)
{
	const struct ph_dest_view *d;
	size_t n = ph_acct_dests(l->acct, &d);

	for (size_t i = 0; i < n; i++)
		if (d[i].headroom_pct < LOW_HEADROOM_PCT)
			return true;
	return false;
}

static bool walk_due(struct ph_live *l, __u64 now)
{
	double gap_ns = l->walk_ms * 20 * 1e6;

	if (l->o.reconcile_s > 0 && now - l->last_walk_ns >= l->o.reconcile_s * 1e9)
		return true;
	if (gap_ns < 1e9)
		gap_ns = 1e9;
	/* a leak is judged by the traffic of its connections: read it every 5 s meanwhile */
	if (l->o.reconcile_s > 0 && now - l->last_walk_ns >= LOW_WALK_NS &&
	    now - l->last_walk_ns >= gap_ns && running_out(l))
		return true;
	if (now - l->last_walk_ns < gap_ns || now - l->last_lost_check_ns < 100000000ULL)
		return false;
	l->last_lost_check_ns = now;
	return table_losses(l) != l->walk_lost;
}

int ph_live_run_until(struct ph_live *l, __u64 deadline_ns)
{
	for (;;) {
		__u64 now = mono_ns();
		int err, timeout;

		if (ph_exiting || now >= deadline_ns)
			break;
		if (walk_due(l, now))
			ph_live_walk(l, false);
		if (l->new_netns) {
			l->new_netns = false;
			ph_netns_each(l->nets, read_new_settings, l);
		}
		timeout = (deadline_ns - now) / 1000000;
		if (timeout > 100)
			timeout = 100;
		if (!l->probe || !l->o.probe.events) {
			struct timespec ts = { 0, (long)timeout * 1000000L };

			nanosleep(&ts, NULL);
			continue;
		}
		err = ph_probe_poll(l->probe, timeout);
		if (err < 0 && err != -EINTR)
			return err;
	}
	if (l->probe && l->o.probe.events)
		ph_probe_poll(l->probe, 0);
	return 0;
}

void ph_live_losses(struct ph_live *l, struct ph_losses *out)
{
	memset(out, 0, sizeof(*out));
	if (l->probe && l->o.probe.events)
		ph_probe_losses(l->probe, out);
}

static __u64 table_losses(struct ph_live *l)
{
	struct ph_losses lo;

	ph_live_losses(l, &lo);
	return ph_losses_table(&lo);
}

const char *ph_live_attach_desc(struct ph_live *l)
{
	if (!l->probe || !l->o.probe.events)
		return "none";
	return ph_probe_attach_desc(l->probe);
}
