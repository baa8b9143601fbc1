/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Probes: backend choice, open -> rodata/map sizes -> load -> attach, ring buffer, iterators. */
#ifndef PH_PROBE_H
#define PH_PROBE_H

#include "common.h"
#include "losses.h"
#include "porthog.h"

struct ph_probe_opts {
	enum ph_backend backend;	/* PH_BACKEND_NONE: auto (fentry, kprobe, tracepoint) */
	__u32 pid;			/* only this tgid (0: all) */
	__u32 netns;			/* only this netns inode (0: all) */
	__u32 max_sockets;		/* owner map entries */
	__u32 ringbuf_bytes;		/* power of two, >= page size */
	__u32 wakeup_bytes;		/* wake the reader once this much is queued; 0: per event */
	bool events;			/* false: maps and iterators only (snapshot) */
	bool iterators;			/* load iter/tcp and iter/task_file */
	bool syscall_errno;		/* hook connect() exit for its real errno (costly) */
	bool sock_activity;		/* iter/tcp reads idle times, bytes, segments */
	bool nest_catch;		/* attach the catcher of hits skipped by nesting */
	bool bind_udp;			/* watch bind() and UDP ports (user/ports.c) */
	bool bind_udp_required;		/* --bind-udp=on: fail if it cannot, else warn */
};


#define PH_DEFAULT_MAX_SOCKETS	131072
#define PH_DEFAULT_RINGBUF	(4u << 20)
#define PH_WAKEUP_AUTO		((__u32)-1)	/* wakeup_bytes: an eighth of the ring */

typedef int (*ph_event_fn)(void *ctx, const struct ph_event *e);
typedef int (*ph_sock_fn)(void *ctx, const struct ph_sock_rec *r);
typedef int (*ph_fd_fn)(void *ctx, const struct ph_fd_rec *r);

struct ph_probe;

void ph_probe_opts_init(struct ph_probe_opts *o);
/* Returns a PH_EXIT_* code on failure (already reported on stderr), 0 on success. */
int ph_probe_open(const struct ph_probe_opts *o, ph_event_fn fn, void *ctx, struct ph_probe **out);
void ph_probe_close(struct ph_probe *p);
/* Consume queued events; returns the number handled or a negative errno. */
int ph_probe_poll(struct ph_probe *p, int timeout_ms);
void ph_probe_stats(struct ph_probe *p, __u64 out[PH_STAT_MAX]);
void ph_probe_losses(struct ph_probe *p, struct ph_losses *out);
/* The catcher of nested hits is attached. */
bool ph_probe_nest_catch(const struct ph_probe *p);
enum ph_backend ph_probe_backend(const struct ph_probe *p);
const char *ph_probe_attach_desc(const struct ph_probe *p);
/* Kernel HZ the walk converts jiffies with (CONFIG_HZ, or measured); 0: no activity. */
unsigned int ph_probe_hz(const struct ph_probe *p);
const char *ph_backend_name(enum ph_backend b);
int ph_backend_parse(const char *s, enum ph_backend *out);
/* Walk TCP sockets of the caller's current network namespace. */
int ph_probe_iter_tcp(struct ph_probe *p, ph_sock_fn fn, void *ctx);
/* Walk every task's TCP socket files (all namespaces). */
int ph_probe_iter_files(struct ph_probe *p, ph_fd_fn fn, void *ctx);
/* Entries in the kernel's socket -> owner map (walks the map). */
int ph_probe_owner_count(struct ph_probe *p);

/*
 * Load (and, if attach, attach) one backend's programs alone and report why it
 * fails. Used by `porthog check` and the verifier test. Returns 0 or -errno.
 */
int ph_probe_try(enum ph_backend b, bool syscall_errno, bool attach, char *why, size_t len);

/* Preflight: root and BTF. Returns 0 or a PH_EXIT_* code after reporting. */
int ph_preflight(void);

#endif
