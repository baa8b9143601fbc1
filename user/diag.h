/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Socket walks without BPF iterators: NETLINK_SOCK_DIAG for the sockets of a
 * network namespace, /proc/PID/fd for who owns them. Both produce the same
 * records as the iter/tcp and iter/task_file programs.
 */
#ifndef PH_DIAG_H
#define PH_DIAG_H

#include "probe.h"

/*
 * Dump every TCP socket (IPv4 and IPv6, all states, and bound-only sockets on
 * kernels >= 6.8) of the calling thread's network namespace. Request sockets
 * are skipped, as iter/tcp does. owner_pid/owner_start_ns are always 0.
 * Stops at the first non-zero return of fn and returns it; otherwise returns
 * the number of sockets, or -errno.
 */
int ph_diag_walk_tcp(ph_sock_fn fn, void *ctx);
/* Full walks add each socket's activity from tcp_info (default on; not the bound flag). */
void ph_diag_activity(bool on);

/*
 * The same for the states a socket may be in without an fd this process can
 * see: after its last fd was closed (TIME_WAIT, FIN_WAIT1/2, CLOSING, LAST_ACK)
 * and LISTEN (a listener of a process outside our PID namespace). The kernel
 * skips every other socket cheaply: a fraction of a full dump.
 */
#define PH_DIAG_UNHELD	((1u << 6) | (1u << 4) | (1u << 5) | (1u << 11) | (1u << 9) | (1u << 10))
/*
 * One family (AF_INET, AF_INET6). Both share the kernel's established hash, so
 * each dump walks every socket of every namespace: skip a family that has none.
 */
int ph_diag_walk_tcp_unheld(ph_sock_fn fn, void *ctx, int family);

/*
 * One record per TCP socket fd of each process (only the process only_pid if
 * non-zero; a thread id matches nothing, as in iter/task_file), found through
 * /proc/PID/fd. Each network namespace holding such a process is dumped once
 * with sock_diag (setns on the calling thread, which comes back to its own
 * namespace); big fd tables are resolved by a few short-lived threads, fn is
 * called from the calling thread only. Processes that exit mid-walk are
 * skipped. Return value as ph_diag_walk_tcp.
 */
int ph_diag_walk_fds(ph_fd_fn fn, void *ctx, __u32 only_pid);

#endif
