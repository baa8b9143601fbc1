/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Network namespaces: find them, enter them, read their port settings. */
#ifndef PH_NETNS_H
#define PH_NETNS_H

#include "account.h"

struct ph_netns_reg;

struct ph_netns_reg *ph_netns_reg_new(void);
void ph_netns_reg_free(struct ph_netns_reg *r);
/* A process lives in that netns: use /proc/PID/ns/net to enter it. */
void ph_netns_note_pid(struct ph_netns_reg *r, __u32 inode, __u32 pid);
bool ph_netns_known(struct ph_netns_reg *r, __u32 inode);
/* The caller's own netns and the named ones in /run/netns. */
void ph_netns_scan(struct ph_netns_reg *r);
/* Call fn inside each reachable netns (setns on this thread), then come back. */
int ph_netns_each(struct ph_netns_reg *r, int (*fn)(void *ctx, __u32 inode), void *ctx);
/* Settings of the caller's current netns. reserved is malloc'ed. */
int ph_netns_read_settings(__u32 inode, struct ph_netns_info *out);
/*
 * TCP sockets of the caller's current netns (/proc/net/sockstat{,6}): inuse
 * counts the full sockets in the hash tables (listening, connected, orphaned),
 * IPv4 and IPv6, inuse6 the IPv6 ones among them; tw the TIME_WAIT ones of
 * both. Returns 0 or -errno.
 */
int ph_netns_tcp_counts(__u32 *inuse, __u32 *inuse6, __u32 *tw);
/* Count ports of a reserved-ports list ("1000-1010,2000") inside [lo, hi]. */
__u32 ph_reserved_in_range(const char *list, __u16 lo, __u16 hi);
__u32 ph_netns_self(void);

#endif
