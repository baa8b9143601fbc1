// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus text exposition 0.0.4 and OpenMetrics 1.0.0 of the accounting state. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diagnose.h"
#include "event.h"
#include "htab.h"
#include "metrics.h"
#include "output.h"
#include "textesc.h"

/* One series of each kind, labels already escaped and joined. */
struct pser {
	char *labels;
	__u64 held, opened, failed;
	__u64 held_tcp, held_udp, bind_ephemeral, bind_failed;
};

struct dser {
	char *labels;
	__u64 in_use, time_wait, capacity, failed;
	double headroom;	/* ratio, 0..1 */
	bool has_capacity;
};

/* porthog_finding_ports */
struct fser {
	char *labels;
	__u64 ports;
};

struct nser {
	__u32 inode, lo, hi;
	__u64 in_use;
	bool has_range;
	struct ph_proto_usage tcp, udp;
};

/* Last counter values of one engine key, to grow the "other" counters. */
struct pctr {
	struct hnode node;
	struct ph_proc_key key;
	__u64 opened, failed, bind_failed;
	__u32 gen;
	bool exited;		/* proc_alive said so: (pid, start) never comes back */
};

struct dctr {
	struct hnode node;
	struct ph_dest_key key;
	__u64 failed;
	__u32 gen;
};

struct ph_metrics {
	struct ph_metrics_opts o;
	struct pser *ps;
	struct dser *ds;
	struct nser *ns;
	struct fser *fs;
	size_t nps, nds, nns, nfs;
	size_t cap_ps, cap_ds, cap_ns, cap_fs;
	/* only-growing counters of the "other" series */
	__u64 other_opened, other_pfailed, other_dfailed, other_bfailed;
	struct htab pctrs, dctrs;
	__u32 gen;
	/* globals of the last update */
	char attach[64], snapshot[16];
	__u64 lost, skipped, sockets, procs;
	double ts;
};

size_t ph_prom_escape(const char *in, size_t max_in, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0;

	if (!size)
		return 0;
	while (in && i < max_in && p[i]) {
		char pic[4] = "\xe2\x90\x80";	/* U+2400 + byte: the Unicode "control pictures" */
		const char *rep = NULL;
		__u32 cp = 0;
		int len = ph_utf8_next(p + i, max_in - i, &cp);
		size_t n, adv = 1;

		if (len < 0)
			break;		/* keep whole characters only */
		if (!len)
			rep = "\xef\xbf\xbd";
		else if (p[i] == '\\')
			rep = "\\\\";
		else if (p[i] == '"')
			rep = "\\\"";
		else if (p[i] == '\n')
			rep = "\\n";
		/*
		 * Valid in the format, but not on the terminal of whoever curls
		 * /metrics: other C0 bytes and DEL as their control picture, C1 as U+FFFD.
		 */
		else if (p[i] < 0x20 || p[i] == 0x7f)
			rep = (pic[2] = (char)(0x80 + (p[i] == 0x7f ? 0x21 : p[i])), pic);
		else if (len == 2 && cp < 0xa0)
			rep = "\xef\xbf\xbd", adv = 2;
		if (rep) {
			n = strlen(rep);
		} else {
			n = len;
			adv = len;
		}
		if (o + n >= size)
			break;
		memcpy(out + o, rep ? rep : (const char *)p + i, n);
		o += n;
		i += adv;
	}
	out[o] = '\0';
	return o;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* The q-value in the parameters [p, end) of one Accept entry: 1 if none, 0 if bad. */
static double accept_q(const char *p, const char *end)
{
	double q = 1;

	while (p && p < end) {
		const char *v = p + 1, *next = memchr(v, ';', end - v);
		const char *pend = next ? next : end;

		while (v < pend && is_ws(*v))
			v++;
		if (v < pend && (*v == 'q' || *v == 'Q')) {
			char num[16], *e;
			size_t len;

			v++;
			while (v < pend && is_ws(*v))
				v++;
			if (v < pend && *v == '=') {
				v++;
				while (v < pend && is_ws(*v))
					v++;
				len = pend - v;
				while (len && is_ws(v[len - 1]))
					len--;
				if (len >= sizeof(num))
					return 0;
				memcpy(num, v, len);
				num[len] = '\0';
				q = strtod(num, &e);
				if (!len || *e || q != q || q < 0)
					return 0;
				if (q > 1)
					q = 1;
			}
		}
		p = next;
	}
	return q;
}

bool ph_accept_openmetrics(const char *accept)
{
	static const char om[] = "application/openmetrics-text";
	const char *s = accept;
	double q_om = 0, q_text = 0;

	while (s && *s) {
		const char *end = strchr(s, ','), *semi;
		size_t len;
		double q;

		if (!end)
			end = s + strlen(s);
		while (s < end && is_ws(*s))
			s++;
		semi = memchr(s, ';', end - s);
		len = (semi ? semi : end) - s;
		while (len && is_ws(s[len - 1]))
			len--;
		q = accept_q(semi, end);
		if (len == sizeof(om) - 1 && !strncasecmp(s, om, len)) {
			if (q > q_om)
				q_om = q;
		} else if ((len == 10 && !strncasecmp(s, "text/plain", len)) ||
			   (len == 6 && !strncasecmp(s, "text/*", len)) ||
			   (len == 3 && !strncmp(s, "*/*", len))) {
			if (q > q_text)
				q_text = q;
		}
		s = *end ? end + 1 : end;
	}
	return q_om > 0 && q_om >= q_text;
}

struct ph_metrics *ph_metrics_new(const struct ph_metrics_opts *o)
{
	struct ph_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->o = *o;
	if (!m->o.max_series)
		m->o.max_series = 50;
	htab_init(&m->pctrs, offsetof(struct pctr, key) - offsetof(struct pctr, node),
		  sizeof(struct ph_proc_key));
	htab_init(&m->dctrs, offsetof(struct dctr, key) - offsetof(struct dctr, node),
		  sizeof(struct ph_dest_key));
	return m;
}

static void free_series(struct ph_metrics *m)
{
	for (size_t i = 0; i < m->nps; i++)
		free(m->ps[i].labels);
	for (size_t i = 0; i < m->nds; i++)
		free(m->ds[i].labels);
	for (size_t i = 0; i < m->nfs; i++)
		free(m->fs[i].labels);
	m->nps = m->nds = m->nns = m->nfs = 0;
}

static void prune(struct htab *h, size_t node_off, __u32 gen, size_t gen_off, bool all)
{
	struct hnode *n, *tmp;
	size_t i;

	htab_for_each(h, n, tmp, i) {
		char *ent = (char *)n - node_off;

		if (!all && *(__u32 *)(ent + gen_off) == gen)
			continue;
		htab_remove(h, n);
		free(ent);
	}
}

void ph_metrics_free(struct ph_metrics *m)
{
	if (!m)
		return;
	free_series(m);
	free(m->ps);
	free(m->ds);
	free(m->ns);
	free(m->fs);
	prune(&m->pctrs, offsetof(struct pctr, node), 0, offsetof(struct pctr, gen), true);
	prune(&m->dctrs, offsetof(struct dctr, node), 0, offsetof(struct dctr, gen), true);
	htab_free(&m->pctrs);
	htab_free(&m->dctrs);
	free(m);
}

static int reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	void *p;

	if (need <= *cap)
		return 0;
	p = realloc(*arr, need * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = need;
	return 0;
}

/* Most ports held first; ties: failing, TIME_WAIT, opened, then pid. */
static int cmp_proc(const void *x, const void *y)
{
	const struct ph_proc_view *a = *(const struct ph_proc_view *const *)x;
	const struct ph_proc_view *b = *(const struct ph_proc_view *const *)y;

	if (a->ports_held != b->ports_held)
		return a->ports_held > b->ports_held ? -1 : 1;
	if (a->failed != b->failed)
		return a->failed > b->failed ? -1 : 1;
	if (a->time_wait != b->time_wait)
		return a->time_wait > b->time_wait ? -1 : 1;
	if (a->opened != b->opened)
		return a->opened > b->opened ? -1 : 1;
	if (a->meta->key.pid != b->meta->key.pid)
		return a->meta->key.pid < b->meta->key.pid ? -1 : 1;
	return a->meta->key.start < b->meta->key.start ? -1 : a->meta->key.start > b->meta->key.start;
}

/* Failing destinations first, then most ports in use, then least headroom. */
static int cmp_dest(const void *x, const void *y)
{
	const struct ph_dest_view *a = *(const struct ph_dest_view *const *)x;
	const struct ph_dest_view *b = *(const struct ph_dest_view *const *)y;

	if (!a->failed != !b->failed)
		return a->failed ? -1 : 1;
	if (a->in_use != b->in_use)
		return a->in_use > b->in_use ? -1 : 1;
	if (a->headroom_pct != b->headroom_pct)
		return a->headroom_pct < b->headroom_pct ? -1 : 1;
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

static int cmp_netns(const void *x, const void *y)
{
	const struct ph_netns_view *a = *(const struct ph_netns_view *const *)x;
	const struct ph_netns_view *b = *(const struct ph_netns_view *const *)y;

	if (a->ports_in_use != b->ports_in_use)
		return a->ports_in_use > b->ports_in_use ? -1 : 1;
	return a->info->inode < b->info->inode ? -1 : a->info->inode > b->info->inode;
}

static int cmp_pser_labels(const void *x, const void *y)
{
	return strcmp(((const struct pser *)x)->labels, ((const struct pser *)y)->labels);
}

static int cmp_pser_held(const void *x, const void *y)
{
	const struct pser *a = x, *b = y;

	if (a->held != b->held)
		return a->held > b->held ? -1 : 1;
	return strcmp(a->labels, b->labels);
}

static int cmp_dser_labels(const void *x, const void *y)
{
	return strcmp(((const struct dser *)x)->labels, ((const struct dser *)y)->labels);
}

static int cmp_dser_order(const void *x, const void *y)
{
	const struct dser *a = x, *b = y;

	if (!a->failed != !b->failed)
		return a->failed ? -1 : 1;
	if (a->in_use != b->in_use)
		return a->in_use > b->in_use ? -1 : 1;
	return strcmp(a->labels, b->labels);
}

/*
 * Two engine keys can end up with the same labels (a reused PID with the same
 * comm and cgroup): one series each would be a duplicate, so merge them.
 */
static size_t dedup_procs(struct pser *ps, size_t n)
{
	size_t k = 0;

	qsort(ps, n, sizeof(*ps), cmp_pser_labels);
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(ps[k - 1].labels, ps[i].labels)) {
			ps[k - 1].held += ps[i].held;
			ps[k - 1].opened += ps[i].opened;
			ps[k - 1].failed += ps[i].failed;
			free(ps[i].labels);
			continue;
		}
		ps[k++] = ps[i];
	}
	qsort(ps, k, sizeof(*ps), cmp_pser_held);
	return k;
}

static size_t dedup_dests(struct dser *ds, size_t n)
{
	size_t k = 0;

	qsort(ds, n, sizeof(*ds), cmp_dser_labels);
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(ds[k - 1].labels, ds[i].labels)) {
			struct dser *d = &ds[k - 1];

			d->in_use += ds[i].in_use;
			d->time_wait += ds[i].time_wait;
			d->failed += ds[i].failed;
			if (ds[i].capacity > d->capacity)
				d->capacity = ds[i].capacity;
			if (ds[i].headroom < d->headroom)
				d->headroom = ds[i].headroom;
			free(ds[i].labels);
			continue;
		}
		ds[k++] = ds[i];
	}
	qsort(ds, k, sizeof(*ds), cmp_dser_order);
	return k;
}

static struct pctr *get_pctr(struct ph_metrics *m, const struct ph_proc_key *key)
{
	struct ph_proc_key k = { .pid = key->pid, .start = key->start };
	struct hnode *n = htab_find(&m->pctrs, &k);
	struct pctr *c;

	if (n)
		return htab_entry(n, struct pctr, node);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = k;
	if (htab_insert(&m->pctrs, &c->node)) {
		free(c);
		return NULL;
	}
	return c;
}

static struct dctr *get_dctr(struct ph_metrics *m, const struct ph_dest_key *key)
{
	struct ph_dest_key k = *key;
	struct hnode *n;
	struct dctr *c;

	n = htab_find(&m->dctrs, &k);
	if (n)
		return htab_entry(n, struct dctr, node);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = k;
	if (htab_insert(&m->dctrs, &c->node)) {
		free(c);
		return NULL;
	}
	return c;
}

static __u64 grew(__u64 now, __u64 before)
{
	return now > before ? now - before : 0;
}

static char *proc_labels(const struct ph_proc_view *v)
{
	const struct ph_proc_meta *mt = v->meta;
	char comm[PH_COMM_LEN * 3 + 1], cg[PH_METRICS_LABEL_MAX * 3 + 1], *s;
	struct ph_workload w;

	ph_prom_escape(mt->comm, PH_COMM_LEN, comm, sizeof(comm));
	ph_prom_escape(mt->cgroup, PH_METRICS_LABEL_MAX, cg, sizeof(cg));
	/* parsed from the cgroup path: hex digits and dashes only, nothing to escape */
	ph_cgroup_workload(mt->cgroup, &w);
	if (asprintf(&s, "pid=\"%u\",comm=\"%s\",cgroup=\"%s\",pod_uid=\"%s\",container=\"%.*s\"",
		     mt->key.pid, comm, cg, w.pod_uid, PH_CONTAINER_SHORT, w.container) < 0)
		return NULL;
	return s;
}

static char *dest_labels(const struct ph_dest_key *k)
{
	char sa[PH_ADDR_STRLEN], da[PH_ADDR_STRLEN], *s;

	ph_addr_fmt(k->family, k->saddr, sa, sizeof(sa));
	ph_addr_fmt(k->family, k->daddr, da, sizeof(da));
	if (asprintf(&s, "netns=\"%u\",saddr=\"%s\",daddr=\"%s\",dport=\"%u\",protocol=\"%s\"",
		     k->netns, sa, da, k->dport, ph_protocol_name(k->protocol)) < 0)
		return NULL;
	return s;
}

static int update_procs(struct ph_metrics *m, struct ph_acct *a, const struct ph_out_ctx *c)
{
	const struct ph_proc_view *pv, **sel = NULL;
	struct pser other = {};
	size_t np, n = 0, top, own = 0, rest = 0;
	bool have_other;

	np = ph_acct_procs(a, PH_SORT_HELD, &pv);
	if (np && !(sel = malloc(np * sizeof(*sel))))
		return -ENOMEM;
	for (size_t i = 0; i < np; i++)
		if (ph_out_proc_match(c, &pv[i]))
			sel[n++] = &pv[i];
	if (n > 1)
		qsort(sel, n, sizeof(*sel), cmp_proc);
	top = n < m->o.max_series ? n : m->o.max_series;
	if (reserve((void **)&m->ps, &m->cap_ps, top + 1, sizeof(*m->ps))) {
		free(sel);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ph_proc_view *v = sel[i];
		struct pctr *pc = get_pctr(m, &v->meta->key);
		/*
		 * Exited: no series of its own. Only checked while the top is not
		 * full, for processes that hold nothing (sel is sorted by ports
		 * held, so these come last), and once per exited process: at most
		 * --max-series /proc reads per update, plus one per new exit.
		 */
		bool gone = own < top && !v->ports_held && m->o.proc_alive &&
			    ((pc && pc->exited) ||
			     !m->o.proc_alive(v->meta->key.pid, v->meta->key.start));

		if (own < top && !gone) {
			struct pser *s = &m->ps[m->nps];

			own++;
			s->labels = proc_labels(v);
			if (s->labels) {
				s->held = v->ports_held;
				s->opened = v->opened;
				s->failed = v->failed;
				s->held_tcp = v->ports_held_tcp;
				s->held_udp = v->ports_held_udp;
				s->bind_ephemeral = v->bind_ephemeral;
				s->bind_failed = v->bind_failed;
				m->nps++;
			}
		} else {
			if (!gone)
				rest++;
			other.held += v->ports_held;
			other.held_tcp += v->ports_held_tcp;
			other.held_udp += v->ports_held_udp;
			other.bind_ephemeral += v->bind_ephemeral;
			if (pc) {
				m->other_opened += grew(v->opened, pc->opened);
				m->other_pfailed += grew(v->failed, pc->failed);
				m->other_bfailed += grew(v->bind_failed, pc->bind_failed);
			}
		}
		if (pc) {
			pc->opened = v->opened;
			pc->failed = v->failed;
			pc->bind_failed = v->bind_failed;
			pc->gen = m->gen;
			if (gone)
				pc->exited = true;
		}
	}
	free(sel);
	prune(&m->pctrs, offsetof(struct pctr, node), m->gen, offsetof(struct pctr, gen), false);
	m->nps = dedup_procs(m->ps, m->nps);
	have_other = rest || m->other_opened || m->other_pfailed || m->other_bfailed;
	if (have_other && (other.labels = strdup("pid=\"other\",comm=\"other\",cgroup=\"other\","
						 "pod_uid=\"other\",container=\"other\""))) {
		other.opened = m->other_opened;
		other.failed = m->other_pfailed;
		other.bind_failed = m->other_bfailed;
		m->ps[m->nps++] = other;
	}
	return 0;
}

static int update_dests(struct ph_metrics *m, struct ph_acct *a, const struct ph_out_ctx *c)
{
	const struct ph_dest_view *dv, **sel = NULL;
	struct dser other = { .headroom = 1 };
	size_t nd, n = 0, top;
	bool have_other;

	nd = ph_acct_dests(a, &dv);
	if (nd && !(sel = malloc(nd * sizeof(*sel))))
		return -ENOMEM;
	for (size_t i = 0; i < nd; i++)
		if (ph_out_dest_match(c, &dv[i]))
			sel[n++] = &dv[i];
	if (n > 1)
		qsort(sel, n, sizeof(*sel), cmp_dest);
	top = n < m->o.max_series ? n : m->o.max_series;
	if (reserve((void **)&m->ds, &m->cap_ds, top + 1, sizeof(*m->ds))) {
		free(sel);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ph_dest_view *v = sel[i];
		struct dctr *dc = get_dctr(m, &v->key);
		double hr = v->headroom_pct / 100;

		if (hr < 0)
			hr = 0;
		if (hr > 1)
			hr = 1;
		if (i < top) {
			struct dser *s = &m->ds[m->nds];

			s->labels = dest_labels(&v->key);
			if (s->labels) {
				s->in_use = v->in_use;
				s->time_wait = v->time_wait;
				s->capacity = v->capacity;
				s->has_capacity = true;
				s->headroom = hr;
				s->failed = v->failed;
				m->nds++;
			}
		} else {
			other.in_use += v->in_use;
			other.time_wait += v->time_wait;
			if (hr < other.headroom)
				other.headroom = hr;
			if (dc)
				m->other_dfailed += grew(v->failed, dc->failed);
		}
		if (dc) {
			dc->failed = v->failed;
			dc->gen = m->gen;
		}
	}
	free(sel);
	prune(&m->dctrs, offsetof(struct dctr, node), m->gen, offsetof(struct dctr, gen), false);
	m->nds = dedup_dests(m->ds, m->nds);
	have_other = n > top || m->other_dfailed;
	if (have_other &&
	    (other.labels = strdup("netns=\"other\",saddr=\"other\",daddr=\"other\",dport=\"other\","
				   "protocol=\"other\""))) {
		other.failed = m->other_dfailed;
		m->ds[m->nds++] = other;
	}
	return 0;
}

static int update_netns(struct ph_metrics *m, struct ph_acct *a, const struct ph_out_ctx *c)
{
	const struct ph_netns_view *nv, **sel = NULL;
	struct nser other = {};
	size_t nn, n = 0, top;

	nn = ph_acct_netns_views(a, &nv);
	if (nn && !(sel = malloc(nn * sizeof(*sel))))
		return -ENOMEM;
	for (size_t i = 0; i < nn; i++)
		if (!c->netns || nv[i].info->inode == c->netns)
			sel[n++] = &nv[i];
	if (n > 1)
		qsort(sel, n, sizeof(*sel), cmp_netns);
	top = n < m->o.max_series ? n : m->o.max_series;
	if (reserve((void **)&m->ns, &m->cap_ns, top + 1, sizeof(*m->ns))) {
		free(sel);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ph_netns_view *v = sel[i];

		if (i >= top) {
			other.in_use += v->ports_in_use;
			other.tcp.in_use += v->tcp.in_use;
			other.udp.in_use += v->udp.in_use;
			continue;
		}
		m->ns[m->nns++] = (struct nser){
			.inode = v->info->inode,
			.lo = v->info->range_lo,
			.hi = v->info->range_hi,
			.in_use = v->ports_in_use,
			.has_range = true,
			.tcp = v->tcp,
			.udp = v->udp,
		};
	}
	if (n > top)
		m->ns[m->nns++] = other;
	free(sel);
	return 0;
}

static int cmp_fser_labels(const void *x, const void *y)
{
	return strcmp(((const struct fser *)x)->labels, ((const struct fser *)y)->labels);
}

static int cmp_fser_ports(const void *x, const void *y)
{
	const struct fser *a = x, *b = y;

	if (a->ports != b->ports)
		return a->ports > b->ports ? -1 : 1;
	return strcmp(a->labels, b->labels);
}

static char *finding_labels(const struct ph_finding *f)
{
	char comm[PH_COMM_LEN * 3 + 1], cg[PH_METRICS_LABEL_MAX * 3 + 1], da[PH_ADDR_STRLEN] = "";
	char dport[8] = "", *s;

	ph_prom_escape(f->comm, PH_COMM_LEN, comm, sizeof(comm));
	ph_prom_escape(f->cgroup, PH_METRICS_LABEL_MAX, cg, sizeof(cg));
	/* namespace-wide findings (range) have no destination */
	if (f->dport) {
		ph_addr_fmt(f->family, f->daddr, da, sizeof(da));
		snprintf(dport, sizeof(dport), "%u", f->dport);
	}
	/* pod_uid and container: hex digits and dashes from the parser, nothing to escape */
	if (asprintf(&s, "kind=\"%s\",severity=\"%s\",comm=\"%s\",cgroup=\"%s\",pod_uid=\"%s\","
		     "container=\"%s\",netns=\"%u\",daddr=\"%s\",dport=\"%s\"",
		     ph_find_kind_name(f->kind), ph_severity_name(f->severity), comm, cg, f->pod_uid,
		     f->container, f->netns, da, dport) < 0)
		return NULL;
	return s;
}

/*
 * Findings come most severe first, then by ports: the first max_series get
 * series of their own, the rest one "other" series per kind and severity.
 */
static int update_findings(struct ph_metrics *m, struct ph_acct *a)
{
	__u64 other[PH_FIND_KINDS][PH_SEV_CRITICAL + 1] = {};
	bool has_other[PH_FIND_KINDS][PH_SEV_CRITICAL + 1] = {};
	struct ph_finding *fs = NULL;
	size_t n, own = 0, k = 0;
	struct ph_proc_key pk = { .pid = m->o.pid };

	n = ph_diagnose(a, m->o.diag, &fs);
	if (reserve((void **)&m->fs, &m->cap_fs,
		    (n < m->o.max_series ? n : m->o.max_series) + ARRAY_SIZE(other) *
		    ARRAY_SIZE(other[0]), sizeof(*m->fs))) {
		free(fs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ph_finding *f = &fs[i];

		if ((m->o.pid && !ph_finding_of(f, &pk)) || (m->o.netns && f->netns != m->o.netns) ||
		    !ph_proc_filter_match(&m->o.filter, f->cgroup[0] ? f->cgroup : NULL))
			continue;
		if (f->kind >= PH_FIND_KINDS || f->severity > PH_SEV_CRITICAL)
			continue;
		if (own < m->o.max_series) {
			char *l = finding_labels(f);

			if (!l)
				continue;
			own++;
			m->fs[m->nfs++] = (struct fser){ .labels = l, .ports = f->ports };
		} else {
			other[f->kind][f->severity] += f->ports;
			has_other[f->kind][f->severity] = true;
		}
	}
	free(fs);
	/* two findings with the same labels (pids of one name and cgroup): one series */
	qsort(m->fs, m->nfs, sizeof(*m->fs), cmp_fser_labels);
	for (size_t i = 0; i < m->nfs; i++) {
		if (k && !strcmp(m->fs[k - 1].labels, m->fs[i].labels)) {
			m->fs[k - 1].ports += m->fs[i].ports;
			free(m->fs[i].labels);
			continue;
		}
		m->fs[k++] = m->fs[i];
	}
	m->nfs = k;
	qsort(m->fs, m->nfs, sizeof(*m->fs), cmp_fser_ports);
	for (int kd = 0; kd < PH_FIND_KINDS; kd++) {
		for (int sv = 0; sv <= PH_SEV_CRITICAL; sv++) {
			char *l;

			if (!has_other[kd][sv])
				continue;
			if (asprintf(&l, "kind=\"%s\",severity=\"%s\",comm=\"other\",cgroup=\"other\","
				     "pod_uid=\"other\",container=\"other\",netns=\"other\","
				     "daddr=\"other\",dport=\"other\"",
				     ph_find_kind_name(kd), ph_severity_name(sv)) < 0)
				continue;
			m->fs[m->nfs++] = (struct fser){ .labels = l, .ports = other[kd][sv] };
		}
	}
	return 0;
}

int ph_metrics_update(struct ph_metrics *m, struct ph_acct *a, const struct ph_metrics_info *info)
{
	struct ph_out_ctx c = { .pid = m->o.pid, .netns = m->o.netns, .filter = m->o.filter };
	struct ph_acct_counts cnt;
	int err;

	free_series(m);
	m->gen++;
	ph_acct_counts(a, &cnt);
	m->sockets = cnt.sockets;
	m->procs = cnt.procs;
	m->lost = info->lost_events;
	m->skipped = info->skipped_events;
	m->ts = info->ts;
	ph_prom_escape(info->attach_mode, SIZE_MAX, m->attach, sizeof(m->attach));
	ph_prom_escape(info->snapshot, SIZE_MAX, m->snapshot, sizeof(m->snapshot));
	err = update_procs(m, a, &c);
	if (!err)
		err = update_dests(m, a, &c);
	if (!err)
		err = update_netns(m, a, &c);
	if (!err && m->o.diag)
		err = update_findings(m, a);
	return err;
}

/* HELP and TYPE; counters are named without _total in OpenMetrics metadata. */
static void family(FILE *f, enum ph_metrics_fmt fmt, const char *name, const char *type,
		   const char *help)
{
	const char *sfx = !strcmp(type, "counter") && fmt == PH_FMT_PROM ? "_total" : "";

	fprintf(f, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, sfx, help, name, sfx, type);
}

#define FOR_PS(i) for (size_t i = 0; i < m->nps; i++)
#define FOR_DS(i) for (size_t i = 0; i < m->nds; i++)
#define FOR_NS(i) for (size_t i = 0; i < m->nns; i++)

static void netns_label(const struct nser *n, char *buf, size_t len)
{
	if (n->has_range)
		snprintf(buf, len, "%u", n->inode);
	else
		snprintf(buf, len, "other");
}

/*
 * One sample per protocol: NAME{LABELS[VALUE"],protocol="tcp|udp"}. For a
 * netns, labels is 'netns="' and value its label; else value is "" and labels
 * already complete.
 */
static void proto_pair(FILE *f, const char *name, const char *labels, const char *value,
		       unsigned long long tcp, unsigned long long udp)
{
	const char *close = value[0] ? "\"" : "";

	fprintf(f, "%s{%s%s%s,protocol=\"tcp\"} %llu\n", name, labels, value, close, tcp);
	fprintf(f, "%s{%s%s%s,protocol=\"udp\"} %llu\n", name, labels, value, close, udp);
}

static void render(struct ph_metrics *m, enum ph_metrics_fmt fmt, FILE *f)
{
	char nsl[16];

	family(f, fmt, "porthog_destination_ports_in_use", "gauge",
	       "Local ephemeral ports in use towards the destination, TIME_WAIT included.");
	FOR_DS(i)
		fprintf(f, "porthog_destination_ports_in_use{%s} %llu\n", m->ds[i].labels,
			(unsigned long long)m->ds[i].in_use);
	family(f, fmt, "porthog_destination_time_wait", "gauge",
	       "Ports towards the destination in TIME_WAIT.");
	FOR_DS(i)
		fprintf(f, "porthog_destination_time_wait{%s} %llu\n", m->ds[i].labels,
			(unsigned long long)m->ds[i].time_wait);
	family(f, fmt, "porthog_destination_capacity_ports", "gauge",
	       "Ports usable towards the destination: the ephemeral range minus reserved and listening ports (not given for other).");
	FOR_DS(i)
		if (m->ds[i].has_capacity)
			fprintf(f, "porthog_destination_capacity_ports{%s} %llu\n", m->ds[i].labels,
				(unsigned long long)m->ds[i].capacity);
	family(f, fmt, "porthog_destination_headroom_ratio", "gauge",
	       "Free share of the destination's capacity, 0..1 (other: the lowest of its members).");
	FOR_DS(i)
		fprintf(f, "porthog_destination_headroom_ratio{%s} %.6g\n", m->ds[i].labels,
			m->ds[i].headroom);
	family(f, fmt, "porthog_destination_connect_failures", "counter",
	       "connect() calls to the destination that failed with EADDRNOTAVAIL.");
	FOR_DS(i)
		fprintf(f, "porthog_destination_connect_failures_total{%s} %llu\n", m->ds[i].labels,
			(unsigned long long)m->ds[i].failed);

	family(f, fmt, "porthog_process_ports_held", "gauge",
	       "Ephemeral ports held by the process, TCP and UDP, TIME_WAIT not included.");
	FOR_PS(i)
		fprintf(f, "porthog_process_ports_held{%s} %llu\n", m->ps[i].labels,
			(unsigned long long)m->ps[i].held);
	family(f, fmt, "porthog_process_protocol_ports_held", "gauge",
	       "porthog_process_ports_held by protocol (TCP and UDP have separate port spaces).");
	FOR_PS(i)
		proto_pair(f, "porthog_process_protocol_ports_held", m->ps[i].labels, "",
			   m->ps[i].held_tcp, m->ps[i].held_udp);
	family(f, fmt, "porthog_process_bind_ephemeral_sockets", "gauge",
	       "Sockets of the process whose port came from bind(port 0) without IP_BIND_ADDRESS_NO_PORT: each takes a port of the whole range.");
	FOR_PS(i)
		fprintf(f, "porthog_process_bind_ephemeral_sockets{%s} %llu\n", m->ps[i].labels,
			(unsigned long long)m->ps[i].bind_ephemeral);
	family(f, fmt, "porthog_process_bind_failures", "counter",
	       "bind() calls of the process that got no port (EADDRINUSE).");
	FOR_PS(i)
		fprintf(f, "porthog_process_bind_failures_total{%s} %llu\n", m->ps[i].labels,
			(unsigned long long)m->ps[i].bind_failed);
	family(f, fmt, "porthog_process_connects", "counter",
	       "Outbound connections opened by the process since porthog first saw it.");
	FOR_PS(i)
		fprintf(f, "porthog_process_connects_total{%s} %llu\n", m->ps[i].labels,
			(unsigned long long)m->ps[i].opened);
	family(f, fmt, "porthog_process_connect_failures", "counter",
	       "connect() calls of the process that failed to get a local port.");
	FOR_PS(i)
		fprintf(f, "porthog_process_connect_failures_total{%s} %llu\n", m->ps[i].labels,
			(unsigned long long)m->ps[i].failed);

	family(f, fmt, "porthog_netns_port_range_low", "gauge",
	       "First port of the network namespace's ip_local_port_range.");
	FOR_NS(i) {
		if (!m->ns[i].has_range)
			continue;
		netns_label(&m->ns[i], nsl, sizeof(nsl));
		fprintf(f, "porthog_netns_port_range_low{netns=\"%s\"} %u\n", nsl, m->ns[i].lo);
	}
	family(f, fmt, "porthog_netns_port_range_high", "gauge",
	       "Last port of the network namespace's ip_local_port_range.");
	FOR_NS(i) {
		if (!m->ns[i].has_range)
			continue;
		netns_label(&m->ns[i], nsl, sizeof(nsl));
		fprintf(f, "porthog_netns_port_range_high{netns=\"%s\"} %u\n", nsl, m->ns[i].hi);
	}
	family(f, fmt, "porthog_netns_ports_in_use", "gauge",
	       "Distinct local ports of the ephemeral range in use by outbound sockets.");
	FOR_NS(i) {
		netns_label(&m->ns[i], nsl, sizeof(nsl));
		fprintf(f, "porthog_netns_ports_in_use{netns=\"%s\"} %llu\n", nsl,
			(unsigned long long)m->ns[i].in_use);
	}

	if (m->o.diag) {
		family(f, fmt, "porthog_finding_ports", "gauge",
		       "Ports a finding of the diagnosis accounts for (as porthog explain gives them): kind leak, churn, syn_hang, bind_hog, victim or range; severity info, warning or critical.");
		for (size_t i = 0; i < m->nfs; i++)
			fprintf(f, "porthog_finding_ports{%s} %llu\n", m->fs[i].labels,
				(unsigned long long)m->fs[i].ports);
	}

	family(f, fmt, "porthog_netns_protocol_ports_in_use", "gauge",
	       "Distinct ports of the ephemeral range in use, per protocol (TCP: listening and bound too).");
	FOR_NS(i) {
		netns_label(&m->ns[i], nsl, sizeof(nsl));
		proto_pair(f, "porthog_netns_protocol_ports_in_use", "netns=\"", nsl,
			   m->ns[i].tcp.in_use, m->ns[i].udp.in_use);
	}
	family(f, fmt, "porthog_netns_protocol_capacity_ports", "gauge",
	       "Ports of the ephemeral range a protocol can use: the range minus reserved ports.");
	FOR_NS(i) {
		if (!m->ns[i].has_range)
			continue;
		netns_label(&m->ns[i], nsl, sizeof(nsl));
		proto_pair(f, "porthog_netns_protocol_capacity_ports", "netns=\"", nsl,
			   m->ns[i].tcp.capacity, m->ns[i].udp.capacity);
	}
	family(f, fmt, "porthog_netns_port_failures", "counter",
	       "Attempts that got no port: TCP bind() EADDRINUSE, UDP autobind or bind() (EAGAIN).");
	FOR_NS(i) {
		if (!m->ns[i].has_range)
			continue;
		netns_label(&m->ns[i], nsl, sizeof(nsl));
		proto_pair(f, "porthog_netns_port_failures_total", "netns=\"", nsl,
			   m->ns[i].tcp.failed, m->ns[i].udp.failed);
	}

	family(f, fmt, "porthog_lost_events", "counter",
	       "Events the kernel could not hand to porthog (ring buffer full).");
	fprintf(f, "porthog_lost_events_total %llu\n", (unsigned long long)m->lost);
	family(f, fmt, "porthog_skipped_events", "counter",
	       "Tracepoint hits the kernel skipped while porthog's program ran on the same CPU, "
	       "that nothing caught.");
	fprintf(f, "porthog_skipped_events_total %llu\n", (unsigned long long)m->skipped);
	if (fmt == PH_FMT_OPENMETRICS)
		fprintf(f, "# HELP porthog Version, probe backend and snapshot mode of porthog.\n"
			"# TYPE porthog info\n");
	else
		family(f, fmt, "porthog_info", "gauge",
		       "Version, probe backend and snapshot mode of porthog (always 1).");
	fprintf(f, "porthog_info{version=\"%s\",attach_mode=\"%s\",snapshot=\"%s\"} 1\n",
		PORTHOG_VERSION, m->attach, m->snapshot);
	family(f, fmt, "porthog_tracked_sockets", "gauge", "Sockets in porthog's table.");
	fprintf(f, "porthog_tracked_sockets %llu\n", (unsigned long long)m->sockets);
	family(f, fmt, "porthog_tracked_processes", "gauge", "Processes in porthog's table.");
	fprintf(f, "porthog_tracked_processes %llu\n", (unsigned long long)m->procs);
	family(f, fmt, "porthog_last_update_timestamp_seconds", "gauge",
	       "Unix time of the last refresh of these metrics.");
	fprintf(f, "porthog_last_update_timestamp_seconds %.3f\n", m->ts);
}

int ph_metrics_render(struct ph_metrics *m, enum ph_metrics_fmt fmt, char **buf, size_t *len)
{
	FILE *f;
	int err = 0;

	*buf = NULL;
	*len = 0;
	f = open_memstream(buf, len);
	if (!f)
		return -errno;
	render(m, fmt, f);
	if (ferror(f))
		err = -ENOMEM;
	if (fclose(f) && !err)
		err = -errno;
	if (err) {
		free(*buf);
		*buf = NULL;
		*len = 0;
	}
	return err;
}

size_t ph_metrics_render_tail(enum ph_metrics_fmt fmt, __u64 scrapes, char *buf, size_t size)
{
	int n = snprintf(buf, size,
			 "# HELP porthog_scrapes%s Requests for /metrics served.\n"
			 "# TYPE porthog_scrapes%s counter\n"
			 "porthog_scrapes_total %llu\n%s",
			 fmt == PH_FMT_PROM ? "_total" : "", fmt == PH_FMT_PROM ? "_total" : "",
			 (unsigned long long)scrapes, fmt == PH_FMT_OPENMETRICS ? "# EOF\n" : "");

	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}
