// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * porthog record: write the event stream, with the state it starts from, to a
 * trace file (docs/trace-format.md) for `porthog report`.
 *
 * Direct mode writes as it goes; a block reaches the disk every
 * --flush-interval. Flight recorder mode (--ring) keeps the last N seconds in
 * memory as segments, each opened by a checkpoint of the socket table; when a
 * trigger fires, the oldest segment still inside the window is written with
 * its checkpoint, then the rest, then the state at the trigger, and recording
 * goes on directly for --post seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "event.h"
#include "htab.h"
#include "live.h"
#include "output.h"
#include "textesc.h"
#include "tracerec.h"

#define EADDRNOTAVAIL_ERR	99
#define CHECK_PERIOD_NS		250000000ULL	/* headroom trigger, netns, lost */

struct rec_env {
	struct ph_live_opts live;
	const char *out;
	double duration;	/* 0: until SIGINT/SIGTERM */
	double until_fail;	/* < 0: off */
	double ring;		/* 0: direct mode */
	double post;
	double trigger_pct;	/* < 0: off */
	const char *on_trigger;
	double flush_s;
	__u64 max_size;
	long ring_mem_mb;
};

static const char doc[] =
"Record port events, with the socket table they start from, to a trace file\n"
"that `porthog report` reads on any machine. The file is written in blocks\n"
"with a CRC, at least every --flush-interval: if porthog is killed, the\n"
"report still reads everything up to the last block. Mode 0600.\n"
"\n"
"Flight recorder (--ring): keep the last SECONDS in memory and write them when\n"
"a trigger fires: the first EADDRNOTAVAIL, a destination's headroom under\n"
"--trigger-pct, or SIGUSR1. Recording goes on for --post seconds, then stops;\n"
"only the first trigger counts, and without one nothing is written.\n"
"--on-trigger runs CMD with sh -c and PORTHOG_TRIGGER (connect_failed,\n"
"headroom, signal), PORTHOG_TRIGGER_TEXT, PORTHOG_TRIGGER_TIME, PORTHOG_PID,\n"
"PORTHOG_COMM, PORTHOG_DEST, PORTHOG_NETNS, PORTHOG_HEADROOM_PCT and\n"
"PORTHOG_FILE in its environment.\n"
"\v"
"EXAMPLES:\n"
"  porthog record -o ports.phtrace --duration 600\n"
"  porthog record -o incident.phtrace --until-fail=30\n"
"  porthog record -o ring.phtrace --ring 120 --post 30 --trigger-pct 10 \\\n"
"      --on-trigger 'logger -t porthog \"$PORTHOG_TRIGGER_TEXT\"'\n"
"  kill -USR1 $(pidof porthog)          # dump the flight recorder now\n"
"  porthog report ports.phtrace\n\n"
PH_EXIT_CODES_HELP;

enum {
	OPT_UNTIL_FAIL = 0x2000,
	OPT_RING,
	OPT_POST,
	OPT_TRIGGER_PCT,
	OPT_ON_TRIGGER,
	OPT_FLUSH,
	OPT_MAX_SIZE,
	OPT_RING_MEM,
};

static const struct argp_option options[] = {
	{ "output", 'o', "FILE", 0, "Trace file to write (required)", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long (default: until SIGINT/SIGTERM)", 0 },
	{ "until-fail", OPT_UNTIL_FAIL, "SECONDS", OPTION_ARG_OPTIONAL, "Stop this long after the first EADDRNOTAVAIL (default 5)", 0 },
	{ "ring", OPT_RING, "SECONDS", 0, "Flight recorder: keep the last SECONDS in memory, write them on a trigger", 0 },
	{ "post", OPT_POST, "SECONDS", 0, "With --ring: go on recording this long after the trigger (default 10)", 0 },
	{ "trigger-pct", OPT_TRIGGER_PCT, "PCT", 0, "Trigger when a destination's headroom falls under PCT", 0 },
	{ "on-trigger", OPT_ON_TRIGGER, "CMD", 0, "Run CMD (sh -c) when the trigger fires", 0 },
	{ "flush-interval", OPT_FLUSH, "SECONDS", 0, "Write a block at least this often (default 1)", 0 },
	{ "max-size", OPT_MAX_SIZE, "SIZE", 0, "Stop before the file passes SIZE bytes (K, M, G suffixes)", 0 },
	{ "ring-mem", OPT_RING_MEM, "MIB", 0, "With --ring: memory bound of the window (default 256)", 0 },
	{},
};

static int parse_size(const char *s, __u64 *out)
{
	char *end;
	unsigned long long v;
	__u64 mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v > (1ULL << 50) / mul || v * mul < 4096)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct rec_env *env = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &env->live;
		break;
	case 'o':
		env->out = arg;
		break;
	case 'd':
		if (parse_double(arg, 0.001, 1e9, &env->duration))
			argp_error(state, "invalid --duration '%s'", arg);
		break;
	case OPT_UNTIL_FAIL:
		env->until_fail = 5;
		if (arg && parse_double(arg, 0, 1e9, &env->until_fail))
			argp_error(state, "invalid --until-fail '%s'", arg);
		break;
	case OPT_RING:
		if (parse_double(arg, 1, 86400, &env->ring))
			argp_error(state, "invalid --ring '%s' (1..86400 seconds)", arg);
		break;
	case OPT_POST:
		if (parse_double(arg, 0, 86400, &env->post))
			argp_error(state, "invalid --post '%s' (0..86400 seconds)", arg);
		break;
	case OPT_TRIGGER_PCT:
		if (parse_double(arg, 0, 100, &env->trigger_pct))
			argp_error(state, "invalid --trigger-pct '%s' (0..100)", arg);
		break;
	case OPT_ON_TRIGGER:
		env->on_trigger = arg;
		break;
	case OPT_FLUSH:
		if (parse_double(arg, 0.01, 60, &env->flush_s))
			argp_error(state, "invalid --flush-interval '%s' (0.01..60 seconds)", arg);
		break;
	case OPT_MAX_SIZE:
		if (parse_size(arg, &env->max_size))
			argp_error(state, "invalid --max-size '%s' (4K or more, K/M/G suffixes)", arg);
		break;
	case OPT_RING_MEM:
		if (parse_long(arg, 1, 1 << 20, &env->ring_mem_mb))
			argp_error(state, "invalid --ring-mem '%s' (MiB)", arg);
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (!env->out)
			argp_error(state, "-o FILE is required");
		if (env->ring && env->until_fail >= 0)
			argp_error(state, "--until-fail does not go with --ring (use --post)");
		if (!env->ring && env->post >= 0)
			argp_error(state, "--post needs --ring");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.doc = doc,
	.children = ph_live_children,
};

/* One stretch of the flight recorder window. */
struct segment {
	__u64 start_ns;
	struct ph_sock_entry *snap;	/* socket table when the segment began */
	size_t nsnap;
	struct ph_event *ev;
	size_t nev, cap;
};

struct key_ent {
	struct hnode node;
	struct ph_proc_key key;
};

struct trigger {
	enum ph_trigger_kind kind;
	__u64 ts_ns;
	char text[256];
	__u32 pid, netns;
	char comm[PH_COMM_LEN + 1];
	char dest[128];
	double headroom_pct;
};

struct recorder {
	const struct rec_env *env;
	struct ph_live l;
	struct ph_tf_writer *w;
	bool writing;			/* records go to the file (direct, or after a trigger) */
	int werr;			/* first write error: recording stops */
	struct htab procs_written;	/* struct key_ent */
	struct ph_netns_info *nets_written;	/* settings as written */
	size_t nnets_written;
	struct ph_losses lost_written;
	__u64 lost_resynced;		/* losses repaired by the last PERIODIC snapshot */
	__u64 events;
	/* triggers */
	bool fired;			/* the trigger (only the first one counts) */
	struct trigger trig;
	bool pending;			/* fired, not yet handled by the main loop */
	__u64 stop_ns;			/* 0: no stop scheduled */
	/* flight recorder */
	struct segment *segs;
	size_t nsegs;
	size_t ring_bytes;
	bool ring_cut_warned;
};

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	usr1_seen = 1;
}

static int note_werr(struct recorder *r, int err)
{
	if (err && !r->werr)
		r->werr = err;
	return err;
}

/* The settings last written for a namespace, or NULL. */
static struct ph_netns_info *net_written(struct recorder *r, __u32 inode)
{
	for (size_t i = 0; i < r->nnets_written; i++)
		if (r->nets_written[i].inode == inode)
			return &r->nets_written[i];
	return NULL;
}

/* A namespace seen for the first time, or whose port settings changed. */
static void put_netns(void *ctx, const struct ph_netns_info *n)
{
	struct recorder *r = ctx;
	struct ph_netns_info *w = net_written(r, n->inode);

	if (w && w->range_lo == n->range_lo && w->range_hi == n->range_hi &&
	    w->reserved_in_range == n->reserved_in_range && w->tw_reuse == n->tw_reuse &&
	    w->syn_retries == n->syn_retries && w->timestamps == n->timestamps)
		return;
	if (!w) {
		w = realloc(r->nets_written, (r->nnets_written + 1) * sizeof(*w));
		if (!w)
			return;
		r->nets_written = w;
		w = &w[r->nnets_written++];
	}
	*w = *n;
	w->reserved = NULL;	/* not kept */
	note_werr(r, ph_rec_put_netns(r->w, n));
}

static void put_new_netns(struct recorder *r)
{
	ph_acct_netns_each(r->l.acct, put_netns, r);
}

static void put_proc(struct recorder *r, const struct ph_proc_meta *m)
{
	struct key_ent *k;

	if (htab_find(&r->procs_written, &m->key))
		return;
	k = calloc(1, sizeof(*k));
	if (!k)
		return;
	k->key = m->key;
	htab_insert(&r->procs_written, &k->node);
	note_werr(r, ph_rec_put_proc(r->w, m));
}

static void put_event(struct recorder *r, const struct ph_event *e)
{
	const struct ph_netns_info *ni;
	const struct ph_proc_meta *m;

	if (!net_written(r, e->netns) && (ni = ph_acct_find_netns(r->l.acct, e->netns)))
		put_netns(r, ni);
	m = ph_acct_find_proc(r->l.acct, e->pid, start_ticks(e->start_ns));
	if (m)
		put_proc(r, m);
	note_werr(r, ph_rec_put_event(r->w, e));
}

static void put_lost(struct recorder *r, __u64 ts)
{
	struct ph_losses lo;

	ph_live_losses(&r->l, &lo);
	if (lo.ringbuf == r->lost_written.ringbuf && lo.skipped == r->lost_written.skipped)
		return;
	r->lost_written = lo;
	note_werr(r, ph_rec_put_lost(r->w, ts, lo.ringbuf, lo.skipped));
}

static void put_snapshot(struct recorder *r, __u64 ts, __u32 reason,
			 const struct ph_sock_entry *s, size_t n)
{
	const struct ph_proc_view *pv;
	size_t np = ph_acct_procs(r->l.acct, PH_SORT_PID, &pv);

	/* owners first, so the report names them */
	for (size_t i = 0; i < np; i++)
		put_proc(r, pv[i].meta);
	note_werr(r, ph_rec_put_snap_begin(r->w, ts, reason));
	for (size_t i = 0; i < n && !r->werr; i++)
		note_werr(r, ph_rec_put_sock(r->w, &s[i]));
	note_werr(r, ph_rec_put_snap_end(r->w, ts, n));
}

static void put_table(struct recorder *r, __u64 ts, __u32 reason)
{
	struct ph_sock_entry *s = NULL;
	size_t n = ph_acct_socks(r->l.acct, &s);

	put_snapshot(r, ts, reason, s, n);
	free(s);
}

static void put_header(struct recorder *r, __u64 start_ns)
{
	struct ph_rec_header h;

	ph_rec_header_fill(&h, ph_live_attach_desc(&r->l));
	if (start_ns && start_ns < h.start_mono_ns) {
		h.start_wall -= (h.start_mono_ns - start_ns) / 1e9;
		h.start_mono_ns = start_ns;
	}
	note_werr(r, ph_rec_put_header(r->w, &h));
	put_new_netns(r);
}

/*
 * Events were lost: after the walk that follows (ph_live_run_until does one),
 * write the whole table; the report applies it in place of what it had.
 */
static void resync_after_loss(struct recorder *r)
{
	if (r->l.walk_lost == r->lost_resynced)
		return;
	put_table(r, r->l.last_walk_ns, PH_SNAP_PERIODIC);
	r->lost_resynced = r->l.walk_lost;
}

/* ---- flight recorder window ---- */

static void seg_free(struct segment *s)
{
	free(s->snap);
	free(s->ev);
}

static int seg_open(struct recorder *r, __u64 now)
{
	struct segment *p = realloc(r->segs, (r->nsegs + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	r->segs = p;
	p = &r->segs[r->nsegs];
	memset(p, 0, sizeof(*p));
	p->start_ns = now;
	p->nsnap = ph_acct_socks(r->l.acct, &p->snap);
	r->ring_bytes += p->nsnap * sizeof(*p->snap);
	r->nsegs++;
	return 0;
}

static void seg_drop_oldest(struct recorder *r)
{
	struct segment *s = &r->segs[0];

	r->ring_bytes -= s->nsnap * sizeof(*s->snap) + s->cap * sizeof(*s->ev);
	seg_free(s);
	memmove(r->segs, r->segs + 1, (r->nsegs - 1) * sizeof(*r->segs));
	r->nsegs--;
}

/* Start a new segment when due and forget what fell out of the window. */
static void ring_advance(struct recorder *r, __u64 now)
{
	__u64 win = (__u64)(r->env->ring * 1e9);
	__u64 step = win / 4 > 1000000000ULL ? win / 4 : 1000000000ULL;

	if (!r->nsegs || now - r->segs[r->nsegs - 1].start_ns >= step)
		seg_open(r, now);
	/* the second oldest still covers the window: the oldest is not needed */
	while (r->nsegs > 1 && r->segs[1].start_ns + win <= now)
		seg_drop_oldest(r);
}

static void ring_add(struct recorder *r, const struct ph_event *e)
{
	struct segment *s;
	size_t limit = (size_t)r->env->ring_mem_mb << 20;

	if (!r->nsegs && seg_open(r, e->ts_ns))
		return;
	s = &r->segs[r->nsegs - 1];
	if (s->nev == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		struct ph_event *p;

		while (r->ring_bytes + (ncap - s->cap) * sizeof(*p) > limit && r->nsegs > 1) {
			if (!r->ring_cut_warned)
				ph_warn("--ring-mem %ld MiB reached: the window is shorter than --ring",
					r->env->ring_mem_mb);
			r->ring_cut_warned = true;
			seg_drop_oldest(r);
			s = &r->segs[r->nsegs - 1];
		}
		p = realloc(s->ev, ncap * sizeof(*p));
		if (!p)
			return;
		r->ring_bytes += (ncap - s->cap) * sizeof(*p);
		s->ev = p;
		s->cap = ncap;
	}
	s->ev[s->nev++] = *e;
}

static void ring_free(struct recorder *r)
{
	for (size_t i = 0; i < r->nsegs; i++)
		seg_free(&r->segs[i]);
	free(r->segs);
	r->segs = NULL;
	r->nsegs = 0;
}

static int create_file(struct recorder *r)
{
	int err = ph_tf_create(r->env->out, r->env->max_size, &r->w);

	if (!err)
		return 0;
	ph_err("creating %s: %s", r->env->out, strerror(-err));
	return err == -ENOSPC || err == -EFBIG ? PH_EXIT_IO : PH_EXIT_ERR;
}

/* The flight recorder creates its file only on a trigger: check the path now. */
static int check_writable(const char *path)
{
	bool existed = !access(path, F_OK);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		ph_err("creating %s: %s", path, strerror(errno));
		return PH_EXIT_ERR;
	}
	close(fd);
	if (!existed)
		unlink(path);
	return 0;
}

/* The trigger fired: write the window, then record directly. */
static int ring_dump(struct recorder *r)
{
	__u64 start = r->nsegs ? r->segs[0].start_ns : r->trig.ts_ns;
	int err = create_file(r);

	if (err)
		return err;

	put_header(r, start);
	if (r->nsegs)
		put_snapshot(r, start, PH_SNAP_START, r->segs[0].snap, r->segs[0].nsnap);
	for (size_t i = 0; i < r->nsegs && !r->werr; i++)
		for (size_t j = 0; j < r->segs[i].nev && !r->werr; j++)
			put_event(r, &r->segs[i].ev[j]);
	ring_free(r);
	r->writing = true;
	return 0;
}

/* ---- triggers ---- */

static void run_on_trigger(const struct recorder *r)
{
	const struct trigger *t = &r->trig;
	static const char *const kinds[] = {
		[PH_TRIG_OTHER] = "other", [PH_TRIG_CONNECT_FAILED] = "connect_failed",
		[PH_TRIG_HEADROOM] = "headroom", [PH_TRIG_SIGNAL] = "signal",
	};
	char buf[64], txt[PH_TX_SIZE(sizeof(t->text))];
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		ph_warn("--on-trigger: fork: %s", strerror(errno));
		return;
	}
	if (pid)
		return;
	setenv("PORTHOG_TRIGGER", kinds[t->kind], 1);
	/* the process controls its comm: text for a shell script is escaped */
	setenv("PORTHOG_TRIGGER_TEXT", PH_TX(txt, t->text), 1);
	snprintf(buf, sizeof(buf), "%.6f", ((__s64)t->ts_ns + r->l.wall_off) / 1e9);
	setenv("PORTHOG_TRIGGER_TIME", buf, 1);
	snprintf(buf, sizeof(buf), "%u", t->pid);
	setenv("PORTHOG_PID", t->pid ? buf : "", 1);
	setenv("PORTHOG_COMM", PH_TX(txt, t->comm), 1);
	setenv("PORTHOG_DEST", t->dest, 1);
	snprintf(buf, sizeof(buf), "%u", t->netns);
	setenv("PORTHOG_NETNS", t->netns ? buf : "", 1);
	snprintf(buf, sizeof(buf), "%.1f", t->headroom_pct);
	setenv("PORTHOG_HEADROOM_PCT", t->headroom_pct >= 0 ? buf : "", 1);
	setenv("PORTHOG_FILE", r->env->out, 1);
	execl("/bin/sh", "sh", "-c", r->env->on_trigger, (char *)NULL);
	_exit(127);
}

static void fire(struct recorder *r, enum ph_trigger_kind kind, __u64 ts)
{
	if (r->fired)
		return;
	r->fired = true;
	r->pending = true;
	r->trig.kind = kind;
	r->trig.ts_ns = ts;
}

static void fire_failed(struct recorder *r, const struct ph_event *e)
{
	struct trigger *t = &r->trig;
	char d[PH_EP_STRLEN];

	if (r->fired)
		return;
	fire(r, PH_TRIG_CONNECT_FAILED, e->ts_ns);
	t->pid = e->pid;
	t->netns = e->netns;
	memcpy(t->comm, e->comm, PH_COMM_LEN);
	ph_endpoint_fmt(e->family, e->daddr, e->dport, d, sizeof(d));
	snprintf(t->dest, sizeof(t->dest), "%s", d);
	t->headroom_pct = -1;
	snprintf(t->text, sizeof(t->text),
		 "connect_failed: pid %u (%s) got EADDRNOTAVAIL connecting to %s in netns %u",
		 e->pid, t->comm, d, e->netns);
}

static void check_headroom(struct recorder *r, __u64 now)
{
	const struct ph_dest_view *v;
	size_t n;

	ph_acct_tick(r->l.acct, now);
	n = ph_acct_dests(r->l.acct, &v);
	/* sorted by headroom: the first is the worst */
	if (!n || v[0].headroom_pct >= r->env->trigger_pct)
		return;
	fire(r, PH_TRIG_HEADROOM, now);
	r->trig.netns = v[0].key.netns;
	r->trig.headroom_pct = v[0].headroom_pct;
	ph_dest_fmt(&v[0].key, r->trig.dest, sizeof(r->trig.dest));
	snprintf(r->trig.text, sizeof(r->trig.text),
		 "headroom: %s at %.1f%% (%u of %u ports in use), under %.1f%%",
		 r->trig.dest, v[0].headroom_pct, v[0].in_use, v[0].capacity, r->env->trigger_pct);
}

static int on_event(void *ctx, const struct ph_event *e)
{
	struct recorder *r = ctx;

	r->events++;
	if (r->writing)
		put_event(r, e);
	else
		ring_add(r, e);
	if (e->type == PH_EV_CONNECT_FAILED && e->err == EADDRNOTAVAIL_ERR)
		fire_failed(r, e);
	return 0;
}

/* A trigger fired since the last loop: note it, dump the ring, schedule the stop. */
static int handle_trigger(struct recorder *r)
{
	const struct rec_env *env = r->env;
	char txt[PH_TX_SIZE(sizeof(r->trig.text))];
	__u64 now = mono_ns();
	int err;

	r->pending = false;
	ph_info("trigger: %s", PH_TX(txt, r->trig.text));
	if (env->ring) {
		err = ring_dump(r);
		if (err)
			return err;
	}
	note_werr(r, ph_rec_put_trigger(r->w, r->trig.ts_ns, r->trig.kind, r->trig.text));
	put_table(r, now, PH_SNAP_TRIGGER);
	note_werr(r, ph_tf_flush(r->w));
	if (env->ring)
		r->stop_ns = now + (__u64)(env->post * 1e9);
	else if (env->until_fail >= 0 && r->trig.kind == PH_TRIG_CONNECT_FAILED)
		r->stop_ns = now + (__u64)(env->until_fail * 1e9);
	if (env->on_trigger)
		run_on_trigger(r);
	return 0;
}

static int report_werr(const struct recorder *r)
{
	if (r->werr == -EFBIG)
		ph_err("%s: --max-size reached; recording stopped, the file holds %llu bytes",
		       r->env->out, (unsigned long long)ph_tf_bytes(r->w));
	else
		ph_err("writing %s: %s; recording stopped, the first %llu bytes are kept and readable",
		       r->env->out, strerror(-r->werr), (unsigned long long)ph_tf_bytes(r->w));
	return PH_EXIT_IO;
}

static int record_loop(struct recorder *r)
{
	const struct rec_env *env = r->env;
	__u64 t0 = mono_ns(), flush_ns = (__u64)(env->flush_s * 1e9);
	__u64 next_flush = t0 + flush_ns, next_check = t0 + CHECK_PERIOD_NS;
	__u64 end = env->duration ? t0 + (__u64)(env->duration * 1e9) : 0;
	int err;

	while (!ph_exiting && !r->werr) {
		__u64 now = mono_ns(), until = next_flush < next_check ? next_flush : next_check;

		if ((end && now >= end) || (r->stop_ns && now >= r->stop_ns))
			break;
		if (end && end < until)
			until = end;
		if (r->stop_ns && r->stop_ns < until)
			until = r->stop_ns;
		err = ph_live_run_until(&r->l, until);
		if (err) {
			ph_err("reading events: %s", strerror(-err));
			return PH_EXIT_ERR;
		}
		now = mono_ns();
		if (usr1_seen) {
			usr1_seen = 0;
			if (!r->fired) {
				fire(r, PH_TRIG_SIGNAL, now);
				r->trig.headroom_pct = -1;
				snprintf(r->trig.text, sizeof(r->trig.text), "signal: SIGUSR1");
			}
		}
		if (now >= next_check) {
			next_check = now + CHECK_PERIOD_NS;
			if (env->trigger_pct >= 0)
				check_headroom(r, now);
			if (r->writing) {
				put_new_netns(r);
				put_lost(r, now);
				resync_after_loss(r);
			} else {
				ring_advance(r, now);
			}
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
		if (r->pending) {
			err = handle_trigger(r);
			if (err)
				return err;
		}
		if (now >= next_flush) {
			next_flush = now + flush_ns;
			if (r->writing)
				note_werr(r, ph_tf_flush(r->w));
		}
	}
	return 0;
}

static void recorder_free(struct recorder *r)
{
	ring_free(r);
	free(r->nets_written);
	htab_free_entries(&r->procs_written, offsetof(struct key_ent, node));
}

static __u64 file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (__u64)st.st_size;
}

int cmd_record(int argc, char **argv)
{
	struct rec_env env = { .until_fail = -1, .post = -1, .trigger_pct = -1, .flush_s = 1,
			       .ring_mem_mb = 256 };
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct recorder r = { .env = &env };
	bool opened = false;
	int err, cerr;

	ph_live_opts_init(&env.live);
	err = ph_argp_parse(&argp, argc, argv, &env);
	if (err)
		return err;
	if (env.post < 0)
		env.post = 10;
	htab_init(&r.procs_written, offsetof(struct key_ent, key) - offsetof(struct key_ent, node),
		  sizeof(struct ph_proc_key));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	install_exit_signals();

	/* a bad path fails before anything is loaded */
	err = env.ring ? check_writable(env.out) : create_file(&r);
	if (err)
		goto cleanup;
	err = ph_live_open(&r.l, &env.live, on_event, &r);
	if (err)
		goto cleanup;
	opened = true;
	if (env.ring) {
		ring_advance(&r, mono_ns());
		ph_info("flight recorder: keeping the last %.0fs in memory; writing %s on a trigger",
			env.ring, env.out);
	} else {
		put_header(&r, 0);
		put_table(&r, mono_ns(), PH_SNAP_START);
		note_werr(&r, ph_tf_flush(r.w));
		r.writing = true;
		ph_info("recording to %s", env.out);
	}
	err = record_loop(&r);
	if (r.writing && !r.werr && !err) {
		/* the table as a last walk sees it, traffic included: report diagnoses it */
		ph_live_walk(&r.l, false);
		put_new_netns(&r);
		put_table(&r, r.l.last_walk_ns, PH_SNAP_PERIODIC);
	}
	if (r.writing && !r.werr)
		put_lost(&r, mono_ns());

cleanup:
	if (r.werr && !err)
		err = report_werr(&r);
	if (r.w) {
		cerr = ph_tf_close(r.w, true);
		if (cerr && !err && cerr != r.werr) {
			ph_err("closing %s: %s", env.out, strerror(-cerr));
			err = PH_EXIT_IO;
		}
		if (!r.writing)
			unlink(env.out);	/* loading failed: no recording */
		else
			ph_info("%llu events seen, %llu lost (ring buffer full), %llu skipped; "
				"%s holds %llu bytes", (unsigned long long)r.events,
				(unsigned long long)r.lost_written.ringbuf,
				(unsigned long long)r.lost_written.skipped, env.out,
				(unsigned long long)file_size(env.out));
	} else if (opened && !err) {
		ph_info("no trigger fired; nothing written");
	}
	if (opened)
		ph_live_close(&r.l);
	recorder_free(&r);
	return err;
}
