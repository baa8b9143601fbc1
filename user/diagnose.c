// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The classifier. Thresholds come from TCP's own clocks: a closed connection
 * holds its port for 60 s of TIME_WAIT, a SYN is resent after 1, 3, 7, 15 ...
 * seconds (tcp_syn_retries decides how many), and a namespace has range size
 * ports per destination. See ph_diag_opts for the defaults and why.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"
#include "event.h"
#include "json.h"
#include "procinfo.h"
#include "textesc.h"

/* Below this age a connection's byte rate says nothing yet. */
#define RATE_MIN_AGE_S		3.0
/* Kernel default ip_local_port_range 32768-60999 */
#define DEFAULT_RANGE		28232
/* Widening advice: ip_local_port_range "10000 65535" */
#define WIDE_LO			10000
#define WIDE_HI			65535
/* TCP_RTO_MAX: SYN backoff stops doubling at 120 s */
#define RTO_MAX_S		120.0

void ph_diag_opts_init(struct ph_diag_opts *o)
{
	o->min_ports = 16;
	o->idle_s = 30;
	o->light_bps = 256;
	o->tw_s = 60;
	o->syn_min = 2;
	o->warn_pct = 20;
	o->eta_warn_s = 3600;
	o->range_min = 16384;
}

static const char *const kind_names[PH_FIND_KINDS] = {
	"leak", "churn", "syn_hang", "bind_hog", "victim", "range",
};
static const char *const kind_labels[PH_FIND_KINDS] = {
	"LEAK", "CHURN", "HANG", "BIND", "VICTIM", "RANGE",
};

const char *ph_find_kind_name(enum ph_find_kind k)
{
	return k < PH_FIND_KINDS ? kind_names[k] : "?";
}

const char *ph_find_kind_label(enum ph_find_kind k)
{
	return k < PH_FIND_KINDS ? kind_labels[k] : "";
}

const char *ph_severity_name(enum ph_severity s)
{
	return s == PH_SEV_CRITICAL ? "critical" : s == PH_SEV_WARNING ? "warning" : "info";
}

/* Seconds until a SYN is given up: initial RTO 1 s, doubling, retries resends. */
static double syn_timeout_s(int retries)
{
	double t = 0, rto = 1;

	if (retries < 0)
		return NAN;
	for (int i = 0; i <= retries; i++) {
		t += rto;
		rto = fmin(rto * 2, RTO_MAX_S);
	}
	return t;
}

/*
 * One or more flows judged together: one process to one destination, or the
 * short-lived processes of one command and cgroup to one destination.
 */
struct group {
	const struct ph_flow_view *lead;	/* destination, and the first process */
	__u32 npids;
	__u32 pids[PH_FIND_PIDS];
	__u32 ports, est, tw, syn, bound, other;
	__u64 opened, closed, closed_tw, failed, opened_bound;
	double watched_s;
	__u32 life_n;
	double life_p50_w, life_p90_w;		/* sums weighted by life_n */
	__u32 act_n, quiet, idle;
	double age_min, age_max;
	bool age_max_at_least;
	__u32 syn_slow, retrans_max;
	double *bytes;
	__u32 nbytes, bytes_cap;
};

struct diag {
	struct ph_acct *a;
	const struct ph_diag_opts *o;
	const struct ph_flow_view *flows;
	size_t nflows;
	bool *reported;				/* per flow: in a finding already */
	__u32 *pooled_in;			/* per flow: 1 + index of its pooled finding */
	const struct ph_dest_view *dests;
	size_t ndests;
	struct ph_finding *out;
	size_t n, cap;
};

static void group_init(struct group *g, const struct ph_flow_view *lead)
{
	memset(g, 0, sizeof(*g));
	g->lead = lead;
	g->age_min = g->age_max = NAN;
}

static void group_free(struct group *g)
{
	free(g->bytes);
	g->bytes = NULL;
}

static void group_add(struct group *g, const struct ph_flow_view *f, const struct ph_diag_opts *o)
{
	bool have = false;

	for (__u32 i = 0; i < g->npids && i < PH_FIND_PIDS; i++)
		have |= g->pids[i] == f->owner.pid;
	if (!have) {
		if (g->npids < PH_FIND_PIDS)
			g->pids[g->npids] = f->owner.pid;
		g->npids++;
	}
	g->ports += f->ports;
	g->est += f->by_state[PH_ST_ESTABLISHED];
	g->tw += f->by_state[PH_ST_TIME_WAIT];
	g->syn += f->by_state[PH_ST_SYN_SENT];
	g->other += f->ports - f->by_state[PH_ST_ESTABLISHED] - f->by_state[PH_ST_TIME_WAIT] -
		    f->by_state[PH_ST_SYN_SENT];
	g->bound += f->bound;
	g->opened += f->opened;
	g->closed += f->closed;
	g->closed_tw += f->closed_tw;
	g->failed += f->failed;
	g->opened_bound += f->opened_bound;
	if (f->watched_s > g->watched_s)
		g->watched_s = f->watched_s;
	if (f->life_n) {
		g->life_n += f->life_n;
		g->life_p50_w += f->life_p50_s * f->life_n;
		g->life_p90_w += f->life_p90_s * f->life_n;
	}
	for (__u32 i = 0; i < f->nsocks; i++) {
		const struct ph_flow_sock *s = &f->socks[i];
		double idle = NAN, age = s->age_s;

		if (s->state == PH_ST_TIME_WAIT)
			continue;
		if (s->act.flags & PH_SR_ACTIVITY)
			idle = fmin(s->act.tx_idle_ms, s->act.rx_idle_ms) / 1000.0;
		/* a socket idle for x seconds is at least x seconds old */
		if (!s->age_known && idle > age)
			age = idle;
		if (isnan(g->age_min) || age < g->age_min)
			g->age_min = age;
		if (isnan(g->age_max) || age > g->age_max ||
		    (age == g->age_max && !s->age_known)) {
			g->age_max = age;
			g->age_max_at_least = !s->age_known;
		}
		if (s->state == PH_ST_SYN_SENT) {
			if (s->act.retrans || (s->age_known && s->age_s >= 1.0))
				g->syn_slow++;
			if (s->act.retrans > g->retrans_max)
				g->retrans_max = s->act.retrans;
			continue;
		}
		if (s->state != PH_ST_ESTABLISHED || isnan(idle))
			continue;
		/* judged once it is old enough to show a rate, or idle anyway */
		if (age < RATE_MIN_AGE_S && idle < o->idle_s)
			continue;
		{
			double bytes = (double)s->act.bytes_acked + s->act.bytes_received;

			g->act_n++;
			if (idle >= o->idle_s)
				g->idle++;
			if (idle >= o->idle_s || bytes / fmax(age, 1) <= o->light_bps)
				g->quiet++;
			if (g->nbytes == g->bytes_cap) {
				__u32 cap = g->bytes_cap ? g->bytes_cap * 2 : 64;
				double *b = realloc(g->bytes, cap * sizeof(*b));

				if (!b)
					continue;
				g->bytes = b;
				g->bytes_cap = cap;
			}
			g->bytes[g->nbytes++] = bytes;
		}
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static double group_bytes_p50(struct group *g)
{
	if (!g->nbytes)
		return NAN;
	qsort(g->bytes, g->nbytes, sizeof(double), cmp_double);
	return g->bytes[g->nbytes / 2];
}

static double rate(__u64 n, double s)
{
	return s > 0 ? n / fmax(s, 1) : NAN;
}

static bool same_peer(const struct ph_dest_key *a, const struct ph_dest_key *b)
{
	return a->netns == b->netns && a->family == b->family && a->dport == b->dport &&
	       !memcmp(a->daddr, b->daddr, 16);
}

static const struct ph_dest_view *find_dest(struct diag *d, const struct ph_dest_key *k)
{
	const struct ph_dest_view *best = NULL;

	/* the exact key, else the busiest one to the same peer (failures lack saddr) */
	for (size_t i = 0; i < d->ndests; i++) {
		if (!memcmp(&d->dests[i].key, k, sizeof(*k)))
			return &d->dests[i];
		if (same_peer(&d->dests[i].key, k) && (!best || d->dests[i].in_use > best->in_use))
			best = &d->dests[i];
	}
	return best;
}

static struct ph_finding *new_finding(struct diag *d, enum ph_find_kind kind)
{
	struct ph_finding *f;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct ph_finding *n = realloc(d->out, cap * sizeof(*n));

		if (!n)
			return NULL;
		d->out = n;
		d->cap = cap;
	}
	f = &d->out[d->n++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->ev.tw_share = f->ev.life_p50_s = f->ev.life_p90_s = NAN;
	f->ev.bytes_p50 = f->ev.age_min_s = f->ev.age_max_s = NAN;
	f->ev.syn_timeout_s = f->ev.headroom_pct = f->ev.eta_s = NAN;
	f->ev.tw_reuse = f->ev.timestamps = f->ev.syn_retries = -1;
	return f;
}

static void set_settings(struct diag *d, struct ph_finding *f, __u32 netns)
{
	const struct ph_netns_info *ni = ph_acct_find_netns(d->a, netns);
	const struct ph_netns_view *nv;
	size_t nn = ph_acct_netns_views(d->a, &nv);

	f->netns = netns;
	if (!ni)
		return;
	f->ev.range_lo = ni->range_lo;
	f->ev.range_hi = ni->range_hi;
	f->ev.reserved = ni->reserved_in_range;
	f->ev.tw_reuse = ni->tw_reuse;
	f->ev.timestamps = ni->timestamps;
	f->ev.syn_retries = ni->syn_retries;
	f->ev.syn_timeout_s = syn_timeout_s(ni->syn_retries);
	for (size_t i = 0; i < nn; i++)
		if (nv[i].info && nv[i].info->inode == netns)
			f->ev.listeners = nv[i].busy;
}

/* Who and where, from the group's lead flow; severity from its destination. */
static void set_who_where(struct diag *d, struct ph_finding *f, const struct group *g)
{
	const struct ph_flow_view *l = g->lead;
	const struct ph_dest_view *dv = find_dest(d, &l->dest);

	f->npids = g->npids;
	memcpy(f->pids, g->pids, sizeof(f->pids));
	if (g->npids == 1) {
		f->pid = l->owner.pid;
		f->start = l->owner.start;
	}
	if (l->meta) {
		snprintf(f->comm, sizeof(f->comm), "%s", l->meta->comm);
		f->cgroup_id = l->meta->cgroup_id;
		if (l->meta->cgroup) {
			struct ph_workload w;

			snprintf(f->cgroup, sizeof(f->cgroup), "%s", l->meta->cgroup);
			ph_cgroup_workload(l->meta->cgroup, &w);
			snprintf(f->container, sizeof(f->container), "%.*s", PH_CONTAINER_SHORT,
				 w.container);
			snprintf(f->pod_uid, sizeof(f->pod_uid), "%s", w.pod_uid);
		}
	}
	f->family = l->dest.family;
	memcpy(f->saddr, l->dest.saddr, 16);
	memcpy(f->daddr, l->dest.daddr, 16);
	f->dport = l->dest.dport;
	set_settings(d, f, l->dest.netns);

	f->ev.established = g->est;
	f->ev.time_wait = g->tw;
	f->ev.syn_sent = g->syn;
	f->ev.bound = g->bound;
	f->ev.other = g->other;
	f->ev.watched_s = g->watched_s;
	f->ev.opened = g->opened;
	f->ev.closed = g->closed;
	f->ev.closed_tw = g->closed_tw;
	f->ev.failed = g->failed;
	f->ev.open_rate = rate(g->opened, g->watched_s);
	f->ev.close_rate = rate(g->closed, g->watched_s);
	f->ev.tw_share = g->closed ? (double)g->closed_tw / g->closed : NAN;
	f->ev.life_n = g->life_n;
	if (g->life_n) {
		f->ev.life_p50_s = g->life_p50_w / g->life_n;
		f->ev.life_p90_s = g->life_p90_w / g->life_n;
	}
	f->ev.activity_n = g->act_n;
	f->ev.quiet = g->quiet;
	f->ev.idle = g->idle;
	f->ev.age_min_s = g->age_min;
	f->ev.age_max_s = g->age_max;
	f->ev.age_max_at_least = g->age_max_at_least;
	f->ev.syn_retrans_max = g->retrans_max;

	f->severity = PH_SEV_INFO;
	if (dv) {
		f->ev.capacity = dv->capacity;
		f->ev.in_use = dv->in_use;
		f->ev.headroom_pct = dv->headroom_pct;
		f->ev.eta_s = dv->eta_s;
		f->ev.dest_failed = dv->failed;
		if (dv->failed || dv->headroom_pct < d->o->warn_pct)
			f->severity = PH_SEV_CRITICAL;
		else if (dv->eta_s < d->o->eta_warn_s)
			f->severity = PH_SEV_WARNING;
	}
	if (g->failed)
		f->severity = PH_SEV_CRITICAL;
}

static void peer_fmt(const struct ph_flow_view *l, char *buf, size_t len)
{
	ph_endpoint_fmt(l->dest.family, l->dest.daddr, l->dest.dport, buf, len);
}

/* As the kernel's tcp_tw_reuse=2 test: a loopback source or destination address. */
static bool is_loopback(const struct ph_dest_key *k)
{
	static const __u8 v6lo[16] = { [15] = 1 };
	const __u8 *addrs[2] = { k->daddr, k->saddr };

	for (int i = 0; i < 2; i++) {
		const __u8 *a = addrs[i];

		if (k->family == 2 ? a[0] == 127 :
		    !memcmp(a, v6lo, 16) ||
		    (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) && a[12] == 127))
			return true;
	}
	return false;
}

/* connect() may take a TIME_WAIT port to this destination 1 s after its last segment. */
static bool tw_reuse_applies(const struct ph_netns_info *ni, const struct ph_dest_key *k)
{
	return ni && ni->timestamps != 0 &&
	       (ni->tw_reuse == 1 || (ni->tw_reuse == 2 && is_loopback(k)));
}

static const char *tw_reuse_note(const struct ph_finding *f, bool reuse)
{
	if (f->ev.tw_reuse < 0)
		return "tcp_tw_reuse is unknown here";
	if (f->ev.tw_reuse == 0)
		return "tcp_tw_reuse is 0 here (off): net.ipv4.tcp_tw_reuse=1 lets connect() reuse a TIME_WAIT port after 1 s";
	if (f->ev.timestamps == 0)
		return "tcp_tw_reuse is on but tcp_timestamps is 0, so it cannot apply: it needs TCP timestamps";
	if (!reuse)
		return "tcp_tw_reuse is 2 here: loopback only, so it does not apply to this destination; net.ipv4.tcp_tw_reuse=1 would";
	return "tcp_tw_reuse already applies here (a TIME_WAIT port is reused after 1 s), and still the rate runs the ports out";
}

/* A duration for a person: milliseconds under a second ("<1 ms", "3 ms", "1.25 s"). */
static const char *dur_fmt(double s, char *buf, size_t len)
{
	if (s < 0.0005)
		snprintf(buf, len, "<1 ms");
	else if (s < 1)
		snprintf(buf, len, "%.0f ms", s * 1000);
	else
		snprintf(buf, len, "%.*f s", s < 10 ? 2 : 0, s);
	return buf;
}

/* "; N connects failed with EADDRNOTAVAIL", or "" */
static const char *failed_note(const struct group *g, char *buf, size_t len)
{
	buf[0] = 0;
	if (g->failed)
		snprintf(buf, len, "; %llu connect%s failed with EADDRNOTAVAIL",
			 (unsigned long long)g->failed, g->failed == 1 ? "" : "s");
	return buf;
}

static bool try_leak(struct diag *d, struct group *g)
{
	const struct ph_diag_opts *o = d->o;
	struct ph_finding *f;
	char peer[PH_EP_STRLEN], fails[64];
	bool growing;

	/*
	 * Judged by the connections whose traffic is known: half of them, or at least
	 * min_ports (the others opened since the last walk, or too young to show a rate).
	 */
	if (g->est < o->min_ports || (g->act_n * 2 < g->est && g->act_n < o->min_ports) ||
	    g->quiet * 5 < g->act_n * 4)
		return false;
	/* opens far outnumber closes, or (one look) ages spread from seconds to the oldest */
	if (g->opened)
		growing = g->opened >= 2 && g->opened >= 4 * g->closed;
	else
		growing = g->age_max >= o->idle_s && g->age_max >= 4 * g->age_min;
	if (!growing)
		return false;
	f = new_finding(d, PH_FIND_LEAK);
	if (!f)
		return false;
	set_who_where(d, f, g);
	f->ports = g->est;
	f->ev.bytes_p50 = group_bytes_p50(g);
	peer_fmt(g->lead, peer, sizeof(peer));
	failed_note(g, fails, sizeof(fails));
	if (g->opened)
		snprintf(f->summary, sizeof(f->summary),
			 "connection leak: %u connections to %s held open (%llu opened, %llu closed "
			 "in %.0f s), %u of %u carry only idle or heartbeat-sized traffic%s",
			 g->est, peer, (unsigned long long)g->opened, (unsigned long long)g->closed,
			 g->watched_s, g->quiet, g->act_n, fails);
	else
		snprintf(f->summary, sizeof(f->summary),
			 "connection leak: %u connections to %s held open, ages from %.0f s to "
			 "%s%.0f s, %u of %u carry only idle or heartbeat-sized traffic%s",
			 g->est, peer, g->age_min, g->age_max_at_least ? "at least " : "",
			 g->age_max, g->quiet, g->act_n, fails);
	snprintf(f->advice, sizeof(f->advice),
		 "reuse one connection or a pool instead of opening one per request: %u of the "
		 "%u connections are idle or heartbeat-sized (%u without data for %.0f s, the "
		 "others at most %.0f B/s); a heartbeat keeps a connection open, it does not make "
		 "it used", g->quiet, g->act_n, g->idle, o->idle_s, o->light_bps);
	return true;
}

static bool try_churn(struct diag *d, struct group *g)
{
	const struct ph_diag_opts *o = d->o;
	double life = g->life_n ? g->life_p50_w / g->life_n : NAN;
	struct ph_finding *f;
	char peer[PH_EP_STRLEN], fails[64], lt[32];
	bool reuse;

	if (g->tw < o->min_ports || g->tw * 2 < g->ports)
		return false;
	/* this side closes first: its closes go to TIME_WAIT */
	if (!g->closed || g->closed_tw * 2 < g->closed)
		return false;
	/* shorter than TIME_WAIT: the port waits longer than it was used */
	if (!isnan(life) && life >= o->tw_s)
		return false;
	/* the open rate keeps min_ports in TIME_WAIT (1 s each where tcp_tw_reuse applies) */
	reuse = tw_reuse_applies(ph_acct_find_netns(d->a, g->lead->dest.netns), &g->lead->dest);
	if (rate(g->opened, g->watched_s) * (reuse ? 1 : o->tw_s) < o->min_ports)
		return false;
	f = new_finding(d, PH_FIND_CHURN);
	if (!f)
		return false;
	set_who_where(d, f, g);
	f->ports = g->tw;
	peer_fmt(g->lead, peer, sizeof(peer));
	snprintf(f->summary, sizeof(f->summary),
		 "connection churn: %u ports to %s wait in TIME_WAIT; %.1f connections/s, "
		 "median life %s, %.0f%% closed by this side first%s",
		 g->tw, peer, f->ev.open_rate, isnan(life) ? "unknown" : dur_fmt(life, lt, sizeof(lt)),
		 100.0 * f->ev.tw_share, failed_note(g, fails, sizeof(fails)));
	snprintf(f->advice, sizeof(f->advice),
		 "use keep-alive or a connection pool (each short connection holds its port for "
		 "%.0f s after close); %s; or let the peer close first; or spread over more "
		 "destination addresses or ports (the limit is per destination)",
		 o->tw_s, tw_reuse_note(f, reuse));
	return true;
}

static bool try_syn_hang(struct diag *d, struct group *g)
{
	struct ph_finding *f;
	char peer[PH_EP_STRLEN], t[400] = "";

	if (g->syn_slow < d->o->syn_min)
		return false;
	f = new_finding(d, PH_FIND_SYN_HANG);
	if (!f)
		return false;
	set_who_where(d, f, g);
	f->ports = g->syn;
	peer_fmt(g->lead, peer, sizeof(peer));
	snprintf(f->summary, sizeof(f->summary),
		 "SYN hang: %u ports wait in SYN_SENT for %s to answer (%u past the first "
		 "retransmit, up to %u SYN%s resent)", g->syn, peer, g->syn_slow, g->retrans_max,
		 g->retrans_max == 1 ? "" : "s");
	if (f->ev.syn_retries >= 0)
		snprintf(t, sizeof(t), "tcp_syn_retries is %d here: a connect gives up after %.0f s",
			 f->ev.syn_retries, f->ev.syn_timeout_s);
	else
		snprintf(t, sizeof(t), "tcp_syn_retries is unknown here");
	snprintf(f->advice, sizeof(f->advice),
		 "the destination drops SYNs (a firewall or a blackhole route) or is down: fix "
		 "that or stop sending; give the client a shorter connect timeout; %s "
		 "(net.ipv4.tcp_syn_retries lowers it for the whole namespace)", t);
	return true;
}

static bool try_victim(struct diag *d, struct group *g)
{
	const struct ph_flow_view *l = g->lead;
	struct ph_holder h[PH_FIND_HOLDERS + 1];
	__u32 own = 0, others = 0, nh = 0, fi;
	struct ph_finding *f;
	char peer[PH_EP_STRLEN], who[160] = "";
	size_t off = 0;

	if (!g->failed)
		return false;
	memset(h, 0, sizeof(h));
	for (size_t i = 0; i < d->nflows; i++) {
		const struct ph_flow_view *x = &d->flows[i];
		bool mine = false;
		__u32 j;

		if (!same_peer(&x->dest, &l->dest) || !x->ports)
			continue;
		for (j = 0; j < g->npids && j < PH_FIND_PIDS; j++)
			mine |= x->owner.pid == g->pids[j];
		if (mine) {
			own += x->ports;
			continue;
		}
		others += x->ports;
		/* the top holders by ports: one entry per pid, or per pooled finding */
		fi = d->pooled_in ? d->pooled_in[i] : 0;
		for (j = 0; j < nh; j++)
			if (fi ? h[j].finding == fi : !h[j].finding && h[j].pid == x->owner.pid)
				break;
		if (j == nh) {
			if (nh < PH_FIND_HOLDERS + 1)
				nh++;
			j = nh - 1;
			if (h[j].ports > x->ports)
				continue;
			memset(&h[j], 0, sizeof(h[j]));
			h[j].pid = fi ? 0 : x->owner.pid;
			h[j].procs = fi ? d->out[fi - 1].npids : !!x->owner.pid;
			h[j].finding = fi;
			h[j].kind = fi ? d->out[fi - 1].kind : PH_FIND_KINDS;
			if (fi)
				snprintf(h[j].comm, sizeof(h[j].comm), "%s", d->out[fi - 1].comm);
			else if (x->meta)
				snprintf(h[j].comm, sizeof(h[j].comm), "%s", x->meta->comm);
		}
		h[j].ports += x->ports;
		while (j > 0 && h[j].ports > h[j - 1].ports) {
			struct ph_holder t = h[j];

			h[j] = h[j - 1];
			h[--j] = t;
		}
	}
	/* few of the ports are its own: the others hold four times as many */
	if (own * 4 > others)
		return false;
	f = new_finding(d, PH_FIND_VICTIM);
	if (!f)
		return false;
	set_who_where(d, f, g);
	f->severity = PH_SEV_CRITICAL;
	f->ports = own;
	f->ev.nholders = nh > PH_FIND_HOLDERS ? PH_FIND_HOLDERS : nh;
	memcpy(f->ev.holders, h, sizeof(f->ev.holders));
	for (__u32 j = 0; j < f->ev.nholders && off < sizeof(who); j++) {
		char pid[48] = "unknown owners";

		if (h[j].pid)
			snprintf(pid, sizeof(pid), "PID %u", h[j].pid);
		else if (h[j].procs > 1)
			snprintf(pid, sizeof(pid), "%u processes of its %s finding", h[j].procs,
				 ph_find_kind_name(h[j].kind));
		off += snprintf(who + off, sizeof(who) - off, "%s%s (%u port%s)", j ? ", " : "",
				pid, h[j].ports, h[j].ports == 1 ? "" : "s");
	}
	peer_fmt(l, peer, sizeof(peer));
	snprintf(f->summary, sizeof(f->summary),
		 "victim: %llu connects to %s failed with EADDRNOTAVAIL while it holds %u of the "
		 "ports; %u are held by others", (unsigned long long)g->failed, peer, own, others);
	snprintf(f->advice, sizeof(f->advice),
		 "collateral damage: fix the processes that hold the ports to %s, not this one: %s",
		 peer, nh ? who : "their owners are unknown (sockets older than porthog)");
	return true;
}

/* The victim's holders that have findings of their own: say which. */
static void link_holders(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct ph_finding *v = &d->out[i];

		if (v->kind != PH_FIND_VICTIM)
			continue;
		for (__u32 j = 0; j < v->ev.nholders; j++)
			for (size_t k = 0; k < d->n; k++)
				if (d->out[k].kind != PH_FIND_VICTIM && d->out[k].kind != PH_FIND_RANGE &&
				    d->out[k].pid && d->out[k].pid == v->ev.holders[j].pid &&
				    v->ev.holders[j].kind == PH_FIND_KINDS)
					v->ev.holders[j].kind = d->out[k].kind;
	}
}

typedef bool (*judge_fn)(struct diag *d, struct group *g);

static bool zero_addr(const __u8 *a)
{
	static const __u8 z[16];

	return !memcmp(a, z, 16);
}

/*
 * Pooled together: the same command and cgroup to the same destination. A failed
 * connect may lack its source address: it goes with the flows to the same peer.
 */
static bool same_pool(const struct ph_flow_view *x, const struct ph_flow_view *fl)
{
	if (!x->owner.pid || !x->meta || !fl->meta || x->meta->cgroup_id != fl->meta->cgroup_id ||
	    strcmp(x->meta->comm, fl->meta->comm))
		return false;
	if (!memcmp(&x->dest, &fl->dest, sizeof(fl->dest)))
		return true;
	return same_peer(&x->dest, &fl->dest) &&
	       (zero_addr(x->dest.saddr) || zero_addr(fl->dest.saddr));
}

/*
 * Each flow alone first. Flows no finding took are pooled by command, cgroup
 * and destination, so that short-lived processes (one connection each) are
 * judged together: such a finding has no pid but a pids list, and takes every
 * flow of the pool (their failures are in its evidence).
 */
static void judge_flows(struct diag *d, const judge_fn *judges, size_t nj)
{
	__u32 *pool = calloc(d->nflows + 1, sizeof(*pool));	/* 1 + index of its pool's first flow */

	for (size_t i = 0; i < d->nflows; i++) {
		const struct ph_flow_view *fl = &d->flows[i];
		struct group g;

		if (!fl->owner.pid)
			continue;
		group_init(&g, fl);
		group_add(&g, fl, d->o);
		for (size_t j = 0; j < nj; j++)
			if (judges[j](d, &g))
				d->reported[i] = true;
		group_free(&g);
	}
	if (!pool)
		return;
	for (size_t i = 0; i < d->nflows; i++) {
		const struct ph_flow_view *fl = &d->flows[i];
		bool found = false;
		struct group g;

		if (!fl->owner.pid || !fl->meta || d->reported[i] || pool[i])
			continue;
		group_init(&g, fl);
		for (size_t k = i; k < d->nflows; k++) {
			if (d->reported[k] || pool[k] || !same_pool(&d->flows[k], fl))
				continue;
			group_add(&g, &d->flows[k], d->o);
			pool[k] = i + 1;
		}
		size_t first = d->n;

		if (g.npids > 1)
			for (size_t j = 0; j < nj; j++)
				found |= judges[j](d, &g);
		group_free(&g);
		for (size_t k = i; found && k < d->nflows; k++)
			if (pool[k] == i + 1) {
				d->reported[k] = true;
				if (d->pooled_in)
					d->pooled_in[k] = first + 1;
			}
	}
	free(pool);
}

/*
 * Victims: flows whose connects fail and that no finding of their own took,
 * pooled by command, cgroup and destination (one finding for many short-lived
 * processes that fail alike).
 */
static void judge_victims(struct diag *d)
{
	for (size_t i = 0; i < d->nflows; i++) {
		const struct ph_flow_view *fl = &d->flows[i];
		struct group g;

		if (!fl->owner.pid || !fl->failed || d->reported[i])
			continue;
		group_init(&g, fl);
		group_add(&g, fl, d->o);
		d->reported[i] = true;
		for (size_t k = i + 1; fl->meta && k < d->nflows; k++) {
			if (!d->flows[k].failed || d->reported[k] || !same_pool(&d->flows[k], fl))
				continue;
			group_add(&g, &d->flows[k], d->o);
			d->reported[k] = true;
		}
		try_victim(d, &g);
		group_free(&g);
	}
}

/* bind() before connect(): ports of the whole namespace, summed per process. */
static void judge_bind(struct diag *d)
{
	for (size_t i = 0; i < d->nflows; i++) {
		const struct ph_flow_view *fl = &d->flows[i];
		struct ph_finding *f;
		__u32 bound = 0, ndest = 0;
		__u64 opened_bound = 0;
		bool seen = false;
		struct group g;

		if (!fl->owner.pid || (!fl->bound && !fl->opened_bound))
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !memcmp(&d->flows[k].owner, &fl->owner, sizeof(fl->owner)) &&
			       (d->flows[k].bound || d->flows[k].opened_bound) &&
			       d->flows[k].dest.netns == fl->dest.netns;
		if (seen)
			continue;
		group_init(&g, fl);
		for (size_t k = i; k < d->nflows; k++) {
			const struct ph_flow_view *x = &d->flows[k];

			if (memcmp(&x->owner, &fl->owner, sizeof(fl->owner)) ||
			    x->dest.netns != fl->dest.netns || (!x->bound && !x->opened_bound))
				continue;
			bound += x->bound;
			opened_bound += x->opened_bound;
			ndest++;
			/* the busiest destination is the one to name */
			if (x->bound > g.lead->bound)
				g.lead = x;
		}
		if (bound < d->o->min_ports) {
			group_free(&g);
			continue;
		}
		group_add(&g, g.lead, d->o);
		f = new_finding(d, PH_FIND_BIND_HOG);
		group_free(&g);
		if (!f)
			return;
		set_who_where(d, f, &g);
		f->ports = bound;
		f->ev.bound = bound;
		f->ev.opened = opened_bound;
		snprintf(f->summary, sizeof(f->summary),
			 "bind before connect: %u sockets to %u destination%s got their port from "
			 "bind(), each one taken from the whole namespace, not per destination",
			 bound, ndest, ndest == 1 ? "" : "s");
		snprintf(f->advice, sizeof(f->advice),
			 "set IP_BIND_ADDRESS_NO_PORT on the socket before bind() (or IP_LOCAL_PORT_RANGE), "
			 "or do not bind() before connect(): then a port is shared by all "
			 "destinations, up to %u connections to each",
			 f->ev.range_hi >= f->ev.range_lo && f->ev.range_lo ?
			 f->ev.range_hi - f->ev.range_lo + 1 - f->ev.reserved : 0);
	}
}

/* Settings that cut the namespace's capacity, where it has outbound ports. */
static void judge_range(struct diag *d)
{
	const struct ph_netns_view *nv;
	size_t nn = ph_acct_netns_views(d->a, &nv);

	for (size_t i = 0; i < nn; i++) {
		const struct ph_netns_info *ni = nv[i].info;
		const struct ph_dest_view *worst = NULL;
		__u32 size, lost, wide = WIDE_HI - WIDE_LO + 1;
		struct ph_finding *f;
		bool narrow;
		char what[160];
		size_t off = 0;

		if (!ni || !ph_acct_find_netns(d->a, ni->inode))
			continue;
		for (size_t k = 0; k < d->ndests; k++)
			if (d->dests[k].key.netns == ni->inode && (d->dests[k].in_use || d->dests[k].failed) &&
			    (!worst || d->dests[k].headroom_pct < worst->headroom_pct))
				worst = &d->dests[k];
		if (!worst)
			continue;
		size = ni->range_hi >= ni->range_lo ? ni->range_hi - ni->range_lo + 1 : 0;
		narrow = size < d->o->range_min;
		lost = ni->reserved_in_range + nv[i].busy;
		if (!narrow && (lost == 0 || lost * 100 < size))
			continue;
		f = new_finding(d, PH_FIND_RANGE);
		if (!f)
			return;
		set_settings(d, f, ni->inode);
		f->ev.watched_s = f->ev.open_rate = f->ev.close_rate = NAN;
		/* ports taken from the range, and those a narrow range lacks against the default */
		f->ports = lost + (narrow && size < DEFAULT_RANGE ? DEFAULT_RANGE - size : 0);
		f->ev.capacity = nv[i].capacity;
		f->ev.in_use = nv[i].ports_in_use;
		f->ev.headroom_pct = worst->headroom_pct;
		f->ev.eta_s = worst->eta_s;
		f->ev.dest_failed = worst->failed;
		f->severity = worst->failed || worst->headroom_pct < d->o->warn_pct ? PH_SEV_CRITICAL :
			      worst->eta_s < d->o->eta_warn_s ? PH_SEV_WARNING : PH_SEV_INFO;
		if (narrow)
			off += snprintf(what + off, sizeof(what) - off, "ip_local_port_range %u-%u is only %u ports",
					ni->range_lo, ni->range_hi, size);
		if (ni->reserved_in_range && off < sizeof(what))
			off += snprintf(what + off, sizeof(what) - off, "%s%u reserved (ip_local_reserved_ports)",
					off ? "; " : "", ni->reserved_in_range);
		if (nv[i].busy && off < sizeof(what))
			snprintf(what + off, sizeof(what) - off, "%s%u taken by listeners or bound sockets",
				 off ? "; " : "", nv[i].busy);
		snprintf(f->summary, sizeof(f->summary),
			 "host settings cut capacity: %s; %u ports per destination remain",
			 what, nv[i].capacity);
		snprintf(f->advice, sizeof(f->advice),
			 "sysctl -w net.ipv4.ip_local_port_range=\"%u %u\" gives %u ports per destination "
			 "(%.1fx now)%s%s", WIDE_LO, WIDE_HI, wide,
			 nv[i].capacity ? (double)wide / nv[i].capacity : 0.0,
			 ni->reserved_in_range ? "; trim net.ipv4.ip_local_reserved_ports" : "",
			 nv[i].busy ? "; move listeners out of the range" : "");
	}
}

/* Of one severity: what holds the ports first, then settings, then who suffers. */
static int kind_rank(enum ph_find_kind k)
{
	return k == PH_FIND_VICTIM ? 2 : k == PH_FIND_RANGE ? 1 : 0;
}

static int cmp_finding(const void *x, const void *y)
{
	const struct ph_finding *a = x, *b = y;

	if (a->severity != b->severity)
		return a->severity > b->severity ? -1 : 1;
	if (kind_rank(a->kind) != kind_rank(b->kind))
		return kind_rank(a->kind) < kind_rank(b->kind) ? -1 : 1;
	if (a->ports != b->ports)
		return a->ports > b->ports ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

size_t ph_diagnose(struct ph_acct *a, const struct ph_diag_opts *o, struct ph_finding **out)
{
	static const judge_fn owners[] = { try_leak, try_churn, try_syn_hang };
	struct diag d = { .a = a, .o = o };

	d.ndests = ph_acct_dests(a, &d.dests);
	d.nflows = ph_acct_flows(a, &d.flows);
	d.reported = calloc(d.nflows + 1, sizeof(bool));
	d.pooled_in = calloc(d.nflows + 1, sizeof(*d.pooled_in));
	if (!d.reported) {
		*out = NULL;
		return 0;
	}
	judge_flows(&d, owners, ARRAY_SIZE(owners));
	judge_bind(&d);
	/* a process whose own finding took its flow is no victim: its failures are there */
	judge_victims(&d);
	judge_range(&d);
	link_holders(&d);
	free(d.reported);
	free(d.pooled_in);
	if (d.n)
		qsort(d.out, d.n, sizeof(*d.out), cmp_finding);
	*out = d.out;
	return d.n;
}

/* Writers */

static void json_opt(FILE *f, const char *key, double v)
{
	fprintf(f, ",\"%s\":", key);
	json_num(f, v);
}

void ph_findings_json(FILE *f, const struct ph_finding *fs, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		const struct ph_finding *x = &fs[i];
		const struct ph_evidence *e = &x->ev;
		char s[PH_ADDR_STRLEN], dd[PH_ADDR_STRLEN];

		fprintf(f, "%s{\"kind\":\"%s\",\"severity\":\"%s\",\"pid\":", i ? "," : "",
			ph_find_kind_name(x->kind), ph_severity_name(x->severity));
		if (x->pid)
			fprintf(f, "%u", x->pid);
		else
			fputs("null", f);
		fputs(",\"pids\":[", f);
		for (__u32 j = 0; j < x->npids && j < PH_FIND_PIDS; j++)
			fprintf(f, "%s%u", j ? "," : "", x->pids[j]);
		fprintf(f, "],\"processes\":%u,\"comm\":", x->npids);
		json_str(f, x->comm);
		fprintf(f, ",\"cgroup_id\":%llu,\"cgroup\":", (unsigned long long)x->cgroup_id);
		json_str(f, x->cgroup);
		fputs(",\"container\":", f);
		if (x->container[0])
			json_str(f, x->container);
		else
			fputs("null", f);
		fputs(",\"pod_uid\":", f);
		if (x->pod_uid[0])
			json_str(f, x->pod_uid);
		else
			fputs("null", f);
		fprintf(f, ",\"netns\":%u", x->netns);
		if (x->dport) {
			ph_addr_fmt(x->family, x->saddr, s, sizeof(s));
			ph_addr_fmt(x->family, x->daddr, dd, sizeof(dd));
			fprintf(f, ",\"family\":\"%s\",\"saddr\":\"%s\",\"daddr\":\"%s\",\"dport\":%u",
				ph_family_name(x->family), s, dd, x->dport);
		} else {
			fputs(",\"family\":null,\"saddr\":null,\"daddr\":null,\"dport\":null", f);
		}
		fprintf(f, ",\"ports\":%u,\"summary\":", x->ports);
		json_str(f, x->summary);
		fputs(",\"advice\":", f);
		json_str(f, x->advice);
		fprintf(f, ",\"evidence\":{\"established\":%u,\"time_wait\":%u,\"syn_sent\":%u,"
			"\"bound\":%u,\"other\":%u,\"opened\":%llu,\"closed\":%llu,"
			"\"closed_time_wait\":%llu,\"failed\":%llu,\"lifetimes\":%u,"
			"\"activity_known\":%u,\"quiet\":%u,\"idle\":%u,\"syn_retrans_max\":%u",
			e->established, e->time_wait, e->syn_sent, e->bound, e->other,
			(unsigned long long)e->opened, (unsigned long long)e->closed,
			(unsigned long long)e->closed_tw, (unsigned long long)e->failed, e->life_n,
			e->activity_n, e->quiet, e->idle, e->syn_retrans_max);
		json_opt(f, "watched_s", e->watched_s);
		json_opt(f, "open_rate", e->open_rate);
		json_opt(f, "close_rate", e->close_rate);
		json_opt(f, "time_wait_share", e->tw_share);
		json_opt(f, "lifetime_p50_s", e->life_p50_s);
		json_opt(f, "lifetime_p90_s", e->life_p90_s);
		json_opt(f, "bytes_per_conn_p50", e->bytes_p50);
		json_opt(f, "age_min_s", e->age_min_s);
		json_opt(f, "age_max_s", e->age_max_s);
		fprintf(f, ",\"age_max_at_least\":%s", e->age_max_at_least ? "true" : "false");
		json_opt(f, "syn_timeout_s", e->syn_timeout_s);
		fprintf(f, ",\"capacity\":%u,\"in_use\":%u", e->capacity, e->in_use);
		json_opt(f, "headroom_pct", e->headroom_pct);
		json_opt(f, "eta_s", e->eta_s);
		fprintf(f, ",\"dest_failed\":%llu,\"range_lo\":%u,\"range_hi\":%u,\"reserved\":%u,"
			"\"listeners\":%u,\"tcp_tw_reuse\":%d,\"tcp_timestamps\":%d,"
			"\"tcp_syn_retries\":%d,\"holders\":[",
			(unsigned long long)e->dest_failed, e->range_lo, e->range_hi, e->reserved,
			e->listeners, e->tw_reuse, e->timestamps, e->syn_retries);
		for (__u32 j = 0; j < e->nholders; j++) {
			fprintf(f, "%s{\"pid\":", j ? "," : "");
			if (e->holders[j].pid)
				fprintf(f, "%u", e->holders[j].pid);
			else
				fputs("null", f);
			fprintf(f, ",\"processes\":%u,\"comm\":", e->holders[j].procs);
			json_str(f, e->holders[j].comm);
			fprintf(f, ",\"ports\":%u,\"kind\":", e->holders[j].ports);
			if (e->holders[j].kind < PH_FIND_KINDS)
				fprintf(f, "\"%s\"", ph_find_kind_name(e->holders[j].kind));
			else
				fputs("null", f);
			fputc('}', f);
		}
		fputs("]}}", f);
	}
	fputc(']', f);
}

static void text_num(FILE *f, const char *label, double v, const char *unit, bool *first)
{
	if (isnan(v))
		return;
	fprintf(f, "%s%s %.*f%s", *first ? "" : ", ", label, v < 10 && v != (long)v ? 2 : 0, v, unit);
	*first = false;
}

static void text_dur(FILE *f, const char *label, double s, bool *first)
{
	char buf[32];

	if (isnan(s))
		return;
	fprintf(f, "%s%s %s", *first ? "" : ", ", label, dur_fmt(s, buf, sizeof(buf)));
	*first = false;
}

static void text_count(FILE *f, const char *label, unsigned long long v, bool *first)
{
	if (!v)
		return;
	fprintf(f, "%s%s %llu", *first ? "" : ", ", label, v);
	*first = false;
}

void ph_findings_text(FILE *f, const struct ph_finding *fs, size_t n)
{
	if (!n) {
		fputs("No findings: nothing here explains running out of ports.\n", f);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ph_finding *x = &fs[i];
		const struct ph_evidence *e = &x->ev;
		char comm[PH_TX_SIZE(PH_COMM_LEN)], cg[PH_TX_SIZE(sizeof(x->cgroup))];
		char peer[PH_EP_STRLEN];
		bool first = true;

		fprintf(f, "%s%-8s %s", i ? "\n" : "", ph_severity_name(x->severity),
			ph_find_kind_name(x->kind));
		if (x->pid)
			fprintf(f, "  %s (pid %u)", PH_TX(comm, x->comm), x->pid);
		else if (x->npids) {
			fprintf(f, "  %s (%u processes: pids", PH_TX(comm, x->comm), x->npids);
			for (__u32 j = 0; j < x->npids && j < PH_FIND_PIDS; j++)
				fprintf(f, " %u", x->pids[j]);
			fputs(x->npids > PH_FIND_PIDS ? " ...)" : ")", f);
		}
		if (x->dport) {
			ph_endpoint_fmt(x->family, x->daddr, x->dport, peer, sizeof(peer));
			fprintf(f, "  -> %s", peer);
		}
		/* range: the ports taken from the range and those it lacks against the default */
		fprintf(f, "  netns %u  %u ports%s\n", x->netns, x->ports,
			x->kind == PH_FIND_RANGE ? " short of the default range" : "");
		if (x->cgroup[0])
			fprintf(f, "  cgroup: %s%s%s%s%s\n", PH_TX(cg, x->cgroup),
				x->container[0] ? "  container: " : "", x->container,
				x->pod_uid[0] ? "  pod: " : "", x->pod_uid);
		fprintf(f, "  %s\n  evidence: ", x->summary);
		text_count(f, "established", e->established, &first);
		text_count(f, "time_wait", e->time_wait, &first);
		text_count(f, "syn_sent", e->syn_sent, &first);
		text_count(f, "bound", e->bound, &first);
		if (x->kind != PH_FIND_RANGE) {
			text_num(f, "watched", e->watched_s, " s", &first);
			fprintf(f, "%sopened %llu, closed %llu", first ? "" : ", ",
				(unsigned long long)e->opened, (unsigned long long)e->closed);
			first = false;
		}
		text_count(f, "closed to TIME_WAIT", e->closed_tw, &first);
		text_count(f, "failed", e->failed, &first);
		text_num(f, "open rate", e->open_rate, "/s", &first);
		text_dur(f, "lifetime p50", e->life_p50_s, &first);
		text_dur(f, "p90", e->life_p90_s, &first);
		if (e->activity_n)
			fprintf(f, "%s%u of %u quiet (%u idle)", first ? "" : ", ", e->quiet,
				e->activity_n, e->idle);
		text_num(f, "bytes/connection p50", e->bytes_p50, "", &first);
		text_num(f, "youngest", e->age_min_s, " s", &first);
		text_num(f, e->age_max_at_least ? "oldest >=" : "oldest", e->age_max_s, " s", &first);
		if (x->kind == PH_FIND_SYN_HANG)
			fprintf(f, ", SYNs resent up to %u", e->syn_retrans_max);
		text_num(f, "headroom", e->headroom_pct, "%", &first);
		if (!isnan(e->eta_s) && e->eta_s < 0.5)
			fputs(first ? "full now" : ", full now", f);
		else if (!isnan(e->eta_s))
			fprintf(f, "%sfull in %.0f s", first ? "" : ", ", e->eta_s);
		first &= isnan(e->eta_s);
		for (__u32 j = 0; j < e->nholders; j++) {
			const struct ph_holder *h = &e->holders[j];
			char who[32] = "";

			if (h->pid)
				snprintf(who, sizeof(who), "pid %u ", h->pid);
			else if (h->procs > 1)
				snprintf(who, sizeof(who), "%u processes ", h->procs);
			fprintf(f, "%sholder %s%s (%u port%s%s%s)", j ? "; " : "\n  holders: ", who,
				PH_TX(comm, h->comm), h->ports, h->ports == 1 ? "" : "s",
				h->kind < PH_FIND_KINDS ? ", " : "",
				h->kind < PH_FIND_KINDS ? ph_find_kind_name(h->kind) : "");
		}
		fprintf(f, "\n  advice: %s\n", x->advice);
	}
}

void ph_findings_settings_text(FILE *f, struct ph_acct *a, const struct ph_finding *fs, size_t n)
{
	bool head = false;

	for (size_t i = 0; i < n; i++) {
		const struct ph_finding *x = &fs[i];
		const struct ph_evidence *e = &x->ev;
		bool dup = false;

		for (size_t k = 0; k < i; k++)
			dup |= fs[k].netns == x->netns;
		if (dup || !ph_acct_find_netns(a, x->netns))
			continue;
		fprintf(f, "%snetns %u: ip_local_port_range %u-%u (%u ports), %u reserved, %u "
			"listening or bound in range; tcp_tw_reuse %d%s; tcp_timestamps %d; "
			"tcp_syn_retries %d", head ? "" : "\nHost settings:\n", x->netns, e->range_lo,
			e->range_hi, e->range_hi - e->range_lo + 1, e->reserved, e->listeners,
			e->tw_reuse, e->tw_reuse == 2 ? " (loopback only)" : e->tw_reuse == 1 ?
			" (on)" : e->tw_reuse == 0 ? " (off)" : "", e->timestamps, e->syn_retries);
		if (!isnan(e->syn_timeout_s))
			fprintf(f, " (a SYN gives up after %.0f s)", e->syn_timeout_s);
		fputc('\n', f);
		head = true;
	}
}
