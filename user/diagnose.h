/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Diagnosis: why the ports run out and what to do. The classifier reads the
 * accounting engine's flows (one process's connections to one destination),
 * destinations and namespace settings, and concludes findings of six kinds.
 * No BPF, no I/O but the writers: live commands and `report` share it.
 *
 * Findings carry no process-controlled text in summary or advice (PIDs and
 * numbers only); comm, cgroup and holder comms are separate fields that each
 * output escapes for its medium.
 */
#ifndef PH_DIAGNOSE_H
#define PH_DIAGNOSE_H

#include <stdio.h>

#include "account.h"

enum ph_find_kind {
	PH_FIND_LEAK,		/* ESTABLISHED pile up, idle or heartbeat-sized traffic */
	PH_FIND_CHURN,		/* mostly TIME_WAIT: short connections, this side closes */
	PH_FIND_SYN_HANG,	/* stuck in SYN_SENT: the destination does not answer */
	PH_FIND_BIND_HOG,	/* bind() before connect(): a port from the whole netns each */
	PH_FIND_VICTIM,		/* connects fail while it holds few of the ports */
	PH_FIND_RANGE,		/* host settings cut the capacity */
	PH_FIND_KINDS,
};

enum ph_severity {
	PH_SEV_INFO,
	PH_SEV_WARNING,		/* ETA to exhaustion under an hour */
	PH_SEV_CRITICAL,	/* connects fail, or headroom under warn_pct */
};

#define PH_FIND_PIDS		8	/* pids listed for an aggregated finding */
#define PH_FIND_HOLDERS		4	/* victim: the processes that hold the ports */

/* A process (or the short-lived processes of one finding) that holds ports a victim needs. */
struct ph_holder {
	__u32 pid;			/* 0: owner unknown, or several processes (procs) */
	__u32 procs;			/* processes: 0 unknown, >1 those of one pooled finding */
	__u32 finding;			/* classifier's own: 1 + index of that pooled finding */
	__u32 ports;
	char comm[PH_COMM_LEN + 1];
	enum ph_find_kind kind;		/* its own finding, PH_FIND_KINDS if none */
};

/* The numbers behind a finding; which ones matter depends on the kind. */
struct ph_evidence {
	/* sockets now */
	__u32 established, time_wait, syn_sent, bound, other;
	/* events while watched */
	double watched_s;
	__u64 opened, closed, closed_tw, failed;
	double open_rate, close_rate;	/* per second */
	double tw_share;		/* closed_tw / closed; NAN without closes */
	__u32 life_n;
	double life_p50_s, life_p90_s;	/* connection lifetimes; NAN when none */
	/* activity of ESTABLISHED sockets (from walks) */
	__u32 activity_n;		/* with activity read */
	__u32 quiet;			/* of them idle or heartbeat-sized */
	__u32 idle;			/* of them no data for idle_s */
	double bytes_p50;		/* bytes per connection, median; NAN if unknown */
	double age_min_s, age_max_s;	/* of held sockets; NAN when none */
	bool age_max_at_least;		/* the oldest predates porthog: at least that old */
	/* SYN_SENT */
	__u32 syn_retrans_max;
	double syn_timeout_s;		/* what tcp_syn_retries implies; NAN if unknown */
	/* destination (or namespace for range) */
	__u32 capacity, in_use;
	double headroom_pct, eta_s;	/* eta NAN when not growing */
	__u64 dest_failed;
	/* namespace settings */
	__u16 range_lo, range_hi;
	__u32 reserved, listeners;
	__s32 tw_reuse, timestamps, syn_retries;
	/* victim */
	__u32 nholders;
	struct ph_holder holders[PH_FIND_HOLDERS];
};

struct ph_finding {
	enum ph_find_kind kind;
	enum ph_severity severity;
	/* who: pid 0 when aggregated over short-lived processes (see pids) */
	__u32 pid;
	__u64 start;			/* of pid, clock ticks */
	__u32 npids;			/* processes in it (may exceed the list) */
	__u32 pids[PH_FIND_PIDS];
	char comm[PH_COMM_LEN + 1];
	__u64 cgroup_id;
	char cgroup[256];		/* path, "" if unknown */
	char container[16];		/* id prefix, "" if none */
	char pod_uid[37];		/* Kubernetes pod UID, "" if none */
	/* where: dport 0 for namespace-wide kinds (range) */
	__u32 netns;
	__u8 family;
	__u8 saddr[16], daddr[16];
	__u16 dport;
	__u32 ports;			/* ports it accounts for */
	char summary[256];
	char advice[640];
	struct ph_evidence ev;
};

/* Thresholds; ph_diag_opts_init sets the documented defaults. */
struct ph_diag_opts {
	__u32 min_ports;	/* leak, churn, bind_hog need this many ports (16) */
	double idle_s;		/* no data either way this long: idle (30) */
	double light_bps;	/* bytes/s per connection up to this: heartbeat-sized (256) */
	double tw_s;		/* TIME_WAIT length (60: Linux TCP_TIMEWAIT_LEN) */
	__u32 syn_min;		/* SYN_SENT sockets past the first RTO (1 s): syn_hang (2) */
	double warn_pct;	/* headroom under this: critical (20) */
	double eta_warn_s;	/* ETA under this: warning (3600) */
	__u32 range_min;	/* an ip_local_port_range narrower than this is a finding (16384) */
};

void ph_diag_opts_init(struct ph_diag_opts *o);

/*
 * Findings of the engine's current state (call ph_acct_tick first), ranked
 * by severity, then causes by ports, then range, then victims. *out is malloc'ed (caller frees); returns the count.
 */
size_t ph_diagnose(struct ph_acct *a, const struct ph_diag_opts *o, struct ph_finding **out);

/* "leak", "churn", "syn_hang", "bind_hog", "victim", "range" */
const char *ph_find_kind_name(enum ph_find_kind k);
/* DIAG column: "LEAK", "CHURN", "HANG", "BIND", "VICTIM", "RANGE" */
const char *ph_find_kind_label(enum ph_find_kind k);
/* "info", "warning", "critical" */
const char *ph_severity_name(enum ph_severity s);

/* A JSON array of findings: [{"kind":...}, ...] */
void ph_findings_json(FILE *f, const struct ph_finding *fs, size_t n);
/* One block per finding (summary, evidence, advice), for a person. */
void ph_findings_text(FILE *f, const struct ph_finding *fs, size_t n);
/* The settings that matter of each namespace with a finding, for a person. */
void ph_findings_settings_text(FILE *f, struct ph_acct *a, const struct ph_finding *fs, size_t n);

#endif
