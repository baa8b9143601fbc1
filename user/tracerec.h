/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace file records: types and little-endian codecs (docs/trace-format.md).
 * put: encode and append to a writer. get: decode a payload returned by
 * ph_tf_next, -EBADMSG if it is short or malformed (bytes past the known
 * fields are ignored: newer writers may append fields). Decoded strings are
 * malloc'ed and NUL-terminated; free them with the matching *_free.
 */
#ifndef PH_TRACEREC_H
#define PH_TRACEREC_H

#include "common.h"
#include "porthog.h"
#include "account.h"
#include "tracefile.h"

enum ph_rec_type {
	PH_REC_HEADER		= 1,	/* recording host, clocks: the first record */
	PH_REC_NETNS		= 2,	/* struct ph_netns_info */
	PH_REC_PROC		= 3,	/* struct ph_proc_meta */
	PH_REC_SNAP_BEGIN	= 4,	/* a socket table snapshot follows */
	PH_REC_SOCK		= 5,	/* struct ph_sock_entry, inside a snapshot */
	PH_REC_SNAP_END		= 6,
	PH_REC_EVENT		= 7,	/* struct ph_event */
	PH_REC_LOST		= 8,	/* events lost so far, by cause */
	PH_REC_TRIGGER		= 9,	/* flight recorder trigger */
	PH_REC_END		= 10,	/* clean end of the recording */
};

/* Strings longer than this are cut when written and rejected when read. */
#define PH_REC_STR_MAX		65536
/* String length meaning "no string" (NULL), distinct from "" */
#define PH_REC_STR_NONE		0xffffffffu

/* Encoded payload sizes (without strings) */
#define PH_REC_EVENT_LEN	108	/* written since protocol and port range */
#define PH_REC_EVENT_LEN_V1	100	/* still read: TCP, no per-socket range */
#define PH_REC_SOCK_LEN		120	/* written: activity, then protocol and port range */
#define PH_REC_SOCK_ACT		112	/* files with the activity, before the protocol: TCP */
#define PH_REC_SOCK_MIN		64	/* readable: files before the activity part */

enum ph_snap_reason {
	PH_SNAP_START		= 1,	/* state when recording started */
	PH_SNAP_TRIGGER		= 2,	/* state when a trigger fired */
	PH_SNAP_PERIODIC	= 3,
};

enum ph_trigger_kind {
	PH_TRIG_OTHER		= 0,
	PH_TRIG_CONNECT_FAILED	= 1,	/* a connect() failed to get a port */
	PH_TRIG_HEADROOM	= 2,	/* headroom fell below the threshold */
	PH_TRIG_SIGNAL		= 3,	/* asked for by a signal */
};

struct ph_rec_header {
	char hostname[65];
	char kernel[65];	/* uname release */
	char version[32];	/* porthog version */
	char attach[32];	/* probe backend: fentry, kprobe, tracepoint */
	__s64 mono_to_wall_ns;	/* CLOCK_REALTIME - CLOCK_MONOTONIC at start */
	double start_wall;	/* CLOCK_REALTIME seconds at start */
	__u64 start_mono_ns;	/* CLOCK_MONOTONIC at start */
	double boot_wall;	/* CLOCK_REALTIME - CLOCK_BOOTTIME, seconds */
	__u32 clk_tck;		/* unit of ph_proc_key.start */
};

struct ph_rec_snap_begin {
	__u64 ts_ns;		/* CLOCK_MONOTONIC */
	__u32 reason;		/* enum ph_snap_reason */
};

struct ph_rec_snap_end {
	__u64 ts_ns;
	__u32 count;		/* SOCK records in the snapshot */
};

struct ph_rec_lost {
	__u64 ts_ns;
	__u64 lost_total;	/* ring buffer full, since the recording started */
	__u64 skipped_total;	/* skipped by the kernel, not caught (0 in files before it) */
};

struct ph_rec_trigger {
	__u64 ts_ns;
	__u8 kind;		/* enum ph_trigger_kind */
	char *text;		/* malloc'ed, never NULL after a successful get */
};

struct ph_rec_end {
	__u32 flags;		/* PH_TF_END_* */
	__u64 dropped;		/* records the writer lost */
};

/* Name of a record type, "unknown" for types this version does not know. */
const char *ph_rec_type_name(__u16 type);

/* Fill a header from the running system; attach may be NULL. */
void ph_rec_header_fill(struct ph_rec_header *h, const char *attach);

int ph_rec_put_header(struct ph_tf_writer *w, const struct ph_rec_header *h);
int ph_rec_put_netns(struct ph_tf_writer *w, const struct ph_netns_info *n);
int ph_rec_put_proc(struct ph_tf_writer *w, const struct ph_proc_meta *m);
int ph_rec_put_snap_begin(struct ph_tf_writer *w, __u64 ts_ns, __u32 reason);
int ph_rec_put_sock(struct ph_tf_writer *w, const struct ph_sock_entry *s);
int ph_rec_put_snap_end(struct ph_tf_writer *w, __u64 ts_ns, __u32 count);
int ph_rec_put_event(struct ph_tf_writer *w, const struct ph_event *e);
int ph_rec_put_lost(struct ph_tf_writer *w, __u64 ts_ns, __u64 lost_total, __u64 skipped_total);
int ph_rec_put_trigger(struct ph_tf_writer *w, __u64 ts_ns, __u8 kind, const char *text);
/* END is written by ph_tf_close(w, true). */

int ph_rec_get_header(const void *p, __u32 len, struct ph_rec_header *h);
int ph_rec_get_netns(const void *p, __u32 len, struct ph_netns_info *n);
int ph_rec_get_proc(const void *p, __u32 len, struct ph_proc_meta *m);
int ph_rec_get_snap_begin(const void *p, __u32 len, struct ph_rec_snap_begin *s);
int ph_rec_get_sock(const void *p, __u32 len, struct ph_sock_entry *s);
int ph_rec_get_snap_end(const void *p, __u32 len, struct ph_rec_snap_end *s);
int ph_rec_get_event(const void *p, __u32 len, struct ph_event *e);
int ph_rec_get_lost(const void *p, __u32 len, struct ph_rec_lost *l);
int ph_rec_get_trigger(const void *p, __u32 len, struct ph_rec_trigger *t);
int ph_rec_get_end(const void *p, __u32 len, struct ph_rec_end *e);

/* Free the strings of a decoded record (the struct itself is the caller's). */
void ph_rec_netns_free(struct ph_netns_info *n);
void ph_rec_proc_free(struct ph_proc_meta *m);
void ph_rec_trigger_free(struct ph_rec_trigger *t);

#endif
