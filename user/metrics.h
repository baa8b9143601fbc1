/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus metrics of the accounting state, for `porthog serve`.
 *
 * ph_metrics_update() copies what the metrics need out of the engine (the top
 * --max-series processes, destinations and namespaces; the rest summed into one
 * "other" series each), so rendering never touches the engine again.
 * Text exposition 0.0.4 and OpenMetrics 1.0.0 render from the same copy.
 *
 * Counters of the "other" series only ever grow: they add up the increments
 * that members made while they were not in the top N.
 */
#ifndef PH_METRICS_H
#define PH_METRICS_H

#include "output.h"

enum ph_metrics_fmt { PH_FMT_PROM, PH_FMT_OPENMETRICS };

#define PH_CT_PROM	"text/plain; version=0.0.4; charset=utf-8"
#define PH_CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

#define PH_METRICS_LABEL_MAX	256	/* raw bytes kept of a label value (cgroup paths) */

struct ph_metrics_opts {
	__u32 max_series;	/* own series per kind; the rest go to "other" */
	__u32 pid;		/* filters, as top's -p and --netns */
	__u32 netns;
	struct ph_proc_filter filter;	/* --cgroup, --pod-uid, --container */
	/*
	 * Optional (serve: ph_proc_alive). A process that holds no port and is no
	 * longer alive gets no series of its own: exited processes drop out at the
	 * next update, not only when the engine forgets them (proc_ttl_s). What
	 * it did since the previous update is added to the "other" counters.
	 */
	bool (*proc_alive)(__u32 pid, __u64 start_ticks);
	/*
	 * Set: porthog_finding_ports from ph_diagnose() with these thresholds,
	 * the first --max-series findings (most severe, then most ports) as
	 * series of their own, the rest summed per kind and severity.
	 */
	const struct ph_diag_opts *diag;
};

/* Everything else the exporter reports about itself. */
struct ph_metrics_info {
	const char *attach_mode;
	const char *snapshot;	/* iter | diag */
	__u64 lost_events;	/* ring buffer full */
	__u64 skipped_events;	/* skipped by the kernel (nesting), not caught */
	double ts;		/* wall clock of the update */
};

struct ph_metrics;

struct ph_metrics *ph_metrics_new(const struct ph_metrics_opts *o);
void ph_metrics_free(struct ph_metrics *m);
/* After ph_acct_tick(): take the views. Returns 0 or -ENOMEM. */
int ph_metrics_update(struct ph_metrics *m, struct ph_acct *a, const struct ph_metrics_info *info);
/*
 * Render the last update. The scrape counter is not part of it (it changes per
 * scrape): append ph_metrics_render_tail() after it. Returns 0 or -errno.
 */
int ph_metrics_render(struct ph_metrics *m, enum ph_metrics_fmt fmt, char **buf, size_t *len);
/* porthog_scrapes_total, and "# EOF" for OpenMetrics. Returns the length. */
size_t ph_metrics_render_tail(enum ph_metrics_fmt fmt, __u64 scrapes, char *buf, size_t size);

/*
 * Escape a label value: backslash, double quote and newline; bytes that are not
 * valid UTF-8 become U+FFFD. At most max_in input bytes are used, cut at a
 * character boundary. out is always NUL-terminated; returns its length.
 */
size_t ph_prom_escape(const char *in, size_t max_in, char *out, size_t size);

/*
 * Content negotiation: does an Accept header prefer OpenMetrics? True when
 * application/openmetrics-text has a q-value above 0 and no lower than the
 * best of text/plain and the wildcards (which get the text format).
 * NULL or no Accept header: false.
 */
bool ph_accept_openmetrics(const char *accept);

#endif
