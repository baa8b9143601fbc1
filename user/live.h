/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Live state: probes + accounting + namespaces. The start-up snapshot and the
 * periodic reconcile walk come from BPF iterators, or from sock_diag + /proc.
 */
#ifndef PH_LIVE_H
#define PH_LIVE_H

#include "account.h"
#include "netns.h"
#include "probe.h"

enum ph_snap_mode { PH_SNAP_AUTO, PH_SNAP_ITER, PH_SNAP_DIAG };

struct ph_live_opts {
	struct ph_probe_opts probe;
	struct ph_acct_opts acct;
	enum ph_snap_mode snap;
	double reconcile_s;		/* socket walk period */
	double settings_s;		/* netns sysctl refresh period */
};

struct ph_live {
	struct ph_live_opts o;
	struct ph_probe *probe;
	struct ph_acct *acct;
	struct ph_netns_reg *nets;
	enum ph_snap_mode snap;		/* the one in use */
	ph_event_fn hook;		/* called for every event after accounting */
	void *hook_ctx;
	__u64 last_walk_ns, last_settings_ns;
	__u64 walk_lost;		/* losses that matter (ph_losses_table) before the last walk */
	bool new_netns;			/* an event came from a namespace not seen before */
	__u64 last_lost_check_ns;
	__s64 wall_off;
	double walk_ms;			/* duration of the last walk */
	/* a walk with fds: the hashed sockets the files walk saw (walk_one_netns) */
	struct ph_sock_rec *held;
	size_t nheld, held_cap;
	bool held_ok;			/* held lists all of them */
};

void ph_live_opts_init(struct ph_live_opts *o);
/* Returns 0 or a PH_EXIT_* code (reported). Does the start-up snapshot. */
int ph_live_open(struct ph_live *l, const struct ph_live_opts *o, ph_event_fn hook, void *ctx);
void ph_live_close(struct ph_live *l);
/* Full walk of all namespaces; with_fds also maps socket owners from open files. */
int ph_live_walk(struct ph_live *l, bool with_fds);
/* Consume events (and reconcile when due) until deadline (CLOCK_MONOTONIC ns). */
int ph_live_run_until(struct ph_live *l, __u64 deadline_ns);
/* Events lost since start, by cause (zero without a probe). */
void ph_live_losses(struct ph_live *l, struct ph_losses *out);
const char *ph_live_attach_desc(struct ph_live *l);
int ph_snap_parse(const char *s, enum ph_snap_mode *out);

#endif
