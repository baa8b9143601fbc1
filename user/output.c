// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagnose.h"
#include "event.h"
#include "json.h"
#include "output.h"
#include "procinfo.h"
#include "textesc.h"

bool ph_proc_filter_match(const struct ph_proc_filter *f, const char *cgroup)
{
	struct ph_workload w;

	if (f->cgroup && (!cgroup || !strstr(cgroup, f->cgroup)))
		return false;
	if (!f->pod_uid[0] && !f->container[0])
		return true;
	ph_cgroup_workload(cgroup, &w);
	if (f->pod_uid[0] && strcmp(w.pod_uid, f->pod_uid))
		return false;
	return !f->container[0] || (w.container[0] &&
				    !strncmp(w.container, f->container, strlen(f->container)));
}

void ph_json_workload(FILE *f, const char *cgroup)
{
	struct ph_workload w;

	ph_cgroup_workload(cgroup, &w);
	fputs(",\"container\":", f);
	if (w.container[0])
		fprintf(f, "\"%.*s\"", PH_CONTAINER_SHORT, w.container);
	else
		fputs("null", f);
	fputs(",\"pod_uid\":", f);
	if (w.pod_uid[0])
		fprintf(f, "\"%s\"", w.pod_uid);
	else
		fputs("null", f);
}

bool ph_out_proc_match(const struct ph_out_ctx *c, const struct ph_proc_view *v)
{
	if (c->pid && v->meta->key.pid != c->pid)
		return false;
	if (c->netns && v->netns != c->netns)
		return false;
	if (!ph_proc_filter_match(&c->filter, v->meta->cgroup))
		return false;
	return v->ports_held || v->time_wait || v->opened || v->failed || v->closed ||
	       v->bind_failed;
}

bool ph_out_dest_match(const struct ph_out_ctx *c, const struct ph_dest_view *v)
{
	return !c->netns || v->key.netns == c->netns;
}

bool ph_dest_is_pool(const struct ph_dest_key *k)
{
	return k->protocol == PH_PROTO_UDP && !k->dport && ph_addr_is_zero(k->daddr);
}

void ph_dest_fmt(const struct ph_dest_key *k, char *buf, size_t len)
{
	char s[PH_ADDR_STRLEN], d[PH_EP_STRLEN];

	ph_endpoint_fmt(k->family, k->daddr, k->dport, d, sizeof(d));
	if (ph_dest_is_pool(k)) {
		snprintf(buf, len, "udp %s unconnected (host pool)", ph_family_name(k->family));
		return;
	}
	if (k->protocol == PH_PROTO_UDP) {
		snprintf(buf, len, "udp -> %s", d);
		return;
	}
	ph_addr_fmt(k->family, k->saddr, s, sizeof(s));
	snprintf(buf, len, "%s -> %s", s, d);
}

static void json_proc(FILE *f, const struct ph_proc_view *v, const struct ph_dest_view *dests)
{
	const struct ph_proc_meta *m = v->meta;
	bool first = true;

	fprintf(f, "{\"pid\":%u,\"start_ticks\":%llu,\"comm\":", m->key.pid,
		(unsigned long long)m->key.start);
	json_str(f, m->comm);
	fputs(",\"cmdline\":", f);
	json_str(f, m->cmdline ? m->cmdline : "");
	fprintf(f, ",\"uid\":%u,\"cgroup_id\":%llu,\"cgroup\":", m->uid,
		(unsigned long long)m->cgroup_id);
	json_str(f, m->cgroup ? m->cgroup : "");
	ph_json_workload(f, m->cgroup);
	fprintf(f, ",\"netns\":%u,\"ports_held\":%u,\"ports_held_by_protocol\":{\"tcp\":%u,"
		"\"udp\":%u},\"bound_only\":%u,\"bind_ephemeral\":%u,\"bind_failed\":%llu,"
		"\"states\":{", v->netns, v->ports_held, v->ports_held_tcp, v->ports_held_udp,
		v->bound_only, v->bind_ephemeral, (unsigned long long)v->bind_failed);
	for (int s = 0; s < PH_TCP_STATES; s++) {
		if (!v->by_state[s])
			continue;
		fprintf(f, "%s\"%s\":%u", first ? "" : ",", ph_tcp_state_name(s), v->by_state[s]);
		first = false;
	}
	fprintf(f, "},\"time_wait\":%u,\"opened\":%llu,\"closed\":%llu,\"failed\":%llu,"
		"\"open_rate\":", v->time_wait, (unsigned long long)v->opened,
		(unsigned long long)v->closed, (unsigned long long)v->failed);
	json_num(f, v->open_rate);
	fputs(",\"oldest_s\":", f);
	if (v->oldest_s >= 0)
		json_num(f, v->oldest_s);
	else
		fputs("null", f);
	fputs(",\"top_destinations\":[", f);
	for (__u32 t = 0; t < v->ndest; t++) {
		const struct ph_dest_key *k = &dests[v->top_dest[t].dest_idx].key;
		char d[PH_ADDR_STRLEN];

		ph_addr_fmt(k->family, k->daddr, d, sizeof(d));
		fprintf(f, "%s{\"netns\":%u,\"protocol\":\"%s\",\"daddr\":\"%s\",\"dport\":%u,"
			"\"count\":%u}", t ? "," : "", k->netns, ph_protocol_name(k->protocol), d,
			k->dport, v->top_dest[t].count);
	}
	fputs("]}", f);
}

static void json_dest(FILE *f, const struct ph_dest_view *v, struct ph_acct *a)
{
	const struct ph_netns_info *ns = ph_acct_find_netns(a, v->key.netns);
	char s[PH_ADDR_STRLEN], d[PH_ADDR_STRLEN];

	ph_addr_fmt(v->key.family, v->key.saddr, s, sizeof(s));
	ph_addr_fmt(v->key.family, v->key.daddr, d, sizeof(d));
	fprintf(f, "{\"netns\":%u,\"family\":\"%s\",\"saddr\":\"%s\",\"daddr\":\"%s\",\"dport\":%u,"
		"\"in_use\":%u,\"time_wait\":%u,\"capacity\":%u,\"headroom_pct\":",
		v->key.netns, ph_family_name(v->key.family), s, d, v->key.dport, v->in_use,
		v->time_wait, v->capacity);
	json_num(f, v->headroom_pct);
	fputs(",\"eta_s\":", f);
	json_num(f, v->eta_s);
	fprintf(f, ",\"failed\":%llu,\"peak_in_use\":%u,\"tw_reuse\":%d,\"protocol\":\"%s\","
		"\"pool\":%s,\"pool_in_use\":%u,\"bind_ephemeral\":%u,\"socket_port_range\":",
		(unsigned long long)v->failed, v->peak_in_use, ns ? ns->tw_reuse : -1,
		ph_protocol_name(v->key.protocol), ph_dest_is_pool(&v->key) ? "true" : "false",
		v->pool_in_use, v->bind_ephemeral);
	if (v->range_lo)
		fprintf(f, "[%u,%u]}", v->range_lo, v->range_hi);
	else
		fputs("null}", f);
}

void ph_out_netns_json(FILE *f, struct ph_acct *a, __u32 netns)
{
	const struct ph_netns_view *nv;
	size_t nn = ph_acct_netns_views(a, &nv), k = 0;

	fputc('[', f);
	for (size_t i = 0; i < nn; i++) {
		const struct ph_netns_info *in = nv[i].info;

		if (netns && in->inode != netns)
			continue;
		fprintf(f, "%s{\"inode\":%u,\"range_lo\":%u,\"range_hi\":%u,\"reserved_in_range\":%u,"
			"\"busy\":%u,\"capacity\":%u,\"ports_in_use\":%u,\"tw_reuse\":%d,"
			"\"tcp_timestamps\":%d,\"tcp_syn_retries\":%d,"
			"\"tcp\":{\"in_use\":%u,\"capacity\":%u,\"bound_only\":%u,\"bind_failed\":%llu},"
			"\"udp\":{\"in_use\":%u,\"capacity\":%u,\"failed\":%llu}}",
			k++ ? "," : "", in->inode, in->range_lo, in->range_hi,
			in->reserved_in_range, nv[i].busy, nv[i].capacity, nv[i].ports_in_use,
			in->tw_reuse, in->timestamps, in->syn_retries, nv[i].tcp.in_use,
			nv[i].tcp.capacity, nv[i].tcp.bound_only, (unsigned long long)nv[i].tcp.failed,
			nv[i].udp.in_use, nv[i].udp.capacity, (unsigned long long)nv[i].udp.failed);
	}
	fputc(']', f);
}

void ph_out_json(FILE *f, struct ph_acct *a, const struct ph_out_ctx *c)
{
	const struct ph_proc_view *pv;
	const struct ph_dest_view *dv;
	struct ph_acct_counts cnt;
	size_t np, nd, k = 0;

	np = ph_acct_procs(a, c->sort, &pv);
	nd = ph_acct_dests(a, &dv);
	ph_acct_counts(a, &cnt);
	fprintf(f, "{\"ts\":%.6f,\"attach_mode\":", c->ts);
	json_str(f, c->attach_mode);
	fprintf(f, ",\"snapshot\":");
	json_str(f, c->snapshot);
	fprintf(f, ",\"lost_events\":%llu,\"skipped_events\":%llu,\"sockets_tracked\":%llu,"
		"\"sockets_dropped\":%llu,\"processes_tracked\":%llu,\"processes\":[",
		(unsigned long long)c->lost_events, (unsigned long long)c->skipped_events,
		(unsigned long long)cnt.sockets, (unsigned long long)cnt.sockets_dropped,
		(unsigned long long)cnt.procs);
	for (size_t i = 0; i < np; i++) {
		if (!ph_out_proc_match(c, &pv[i]))
			continue;
		if (k++)
			fputc(',', f);
		json_proc(f, &pv[i], dv);
	}
	fputs("],\"destinations\":[", f);
	k = 0;
	for (size_t i = 0; i < nd; i++) {
		if (!ph_out_dest_match(c, &dv[i]))
			continue;
		if (k++)
			fputc(',', f);
		json_dest(f, &dv[i], a);
	}
	fputs("],\"netns\":", f);
	ph_out_netns_json(f, a, c->netns);
	if (c->diag) {
		struct ph_finding *fs = NULL;
		size_t n = ph_out_findings(a, c, &fs);

		fputs(",\"findings\":", f);
		ph_findings_json(f, fs, n);
		free(fs);
	}
	fputs("}\n", f);
}

static void fmt_eta(double eta, char *buf, size_t len)
{
	if (!isfinite(eta))
		snprintf(buf, len, "-");
	else if (eta < 1)
		snprintf(buf, len, "NOW");
	else if (eta < 120)
		snprintf(buf, len, "%.0fs", eta);
	else if (eta < 7200)
		snprintf(buf, len, "%.0fm", eta / 60);
	else
		snprintf(buf, len, "%.0fh", eta / 3600);
}

size_t ph_out_findings(struct ph_acct *a, const struct ph_out_ctx *c, struct ph_finding **out)
{
	struct ph_proc_key pk = { .pid = c->pid };
	size_t n = ph_diagnose(a, c->diag, out), k = 0;
	struct ph_finding *fs = *out;

	for (size_t i = 0; i < n; i++)
		if ((!c->pid || ph_finding_of(&fs[i], &pk)) &&
		    (!c->netns || fs[i].netns == c->netns) &&
		    ph_proc_filter_match(&c->filter, fs[i].cgroup[0] ? fs[i].cgroup : NULL))
			fs[k++] = fs[i];
	return k;
}

bool ph_finding_of(const struct ph_finding *f, const struct ph_proc_key *k)
{
	if (f->pid)
		return f->pid == k->pid && (!f->start || !k->start || f->start == k->start);
	for (__u32 i = 0; i < f->npids && i < PH_FIND_PIDS; i++)
		if (f->pids[i] == k->pid)
			return true;
	return false;
}

void ph_finding_where(const struct ph_finding *f, char *buf, size_t len)
{
	struct ph_dest_key k = { .netns = f->netns, .family = f->family, .dport = f->dport };

	if (!f->dport) {
		snprintf(buf, len, "netns %u", f->netns);
		return;
	}
	memcpy(k.saddr, f->saddr, 16);
	memcpy(k.daddr, f->daddr, 16);
	ph_dest_fmt(&k, buf, len);
}

const char *ph_out_diag(const struct ph_finding *fs, size_t n, const struct ph_proc_key *k,
			char *buf, size_t len, int *sev)
{
	const struct ph_finding *first = NULL;
	bool more = false;

	for (size_t i = 0; i < n; i++) {
		if (!ph_finding_of(&fs[i], k))
			continue;
		if (first) {
			more = first->kind != fs[i].kind;
			if (more)
				break;
		} else {
			first = &fs[i];
		}
	}
	if (sev)
		*sev = first ? (int)first->severity : -1;
	if (!first)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s%s", ph_find_kind_label(first->kind), more ? "+" : "");
	return buf;
}

/* Each namespace's port spaces: TCP and UDP have their own ports and limits. */
void ph_out_netns_text(FILE *f, struct ph_acct *a, const struct ph_out_ctx *c)
{
	const struct ph_netns_view *nv;
	size_t nn = ph_acct_netns_views(a, &nv);

	fprintf(f, "\n%-12s %-13s %9s %9s %10s %9s %9s\n", "NETNS", "RANGE", "TCP_USED", "TCP_CAP",
		"BIND_FAIL", "UDP_USED", "UDP_FAIL");
	for (size_t i = 0; i < nn; i++) {
		const struct ph_netns_info *in = nv[i].info;
		char r[16];

		if ((c->netns && in->inode != c->netns) ||
		    (!nv[i].tcp.in_use && !nv[i].udp.in_use && !nv[i].tcp.failed && !nv[i].udp.failed))
			continue;
		snprintf(r, sizeof(r), "%u-%u", in->range_lo, in->range_hi);
		fprintf(f, "%-12u %-13s %9u %9u %10llu %9u %9llu\n", in->inode, r, nv[i].tcp.in_use,
			nv[i].tcp.capacity, (unsigned long long)nv[i].tcp.failed, nv[i].udp.in_use,
			(unsigned long long)nv[i].udp.failed);
	}
}

void ph_out_text(FILE *f, struct ph_acct *a, const struct ph_out_ctx *c)
{
	const struct ph_proc_view *pv;
	const struct ph_dest_view *dv;
	struct ph_finding *fs = NULL;
	size_t np, nd, nf = 0, rows = 0;
	char tbuf[32];
	time_t now = (time_t)c->ts;
	struct tm tm;

	if (c->diag)
		nf = ph_diagnose(a, c->diag, &fs);
	np = ph_acct_procs(a, c->sort, &pv);
	nd = ph_acct_dests(a, &dv);
	localtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(f, "porthog %s  attach=%s  lost_events=%llu  skipped_events=%llu\n\n", tbuf,
		c->attach_mode, (unsigned long long)c->lost_events,
		(unsigned long long)c->skipped_events);
	fprintf(f, "%-7s %-16s %6s %5s %5s %6s %8s %8s %7s %7s %s%s\n", "PID", "COMM", "HELD",
		"TCP", "UDP", "TW", "OPENED", "FAILED", "OPEN/s", "OLDEST", c->diag ? "DIAG    " : "",
		"CMDLINE");
	for (size_t i = 0; i < np; i++) {
		const struct ph_proc_view *v = &pv[i];
		char old[16], comm[PH_TX_SIZE(PH_COMM_LEN)], cmd[61], dg[16] = "", lbl[16];

		if (!ph_out_proc_match(c, v))
			continue;
		if (c->max_rows && rows++ >= c->max_rows)
			break;
		if (v->oldest_s >= 0)
			snprintf(old, sizeof(old), "%.0fs", v->oldest_s);
		else
			snprintf(old, sizeof(old), "-");
		if (c->diag)
			snprintf(dg, sizeof(dg), "%-7s ",
				 ph_out_diag(fs, nf, &v->meta->key, lbl, sizeof(lbl), NULL));
		fprintf(f, "%-7u %-16s %6u %5u %5u %6u %8llu %8llu %7.1f %7s %s%s\n", v->meta->key.pid,
			PH_TX(comm, v->meta->comm), v->ports_held, v->ports_held_tcp, v->ports_held_udp,
			v->time_wait, (unsigned long long)v->opened,
			(unsigned long long)(v->failed + v->bind_failed), v->open_rate, old, dg,
			PH_TX(cmd, v->meta->cmdline));
	}
	free(fs);
	fprintf(f, "\n%-52s %6s %6s %6s %8s %6s %8s\n", "DESTINATION", "IN_USE", "TW", "CAP",
		"HEADROOM", "ETA", "FAILED");
	rows = 0;
	for (size_t i = 0; i < nd; i++) {
		const struct ph_dest_view *v = &dv[i];
		char d[128], eta[16];

		if (!ph_out_dest_match(c, v))
			continue;
		if (c->max_rows && rows++ >= c->max_rows)
			break;
		ph_dest_fmt(&v->key, d, sizeof(d));
		fmt_eta(v->eta_s, eta, sizeof(eta));
		fprintf(f, "%-52s %6u %6u %6u %7.1f%% %6s %8llu%s%s\n", d, v->in_use, v->time_wait,
			v->capacity, v->headroom_pct, eta, (unsigned long long)v->failed,
			v->failed ? "  FAILING" : v->headroom_pct < c->warn_pct ? "  LOW" : "",
			v->bind_ephemeral ? "  BIND(0)" : "");
	}
	ph_out_netns_text(f, a, c);
	fputc('\n', f);
}
