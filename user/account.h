/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Port accounting: the state that events and socket walks add up to.
 *
 * Sockets are keyed by (netns, family, saddr, sport, daddr, dport) and owned by
 * a process keyed by (pid, start time in clock ticks), so PID reuse never merges
 * two processes. Destinations are (netns, family, saddr, daddr, dport).
 * Only outbound sockets count: local port inside the netns ephemeral range and
 * not a listening port. Nothing here touches BPF or the kernel; live commands
 * and `report` feed the same engine.
 */
#ifndef PH_ACCOUNT_H
#define PH_ACCOUNT_H

#include "common.h"
#include "porthog.h"

#define PH_TCP_STATES		14
#define PH_ST_ESTABLISHED	1
#define PH_ST_SYN_SENT		2
#define PH_ST_TIME_WAIT		6
#define PH_ST_CLOSE		7
#define PH_ST_LISTEN		10

struct ph_proc_key {
	__u32 pid;
	__u32 pad;
	__u64 start;		/* clock ticks since boot, as /proc/PID/stat field 22 */
};

/* Static facts about a process: from the kernel, /proc, or a trace file. */
struct ph_proc_meta {
	struct ph_proc_key key;
	__u32 uid;
	__u64 cgroup_id;
	char comm[PH_COMM_LEN + 1];
	char *cmdline;		/* malloc'ed, may be NULL */
	char *cgroup;		/* cgroup v2 path, malloc'ed, may be NULL */
};

/* One process, as the views show it. */
struct ph_proc_view {
	const struct ph_proc_meta *meta;
	__u32 ports_held;	/* ephemeral ports held, TCP and UDP, not in TIME_WAIT */
	__u32 ports_held_tcp, ports_held_udp;	/* ports_held by protocol */
	__u32 bound_only;	/* of ports_held_tcp: bound, not connected */
	/*
	 * Sockets (TIME_WAIT included) whose port came from bind(port 0) without
	 * IP_BIND_ADDRESS_NO_PORT: each takes a port of the whole range, not one
	 * per destination (the bind_hog diagnosis).
	 */
	__u32 bind_ephemeral;
	__u64 bind_failed;	/* bind() got no port */
	__u32 by_state[PH_TCP_STATES];
	__u32 time_wait;
	__u64 opened, closed, failed;
	double open_rate;	/* opens per second over the last tick */
	double oldest_s;	/* age of the oldest held connection, -1 if none */
	__u32 ndest;		/* entries used in top_dest */
	struct {
		__u32 dest_idx;	/* index into the dest view array */
		__u32 count;
	} top_dest[3];
	__u32 netns;		/* namespace of its sockets (the last one seen) */
};

/* A UDP destination has no saddr; daddr zero and dport 0: the host's unconnected UDP pool. */
struct ph_dest_key {
	__u32 netns;
	__u8 family;
	__u8 protocol;		/* 0: TCP, PH_PROTO_UDP */
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ph_dest_view {
	struct ph_dest_key key;
	__u32 in_use;		/* all states, TIME_WAIT included */
	__u32 time_wait;
	__u32 capacity;		/* range - reserved - busy (bound/listening) in range */
	double headroom_pct;
	double eta_s;		/* NAN when not growing */
	__u64 failed;		/* EADDRNOTAVAIL; UDP: EAGAIN */
	__u32 peak_in_use;
	__u32 bind_ephemeral;	/* of in_use: port from bind(0) without IP_BIND_ADDRESS_NO_PORT */
	__u16 range_lo, range_hi;	/* narrowest IP_LOCAL_PORT_RANGE of its sockets, 0: none */
	__u32 pool_in_use;	/* what headroom counts: in_use; UDP: every UDP port of the netns */
};

/* Per network namespace settings and usage. */
struct ph_netns_info {
	__u32 inode;
	__u16 range_lo, range_hi;
	__u32 reserved_in_range;	/* ip_local_reserved_ports inside the range */
	__s32 tw_reuse;			/* tcp_tw_reuse: 0, 1, 2 (loopback only); -1 unknown */
	__s32 syn_retries;		/* tcp_syn_retries; -1 unknown */
	__s32 timestamps;		/* tcp_timestamps (tw_reuse needs them); -1 unknown */
	char *reserved;			/* the sysctl text, malloc'ed, may be NULL */
};

/* One port space (TCP or UDP) of a namespace. */
struct ph_proto_usage {
	__u32 in_use;		/* distinct ports in range in use (TCP: listening and bound too) */
	__u32 capacity;		/* range - reserved */
	__u32 bound_only;	/* TCP: bound, not connected */
	__u64 failed;		/* TCP: bind() EADDRINUSE; UDP: autobind EAGAIN and bind() */
};

struct ph_netns_view {
	const struct ph_netns_info *info;
	__u32 busy;		/* ports in range held by bound-only or listening sockets */
	__u32 ports_in_use;	/* distinct local ports in range in use */
	__u32 capacity;
	struct ph_proto_usage tcp, udp;
};

/*
 * What a walk read of a socket's traffic (the activity part of struct
 * ph_sock_rec). flags PH_SR_BOUND also comes from connect events.
 */
struct ph_sock_act {
	__u64 ts_ns;			/* CLOCK_MONOTONIC of the walk that read it, 0: never */
	__u64 bytes_acked, bytes_received;
	__u32 tx_idle_ms, rx_idle_ms;	/* at ts_ns */
	__u32 segs_out, segs_in;
	__u8 retrans;			/* SYNs resent (SYN_SENT) */
	__u8 flags;			/* PH_SR_ACTIVITY, PH_SR_BOUND */
};

/* One socket of the table, as exported to trace files and snapshots. */
struct ph_sock_entry {
	__u32 netns;
	__u8 family;
	__u8 state;
	__u16 sport, dport;
	__u8 saddr[16];
	__u8 daddr[16];
	struct ph_proc_key owner;	/* pid 0: unknown */
	__u64 opened_ns;		/* CLOCK_MONOTONIC, 0 if unknown */
	struct ph_sock_act act;
	__u8 protocol;			/* PH_PROTO_TCP (or 0), PH_PROTO_UDP */
	__u8 pflags;			/* PH_F_BIND_EPHEMERAL */
	__u16 range_lo, range_hi;	/* IP_LOCAL_PORT_RANGE, 0: none */
};

/* One socket of a flow, as the classifier sees it. */
struct ph_flow_sock {
	__u8 state;
	bool age_known;			/* its connect was seen */
	double age_s;			/* since connect; if !age_known, at least this */
	struct ph_sock_act act;
};

/*
 * A flow: one process's connections to one destination, the unit the
 * classifier judges. Events since the engine started give counts and
 * lifetimes; the table gives its sockets now.
 */
struct ph_flow_view {
	struct ph_proc_key owner;		/* pid 0: owner unknown */
	const struct ph_proc_meta *meta;	/* NULL: owner unknown */
	struct ph_dest_key dest;
	__u32 ports;				/* its sockets, TIME_WAIT included */
	__u32 by_state[PH_TCP_STATES];
	__u32 bound;				/* of them: port from bind() */
	__u32 bind_ephemeral;			/* of them: bind(0) without IP_BIND_ADDRESS_NO_PORT */
	__u64 opened, closed, closed_tw, failed;	/* events (failed: EADDRNOTAVAIL) */
	__u64 opened_bound;			/* connects of sockets bound first */
	double watched_s;			/* events were watched this long */
	__u32 life_n;				/* lifetimes kept (the last PH_LIFE_KEEP) */
	double life_p50_s, life_p90_s;		/* NAN when none */
	const struct ph_flow_sock *socks;	/* nsocks entries */
	__u32 nsocks;
};

#define PH_LIFE_KEEP	64

struct ph_acct_opts {
	__u32 max_sockets;	/* table bound */
	__u32 max_procs;
	double proc_ttl_s;	/* how long an exited, port-less process is kept */
	double eta_window_s;	/* growth rate window for eta_s */
	double tw_expire_s;	/* replay: drop TIME_WAIT after this long (0: walks do it) */
};

struct ph_acct;

enum ph_sort {
	PH_SORT_HELD, PH_SORT_TIME_WAIT, PH_SORT_OPENED, PH_SORT_FAILED, PH_SORT_RATE, PH_SORT_PID,
};

void ph_acct_opts_init(struct ph_acct_opts *o);
struct ph_acct *ph_acct_new(const struct ph_acct_opts *o);
void ph_acct_free(struct ph_acct *a);

/* Feed: events in order, with now = event time (CLOCK_MONOTONIC ns). */
void ph_acct_event(struct ph_acct *a, const struct ph_event *e);
/* Feed: netns settings (copied). */
void ph_acct_netns(struct ph_acct *a, const struct ph_netns_info *n);
/* Feed: process metadata (copied); first call for a key wins unless cmdline was NULL. */
void ph_acct_proc_meta(struct ph_acct *a, const struct ph_proc_meta *m);
/* Callback to look up metadata for a process seen for the first time (live mode). */
typedef void (*ph_meta_fn)(void *ctx, struct ph_proc_meta *m);
void ph_acct_set_meta_fn(struct ph_acct *a, ph_meta_fn fn, void *ctx);

/*
 * Reconcile: a full walk of all sockets. Sockets of walked namespaces that the
 * walk does not report are dropped at walk_end (a lost close event cannot
 * leave a port counted forever).
 */
void ph_acct_walk_begin(struct ph_acct *a);
void ph_acct_walk_netns(struct ph_acct *a, __u32 netns);	/* this netns is walked */
/* A socket fd: its process's facts, and the port of a bound-only socket (busy). */
void ph_acct_walk_fd(struct ph_acct *a, const struct ph_fd_rec *r);
/* A socket; its owner_pid (if any) owns it unless it has an owner already. */
void ph_acct_walk_sock(struct ph_acct *a, const struct ph_sock_rec *r);
void ph_acct_walk_end(struct ph_acct *a);
/* Restore one socket (trace file snapshot). */
void ph_acct_add_sock(struct ph_acct *a, const struct ph_sock_entry *s);
/*
 * A full snapshot recorded at ts_ns replaces the table: begin, add_sock for
 * each socket, end drops the sockets it did not list (their events were lost).
 */
void ph_acct_restore_begin(struct ph_acct *a, __u64 ts_ns);
void ph_acct_restore_end(struct ph_acct *a);

/* Advance time: rates, eta, ageing. now is CLOCK_MONOTONIC ns. */
void ph_acct_tick(struct ph_acct *a, __u64 now_ns);

/* Views, valid until the next feed call. Arrays are owned by the engine. */
size_t ph_acct_procs(struct ph_acct *a, enum ph_sort sort, const struct ph_proc_view **out);
/* Sorted by headroom ascending, then in_use descending. */
size_t ph_acct_dests(struct ph_acct *a, const struct ph_dest_view **out);
size_t ph_acct_netns_views(struct ph_acct *a, const struct ph_netns_view **out);
/* Flows with sockets or events (built on call, valid until the next feed call). */
size_t ph_acct_flows(struct ph_acct *a, const struct ph_flow_view **out);
/* CLOCK_MONOTONIC ns of the engine's first input: older sockets are "at least" that old. */
__u64 ph_acct_start_ns(struct ph_acct *a);
__u64 ph_acct_now_ns(struct ph_acct *a);
/* Every socket of the table (for trace file snapshots). */
size_t ph_acct_socks(struct ph_acct *a, struct ph_sock_entry **out);	/* caller frees */
/* The outbound sockets of one process, the ones its counts are made of (caller frees). */
size_t ph_acct_proc_socks(struct ph_acct *a, const struct ph_proc_key *k,
			  struct ph_sock_entry **out);
const struct ph_proc_meta *ph_acct_find_proc(struct ph_acct *a, __u32 pid, __u64 start);
/* Settings of a namespace, NULL until they were fed. */
const struct ph_netns_info *ph_acct_find_netns(struct ph_acct *a, __u32 inode);
typedef void (*ph_netns_fn)(void *ctx, const struct ph_netns_info *n);
/* Every namespace whose settings were fed; no tick needed. */
void ph_acct_netns_each(struct ph_acct *a, ph_netns_fn fn, void *ctx);

struct ph_acct_counts {
	__u64 sockets;		/* tracked */
	__u64 procs;
	__u64 sockets_dropped;	/* not tracked: table full */
	__u64 events;
};
void ph_acct_counts(struct ph_acct *a, struct ph_acct_counts *c);

#endif
