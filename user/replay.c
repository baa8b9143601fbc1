// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "replay.h"

#define EADDRNOTAVAIL_ERR	99
/* Adaptive sampling: fine for short traces, bounded work for long ones. */
#define SAMPLES_PER_DOUBLING	2000

struct off_ent {
	struct hnode node;
	struct ph_proc_key key;
	size_t idx;
};

struct dst_ent {
	struct hnode node;
	struct ph_dest_key key;
	size_t idx;
};

struct ph_replay {
	struct ph_replay_opts o;
	struct ph_acct *acct;
	struct ph_summary s;
	__s64 wall_off;
	__u64 next_tick;
	__u64 tick_ns;		/* doubles every SAMPLES_PER_DOUBLING samples */
	__u64 nsamples;
	__u64 resync_ns;
	__u64 last_ns;
	bool stopped;
	struct htab offs, dsts;
	size_t off_cap, dst_cap;
};

void ph_replay_opts_init(struct ph_replay_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tick_s = 0.001;
	o->top_n = 5;
}

struct ph_replay *ph_replay_new(const struct ph_replay_opts *o)
{
	struct ph_replay *r = calloc(1, sizeof(*r));
	struct ph_acct_opts ao;

	if (!r)
		return NULL;
	r->o = *o;
	r->tick_ns = (__u64)(o->tick_s * 1e9);
	r->s.chart_procs = o->top_n;
	ph_acct_opts_init(&ao);
	ao.tw_expire_s = 60;		/* TCP_TIMEWAIT_LEN */
	ao.proc_ttl_s = 1e12;		/* a report keeps every process it saw */
	ao.max_sockets = 1 << 24;
	ao.max_procs = 1 << 22;
	ao.eta_window_s = 30;
	r->acct = ph_acct_new(&ao);
	if (!r->acct) {
		free(r);
		return NULL;
	}
	htab_init(&r->offs, offsetof(struct off_ent, key) - offsetof(struct off_ent, node),
		  sizeof(struct ph_proc_key));
	htab_init(&r->dsts, offsetof(struct dst_ent, key) - offsetof(struct dst_ent, node),
		  sizeof(struct ph_dest_key));
	return r;
}

void ph_replay_free(struct ph_replay *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->s.noffenders; i++) {
		free(r->s.offenders[i].meta.cmdline);
		free(r->s.offenders[i].meta.cgroup);
		free(r->s.offenders[i].series);
		for (int k = 0; k < PH_CHART_STATES; k++)
			free(r->s.offenders[i].state_series[k]);
	}
	for (size_t i = 0; i < r->s.ndests; i++) {
		free(r->s.dests[i].series);
		free(r->s.dests[i].fail_t);
	}
	free(r->s.offenders);
	free(r->s.dests);
	free(r->s.findings);
	htab_free_entries(&r->offs, offsetof(struct off_ent, node));
	htab_free_entries(&r->dsts, offsetof(struct dst_ent, node));
	ph_acct_free(r->acct);
	free(r);
}

static double wall(const struct ph_replay *r, __u64 mono_ns)
{
	return ((double)mono_ns + (double)r->wall_off) / 1e9;
}

void ph_replay_header(struct ph_replay *r, const char *host, const char *kernel,
		      const char *version, const char *attach, __s64 mono_to_wall_ns,
		      double start_wall)
{
	snprintf(r->s.hostname, sizeof(r->s.hostname), "%s", host ? host : "");
	snprintf(r->s.kernel, sizeof(r->s.kernel), "%s", kernel ? kernel : "");
	snprintf(r->s.version, sizeof(r->s.version), "%s", version ? version : "");
	snprintf(r->s.attach, sizeof(r->s.attach), "%s", attach ? attach : "");
	r->wall_off = mono_to_wall_ns;
	r->s.start_t = start_wall;
	/* files are untrusted: only a start that fits the clock is used */
	if (start_wall > 0 && start_wall * 1e9 - (double)mono_to_wall_ns > 0 &&
	    start_wall * 1e9 - (double)mono_to_wall_ns < 1.8e19) {
		__u64 start_mono = (__u64)(start_wall * 1e9 - (double)mono_to_wall_ns);

		ph_acct_tick(r->acct, start_mono);
		r->last_ns = start_mono;
	}
}

void ph_replay_netns(struct ph_replay *r, const struct ph_netns_info *n)
{
	ph_acct_netns(r->acct, n);
}

void ph_replay_proc(struct ph_replay *r, const struct ph_proc_meta *m)
{
	ph_acct_proc_meta(r->acct, m);
}

void ph_replay_sock(struct ph_replay *r, const struct ph_sock_entry *s)
{
	ph_acct_add_sock(r->acct, s);
}

void ph_replay_lost(struct ph_replay *r, __u64 lost_total, __u64 skipped_total)
{
	if (lost_total > r->s.lost_events)
		r->s.lost_events = lost_total;
	if (skipped_total > r->s.skipped_events)
		r->s.skipped_events = skipped_total;
}

void ph_replay_trigger(struct ph_replay *r, double t, const char *what)
{
	if (!r->s.trigger[0])
		snprintf(r->s.trigger, sizeof(r->s.trigger), "%s", what);
	(void)t;
}

void ph_replay_file(struct ph_replay *r, const struct ph_file_note *n)
{
	r->s.file = *n;
}

static void *grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	p = realloc(arr, ncap * elem);
	if (!p)
		return NULL;
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*cap = ncap;
	return p;
}

static void add_point(struct ph_series_pt **arr, size_t *n, double t, __u32 v)
{
	struct ph_series_pt *p;

	/* sparse: only changes (the chart draws steps) */
	if (*n && (*arr)[*n - 1].v == v)
		return;
	p = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!p)
		return;
	p[*n].t = t;
	p[*n].v = v;
	*arr = p;
	(*n)++;
}

static void add_state_points(struct ph_offender *o, double t, const struct ph_proc_view *v)
{
	const __u32 val[PH_CHART_STATES] = {
		[PH_CS_ESTABLISHED] = v->by_state[PH_ST_ESTABLISHED],
		[PH_CS_TIME_WAIT] = v->time_wait,
		[PH_CS_SYN_SENT] = v->by_state[PH_ST_SYN_SENT],
	};

	for (int k = 0; k < PH_CHART_STATES; k++) {
		add_point(&o->state_series[k], &o->nstate[k], t, val[k]);
		if (val[k] > o->peak_state[k])
			o->peak_state[k] = val[k];
	}
}

static struct ph_offender *offender(struct ph_replay *r, const struct ph_proc_meta *m)
{
	struct hnode *n = htab_find(&r->offs, &m->key);
	struct off_ent *e;
	struct ph_offender *o;

	if (n)
		return &r->s.offenders[htab_entry(n, struct off_ent, node)->idx];
	o = grow(r->s.offenders, &r->off_cap, r->s.noffenders + 1, sizeof(*o));
	if (!o)
		return NULL;
	r->s.offenders = o;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = m->key;
	e->idx = r->s.noffenders++;
	htab_insert(&r->offs, &e->node);
	o = &r->s.offenders[e->idx];
	o->meta.key = m->key;
	return o;
}

static struct ph_dest_summary *dest_sum(struct ph_replay *r, const struct ph_dest_key *k)
{
	struct hnode *n = htab_find(&r->dsts, k);
	struct ph_dest_summary *d;
	struct dst_ent *e;

	if (n)
		return &r->s.dests[htab_entry(n, struct dst_ent, node)->idx];
	d = grow(r->s.dests, &r->dst_cap, r->s.ndests + 1, sizeof(*d));
	if (!d)
		return NULL;
	r->s.dests = d;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = *k;
	e->idx = r->s.ndests++;
	htab_insert(&r->dsts, &e->node);
	d = &r->s.dests[e->idx];
	d->key = *k;
	return d;
}

static void copy_meta(struct ph_proc_meta *dst, const struct ph_proc_meta *src)
{
	if (!dst->comm[0])
		memcpy(dst->comm, src->comm, sizeof(dst->comm));
	dst->uid = src->uid;
	dst->cgroup_id = src->cgroup_id;
	if (!dst->cmdline && src->cmdline)
		dst->cmdline = strdup(src->cmdline);
	if (!dst->cgroup && src->cgroup)
		dst->cgroup = strdup(src->cgroup);
}

static void sample(struct ph_replay *r, __u64 now)
{
	const struct ph_proc_view *pv;
	const struct ph_dest_view *dv;
	double t = wall(r, now);
	size_t np, nd;

	ph_acct_tick(r->acct, now);
	np = ph_acct_procs(r->acct, PH_SORT_HELD, &pv);
	nd = ph_acct_dests(r->acct, &dv);
	for (size_t i = 0; i < np; i++) {
		__u32 total = pv[i].ports_held + pv[i].time_wait;
		struct ph_offender *o;

		if (!total && !pv[i].opened && !pv[i].failed &&
		    !htab_find(&r->offs, &pv[i].meta->key))
			continue;
		o = offender(r, pv[i].meta);
		if (!o)
			continue;
		copy_meta(&o->meta, pv[i].meta);
		o->opened = pv[i].opened;
		o->failed = pv[i].failed;
		o->bind_failed = pv[i].bind_failed;
		if (pv[i].ports_held_tcp > o->peak_held_tcp)
			o->peak_held_tcp = pv[i].ports_held_tcp;
		if (pv[i].ports_held_udp > o->peak_held_udp)
			o->peak_held_udp = pv[i].ports_held_udp;
		if (pv[i].ports_held > o->peak_held) {
			o->peak_held = pv[i].ports_held;
			o->peak_t = t;
		}
		if (pv[i].time_wait > o->peak_time_wait)
			o->peak_time_wait = pv[i].time_wait;
		add_point(&o->series, &o->nseries, t, total);
		add_state_points(o, t, &pv[i]);
	}
	for (size_t i = 0; i < nd; i++) {
		struct ph_dest_summary *d = dest_sum(r, &dv[i].key);

		if (!d)
			continue;
		d->capacity = dv[i].capacity;
		d->failed = dv[i].failed;
		if (dv[i].in_use > d->peak_in_use || !d->peak_t) {
			d->peak_in_use = dv[i].in_use;
			d->peak_t = t;
		}
		add_point(&d->series, &d->nseries, t, dv[i].in_use);
	}
}

bool ph_replay_resync_begin(struct ph_replay *r, __u64 ts_ns)
{
	if (r->stopped || (r->o.stop_at > 0 && wall(r, ts_ns) > r->o.stop_at)) {
		r->stopped = true;
		return false;
	}
	ph_acct_restore_begin(r->acct, ts_ns);
	r->resync_ns = ts_ns;
	return true;
}

void ph_replay_resync_end(struct ph_replay *r)
{
	ph_acct_restore_end(r->acct);
	/* the table changed without events: the peaks and the chart see it */
	if (r->resync_ns >= r->last_ns) {
		sample(r, r->resync_ns);
		r->last_ns = r->resync_ns;
	}
}

static void sample_tick(struct ph_replay *r, __u64 at)
{
	sample(r, at);
	if (++r->nsamples % SAMPLES_PER_DOUBLING == 0)
		r->tick_ns *= 2;
}

static void capture_first_failure(struct ph_replay *r, const struct ph_event *e)
{
	struct ph_first_failure *ff = &r->s.first_failure;
	const struct ph_proc_view *pv;
	const struct ph_dest_view *dv;
	size_t np, nd;

	ff->seen = true;
	ff->t = wall(r, e->ts_ns);
	ff->pid = e->pid;
	memcpy(ff->comm, e->comm, PH_COMM_LEN);
	ff->comm[PH_COMM_LEN] = 0;
	memset(&ff->dest, 0, sizeof(ff->dest));
	ff->dest.netns = e->netns;
	ff->dest.family = e->family;
	ff->dest.dport = e->dport;
	memcpy(ff->dest.saddr, e->saddr, 16);
	memcpy(ff->dest.daddr, e->daddr, 16);
	/* the state at that instant */
	sample(r, e->ts_ns);
	np = ph_acct_procs(r->acct, PH_SORT_HELD, &pv);
	for (size_t i = 0; i < np && ff->nholders < ARRAY_SIZE(ff->holders); i++) {
		struct ph_ff_holder *h = &ff->holders[ff->nholders];

		if (!pv[i].ports_held && !pv[i].time_wait)
			break;
		h->pid = pv[i].meta->key.pid;
		memcpy(h->comm, pv[i].meta->comm, sizeof(h->comm));
		h->held = pv[i].ports_held + pv[i].time_wait;
		ff->nholders++;
	}
	nd = ph_acct_dests(r->acct, &dv);
	for (size_t i = 0; i < nd; i++) {
		if (!memcmp(&dv[i].key, &ff->dest, sizeof(ff->dest))) {
			ff->in_use = dv[i].in_use;
			ff->capacity = dv[i].capacity;
		}
	}
}

bool ph_replay_event(struct ph_replay *r, const struct ph_event *e)
{
	double t = wall(r, e->ts_ns);

	if (r->stopped)
		return false;
	if (r->o.stop_at > 0 && t > r->o.stop_at) {
		r->stopped = true;
		return false;
	}
	if (!r->next_tick)
		r->next_tick = e->ts_ns;
	/*
	 * Only events change the state (and TIME_WAIT expiry): at most two
	 * samples per event, one at the due tick and one just before the event
	 * after a quiet gap.
	 */
	if (r->tick_ns && r->next_tick <= e->ts_ns) {
		sample_tick(r, r->next_tick);
		if (r->next_tick + r->tick_ns <= e->ts_ns)
			sample_tick(r, e->ts_ns - e->ts_ns % r->tick_ns);
		r->next_tick = e->ts_ns - e->ts_ns % r->tick_ns + r->tick_ns;
	}
	ph_acct_event(r->acct, e);
	if (!r->s.events++)
		r->s.first_t = t;
	r->s.last_t = t;
	r->last_ns = e->ts_ns;
	if (e->type == PH_EV_BIND_FAILED)
		r->s.bind_failures++;
	if (e->type == PH_EV_CONNECT_FAILED && e->protocol == PH_PROTO_UDP)
		r->s.udp_failures++;
	if (e->type == PH_EV_CONNECT_FAILED && e->err == EADDRNOTAVAIL_ERR) {
		struct ph_dest_key k = { .netns = e->netns, .family = e->family, .dport = e->dport };
		struct ph_dest_summary *d;

		memcpy(k.saddr, e->saddr, 16);
		memcpy(k.daddr, e->daddr, 16);
		if (!r->s.first_failure.seen)
			capture_first_failure(r, e);
		d = dest_sum(r, &k);
		if (d) {
			double *ft = realloc(d->fail_t, (d->nfail + 1) * sizeof(*ft));

			if (ft) {
				ft[d->nfail++] = t;
				d->fail_t = ft;
			}
		}
	}
	return true;
}

static int cmp_offender(const void *x, const void *y)
{
	const struct ph_offender *a = x, *b = y;

	if (a->peak_held != b->peak_held)
		return a->peak_held > b->peak_held ? -1 : 1;
	if (a->failed != b->failed)
		return a->failed > b->failed ? -1 : 1;
	return a->meta.key.pid < b->meta.key.pid ? -1 : a->meta.key.pid > b->meta.key.pid;
}

static int cmp_dest(const void *x, const void *y)
{
	const struct ph_dest_summary *a = x, *b = y;

	if (a->failed != b->failed)
		return a->failed > b->failed ? -1 : 1;
	if (a->peak_in_use != b->peak_in_use)
		return a->peak_in_use > b->peak_in_use ? -1 : 1;
	return 0;
}

const struct ph_summary *ph_replay_finish(struct ph_replay *r)
{
	struct ph_diag_opts dopts;
	struct hnode *n, *tmp;
	size_t i;

	if (r->last_ns)
		sample(r, r->last_ns);
	ph_diag_opts_init(&dopts);
	free(r->s.findings);
	r->s.nfindings = ph_diagnose(r->acct, &dopts, &r->s.findings);
	if (r->s.noffenders)
		qsort(r->s.offenders, r->s.noffenders, sizeof(*r->s.offenders), cmp_offender);
	if (r->s.ndests)
		qsort(r->s.dests, r->s.ndests, sizeof(*r->s.dests), cmp_dest);
	/* indices are stale after sorting */
	htab_for_each(&r->offs, n, tmp, i) {
		htab_remove(&r->offs, n);
		free(htab_entry(n, struct off_ent, node));
	}
	htab_for_each(&r->dsts, n, tmp, i) {
		htab_remove(&r->dsts, n);
		free(htab_entry(n, struct dst_ent, node));
	}
	return &r->s;
}

struct ph_acct *ph_replay_acct(struct ph_replay *r)
{
	return r->acct;
}

__s64 ph_replay_wall_off(const struct ph_replay *r)
{
	return r->wall_off;
}
