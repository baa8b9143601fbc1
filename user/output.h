/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Output formats of the accounting state: JSON objects and plain text tables. */
#ifndef PH_OUTPUT_H
#define PH_OUTPUT_H

#include "account.h"

struct ph_diag_opts;
struct ph_finding;
#include "procinfo.h"

/* Which processes a view shows: --cgroup, --pod-uid, --container ("" or NULL: any). */
struct ph_proc_filter {
	const char *cgroup;				/* substring of the cgroup path */
	char pod_uid[PH_POD_UID_LEN + 1];		/* exact, normalized */
	char container[PH_CONTAINER_ID_LEN + 1];	/* prefix of the id, lower case */
};

struct ph_out_ctx {
	double ts;			/* wall clock seconds */
	const char *attach_mode;
	__u64 lost_events;		/* ring buffer full */
	__u64 skipped_events;		/* skipped by the kernel, not caught */
	const char *snapshot;		/* iter | diag */
	/* filters */
	__u32 pid;
	__u32 netns;
	struct ph_proc_filter filter;
	enum ph_sort sort;
	size_t max_rows;		/* text only; 0: all */
	double warn_pct;
	const struct ph_diag_opts *diag;	/* JSON: add "findings" with these thresholds */
};

bool ph_proc_filter_match(const struct ph_proc_filter *f, const char *cgroup);
/* ,"container":"<12 hex>"|null,"pod_uid":"<uid>"|null of a cgroup path */
void ph_json_workload(FILE *f, const char *cgroup);
bool ph_out_proc_match(const struct ph_out_ctx *c, const struct ph_proc_view *v);
bool ph_out_dest_match(const struct ph_out_ctx *c, const struct ph_dest_view *v);
void ph_out_json(FILE *f, struct ph_acct *a, const struct ph_out_ctx *c);
void ph_out_text(FILE *f, struct ph_acct *a, const struct ph_out_ctx *c);
/*
 * The diagnosis (c->diag thresholds) through the view's filters: --pid,
 * --netns, --cgroup, --pod-uid, --container (a process filter leaves out the
 * namespace-wide range findings). *out is malloc'ed; returns the count.
 */
size_t ph_out_findings(struct ph_acct *a, const struct ph_out_ctx *c, struct ph_finding **out);
/* Is the finding about this process (its pid, or one of an aggregate's pids)? */
bool ph_finding_of(const struct ph_finding *f, const struct ph_proc_key *k);
/*
 * The DIAG column of a process: the label of its first (most severe) finding,
 * with "+" when it has more; "-" if none. *sev (may be NULL) gets that
 * finding's severity, -1 if none.
 */
const char *ph_out_diag(const struct ph_finding *fs, size_t n, const struct ph_proc_key *k,
			char *buf, size_t len, int *sev);
/* Where a finding is: "10.0.0.1 -> 10.0.0.2:5672", or "netns N" when namespace-wide. */
void ph_finding_where(const struct ph_finding *f, char *buf, size_t len);
/* The "netns" array: settings and usage of each namespace (netns 0: all). */
void ph_out_netns_json(FILE *f, struct ph_acct *a, __u32 netns);
/* "10.0.0.1 -> 10.0.0.2:5672" */
/* A UDP destination of unconnected sockets: the host pool */
bool ph_dest_is_pool(const struct ph_dest_key *k);
void ph_out_netns_text(FILE *f, struct ph_acct *a, const struct ph_out_ctx *c);
void ph_dest_fmt(const struct ph_dest_key *k, char *buf, size_t len);

#endif
