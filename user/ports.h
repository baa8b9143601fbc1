/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Ports taken by bind() and by UDP (bpf/ports.bpf.c): cgroup programs on the
 * cgroup v2 root and sock:sock_send_length, feeding the ring buffer of the
 * connect backends. Works the same under every connect backend.
 */
#ifndef PH_PORTS_H
#define PH_PORTS_H

#include "common.h"

struct ph_ports_opts {
	__u32 pid;		/* only this tgid (0: all) */
	__u32 netns;		/* only this netns inode (0: all) */
	__u32 max_sockets;	/* held-socket map entries */
	__u32 wakeup_bytes;	/* as the connect backends */
	bool syscall_errno;	/* confirm bind() failures at syscall exit */
	int events_fd;		/* ring buffer to share, -1: its own */
	int stats_fd;		/* per-CPU stats to share, -1: its own */
	bool load_only;		/* porthog check: load, do not attach */
};

struct ph_ports;

/* The cgroup v2 mount whose root is "/", also on a hybrid hierarchy. 0 or -errno. */
int ph_cgroup2_root(char *buf, size_t len);
/* Open, load and attach; on failure a one-line reason is left in why. 0 or -errno. */
int ph_ports_open(const struct ph_ports_opts *o, struct ph_ports **out, char *why, size_t len);
void ph_ports_close(struct ph_ports *pp);
/* Resolve attempts that never got their port (failures) or whose port came late. */
int ph_ports_sweep(struct ph_ports *pp);
/* Program runs the kernel skipped (recursion): lost events. */
__u64 ph_ports_recursion_misses(struct ph_ports *pp);
/* porthog check: load (and attach) alone; the reason or the outcome is left in why. */
int ph_ports_try(bool attach, char *why, size_t len);
const char *ph_ports_cgroup_root(const struct ph_ports *pp);

#endif
