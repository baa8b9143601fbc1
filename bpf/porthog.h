/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared between the BPF programs and user space. Fixed-width types only. */
#ifndef __PORTHOG_H
#define __PORTHOG_H

#define PH_COMM_LEN	16

enum ph_event_type {
	PH_EV_CONNECT		= 1,	/* a source port was assigned */
	PH_EV_CONNECT_FAILED	= 2,	/* connect() failed to get a port */
	PH_EV_CLOSE		= 3,	/* the port was released (or moved to TIME_WAIT) */
	PH_EV_BIND		= 4,	/* bind() took a local port (TCP or UDP) */
	PH_EV_BIND_FAILED	= 5,	/* bind() got no port (EADDRINUSE) */
};

enum ph_backend {
	PH_BACKEND_NONE		= 0,
	PH_BACKEND_FENTRY	= 1,
	PH_BACKEND_KPROBE	= 2,
	PH_BACKEND_TRACEPOINT	= 3,
};

/* ph_event.protocol: IPPROTO_* values */
#define PH_PROTO_TCP		6
#define PH_PROTO_UDP		17

/* ph_event.flags */
#define PH_F_TIME_WAIT		0x01	/* close: the port stays held in TIME_WAIT */
#define PH_F_BOUND		0x02	/* the port was bound before connect() */
#define PH_F_SYSCALL_ERRNO	0x04	/* errno confirmed at connect() syscall exit */
#define PH_F_SYN_SENT		0x08	/* connect: seen at a SYN retransmit, still in SYN_SENT */
/* bind(port 0) without IP_BIND_ADDRESS_NO_PORT: the port is taken from the whole range */
#define PH_F_BIND_EPHEMERAL	0x20
#define PH_F_INFERRED		0x40	/* failure: the attempt never got a port; errno inferred */

/* Counters in the per-CPU "stats" map. */
enum ph_stat {
	PH_STAT_EVENTS		= 0,	/* events submitted */
	PH_STAT_LOST		= 1,	/* ring buffer reservations that failed */
	PH_STAT_OWNER_MISS	= 2,	/* port seen for a socket with no recorded owner */
	PH_STAT_OWNERS_ADDED	= 3,	/* no longer counted (a write per connect nobody read) */
	PH_STAT_CAUGHT		= 4,	/* hits the kernel skipped (nesting) that the catcher handled */
	PH_STAT_OWNER_BUSY	= 5,	/* owner inserts refused in nested context: a connect lost */
	PH_STAT_DELETE_BUSY	= 6,	/* owner deletes refused: the entry was neutralized instead */
	PH_STAT_MAX		= 7,
};

/*
 * Per-CPU: the tracepoint hits tp_set_state ran for and the catcher has not
 * seen yet, keyed by the frame of the kernel's dispatch (current->bpf_ctx).
 */
#define PH_NEST_SLOTS		4
struct ph_nest {
	__u64 frame[PH_NEST_SLOTS];
	__u64 sk[PH_NEST_SLOTS];
	__u32 states[PH_NEST_SLOTS];	/* oldstate << 8 | newstate */
	__u32 gen[PH_NEST_SLOTS];	/* depth of tp_set_state runs the catcher has not closed */
	__u32 depth;
	__u32 next;			/* slot to reuse when all are taken */
};

/*
 * Who opened a socket. Recorded in process context at connect entry and kept in
 * an LRU hash keyed by the struct sock address, so that transitions that run in
 * softirq or timer context are still attributed to the opener.
 */
struct ph_owner {
	__u64 cgroup_id;
	__u64 start_ns;		/* group leader start, ns since boot (CLOCK_BOOTTIME) */
	__u32 pid;		/* tgid */
	__u32 tid;
	__u32 uid;
	__u16 bound_sport;	/* host order; non-zero if bound before connect() */
	__u8 connected;		/* a connect event was emitted for this socket */
	__u8 pad;
	char comm[PH_COMM_LEN];
};

/* One ring buffer record: 112 bytes. Addresses are network order, IPv4 in the first 4 bytes. */
struct ph_event {
	__u64 ts_ns;		/* CLOCK_MONOTONIC */
	__u64 cgroup_id;
	__u64 start_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 netns;		/* netns inode number */
	__s32 err;		/* positive errno on CONNECT_FAILED */
	__u16 sport;		/* host order */
	__u16 dport;		/* host order */
	__u8 type;		/* enum ph_event_type */
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 oldstate;		/* TCP state before the transition (0 if unknown) */
	__u8 flags;		/* PH_F_* */
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[PH_COMM_LEN];
	__u8 protocol;		/* IPPROTO_TCP or IPPROTO_UDP (0 in old traces: TCP) */
	__u8 pad2;
	__u16 port_lo;		/* per-socket IP_LOCAL_PORT_RANGE, host order; 0: none */
	__u16 port_hi;
	__u16 pad3;
};

/*
 * bind() and UDP (bpf/ports.bpf.c): an attempt that waits for its port,
 * keyed by the struct sock address. The event is filled at the attempt.
 */
struct ph_attempt {
	struct ph_event ev;
	__u64 sk;
};

/* A socket whose bind or UDP port was reported: its close is reported too. */
struct ph_held {
	__u64 cgroup_id;
	__u64 start_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u8 protocol;
	__u8 flags;		/* PH_F_* of the bind/connect event */
	__u16 pad;
	char comm[PH_COMM_LEN];
};

/* ph_sock_rec.flags */
#define PH_SR_ACTIVITY		0x01	/* the activity fields are set (a full tcp_sock) */
#define PH_SR_BOUND		0x02	/* its port came from bind(), not from connect() */
#define PH_SR_BIND_EPHEMERAL	0x04	/* iter/task_file: from bind(0) without IP_BIND_ADDRESS_NO_PORT */

/*
 * Record written by the iter/tcp program: one per TCP socket in a netns. 104 bytes.
 * The first 72 bytes are the original record; the activity part (from struct
 * tcp_sock, for `explain`) was appended after it, and flags/retrans took the pad.
 */
struct ph_sock_rec {
	__u64 owner_start_ns;	/* 0 if no owner known */
	__u32 owner_pid;	/* 0 if no owner known */
	__u32 uid;		/* socket uid */
	__u32 netns;
	__u32 ino;		/* socket inode, 0 for TIME_WAIT / request socks */
	__u16 sport;		/* host order */
	__u16 dport;
	__u8 family;
	__u8 state;		/* TCP state, TIME_WAIT included */
	__u8 flags;		/* PH_SR_* */
	__u8 retrans;		/* icsk_retransmits: SYNs resent, for SYN_SENT */
	__u8 saddr[16];
	__u8 daddr[16];
	/* activity, valid with PH_SR_ACTIVITY; 0 for TIME_WAIT and request socks */
	__u32 tx_idle_ms;	/* since data was last sent (lsndtime) */
	__u32 rx_idle_ms;	/* since data was last received (icsk_ack.lrcvtime) */
	__u32 segs_out;
	__u32 segs_in;
	__u64 bytes_acked;
	__u64 bytes_received;
};

/*
 * Record written by the iter/task_file program: one per TCP or UDP socket fd.
 * sock is the socket as iter/tcp reports it, its owner the process holding the
 * fd; the process's own facts follow. Also reports bound-only sockets and UDP
 * sockets, which iter/tcp cannot see. 136 bytes.
 */
struct ph_fd_rec {
	struct ph_sock_rec sock;
	__u64 cgroup_id;
	__u32 uid;		/* the process's uid (sock.uid is the socket's) */
	__u8 protocol;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 flags;		/* PH_F_BIND_EPHEMERAL */
	__u16 pad;
	char comm[PH_COMM_LEN];
};

#endif /* __PORTHOG_H */
