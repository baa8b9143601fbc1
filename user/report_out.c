// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Output formats of a report summary: text, JSON, and a self-contained HTML page. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "diagnose.h"
#include "event.h"
#include "json.h"
#include "output.h"
#include "replay.h"
#include "textesc.h"

#define TOP_ROWS	10

static void fmt_time(double t, char *buf, size_t len)
{
	time_t secs = (time_t)t;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03dZ", (int)((t - secs) * 1000));
}

void ph_summary_text(FILE *f, const struct ph_summary *s)
{
	const struct ph_first_failure *ff = &s->first_failure;
	char a[40], b[40], d[128], comm[PH_TX_SIZE(PH_COMM_LEN)], cmd[71];
	char host[PH_TX_SIZE(sizeof(s->hostname))], kern[PH_TX_SIZE(sizeof(s->kernel))];
	char ver[PH_TX_SIZE(sizeof(s->version))], att[PH_TX_SIZE(sizeof(s->attach))];
	char trig[PH_TX_SIZE(sizeof(s->trigger))];

	/* everything here comes from a file, which anyone could have written */
	fmt_time(s->first_t, a, sizeof(a));
	fmt_time(s->last_t, b, sizeof(b));
	fprintf(f, "host %s, kernel %s, porthog %s, attach %s\n", PH_TX(host, s->hostname),
		PH_TX(kern, s->kernel), PH_TX(ver, s->version), PH_TX(att, s->attach));
	fprintf(f, "span %s .. %s (%.1f s), %llu events\n", a, b, s->last_t - s->first_t,
		(unsigned long long)s->events);
	fprintf(f, "lost_events %llu (ring buffer full)\n", (unsigned long long)s->lost_events);
	fprintf(f, "skipped_events %llu (tracepoint hits the kernel skipped, not caught)\n",
		(unsigned long long)s->skipped_events);
	if (s->bind_failures || s->udp_failures)
		fprintf(f, "port failures: %llu bind() EADDRINUSE, %llu UDP connect()/sendto() EAGAIN\n",
			(unsigned long long)s->bind_failures, (unsigned long long)s->udp_failures);
	if (s->trigger[0])
		fprintf(f, "trigger: %s\n", PH_TX(trig, s->trigger));
	if (!s->file.complete)
		fprintf(f, "INCOMPLETE FILE: %s; read %llu of %llu bytes (%llu cut)\n",
			s->file.reason, (unsigned long long)s->file.bytes_valid,
			(unsigned long long)s->file.bytes_total,
			(unsigned long long)s->file.bytes_cut);

	fputs("\nFINDINGS (why the ports ran out, at the end of the trace)\n", f);
	ph_findings_text(f, s->findings, s->nfindings);

	fprintf(f, "\nOFFENDERS (by peak ports held)\n%-7s %-16s %9s %5s %5s %7s %8s %7s  %s\n",
		"PID", "COMM", "PEAK_HELD", "TCP", "UDP", "PEAK_TW", "OPENED", "FAILED", "CMDLINE");
	for (size_t i = 0; i < s->noffenders && i < TOP_ROWS; i++) {
		const struct ph_offender *o = &s->offenders[i];

		fprintf(f, "%-7u %-16s %9u %5u %5u %7u %8llu %7llu  %s\n", o->meta.key.pid,
			PH_TX(comm, o->meta.comm), o->peak_held, o->peak_held_tcp, o->peak_held_udp,
			o->peak_time_wait, (unsigned long long)o->opened,
			(unsigned long long)(o->failed + o->bind_failed), PH_TX(cmd, o->meta.cmdline));
	}
	fprintf(f, "\nDESTINATIONS\n%-52s %9s %8s %-24s %8s\n", "DESTINATION", "PEAK_USE",
		"CAPACITY", "AT", "FAILED");
	for (size_t i = 0; i < s->ndests && i < TOP_ROWS; i++) {
		const struct ph_dest_summary *ds = &s->dests[i];

		ph_dest_fmt(&ds->key, d, sizeof(d));
		fmt_time(ds->peak_t, a, sizeof(a));
		fprintf(f, "%-52s %9u %8u %-24s %8llu\n", d, ds->peak_in_use, ds->capacity, a,
			(unsigned long long)ds->failed);
	}
	if (!ff->seen) {
		fprintf(f, "\nno connect() failed with EADDRNOTAVAIL\n");
		return;
	}
	fmt_time(ff->t, a, sizeof(a));
	ph_dest_fmt(&ff->dest, d, sizeof(d));
	fprintf(f, "\nFIRST FAILURE at %s: pid %u (%s) on %s, in_use %u of %u\n", a, ff->pid,
		PH_TX(comm, ff->comm), d, ff->in_use, ff->capacity);
	for (size_t i = 0; i < ff->nholders; i++)
		fprintf(f, "  pid %-7u %-16s held %u\n", ff->holders[i].pid,
			PH_TX(comm, ff->holders[i].comm), ff->holders[i].held);
}

static void json_dest_key(FILE *f, const struct ph_dest_key *k)
{
	char s[PH_ADDR_STRLEN], d[PH_ADDR_STRLEN];

	ph_addr_fmt(k->family, k->saddr, s, sizeof(s));
	ph_addr_fmt(k->family, k->daddr, d, sizeof(d));
	fprintf(f, "\"netns\":%u,\"family\":\"%s\",\"saddr\":\"%s\",\"daddr\":\"%s\",\"dport\":%u,"
		"\"protocol\":\"%s\"", k->netns, ph_family_name(k->family), s, d, k->dport,
		ph_protocol_name(k->protocol));
}

void ph_summary_json(FILE *f, const struct ph_summary *s)
{
	const struct ph_first_failure *ff = &s->first_failure;

	fputs("{\"host\":", f);
	json_str(f, s->hostname);
	fputs(",\"kernel\":", f);
	json_str(f, s->kernel);
	fputs(",\"version\":", f);
	json_str(f, s->version);
	fputs(",\"attach_mode\":", f);
	json_str(f, s->attach);
	fprintf(f, ",\"start\":%.6f,\"first_event\":%.6f,\"last_event\":%.6f,\"events\":%llu,"
		"\"lost_events\":%llu,\"skipped_events\":%llu,\"bind_failures\":%llu,"
		"\"udp_failures\":%llu,\"trigger\":", s->start_t, s->first_t, s->last_t,
		(unsigned long long)s->events, (unsigned long long)s->lost_events,
		(unsigned long long)s->skipped_events, (unsigned long long)s->bind_failures,
		(unsigned long long)s->udp_failures);
	if (s->trigger[0])
		json_str(f, s->trigger);
	else
		fputs("null", f);
	fprintf(f, ",\"file\":{\"complete\":%s,\"bytes_valid\":%llu,\"bytes_total\":%llu,"
		"\"bytes_cut\":%llu,\"reason\":", s->file.complete ? "true" : "false",
		(unsigned long long)s->file.bytes_valid, (unsigned long long)s->file.bytes_total,
		(unsigned long long)s->file.bytes_cut);
	json_str(f, s->file.reason);
	fputc('}', f);
	fputs(",\"offenders\":[", f);
	for (size_t i = 0; i < s->noffenders; i++) {
		const struct ph_offender *o = &s->offenders[i];

		fprintf(f, "%s{\"pid\":%u,\"start_ticks\":%llu,\"comm\":", i ? "," : "",
			o->meta.key.pid, (unsigned long long)o->meta.key.start);
		json_str(f, o->meta.comm);
		fputs(",\"cmdline\":", f);
		json_str(f, o->meta.cmdline ? o->meta.cmdline : "");
		fputs(",\"cgroup\":", f);
		json_str(f, o->meta.cgroup ? o->meta.cgroup : "");
		ph_json_workload(f, o->meta.cgroup);
		fprintf(f, ",\"uid\":%u,\"peak_ports_held\":%u,\"peak_time_wait\":%u,\"peak_at\":%.6f,"
			"\"opened\":%llu,\"failed\":%llu,\"peak_ports_held_by_protocol\":{\"tcp\":%u,"
			"\"udp\":%u},\"bind_failed\":%llu}", o->meta.uid, o->peak_held,
			o->peak_time_wait, o->peak_t, (unsigned long long)o->opened,
			(unsigned long long)o->failed, o->peak_held_tcp, o->peak_held_udp,
			(unsigned long long)o->bind_failed);
	}
	fputs("],\"destinations\":[", f);
	for (size_t i = 0; i < s->ndests; i++) {
		const struct ph_dest_summary *d = &s->dests[i];

		fputs(i ? ",{" : "{", f);
		json_dest_key(f, &d->key);
		fprintf(f, ",\"peak_in_use\":%u,\"capacity\":%u,\"peak_at\":%.6f,\"failed\":%llu}",
			d->peak_in_use, d->capacity, d->peak_t, (unsigned long long)d->failed);
	}
	fputs("],\"findings\":", f);
	ph_findings_json(f, s->findings, s->nfindings);
	fputs(",\"first_failure\":", f);
	if (!ff->seen) {
		fputs("null}\n", f);
		return;
	}
	fprintf(f, "{\"ts\":%.6f,\"pid\":%u,\"comm\":", ff->t, ff->pid);
	json_str(f, ff->comm);
	fputs(",", f);
	json_dest_key(f, &ff->dest);
	fprintf(f, ",\"in_use\":%u,\"capacity\":%u,\"holders\":[", ff->in_use, ff->capacity);
	for (size_t i = 0; i < ff->nholders; i++) {
		fprintf(f, "%s{\"pid\":%u,\"comm\":", i ? "," : "", ff->holders[i].pid);
		json_str(f, ff->holders[i].comm);
		fprintf(f, ",\"held\":%u}", ff->holders[i].held);
	}
	fputs("]}}\n", f);
}

/* HTML shows what the terminal shows (textesc.h), with the markup characters as entities. */
static bool html_emit(void *ctx, const char *p, size_t k)
{
	FILE *f = ctx;

	for (size_t i = 0; i < k; i++) {
		switch (p[i]) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(p[i], f);
		}
	}
	return true;
}

static void html_esc(FILE *f, const char *s)
{
	ph_esc_walk(s, (size_t)-1, ph_tx_unit, html_emit, f);
}

static const char *const palette[] = {
	"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
};

struct chart {
	double t0, t1;
	double ymax;
	int x0, y0, w, h;	/* plot area */
};

static double cx(const struct chart *c, double t)
{
	return c->x0 + (c->t1 > c->t0 ? (t - c->t0) / (c->t1 - c->t0) : 0) * c->w;
}

static double cy(const struct chart *c, double v)
{
	return c->y0 + c->h - (c->ymax > 0 ? v / c->ymax : 0) * c->h;
}

/* A step line: the value holds until the next point. */
static void svg_steps(FILE *f, const struct chart *c, const struct ph_series_pt *pts, size_t n,
		      const char *color, const char *dash, const char *cls)
{
	if (!n)
		return;
	fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s points=\"",
		cls, color, dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
	for (size_t i = 0; i < n; i++) {
		if (i)
			fprintf(f, "%.1f,%.1f ", cx(c, pts[i].t), cy(c, pts[i - 1].v));
		fprintf(f, "%.1f,%.1f ", cx(c, pts[i].t), cy(c, pts[i].v));
	}
	fprintf(f, "%.1f,%.1f\"/>\n", cx(c, c->t1), cy(c, pts[n - 1].v));
}

/* Seconds between time axis ticks: at most 8 ticks over the span. */
static double tick_step(double span)
{
	static const double steps[] = {
		0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
		10800, 21600, 43200, 86400,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(steps) - 1; i++)
		if (span / steps[i] <= 8)
			break;
	return steps[i] * (span / steps[i] > 8 ? ceil(span / steps[i] / 8) : 1);
}

/* Frame, port ticks, and a wall-clock (UTC) time axis. */
static void svg_axes(FILE *f, const struct chart *c)
{
	double step = tick_step(c->t1 - c->t0);
	char day[16];
	time_t secs = (time_t)c->t0;
	struct tm tm;

	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#999\"/>\n",
		c->x0, c->y0, c->w, c->h);
	for (int k = 0; k <= 4; k++) {
		double v = c->ymax / 1.1 * k / 4;

		fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.0f</text>\n",
			c->x0 - 4, cy(c, v) + 4, v);
	}
	/* times come from an untrusted file: bounded tick count, plausible times only */
	for (int k = 0; k <= 9; k++) {
		double t = ceil(c->t0 / step) * step + k * step;
		long long ms;
		char lbl[32];

		if (!(t <= c->t1 + 1e-9) || t < 0 || t > 1e11)
			break;
		ms = llround(t * 1000);
		secs = (time_t)(ms / 1000);
		if (!gmtime_r(&secs, &tm))
			break;
		strftime(lbl, sizeof(lbl), "%H:%M:%S", &tm);
		if (step < 1) {
			int dec = step < 0.01 ? 3 : step < 0.1 ? 2 : 1;

			snprintf(lbl + strlen(lbl), sizeof(lbl) - strlen(lbl), ".%0*lld", dec,
				 (ms % 1000) / (dec == 3 ? 1 : dec == 2 ? 10 : 100));
		}
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#999\"/>"
			"<text class=\"tick\" x=\"%.1f\" y=\"%d\" font-size=\"11\" "
			"text-anchor=\"middle\">%s</text>\n", cx(c, t), cx(c, t), c->y0 + c->h,
			c->y0 + c->h + 4, cx(c, t), c->y0 + c->h + 16, lbl);
	}
	secs = c->t0 >= 0 && c->t0 <= 1e11 ? (time_t)c->t0 : 0;
	if (!gmtime_r(&secs, &tm))
		memset(&tm, 0, sizeof(tm));
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">UTC, %s</text>\n",
		c->x0 + c->w, c->y0 + c->h + 32, day);
}

static const char *const state_names[PH_CHART_STATES] = {
	[PH_CS_ESTABLISHED] = "ESTABLISHED",
	[PH_CS_TIME_WAIT] = "TIME_WAIT",
	[PH_CS_SYN_SENT] = "SYN_SENT",
};

static const char *const state_colors[PH_CHART_STATES] = {
	[PH_CS_ESTABLISHED] = "#1f77b4",
	[PH_CS_TIME_WAIT] = "#ff7f0e",
	[PH_CS_SYN_SENT] = "#d62728",
};

/* The top offender's ports split by state, on the same time axis. */
static void svg_states(FILE *f, const struct ph_summary *s, const struct chart *main_chart)
{
	const struct ph_offender *o = &s->offenders[0];
	struct chart c = *main_chart;

	c.h = 200;
	c.ymax = 0;
	for (int k = 0; k < PH_CHART_STATES; k++)
		if (o->peak_state[k] > c.ymax)
			c.ymax = o->peak_state[k];
	c.ymax = c.ymax ? c.ymax * 1.1 : 1;
	fprintf(f, "<h2>Ports of pid %u (", o->meta.key.pid);
	html_esc(f, o->meta.comm);
	fprintf(f, ") by state</h2>\n<svg id=\"states\" xmlns=\"http://www.w3.org/2000/svg\" "
		"width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"ports by state\">\n",
		c.x0 + c.w + 340, c.y0 + c.h + 40);
	svg_axes(f, &c);
	for (int k = 0; k < PH_CHART_STATES; k++) {
		char cls[32];

		snprintf(cls, sizeof(cls), "state %s", state_names[k]);
		svg_steps(f, &c, o->state_series[k], o->nstate[k], state_colors[k], NULL, cls);
		fprintf(f, "<text class=\"legend\" x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\">"
			"&#8212; %s peak %u</text>\n", c.x0 + c.w + 8, c.y0 + 12 + 16 * k,
			state_colors[k], state_names[k], o->peak_state[k]);
	}
	fputs("</svg>\n", f);
}

/* What the diagnosis concluded about the last state of the recording. */
static void html_findings(FILE *f, const struct ph_summary *s)
{
	char d[128];

	fputs("<h2>Findings</h2>\n", f);
	if (!s->nfindings) {
		fputs("<p id=\"findings\">No findings.</p>\n", f);
		return;
	}
	fputs("<table id=\"findings\"><tr><th class=l>severity</th><th class=l>kind</th>"
	      "<th>pid</th><th class=l>comm</th><th class=l>destination</th><th>ports</th>"
	      "<th class=l>finding</th><th class=l>advice</th></tr>\n", f);
	for (size_t i = 0; i < s->nfindings; i++) {
		const struct ph_finding *x = &s->findings[i];

		ph_finding_where(x, d, sizeof(d));
		fprintf(f, "<tr class=\"finding %s\"><td class=\"l%s\">%s</td><td class=l>%s</td>"
			"<td>", ph_find_kind_name(x->kind),
			x->severity == PH_SEV_CRITICAL ? " fail" : "", ph_severity_name(x->severity),
			ph_find_kind_label(x->kind));
		if (x->pid)
			fprintf(f, "%u", x->pid);
		else if (x->npids)
			fprintf(f, "%u processes", x->npids);
		fputs("</td><td class=l>", f);
		html_esc(f, x->comm);
		fprintf(f, "</td><td class=l>%s</td><td>%u</td><td class=l>", d, x->ports);
		html_esc(f, x->summary);
		fputs("</td><td class=l>", f);
		html_esc(f, x->advice);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

int ph_summary_html(FILE *f, const struct ph_summary *s)
{
	struct chart c = { .x0 = 60, .y0 = 20, .w = 860, .h = 320 };
	size_t nproc = s->noffenders < s->chart_procs ? s->noffenders : s->chart_procs;
	size_t ndest = s->ndests < 3 ? s->ndests : 3;
	char a[40], b[40], d[128];
	int color = 0;

	c.t0 = s->first_t;
	c.t1 = s->last_t > s->first_t ? s->last_t : s->first_t + 1;
	for (size_t i = 0; i < ndest; i++) {
		if (s->dests[i].capacity > c.ymax)
			c.ymax = s->dests[i].capacity;
		if (s->dests[i].peak_in_use > c.ymax)
			c.ymax = s->dests[i].peak_in_use;
	}
	for (size_t i = 0; i < nproc; i++)
		for (size_t j = 0; j < s->offenders[i].nseries; j++)
			if (s->offenders[i].series[j].v > c.ymax)
				c.ymax = s->offenders[i].series[j].v;
	c.ymax = c.ymax ? c.ymax * 1.1 : 1;
	fmt_time(s->first_t, a, sizeof(a));
	fmt_time(s->last_t, b, sizeof(b));

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<title>porthog report</title><style>"
	      "body{font:14px sans-serif;margin:24px;color:#222}"
	      "table{border-collapse:collapse;margin:8px 0 20px}"
	      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
	      "td.l,th.l{text-align:left}th{background:#eee}"
	      ".fail{color:#b00;font-weight:bold}code{font-size:12px}"
	      "</style></head><body>\n<h1>porthog report</h1>\n<p>host <b>", f);
	html_esc(f, s->hostname);
	fputs("</b>, kernel ", f);
	html_esc(f, s->kernel);
	fprintf(f, ", attach %s<br>%s &ndash; %s (%.1f s), %llu events, lost events %llu "
		"(ring buffer full), skipped events %llu (skipped by the kernel, not caught)</p>\n",
		s->attach, a, b, s->last_t - s->first_t, (unsigned long long)s->events,
		(unsigned long long)s->lost_events, (unsigned long long)s->skipped_events);
	if (s->trigger[0]) {
		fputs("<p>trigger: ", f);
		html_esc(f, s->trigger);
		fputs("</p>\n", f);
	}
	if (!s->file.complete) {
		fputs("<p class=\"fail\">incomplete file: ", f);
		html_esc(f, s->file.reason);
		fprintf(f, "; %llu bytes cut</p>\n", (unsigned long long)s->file.bytes_cut);
	}

	/* the chart */
	fprintf(f, "<h2>Ports held over time</h2>\n<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
		"width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"ports held over time\">\n",
		c.x0 + c.w + 340, c.y0 + c.h + 40);
	svg_axes(f, &c);
	for (size_t i = 0; i < ndest; i++) {
		const struct ph_dest_summary *ds = &s->dests[i];
		const char *col = palette[(color++) % ARRAY_SIZE(palette)];

		fprintf(f, "<line class=\"capacity\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"%s\" stroke-dasharray=\"2,3\"/>\n", c.x0, c.x0 + c.w,
			cy(&c, ds->capacity), cy(&c, ds->capacity), col);
		svg_steps(f, &c, ds->series, ds->nseries, col, "6,3", "dest");
		for (size_t j = 0; j < ds->nfail; j++)
			fprintf(f, "<circle class=\"failure\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
				"fill=\"#b00\"><title>EADDRNOTAVAIL</title></circle>\n",
				cx(&c, ds->fail_t[j]), cy(&c, ds->capacity));
		ph_dest_fmt(&ds->key, d, sizeof(d));
		fprintf(f, "<text x=\"%d\" y=\"%zu\" font-size=\"11\" fill=\"%s\">- - %s (cap %u)</text>\n",
			c.x0 + c.w + 8, c.y0 + 12 + 16 * i, col, d, ds->capacity);
	}
	for (size_t i = 0; i < nproc; i++) {
		const struct ph_offender *o = &s->offenders[i];
		const char *col = palette[(color++) % ARRAY_SIZE(palette)];

		svg_steps(f, &c, o->series, o->nseries, col, NULL, "proc");
		fprintf(f, "<text class=\"legend\" x=\"%d\" y=\"%zu\" font-size=\"11\" fill=\"%s\">"
			"&#8212; pid %u ", c.x0 + c.w + 8, c.y0 + 12 + 16 * (ndest + i), col,
			o->meta.key.pid);
		html_esc(f, o->meta.comm);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
	if (s->noffenders)
		svg_states(f, s, &c);

	html_findings(f, s);

	fputs("<h2>Offenders</h2>\n<table id=\"offenders\"><tr><th>pid</th><th class=l>comm</th>"
	      "<th>peak held</th><th>peak TIME_WAIT</th><th>opened</th><th>failed</th>"
	      "<th class=l>cmdline</th></tr>\n", f);
	for (size_t i = 0; i < s->noffenders && i < TOP_ROWS; i++) {
		const struct ph_offender *o = &s->offenders[i];

		fprintf(f, "<tr><td>%u</td><td class=l>", o->meta.key.pid);
		html_esc(f, o->meta.comm);
		fprintf(f, "</td><td>%u</td><td>%u</td><td>%llu</td><td%s>%llu</td><td class=l><code>",
			o->peak_held, o->peak_time_wait, (unsigned long long)o->opened,
			o->failed ? " class=fail" : "", (unsigned long long)o->failed);
		html_esc(f, o->meta.cmdline);
		fputs("</code></td></tr>\n", f);
	}
	fputs("</table>\n<h2>Destinations</h2>\n<table id=\"destinations\"><tr><th class=l>destination</th>"
	      "<th>peak in use</th><th>capacity</th><th class=l>peak at</th><th>EADDRNOTAVAIL</th></tr>\n", f);
	for (size_t i = 0; i < s->ndests && i < TOP_ROWS; i++) {
		const struct ph_dest_summary *ds = &s->dests[i];

		ph_dest_fmt(&ds->key, d, sizeof(d));
		fmt_time(ds->peak_t, a, sizeof(a));
		fprintf(f, "<tr><td class=l>%s</td><td>%u</td><td>%u</td><td class=l>%s</td>"
			"<td%s>%llu</td></tr>\n", d, ds->peak_in_use, ds->capacity, a,
			ds->failed ? " class=fail" : "", (unsigned long long)ds->failed);
	}
	fputs("</table>\n<h2>First failure</h2>\n", f);
	if (!s->first_failure.seen) {
		fputs("<p>No connect() failed with EADDRNOTAVAIL.</p>\n", f);
	} else {
		const struct ph_first_failure *ff = &s->first_failure;

		fmt_time(ff->t, a, sizeof(a));
		ph_dest_fmt(&ff->dest, d, sizeof(d));
		fprintf(f, "<p id=\"first-failure\" class=fail>%s: pid %u (", a, ff->pid);
		html_esc(f, ff->comm);
		fprintf(f, ") &rarr; %s, in use %u of %u</p>\n<table><tr><th>pid</th>"
			"<th class=l>comm</th><th>held</th></tr>\n", d, ff->in_use, ff->capacity);
		for (size_t i = 0; i < ff->nholders; i++) {
			fprintf(f, "<tr><td>%u</td><td class=l>", ff->holders[i].pid);
			html_esc(f, ff->holders[i].comm);
			fprintf(f, "</td><td>%u</td></tr>\n", ff->holders[i].held);
		}
		fputs("</table>\n", f);
	}
	fputs("</body></html>\n", f);
	return ferror(f) ? -1 : 0;
}
