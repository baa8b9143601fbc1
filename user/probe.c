// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <math.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <zlib.h>

#include "iters.h"
#include "ports.h"
#include "probe.h"
#include "porthog.skel.h"

struct ph_probe {
	struct porthog_bpf *skel;
	struct ph_iters *iters;		/* iterators alone (no events), else NULL */
	struct ring_buffer *rb;
	int iter_tcp;			/* link fds, -1 without iterators */
	int iter_files;
	struct ph_ports *ports;		/* bind() and UDP, NULL when off */
	__u64 last_sweep_ns;
	enum ph_backend backend;
	unsigned int hz;
	bool nest_catch;
	char desc[64];
	ph_event_fn fn;
	void *ctx;
};

/* Which programs make up each backend; the close path is shared. */
enum close_variant { CLOSE_TP_BTF, CLOSE_RAW_TP };

static const char *const fentry_progs[] = {
	"fentry_v4_connect", "fentry_v6_connect", "fexit_hash_connect", "fexit_hash6_connect",
};
static const char *const kprobe_progs[] = {
	"kprobe_v4_connect", "kprobe_v6_connect", "kprobe_hash_connect",
	"kretprobe_hash_connect", "kprobe_hash6_connect", "kretprobe_hash6_connect",
};

/* libbpf's own messages only with -v: porthog reports failures in one line itself */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!ph_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

const char *ph_backend_name(enum ph_backend b)
{
	switch (b) {
	case PH_BACKEND_FENTRY:
		return "fentry";
	case PH_BACKEND_KPROBE:
		return "kprobe";
	case PH_BACKEND_TRACEPOINT:
		return "tracepoint";
	default:
		return "auto";
	}
}

int ph_backend_parse(const char *s, enum ph_backend *out)
{
	static const enum ph_backend all[] = {
		PH_BACKEND_NONE, PH_BACKEND_FENTRY, PH_BACKEND_KPROBE, PH_BACKEND_TRACEPOINT,
	};

	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (!strcmp(s, ph_backend_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

void ph_probe_opts_init(struct ph_probe_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_sockets = PH_DEFAULT_MAX_SOCKETS;
	o->ringbuf_bytes = PH_DEFAULT_RINGBUF;
	/*
	 * Batched wake-ups: a wake-up per event costs more than the rest of the
	 * BPF program. Readers poll at least every 100 ms and consume what waits.
	 */
	o->wakeup_bytes = PH_WAKEUP_AUTO;
	o->events = true;
	o->iterators = true;
	o->sock_activity = true;
	o->nest_catch = true;
	o->bind_udp = true;
}

/* Classic tracepoints need their ids from tracefs, which may not be mounted. */
static int ensure_tracefs(void)
{
	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return 0;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) && errno != EBUSY)
		return -errno;
	ph_info("mounted tracefs at /sys/kernel/tracing (needed by --syscall-errno)");
	return 0;
}

int ph_preflight(void)
{
	if (geteuid() != 0) {
		ph_err("needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); try: sudo porthog ...");
		return PH_EXIT_PERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		ph_err("kernel has no BTF (/sys/kernel/btf/vmlinux missing); needs CONFIG_DEBUG_INFO_BTF=y");
		return PH_EXIT_NOBTF;
	}
	return 0;
}

static void set_autoload(struct porthog_bpf *skel, const char *const *names, size_t n, bool on)
{
	for (size_t i = 0; i < n; i++) {
		struct bpf_program *prog;

		prog = bpf_object__find_program_by_name(skel->obj, names[i]);
		if (prog)
			bpf_program__set_autoload(prog, on);
	}
}

static struct bpf_program *catcher_prog(struct porthog_bpf *skel, enum close_variant cv)
{
	return cv == CLOSE_TP_BTF ? skel->progs.tp_catch_state : skel->progs.raw_catch_state;
}

static void select_programs(struct porthog_bpf *skel, enum ph_backend b, enum close_variant cv,
			    bool events, bool iterators, bool syscall_errno, bool nest_catch)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, false);
	if (events) {
		if (b == PH_BACKEND_FENTRY)
			set_autoload(skel, fentry_progs, ARRAY_SIZE(fentry_progs), true);
		if (b == PH_BACKEND_KPROBE)
			set_autoload(skel, kprobe_progs, ARRAY_SIZE(kprobe_progs), true);
		bpf_program__set_autoload(cv == CLOSE_TP_BTF ? skel->progs.tp_set_state :
					  skel->progs.raw_set_state, true);
		/* other backends see the port at inet_hash_connect() already */
		if (b == PH_BACKEND_TRACEPOINT)
			bpf_program__set_autoload(cv == CLOSE_TP_BTF ? skel->progs.tp_retransmit :
						  skel->progs.raw_retransmit, true);
		bpf_program__set_autoload(skel->progs.sys_enter_connect, syscall_errno);
		bpf_program__set_autoload(skel->progs.sys_exit_connect, syscall_errno);
		bpf_program__set_autoload(catcher_prog(skel, cv), nest_catch);
	}
	if (iterators) {
		bpf_program__set_autoload(skel->progs.iter_tcp, true);
		bpf_program__set_autoload(skel->progs.iter_task_file, true);
	}
}

static const char *errno_hint(enum ph_backend b, bool loading, int err)
{
	if (loading && err == EPERM && b == PH_BACKEND_FENTRY)
		return " (the kernel refuses BPF trampolines here: lockdown or no CONFIG_FUNCTION_TRACER)";
	if (!loading && err == ENOENT && b == PH_BACKEND_KPROBE)
		return " (kernel built without CONFIG_KPROBES?)";
	if (err == EPERM)
		return " (not root, or lockdown forbids it)";
	return "";
}

/* libbpf reads CONFIG_HZ from the same places: /boot/config-RELEASE, /proc/config.gz */
static bool kconfig_readable(void)
{
	struct utsname u;
	char path[PATH_MAX];

	if (!access("/proc/config.gz", R_OK))
		return true;
	if (uname(&u))
		return false;
	snprintf(path, sizeof(path), "/boot/config-%s", u.release);
	return !access(path, R_OK);
}

/* CONFIG_HZ from the kernel config (zlib reads plain and gzip files alike); 0 if none */
static unsigned int kconfig_hz(void)
{
	struct utsname u;
	char path[PATH_MAX], line[256];
	unsigned int hz = 0;
	gzFile f = NULL;

	if (!uname(&u)) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		f = gzopen(path, "re");
	}
	if (!f)
		f = gzopen("/proc/config.gz", "re");
	if (!f)
		return 0;
	while (gzgets(f, line, sizeof(line)))
		if (sscanf(line, "CONFIG_HZ=%u", &hz) == 1)
			break;
	gzclose(f);
	return hz;
}

static bool timer_list_jiffies(__u64 *out)
{
	char line[256];
	bool ok = false;
	FILE *f = fopen("/proc/timer_list", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "jiffies: %llu", (unsigned long long *)out) == 1) {
			ok = true;
			break;
		}
	fclose(f);
	return ok;
}

/*
 * No kernel config to read CONFIG_HZ from: count jiffies (/proc/timer_list)
 * against CLOCK_MONOTONIC for 200 ms, and take the nearest HZ Linux offers.
 * 0 if that fails too: the walk then leaves the socket activity out.
 */
static unsigned int measure_hz(void)
{
	static const unsigned int known[] = { 100, 250, 300, 1000 };
	__u64 j0, j1, t0, t1;
	unsigned int best = 0;
	double hz, d = 1e9;

	if (!timer_list_jiffies(&j0))
		return 0;
	t0 = mono_ns();
	usleep(200000);
	if (!timer_list_jiffies(&j1))
		return 0;
	t1 = mono_ns();
	hz = (double)(j1 - j0) / ((t1 - t0) / 1e9);
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (fabs(hz - known[i]) < d) {
			d = fabs(hz - known[i]);
			best = known[i];
		}
	return best;
}

static int attach_prog(struct porthog_bpf *skel, struct bpf_program *prog, enum ph_backend b,
		       char *why, size_t len)
{
	struct bpf_link *link = bpf_program__attach(prog);
	int err;

	if (!link) {
		err = -errno;
		snprintf(why, len, "attach %s failed: %s%s", bpf_program__section_name(prog),
			 strerror(-err), errno_hint(b, false, -err));
		return err;
	}
	/* the skeleton owns its link slots and destroys them with it */
	for (size_t i = 0; i < (size_t)skel->skeleton->prog_cnt; i++) {
		if (*skel->skeleton->progs[i].prog == prog) {
			*skel->skeleton->progs[i].link = link;
			break;
		}
	}
	return 0;
}

/*
 * One complete attempt: open -> set rodata and map sizes -> load -> attach.
 * On failure everything is torn down and a one-line reason is left in why.
 */
static int try_backend(struct ph_probe *p, const struct ph_probe_opts *o, enum ph_backend b,
		       enum close_variant cv, bool attach, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct bpf_program *catcher;
	struct porthog_bpf *skel;
	char kconfig[32];
	bool nest;
	int err;

	/* CONFIG_HZ converts the walk's jiffies: measured where no config is readable */
	if (o->iterators && o->sock_activity && !kconfig_readable()) {
		static unsigned int measured;

		if (!measured)
			measured = measure_hz();
		snprintf(kconfig, sizeof(kconfig), "CONFIG_HZ=%u\n", measured);
		oo.kconfig = kconfig;
	} else if (!o->iterators || !o->sock_activity) {
		oo.kconfig = "CONFIG_HZ=0\n";
	}
	skel = porthog_bpf__open_opts(&oo);
	if (!skel) {
		err = errno ?: EINVAL;
		snprintf(why, len, "open BPF object: %s", strerror(err));
		return -err;
	}
	skel->rodata->target_tgid = o->pid;
	skel->rodata->target_netns = o->netns;
	skel->rodata->backend = b;
	skel->rodata->wakeup_bytes = o->wakeup_bytes == PH_WAKEUP_AUTO ?
		o->ringbuf_bytes / 8 : o->wakeup_bytes;
	skel->rodata->syscall_errno = o->syscall_errno && o->events;
	skel->rodata->sock_activity = o->sock_activity;
	/* without events nobody fills the owner map (snapshot) */
	bpf_map__set_max_entries(skel->maps.owners, o->events ? o->max_sockets : 1);
	bpf_map__set_max_entries(skel->maps.events, o->ringbuf_bytes);
	/* maps of the kprobe backend and of --syscall-errno: no memory when unused */
	if (!o->events || b != PH_BACKEND_KPROBE)
		bpf_map__set_max_entries(skel->maps.hash_args, 1);
	if (!o->events || !o->syscall_errno) {
		bpf_map__set_max_entries(skel->maps.pending, 1);
		bpf_map__set_max_entries(skel->maps.connect_args, 1);
	}
	nest = o->events && o->nest_catch;
	skel->rodata->nest_catch = nest;
	select_programs(skel, b, cv, o->events, o->iterators, o->syscall_errno, nest);

	err = porthog_bpf__load(skel);
	if (err) {
		snprintf(why, len, "load failed: %s%s", strerror(-err), errno_hint(b, true, -err));
		goto fail;
	}
	if (attach) {
		struct bpf_program *prog;

		/* the catcher must run after tp_set_state on each hit: attach it last */
		catcher = catcher_prog(skel, cv);
		bpf_object__for_each_program(prog, skel->obj) {
			if (prog == catcher || !bpf_program__autoload(prog))
				continue;
			err = attach_prog(skel, prog, b, why, len);
			if (err)
				goto fail;
		}
		if (nest) {
			err = attach_prog(skel, catcher, b, why, len);
			if (err)
				goto fail;
		}
	}
	p->skel = skel;
	p->backend = b;
	p->hz = skel->kconfig->CONFIG_HZ;
	p->nest_catch = nest;
	snprintf(p->desc, sizeof(p->desc), "%s%s", ph_backend_name(b),
		 !o->events ? "" : cv == CLOSE_TP_BTF ? "" : "+raw_tp");
	return 0;
fail:
	porthog_bpf__destroy(skel);
	return err;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct ph_probe *p = ctx;

	if (size < sizeof(struct ph_event))
		return 0;
	return p->fn ? p->fn(p->ctx, data) : 0;
}

int ph_probe_open(const struct ph_probe_opts *o, ph_event_fn fn, void *ctx, struct ph_probe **out)
{
	static const enum ph_backend order[] = {
		PH_BACKEND_FENTRY, PH_BACKEND_KPROBE, PH_BACKEND_TRACEPOINT,
	};
	struct ph_probe *p;
	char why[256];
	int err, ret;

	ret = ph_preflight();
	if (ret)
		return ret;
	if (o->syscall_errno && o->events) {
		err = ensure_tracefs();
		if (err) {
			ph_err("--syscall-errno needs tracefs: mounting it failed: %s", strerror(-err));
			return PH_EXIT_NOBACKEND;
		}
	}
	libbpf_set_print(libbpf_print);
	p = calloc(1, sizeof(*p));
	if (!p)
		return PH_EXIT_ERR;
	p->fn = fn;
	p->ctx = ctx;
	p->iter_tcp = p->iter_files = -1;

	/* iterators alone: the light skeleton, or libbpf where the kernel cannot load it */
	if (!o->events && o->iterators) {
		/* a light skeleton carries the build host's kconfig: set CONFIG_HZ here */
		p->hz = o->sock_activity ? kconfig_hz() ?: measure_hz() : 0;
		err = ph_iters_open(o->pid, p->hz, &p->iters);
		if (!err) {
			p->iter_tcp = ph_iters_tcp_link(p->iters);
			p->iter_files = ph_iters_files_link(p->iters);
			snprintf(p->desc, sizeof(p->desc), "%s", ph_backend_name(PH_BACKEND_NONE));
			*out = p;
			return 0;
		}
		ph_info("light skeleton of the iterators: %s; loading them with libbpf",
			strerror(-err));
	}

	err = -ENOENT;
	for (size_t i = 0; i < ARRAY_SIZE(order) && o->events; i++) {
		enum ph_backend b = order[i];

		if (o->backend != PH_BACKEND_NONE && o->backend != b)
			continue;
		err = try_backend(p, o, b, CLOSE_TP_BTF, true, why, sizeof(why));
		if (err && b == PH_BACKEND_TRACEPOINT) {
			ph_warn("backend tracepoint (tp_btf): %s; trying raw_tp", why);
			err = try_backend(p, o, b, CLOSE_RAW_TP, true, why, sizeof(why));
		}
		if (!err)
			break;
		if (o->backend == PH_BACKEND_NONE)
			ph_info("skipping backend %s: %s", ph_backend_name(b), why);
		else
			ph_err("backend %s: %s", ph_backend_name(b), why);
	}
	if (!o->events)
		err = try_backend(p, o, PH_BACKEND_NONE, CLOSE_TP_BTF, true, why, sizeof(why));
	if (err) {
		if (o->events && o->backend == PH_BACKEND_NONE)
			ph_err("no usable probe backend (fentry, kprobe and tracepoint all failed); see 'porthog check'");
		else if (!o->events)
			ph_err("loading the socket iterators: %s", why);
		free(p);
		return err == -EPERM ? PH_EXIT_PERM : PH_EXIT_NOBACKEND;
	}
	/* before "attached": from then on callers expect every event */
	if (o->events && o->bind_udp) {
		struct ph_ports_opts po = {
			.pid = o->pid, .netns = o->netns, .max_sockets = o->max_sockets,
			.wakeup_bytes = p->skel->rodata->wakeup_bytes,
			.syscall_errno = o->syscall_errno,
			.events_fd = bpf_map__fd(p->skel->maps.events),
			.stats_fd = bpf_map__fd(p->skel->maps.stats),
		};

		err = ph_ports_open(&po, &p->ports, why, sizeof(why));
		if (err && o->bind_udp_required) {
			ph_err("bind() and UDP watch: %s (--bind-udp=off runs without it)", why);
			ph_probe_close(p);
			return err == -EPERM ? PH_EXIT_PERM : PH_EXIT_NOBACKEND;
		}
		/* on by default: where it cannot be (no cgroup v2 in a pod), TCP is still watched */
		if (err)
			ph_warn("bind() and UDP watch unavailable: %s; watching TCP connect() only", why);
		else
			ph_info("watching bind() and UDP at cgroup %s", ph_ports_cgroup_root(p->ports));
	}
	if (o->events) {
		ph_info("attached with backend %s", p->desc);
		p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), handle_event, p, NULL);
		if (!p->rb) {
			ph_err("ring buffer: %s", strerror(errno));
			ph_probe_close(p);
			return PH_EXIT_ERR;
		}
	}
	if (o->iterators) {
		p->iter_tcp = bpf_link__fd(p->skel->links.iter_tcp);
		p->iter_files = bpf_link__fd(p->skel->links.iter_task_file);
	}
	*out = p;
	return 0;
}

void ph_probe_close(struct ph_probe *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	ph_ports_close(p->ports);
	porthog_bpf__destroy(p->skel);
	ph_iters_close(p->iters);
	free(p);
}

int ph_probe_poll(struct ph_probe *p, int timeout_ms)
{
	if (!p->rb) {
		if (timeout_ms > 0)
			usleep(timeout_ms * 1000);
		return 0;
	}
	int n, m;
	__u64 now;

	if (p->ports) {
		now = mono_ns();
		if (now - p->last_sweep_ns >= 20000000ULL) {
			p->last_sweep_ns = now;
			ph_ports_sweep(p->ports);
		}
	}
	/* with batched wake-ups epoll may time out while records wait: consume anyway */
	n = ring_buffer__poll(p->rb, timeout_ms);
	if (n < 0)
		return n;
	m = ring_buffer__consume(p->rb);
	return m < 0 ? m : n + m;
}

void ph_probe_stats(struct ph_probe *p, __u64 out[PH_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[ncpu > 0 ? ncpu : 1];
	int fd;

	memset(out, 0, PH_STAT_MAX * sizeof(out[0]));
	if (!p->skel)
		return;		/* iterators alone: no events, nothing lost */
	fd = bpf_map__fd(p->skel->maps.stats);
	for (__u32 k = 0; k < PH_STAT_MAX; k++) {
		if (ncpu <= 0 || bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
}

static __u64 prog_misses(struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_program__fd(prog);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.recursion_misses;
}

/*
 * A tracepoint hit while the same program already runs on that CPU (a softirq
 * interrupting it) is skipped by the kernel and counted in its
 * recursion_misses. Those of tp_set_state that the catcher ran for are no
 * loss; the catcher's own misses are none either (tp_set_state ran for those
 * hits), nor are the SYN retransmit hook's (the next retransmit or state
 * change reports the connect).
 */
void ph_probe_losses(struct ph_probe *p, struct ph_losses *out)
{
	struct porthog_bpf *skel = p->skel;
	__u64 st[PH_STAT_MAX], misses = 0;
	struct bpf_program *prog;

	memset(out, 0, sizeof(*out));
	if (!skel)
		return;
	/*
	 * The kernel counts a miss before the catcher counts the catch: read the
	 * misses first, or a hit between the two reads looks skipped for a moment.
	 */
	bpf_object__for_each_program(prog, skel->obj) {
		if (prog == skel->progs.tp_catch_state || prog == skel->progs.raw_catch_state ||
		    prog == skel->progs.tp_retransmit || prog == skel->progs.raw_retransmit ||
		    !bpf_program__autoload(prog))
			continue;
		misses += prog_misses(prog);
	}
	ph_probe_stats(p, st);
	out->ringbuf = st[PH_STAT_LOST];
	out->caught = st[PH_STAT_CAUGHT];
	/* a refused owner insert loses that connect, like a skipped hit */
	out->skipped = (misses > out->caught ? misses - out->caught : 0) + st[PH_STAT_OWNER_BUSY] +
		       ph_ports_recursion_misses(p->ports);
}

bool ph_probe_nest_catch(const struct ph_probe *p)
{
	return p->nest_catch;
}

enum ph_backend ph_probe_backend(const struct ph_probe *p)
{
	return p->backend;
}

unsigned int ph_probe_hz(const struct ph_probe *p)
{
	return p->hz;
}

const char *ph_probe_attach_desc(const struct ph_probe *p)
{
	return p->desc;
}

/* Read a whole iterator into fixed-size records. */
static int run_iter(int link_fd, size_t rec_size, int (*fn)(void *, const void *), void *ctx)
{
	char buf[64 * 1024];
	size_t have = 0;
	int fd, n = 0, err = 0;

	if (link_fd < 0)
		return -ENOENT;
	fd = bpf_iter_create(link_fd);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		size_t off = 0;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		have += r;
		while (have - off >= rec_size) {
			err = fn(ctx, buf + off);
			if (err)
				goto out;
			off += rec_size;
			n++;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
out:
	close(fd);
	return err ? err : n;
}

int ph_probe_iter_tcp(struct ph_probe *p, ph_sock_fn fn, void *ctx)
{
	return run_iter(p->iter_tcp, sizeof(struct ph_sock_rec),
			(int (*)(void *, const void *))fn, ctx);
}

int ph_probe_iter_files(struct ph_probe *p, ph_fd_fn fn, void *ctx)
{
	return run_iter(p->iter_files, sizeof(struct ph_fd_rec),
			(int (*)(void *, const void *))fn, ctx);
}

int ph_probe_owner_count(struct ph_probe *p)
{
	__u64 key, next;
	int fd, n = 0;
	void *prev = NULL;

	if (!p->skel)
		return 0;
	fd = bpf_map__fd(p->skel->maps.owners);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		n++;
	}
	return n;
}

int ph_probe_try(enum ph_backend b, bool syscall_errno, bool attach, char *why, size_t len)
{
	struct ph_probe_opts o;
	struct ph_probe p = {};
	int err;

	libbpf_set_print(libbpf_print);
	ph_probe_opts_init(&o);
	o.iterators = b == PH_BACKEND_NONE;
	o.events = b != PH_BACKEND_NONE;
	o.syscall_errno = syscall_errno;
	if (syscall_errno && attach && ensure_tracefs()) {
		snprintf(why, len, "tracefs is not mounted and mounting it failed");
		return -ENOENT;
	}
	err = try_backend(&p, &o, b, CLOSE_TP_BTF, attach, why, len);
	if (err && b == PH_BACKEND_TRACEPOINT)
		err = try_backend(&p, &o, b, CLOSE_RAW_TP, attach, why, len);
	if (!err) {
		snprintf(why, len, "%s", attach ? "loads and attaches" : "passes the verifier");
		porthog_bpf__destroy(p.skel);
	}
	return err;
}
