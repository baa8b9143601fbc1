/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Replay of a recorded trace through the accounting engine: the summary that
 * `porthog report` prints, the time series behind its chart, and the state at
 * any instant (--at). Independent of the file layer: cmd_report feeds it.
 */
#ifndef PH_REPLAY_H
#define PH_REPLAY_H

#include "account.h"
#include "diagnose.h"

struct ph_replay_opts {
	double tick_s;		/* sampling period in trace time */
	double stop_at;		/* wall seconds; 0: replay everything */
	size_t top_n;		/* processes in the chart and the offender table */
};

struct ph_series_pt {
	double t;		/* wall seconds */
	__u32 v;
};

/* The states an offender's ports are split into in the report chart. */
enum { PH_CS_ESTABLISHED, PH_CS_TIME_WAIT, PH_CS_SYN_SENT, PH_CHART_STATES };

struct ph_offender {
	struct ph_proc_meta meta;	/* copied strings, owned */
	__u32 peak_held;		/* ports held, TIME_WAIT excluded (as top's ports_held) */
	__u32 peak_time_wait;
	double peak_t;			/* when peak_held was first reached */
	__u64 opened, failed;
	__u32 peak_held_tcp, peak_held_udp;	/* peak of each protocol's ports held */
	__u64 bind_failed;		/* bind() got no port */
	struct ph_series_pt *series;	/* ports held + TIME_WAIT over time */
	size_t nseries;
	struct ph_series_pt *state_series[PH_CHART_STATES];	/* ports per state (PH_CS_*) */
	size_t nstate[PH_CHART_STATES];
	__u32 peak_state[PH_CHART_STATES];
};

struct ph_dest_summary {
	struct ph_dest_key key;
	__u32 peak_in_use, capacity;
	double peak_t;
	__u64 failed;
	struct ph_series_pt *series;
	size_t nseries;
	double *fail_t;			/* times of EADDRNOTAVAIL */
	size_t nfail;
};

struct ph_ff_holder {
	__u32 pid;
	char comm[PH_COMM_LEN + 1];
	__u32 held;
};

struct ph_first_failure {
	bool seen;
	double t;
	__u32 pid;
	char comm[PH_COMM_LEN + 1];
	struct ph_dest_key dest;
	__u32 in_use, capacity;
	struct ph_ff_holder holders[8];	/* who held how much at that instant */
	size_t nholders;
};

/* How much of the trace file could be read. */
struct ph_file_note {
	bool complete;			/* clean END record */
	__u64 bytes_valid, bytes_total, bytes_cut;
	char reason[160];
};

struct ph_summary {
	struct ph_file_note file;
	char hostname[65];
	char kernel[65];
	char version[32];
	char attach[32];
	double first_t, last_t;		/* wall seconds of the first and last event */
	double start_t;			/* recording start */
	__u64 events;
	__u64 lost_events;		/* ring buffer full */
	__u64 skipped_events;		/* skipped by the kernel, not caught */
	__u64 bind_failures;		/* bind() without a port (EADDRINUSE) */
	__u64 udp_failures;		/* UDP autobinds without a port (EAGAIN) */
	struct ph_offender *offenders;	/* ranked by peak ports held */
	size_t noffenders;
	struct ph_dest_summary *dests;	/* ranked by failures, then peak */
	size_t ndests;
	struct ph_first_failure first_failure;
	char trigger[256];		/* flight recorder trigger, if any */
	struct ph_finding *findings;	/* the diagnosis of the last state replayed */
	size_t nfindings;
	size_t chart_procs;		/* processes drawn in the chart */
};

struct ph_replay;

void ph_replay_opts_init(struct ph_replay_opts *o);
struct ph_replay *ph_replay_new(const struct ph_replay_opts *o);
void ph_replay_free(struct ph_replay *r);

void ph_replay_header(struct ph_replay *r, const char *host, const char *kernel,
		      const char *version, const char *attach, __s64 mono_to_wall_ns,
		      double start_wall);
void ph_replay_netns(struct ph_replay *r, const struct ph_netns_info *n);
void ph_replay_proc(struct ph_replay *r, const struct ph_proc_meta *m);
void ph_replay_sock(struct ph_replay *r, const struct ph_sock_entry *s);
/*
 * A later full snapshot (after lost events, at a trigger) replaces the table:
 * begin, ph_replay_sock for each socket, end. begin returns false once the
 * replay passed stop_at (the snapshot is then not applied).
 */
bool ph_replay_resync_begin(struct ph_replay *r, __u64 ts_ns);
void ph_replay_resync_end(struct ph_replay *r);
/* Returns false once the replay passed stop_at (the caller can stop reading). */
bool ph_replay_event(struct ph_replay *r, const struct ph_event *e);
void ph_replay_lost(struct ph_replay *r, __u64 lost_total, __u64 skipped_total);
void ph_replay_trigger(struct ph_replay *r, double t, const char *what);
void ph_replay_file(struct ph_replay *r, const struct ph_file_note *n);

/* Finish: fills the summary (owned by the replay). */
const struct ph_summary *ph_replay_finish(struct ph_replay *r);
/* The engine, for --at (state at stop_at) */
struct ph_acct *ph_replay_acct(struct ph_replay *r);
__s64 ph_replay_wall_off(const struct ph_replay *r);

void ph_summary_text(FILE *f, const struct ph_summary *s);
void ph_summary_json(FILE *f, const struct ph_summary *s);
/* Single self-contained page: inline SVG chart and the summary tables. */
int ph_summary_html(FILE *f, const struct ph_summary *s);

#endif
