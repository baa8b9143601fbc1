// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace record codecs: every field written little-endian at a fixed offset,
 * strings as u32 length + bytes (no NUL). Decoders check every length against
 * the payload before touching it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "tracerec.h"

/* ---- encoder: a growable buffer that starts on the stack ---- */

struct enc {
	__u8 *p;
	size_t len, cap;
	int err;
	__u8 small[256];
};

static void enc_init(struct enc *e)
{
	e->p = e->small;
	e->len = 0;
	e->cap = sizeof(e->small);
	e->err = 0;
}

static __u8 *enc_room(struct enc *e, size_t n)
{
	__u8 *p;

	if (e->err)
		return NULL;
	if (e->len + n > e->cap) {
		size_t cap = e->cap * 2;

		while (cap < e->len + n)
			cap *= 2;
		if (e->p == e->small) {
			p = malloc(cap);
			if (p)
				memcpy(p, e->small, e->len);
		} else {
			p = realloc(e->p, cap);
		}
		if (!p) {
			e->err = -ENOMEM;
			return NULL;
		}
		e->p = p;
		e->cap = cap;
	}
	p = e->p + e->len;
	e->len += n;
	return p;
}

static void enc_u8(struct enc *e, __u8 v)
{
	__u8 *p = enc_room(e, 1);

	if (p)
		*p = v;
}

static void enc_u16(struct enc *e, __u16 v)
{
	__u8 *p = enc_room(e, 2);

	if (p)
		ph_le16_put(p, v);
}

static void enc_u32(struct enc *e, __u32 v)
{
	__u8 *p = enc_room(e, 4);

	if (p)
		ph_le32_put(p, v);
}

static void enc_u64(struct enc *e, __u64 v)
{
	__u8 *p = enc_room(e, 8);

	if (p)
		ph_le64_put(p, v);
}

/* IEEE 754 binary64, little-endian */
static void enc_f64(struct enc *e, double d)
{
	__u64 v;

	memcpy(&v, &d, sizeof(v));
	enc_u64(e, v);
}

static void enc_bytes(struct enc *e, const void *src, size_t n)
{
	__u8 *p = enc_room(e, n);

	if (p && n)
		memcpy(p, src, n);
}

/* NULL is written as PH_REC_STR_NONE; long strings are cut at PH_REC_STR_MAX. */
static void enc_str(struct enc *e, const char *s)
{
	size_t n;

	if (!s) {
		enc_u32(e, PH_REC_STR_NONE);
		return;
	}
	n = strnlen(s, PH_REC_STR_MAX);
	enc_u32(e, n);
	enc_bytes(e, s, n);
}

/* A fixed-size char array that may lack its NUL (comm). */
static void enc_strn(struct enc *e, const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	enc_u32(e, n);
	enc_bytes(e, s, n);
}

static int enc_finish(struct enc *e, struct ph_tf_writer *w, __u16 type)
{
	int ret = e->err;

	if (!ret)
		ret = e->len > PH_TF_MAX_REC ? -EMSGSIZE :
		      ph_tf_append(w, type, e->p, e->len);
	if (e->p != e->small)
		free(e->p);
	return ret;
}

/* ---- decoder ---- */

struct dec {
	const __u8 *p;
	__u32 len, pos;
	bool bad;
};

static void dec_init(struct dec *d, const void *p, __u32 len)
{
	d->p = p;
	d->len = p ? len : 0;
	d->pos = 0;
	d->bad = false;
}

static const __u8 *dec_take(struct dec *d, __u32 n)
{
	const __u8 *p;

	if (d->bad || n > d->len - d->pos) {
		d->bad = true;
		return NULL;
	}
	p = d->p + d->pos;
	d->pos += n;
	return p;
}

static __u8 dec_u8(struct dec *d)
{
	const __u8 *p = dec_take(d, 1);

	return p ? *p : 0;
}

static __u16 dec_u16(struct dec *d)
{
	const __u8 *p = dec_take(d, 2);

	return p ? ph_le16_get(p) : 0;
}

static __u32 dec_u32(struct dec *d)
{
	const __u8 *p = dec_take(d, 4);

	return p ? ph_le32_get(p) : 0;
}

static __u64 dec_u64(struct dec *d)
{
	const __u8 *p = dec_take(d, 8);

	return p ? ph_le64_get(p) : 0;
}

static double dec_f64(struct dec *d)
{
	__u64 v = dec_u64(d);
	double x;

	memcpy(&x, &v, sizeof(x));
	return x;
}

/* String bytes: NULL with *n = PH_REC_STR_NONE for "no string". */
static const char *dec_str_raw(struct dec *d, __u32 *n)
{
	const char *s;

	*n = dec_u32(d);
	if (d->bad || *n == PH_REC_STR_NONE)
		return NULL;
	if (*n > PH_REC_STR_MAX) {
		d->bad = true;
		return NULL;
	}
	s = (const char *)dec_take(d, *n);
	/* an embedded NUL is garbage: writers never produce one */
	if (s && memchr(s, 0, *n)) {
		d->bad = true;
		return NULL;
	}
	return s;
}

/* malloc'ed copy, NULL for "no string"; -EBADMSG / -ENOMEM */
static int dec_str(struct dec *d, char **out)
{
	const char *s;
	__u32 n;

	*out = NULL;
	s = dec_str_raw(d, &n);
	if (d->bad)
		return -EBADMSG;
	if (!s && n == PH_REC_STR_NONE)
		return 0;
	*out = malloc(n + 1);
	if (!*out)
		return -ENOMEM;
	if (n)
		memcpy(*out, s, n);
	(*out)[n] = 0;
	return 0;
}

/* Into a fixed array, cut to fit; "no string" gives "". */
static void dec_str_fixed(struct dec *d, char *buf, size_t size)
{
	const char *s;
	__u32 n;

	buf[0] = 0;
	s = dec_str_raw(d, &n);
	if (!s)
		return;
	if (n > size - 1)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
}

static int dec_done(const struct dec *d)
{
	return d->bad ? -EBADMSG : 0;
}

/* ---- records ---- */

const char *ph_rec_type_name(__u16 type)
{
	switch (type) {
	case PH_REC_HEADER:	return "header";
	case PH_REC_NETNS:	return "netns";
	case PH_REC_PROC:	return "proc";
	case PH_REC_SNAP_BEGIN:	return "snap_begin";
	case PH_REC_SOCK:	return "sock";
	case PH_REC_SNAP_END:	return "snap_end";
	case PH_REC_EVENT:	return "event";
	case PH_REC_LOST:	return "lost";
	case PH_REC_TRIGGER:	return "trigger";
	case PH_REC_END:	return "end";
	default:		return "unknown";
	}
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void ph_rec_header_fill(struct ph_rec_header *h, const char *attach)
{
	struct utsname u;

	memset(h, 0, sizeof(*h));
	if (!uname(&u)) {
		snprintf(h->hostname, sizeof(h->hostname), "%s", u.nodename);
		snprintf(h->kernel, sizeof(h->kernel), "%s", u.release);
	}
	snprintf(h->version, sizeof(h->version), "%s", PORTHOG_VERSION);
	snprintf(h->attach, sizeof(h->attach), "%s", attach ? attach : "");
	h->mono_to_wall_ns = mono_to_wall_ns();
	h->start_mono_ns = mono_ns();
	h->start_wall = wall_now();
	h->boot_wall = clock_s(CLOCK_REALTIME) - clock_s(CLOCK_BOOTTIME);
	h->clk_tck = clk_tck();
}

/*
 * HEADER: s64 mono_to_wall_ns, u64 start_mono_ns, f64 start_wall,
 * f64 boot_wall, u32 clk_tck, u32 reserved, str hostname, kernel, version, attach
 */
int ph_rec_put_header(struct ph_tf_writer *w, const struct ph_rec_header *h)
{
	struct enc e;

	enc_init(&e);
	enc_u64(&e, (__u64)h->mono_to_wall_ns);
	enc_u64(&e, h->start_mono_ns);
	enc_f64(&e, h->start_wall);
	enc_f64(&e, h->boot_wall);
	enc_u32(&e, h->clk_tck);
	enc_u32(&e, 0);
	enc_strn(&e, h->hostname, sizeof(h->hostname));
	enc_strn(&e, h->kernel, sizeof(h->kernel));
	enc_strn(&e, h->version, sizeof(h->version));
	enc_strn(&e, h->attach, sizeof(h->attach));
	return enc_finish(&e, w, PH_REC_HEADER);
}

int ph_rec_get_header(const void *p, __u32 len, struct ph_rec_header *h)
{
	struct dec d;

	dec_init(&d, p, len);
	memset(h, 0, sizeof(*h));
	h->mono_to_wall_ns = (__s64)dec_u64(&d);
	h->start_mono_ns = dec_u64(&d);
	h->start_wall = dec_f64(&d);
	h->boot_wall = dec_f64(&d);
	h->clk_tck = dec_u32(&d);
	dec_u32(&d);
	dec_str_fixed(&d, h->hostname, sizeof(h->hostname));
	dec_str_fixed(&d, h->kernel, sizeof(h->kernel));
	dec_str_fixed(&d, h->version, sizeof(h->version));
	dec_str_fixed(&d, h->attach, sizeof(h->attach));
	if (d.bad) {
		memset(h, 0, sizeof(*h));
		return -EBADMSG;
	}
	return 0;
}

/*
 * NETNS: u32 inode, u16 range_lo, range_hi, u32 reserved_in_range, s32 tw_reuse,
 * str reserved, then (appended, absent in older files) s32 syn_retries, s32 timestamps
 */
int ph_rec_put_netns(struct ph_tf_writer *w, const struct ph_netns_info *n)
{
	struct enc e;

	enc_init(&e);
	enc_u32(&e, n->inode);
	enc_u16(&e, n->range_lo);
	enc_u16(&e, n->range_hi);
	enc_u32(&e, n->reserved_in_range);
	enc_u32(&e, (__u32)n->tw_reuse);
	enc_str(&e, n->reserved);
	enc_u32(&e, (__u32)n->syn_retries);
	enc_u32(&e, (__u32)n->timestamps);
	return enc_finish(&e, w, PH_REC_NETNS);
}

int ph_rec_get_netns(const void *p, __u32 len, struct ph_netns_info *n)
{
	struct dec d;
	int err;

	dec_init(&d, p, len);
	memset(n, 0, sizeof(*n));
	n->inode = dec_u32(&d);
	n->range_lo = dec_u16(&d);
	n->range_hi = dec_u16(&d);
	n->reserved_in_range = dec_u32(&d);
	n->tw_reuse = (__s32)dec_u32(&d);
	err = dec_str(&d, &n->reserved);
	n->syn_retries = n->timestamps = -1;
	if (!err && len - d.pos >= 8) {
		n->syn_retries = (__s32)dec_u32(&d);
		n->timestamps = (__s32)dec_u32(&d);
	}
	if (!err)
		err = dec_done(&d);
	if (err) {
		ph_rec_netns_free(n);
		memset(n, 0, sizeof(*n));
	}
	return err;
}

void ph_rec_netns_free(struct ph_netns_info *n)
{
	free(n->reserved);
	n->reserved = NULL;
}

/* PROC: u32 pid, u32 uid, u64 start (ticks), u64 cgroup_id, str comm, cmdline, cgroup */
int ph_rec_put_proc(struct ph_tf_writer *w, const struct ph_proc_meta *m)
{
	struct enc e;

	enc_init(&e);
	enc_u32(&e, m->key.pid);
	enc_u32(&e, m->uid);
	enc_u64(&e, m->key.start);
	enc_u64(&e, m->cgroup_id);
	enc_strn(&e, m->comm, sizeof(m->comm));
	enc_str(&e, m->cmdline);
	enc_str(&e, m->cgroup);
	return enc_finish(&e, w, PH_REC_PROC);
}

int ph_rec_get_proc(const void *p, __u32 len, struct ph_proc_meta *m)
{
	struct dec d;
	int err;

	dec_init(&d, p, len);
	memset(m, 0, sizeof(*m));
	m->key.pid = dec_u32(&d);
	m->uid = dec_u32(&d);
	m->key.start = dec_u64(&d);
	m->cgroup_id = dec_u64(&d);
	dec_str_fixed(&d, m->comm, sizeof(m->comm));
	err = dec_str(&d, &m->cmdline);
	if (!err)
		err = dec_str(&d, &m->cgroup);
	if (!err)
		err = dec_done(&d);
	if (err) {
		ph_rec_proc_free(m);
		memset(m, 0, sizeof(*m));
	}
	return err;
}

void ph_rec_proc_free(struct ph_proc_meta *m)
{
	free(m->cmdline);
	free(m->cgroup);
	m->cmdline = NULL;
	m->cgroup = NULL;
}

/* SNAP_BEGIN: u64 ts_ns, u32 reason, u32 reserved */
int ph_rec_put_snap_begin(struct ph_tf_writer *w, __u64 ts_ns, __u32 reason)
{
	__u8 b[16] = {};

	ph_le64_put(b, ts_ns);
	ph_le32_put(b + 8, reason);
	return ph_tf_append(w, PH_REC_SNAP_BEGIN, b, sizeof(b));
}

int ph_rec_get_snap_begin(const void *p, __u32 len, struct ph_rec_snap_begin *s)
{
	struct dec d;

	dec_init(&d, p, len);
	memset(s, 0, sizeof(*s));
	s->ts_ns = dec_u64(&d);
	s->reason = dec_u32(&d);
	dec_u32(&d);
	return dec_done(&d);
}

/* SNAP_END: u64 ts_ns, u32 count, u32 reserved */
int ph_rec_put_snap_end(struct ph_tf_writer *w, __u64 ts_ns, __u32 count)
{
	__u8 b[16] = {};

	ph_le64_put(b, ts_ns);
	ph_le32_put(b + 8, count);
	return ph_tf_append(w, PH_REC_SNAP_END, b, sizeof(b));
}

int ph_rec_get_snap_end(const void *p, __u32 len, struct ph_rec_snap_end *s)
{
	struct dec d;

	dec_init(&d, p, len);
	memset(s, 0, sizeof(*s));
	s->ts_ns = dec_u64(&d);
	s->count = dec_u32(&d);
	dec_u32(&d);
	return dec_done(&d);
}

/*
 * SOCK, 112 bytes: u32 netns, u8 family, u8 state, u16 sport, u16 dport,
 * u16 reserved, u32 owner pid, u64 owner start, u64 opened_ns, saddr[16], daddr[16],
 * then the activity (absent in files before it: 64 bytes): u64 act ts_ns,
 * u64 bytes_acked, u64 bytes_received, u32 tx_idle_ms, u32 rx_idle_ms,
 * u32 segs_out, u32 segs_in, u8 retrans, u8 flags, u16 reserved, u32 reserved
 * then u8 protocol, u8 flags, u16 port_lo, u16 port_hi, u16 reserved (absent in
 * files before them: TCP).
 */
int ph_rec_put_sock(struct ph_tf_writer *w, const struct ph_sock_entry *s)
{
	__u8 b[PH_REC_SOCK_LEN] = {};

	ph_le32_put(b, s->netns);
	b[4] = s->family;
	b[5] = s->state;
	ph_le16_put(b + 6, s->sport);
	ph_le16_put(b + 8, s->dport);
	ph_le32_put(b + 12, s->owner.pid);
	ph_le64_put(b + 16, s->owner.start);
	ph_le64_put(b + 24, s->opened_ns);
	memcpy(b + 32, s->saddr, 16);
	memcpy(b + 48, s->daddr, 16);
	ph_le64_put(b + 64, s->act.ts_ns);
	ph_le64_put(b + 72, s->act.bytes_acked);
	ph_le64_put(b + 80, s->act.bytes_received);
	ph_le32_put(b + 88, s->act.tx_idle_ms);
	ph_le32_put(b + 92, s->act.rx_idle_ms);
	ph_le32_put(b + 96, s->act.segs_out);
	ph_le32_put(b + 100, s->act.segs_in);
	b[104] = s->act.retrans;
	b[105] = s->act.flags;
	b[112] = s->protocol ? s->protocol : PH_PROTO_TCP;
	b[113] = s->pflags;
	ph_le16_put(b + 114, s->range_lo);
	ph_le16_put(b + 116, s->range_hi);
	return ph_tf_append(w, PH_REC_SOCK, b, sizeof(b));
}

int ph_rec_get_sock(const void *p, __u32 len, struct ph_sock_entry *s)
{
	const __u8 *b = p;

	memset(s, 0, sizeof(*s));
	if (!p || len < PH_REC_SOCK_MIN)
		return -EBADMSG;
	s->netns = ph_le32_get(b);
	s->family = b[4];
	s->state = b[5];
	s->sport = ph_le16_get(b + 6);
	s->dport = ph_le16_get(b + 8);
	s->owner.pid = ph_le32_get(b + 12);
	s->owner.start = ph_le64_get(b + 16);
	s->opened_ns = ph_le64_get(b + 24);
	memcpy(s->saddr, b + 32, 16);
	memcpy(s->daddr, b + 48, 16);
	s->protocol = PH_PROTO_TCP;
	if (len < PH_REC_SOCK_ACT)
		return 0;
	s->act.ts_ns = ph_le64_get(b + 64);
	s->act.bytes_acked = ph_le64_get(b + 72);
	s->act.bytes_received = ph_le64_get(b + 80);
	s->act.tx_idle_ms = ph_le32_get(b + 88);
	s->act.rx_idle_ms = ph_le32_get(b + 92);
	s->act.segs_out = ph_le32_get(b + 96);
	s->act.segs_in = ph_le32_get(b + 100);
	s->act.retrans = b[104];
	s->act.flags = b[105];
	if (len < PH_REC_SOCK_LEN)
		return 0;
	s->protocol = b[112];
	s->pflags = b[113];
	s->range_lo = ph_le16_get(b + 114);
	s->range_hi = ph_le16_get(b + 116);
	return 0;
}

/*
 * EVENT, 108 bytes: u64 ts_ns, u64 cgroup_id, u64 start_ns, u32 pid, u32 tid,
 * u32 uid, u32 netns, s32 err, u16 sport, u16 dport, u8 type, u8 family,
 * u8 oldstate, u8 flags, saddr[16], daddr[16], comm[16], then u8 protocol,
 * u8 reserved, u16 port_lo, u16 port_hi, u16 reserved. Files written before
 * the protocol field hold 100 bytes: TCP, no per-socket range.
 */
int ph_rec_put_event(struct ph_tf_writer *w, const struct ph_event *e)
{
	__u8 b[PH_REC_EVENT_LEN];

	ph_le64_put(b, e->ts_ns);
	ph_le64_put(b + 8, e->cgroup_id);
	ph_le64_put(b + 16, e->start_ns);
	ph_le32_put(b + 24, e->pid);
	ph_le32_put(b + 28, e->tid);
	ph_le32_put(b + 32, e->uid);
	ph_le32_put(b + 36, e->netns);
	ph_le32_put(b + 40, (__u32)e->err);
	ph_le16_put(b + 44, e->sport);
	ph_le16_put(b + 46, e->dport);
	b[48] = e->type;
	b[49] = e->family;
	b[50] = e->oldstate;
	b[51] = e->flags;
	memcpy(b + 52, e->saddr, 16);
	memcpy(b + 68, e->daddr, 16);
	memcpy(b + 84, e->comm, PH_COMM_LEN);
	b[100] = e->protocol ? e->protocol : PH_PROTO_TCP;
	b[101] = 0;
	ph_le16_put(b + 102, e->port_lo);
	ph_le16_put(b + 104, e->port_hi);
	ph_le16_put(b + 106, 0);
	return ph_tf_append(w, PH_REC_EVENT, b, sizeof(b));
}

int ph_rec_get_event(const void *p, __u32 len, struct ph_event *e)
{
	const __u8 *b = p;

	memset(e, 0, sizeof(*e));
	if (!p || len < PH_REC_EVENT_LEN_V1)
		return -EBADMSG;
	e->ts_ns = ph_le64_get(b);
	e->cgroup_id = ph_le64_get(b + 8);
	e->start_ns = ph_le64_get(b + 16);
	e->pid = ph_le32_get(b + 24);
	e->tid = ph_le32_get(b + 28);
	e->uid = ph_le32_get(b + 32);
	e->netns = ph_le32_get(b + 36);
	e->err = (__s32)ph_le32_get(b + 40);
	e->sport = ph_le16_get(b + 44);
	e->dport = ph_le16_get(b + 46);
	e->type = b[48];
	e->family = b[49];
	e->oldstate = b[50];
	e->flags = b[51];
	memcpy(e->saddr, b + 52, 16);
	memcpy(e->daddr, b + 68, 16);
	memcpy(e->comm, b + 84, PH_COMM_LEN);
	e->protocol = PH_PROTO_TCP;
	if (len >= PH_REC_EVENT_LEN) {
		e->protocol = b[100];
		e->port_lo = ph_le16_get(b + 102);
		e->port_hi = ph_le16_get(b + 104);
	}
	/* consumers print comm with %s */
	e->comm[PH_COMM_LEN - 1] = 0;
	return 0;
}

/* LOST: u64 ts_ns, u64 lost_total, u64 skipped_total (older files: 16 bytes, no skipped_total) */
int ph_rec_put_lost(struct ph_tf_writer *w, __u64 ts_ns, __u64 lost_total, __u64 skipped_total)
{
	__u8 b[24];

	ph_le64_put(b, ts_ns);
	ph_le64_put(b + 8, lost_total);
	ph_le64_put(b + 16, skipped_total);
	return ph_tf_append(w, PH_REC_LOST, b, sizeof(b));
}

int ph_rec_get_lost(const void *p, __u32 len, struct ph_rec_lost *l)
{
	struct dec d;

	dec_init(&d, p, len);
	memset(l, 0, sizeof(*l));
	l->ts_ns = dec_u64(&d);
	l->lost_total = dec_u64(&d);
	if (len >= 24)
		l->skipped_total = dec_u64(&d);
	return dec_done(&d);
}

/* TRIGGER: u64 ts_ns, u8 kind, u8 reserved[3], str text */
int ph_rec_put_trigger(struct ph_tf_writer *w, __u64 ts_ns, __u8 kind, const char *text)
{
	struct enc e;

	enc_init(&e);
	enc_u64(&e, ts_ns);
	enc_u8(&e, kind);
	enc_u8(&e, 0);
	enc_u16(&e, 0);
	enc_str(&e, text ? text : "");
	return enc_finish(&e, w, PH_REC_TRIGGER);
}

int ph_rec_get_trigger(const void *p, __u32 len, struct ph_rec_trigger *t)
{
	struct dec d;
	int err;

	dec_init(&d, p, len);
	memset(t, 0, sizeof(*t));
	t->ts_ns = dec_u64(&d);
	t->kind = dec_u8(&d);
	dec_u8(&d);
	dec_u16(&d);
	err = dec_str(&d, &t->text);
	if (!err && !t->text)
		t->text = strdup("");
	if (!err && !t->text)
		err = -ENOMEM;
	if (!err)
		err = dec_done(&d);
	if (err) {
		ph_rec_trigger_free(t);
		memset(t, 0, sizeof(*t));
	}
	return err;
}

void ph_rec_trigger_free(struct ph_rec_trigger *t)
{
	free(t->text);
	t->text = NULL;
}

/* END: u32 flags, u32 reserved, u64 dropped (written by ph_tf_close) */
int ph_rec_get_end(const void *p, __u32 len, struct ph_rec_end *e)
{
	struct dec d;

	dec_init(&d, p, len);
	memset(e, 0, sizeof(*e));
	e->flags = dec_u32(&d);
	dec_u32(&d);
	e->dropped = dec_u64(&d);
	return dec_done(&d);
}
