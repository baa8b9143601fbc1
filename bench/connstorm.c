// SPDX-License-Identifier: GPL-2.0
/*
 * connstorm - TCP connect() load generator for porthog benchmarks.
 *
 * Client: N threads loop socket()+connect() (for --duration, or --count
 * connect() calls) and then close (short),
 * reset (rst) or keep (held) the socket; connect() latency goes into a
 * per-thread log-linear histogram (successful connects only).
 * Server (--server): N threads accept() and close immediately.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Histogram: 128 linear ns buckets, then 64 sub-buckets per power of 2. */
#define SUB_BITS	6
#define SUB_COUNT	(1 << SUB_BITS)
#define LINEAR_MAX	(2 * SUB_COUNT)
#define NBUCKETS	(LINEAR_MAX + (64 - SUB_BITS - 1) * SUB_COUNT)

enum mode { MODE_SHORT, MODE_HELD, MODE_RST };

static const char *const mode_names[] = { "short", "held", "rst" };
static const char *prog = "connstorm";

struct opts {
	const char *addr;
	long port;
	long threads;
	double duration;
	bool duration_set;
	enum mode mode;
	long max_held;
	long count;		/* stop after this many connect() calls (0: by duration) */
	bool json;
	bool server;
	long backlog;
};

struct worker {
	pthread_t tid;
	uint64_t hist[NBUCKETS];
	uint64_t max_ns;
	long connects;
	long failures;
	long eaddrnotavail;
	long timeouts;
	long accepted;
};

static struct opts opt = {
	.port = -1, .threads = 2, .duration = 10, .mode = MODE_SHORT,
	.max_held = 10000, .backlog = 65535,
};
static struct sockaddr_storage dst;
static socklen_t dst_len;
static atomic_bool stop_flag;
static atomic_long held;
static atomic_long attempts;
static uint64_t deadline_ns;
static int listen_fd = -1;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --addr ADDR --port PORT [--threads N] [--duration S]\n"
		"       [--mode short|held|rst] [--max-held N] [--count N] [--json]\n"
		"       %s --server --addr ADDR --port PORT [--threads N]\n"
		"       [--backlog N] [--duration S]\n",
		prog, prog);
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s\n", prog, msg, arg ? ": " : "",
		arg ? arg : "");
	usage(stderr);
	exit(2);
}

static void die_errno(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

static long parse_long(const char *s, long lo, long hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: invalid %s '%s' (range %ld..%ld)\n",
			prog, name, s, lo, hi);
		exit(2);
	}
	return v;
}

static double parse_double(const char *s, double lo, double hi,
			   const char *name)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
		fprintf(stderr, "%s: invalid %s '%s' (range %g..%g)\n",
			prog, name, s, lo, hi);
		exit(2);
	}
	return v;
}

static void parse_addr(const char *s, long port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&dst;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&dst;

	memset(&dst, 0, sizeof(dst));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		dst_len = sizeof(*sin);
		return;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		dst_len = sizeof(*sin6);
		return;
	}
	die_usage("invalid address", s);
}

static void raise_nofile(void)
{
	struct rlimit rl = { 1048576, 1048576 };

	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static unsigned int hist_index(uint64_t v)
{
	unsigned int msb, shift;

	if (v < LINEAR_MAX)
		return (unsigned int)v;
	msb = 63 - (unsigned int)__builtin_clzll(v);
	shift = msb - SUB_BITS;
	return LINEAR_MAX + (shift - 1) * SUB_COUNT +
	       (unsigned int)((v >> shift) - SUB_COUNT);
}

/* Midpoint of a bucket, in ns. */
static double hist_value(unsigned int idx)
{
	unsigned int shift, sub;

	if (idx < LINEAR_MAX)
		return idx;
	shift = (idx - LINEAR_MAX) / SUB_COUNT + 1;
	sub = (idx - LINEAR_MAX) % SUB_COUNT + SUB_COUNT;
	return ((double)sub + 0.5) * (double)(1ULL << shift);
}

static double hist_pct(const uint64_t *h, uint64_t total, double p)
{
	uint64_t rank, sum = 0;
	unsigned int i;

	if (!total)
		return 0;
	rank = (uint64_t)(p * (double)total);
	if ((double)rank < p * (double)total)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < NBUCKETS; i++) {
		sum += h[i];
		if (sum >= rank)
			return hist_value(i);
	}
	return 0;
}

static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Reserve one held slot; false when --max-held is reached. */
static bool held_reserve(void)
{
	if (atomic_fetch_add(&held, 1) < opt.max_held)
		return true;
	atomic_fetch_sub(&held, 1);
	return false;
}

/* Bound a blocking connect() by the end of the run. */
static int set_connect_timeout(int fd, uint64_t now)
{
	struct timeval tv;
	uint64_t rem;

	if (now >= deadline_ns)
		return -1;
	rem = deadline_ns - now;
	if (rem < 1000000)
		rem = 1000000;
	tv.tv_sec = (time_t)(rem / 1000000000ULL);
	tv.tv_usec = (suseconds_t)(rem % 1000000000ULL / 1000);
	return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void *client_thread(void *arg)
{
	struct worker *w = arg;
	uint64_t t0, dt;
	int fd, r, err;

	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		if (opt.mode == MODE_HELD && !held_reserve())
			break;
		if (opt.count && (atomic_fetch_add(&attempts, 1) >= opt.count ||
				  now_ns() >= deadline_ns))
			break;
		fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			w->failures++;
			if (opt.mode == MODE_HELD) {
				atomic_fetch_sub(&held, 1);
				break;	/* likely EMFILE: stop growing */
			}
			usleep(1000);
			continue;
		}
		t0 = now_ns();
		if (set_connect_timeout(fd, t0) < 0) {
			if (opt.mode == MODE_HELD)
				atomic_fetch_sub(&held, 1);
			close(fd);
			break;
		}
		t0 = now_ns();
		r = connect(fd, (struct sockaddr *)&dst, dst_len);
		err = errno;
		dt = now_ns() - t0;
		if (r < 0) {
			/* EINPROGRESS here: SO_SNDTIMEO hit the deadline */
			w->failures++;
			if (err == EADDRNOTAVAIL)
				w->eaddrnotavail++;
			if (err == EINPROGRESS || err == EAGAIN)
				w->timeouts++;	/* the SYN went out: the socket held a port */
			if (opt.mode == MODE_HELD)
				atomic_fetch_sub(&held, 1);
			close(fd);
			continue;
		}
		w->connects++;
		w->hist[hist_index(dt)]++;
		if (dt > w->max_ns)
			w->max_ns = dt;
		if (opt.mode == MODE_SHORT)
			close(fd);
		else if (opt.mode == MODE_RST)
			close_rst(fd);
		/* held: fd stays open until the process exits */
	}
	return NULL;
}

static void *server_thread(void *arg)
{
	struct worker *w = arg;
	int fd;

	for (;;) {
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(1000);
			continue;
		}
		close(fd);
		__atomic_fetch_add(&w->accepted, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int open_listener(void)
{
	int one = 1;
	int fd;

	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_errno("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die_errno("setsockopt(SO_REUSEADDR)");
	if (dst.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		die_errno("setsockopt(IPV6_V6ONLY)");
	if (bind(fd, (struct sockaddr *)&dst, dst_len) < 0)
		die_errno("bind");
	if (listen(fd, (int)opt.backlog) < 0)
		die_errno("listen");
	return fd;
}

/* Wait for SIGINT/SIGTERM, or @secs (< 0: forever). */
static void wait_signal(sigset_t *set, double secs)
{
	struct timespec ts;
	int r;

	if (secs < 0) {
		while (sigwaitinfo(set, NULL) < 0 && errno == EINTR)
			;
		return;
	}
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	do {
		r = sigtimedwait(set, NULL, &ts);
	} while (r < 0 && errno == EINTR);
}

static void start_threads(struct worker *ws, void *(*fn)(void *))
{
	long i;
	int err;

	for (i = 0; i < opt.threads; i++) {
		err = pthread_create(&ws[i].tid, NULL, fn, &ws[i]);
		if (err) {
			errno = err;
			die_errno("pthread_create");
		}
	}
}

static int run_server(struct worker *ws, sigset_t *set)
{
	long i, total = 0;

	listen_fd = open_listener();
	start_threads(ws, server_thread);
	printf("READY\n");
	fflush(stdout);
	wait_signal(set, opt.duration_set ? opt.duration : -1);
	for (i = 0; i < opt.threads; i++)
		total += __atomic_load_n(&ws[i].accepted, __ATOMIC_RELAXED);
	fprintf(stderr, "%s: accepted %ld\n", prog, total);
	return 0;
}

static int run_client(struct worker *ws, sigset_t *set)
{
	static uint64_t hist[NBUCKETS];
	long i, connects = 0, failures = 0, enotavail = 0, timeouts = 0;
	uint64_t t_start, max_ns = 0, n = 0;
	double wall, rate, p50, p90, p99;
	unsigned int b;

	t_start = now_ns();
	deadline_ns = t_start + (uint64_t)(opt.duration * 1e9);
	start_threads(ws, client_thread);
	/* --count: the threads stop by themselves (count reached or deadline) */
	if (!opt.count) {
		wait_signal(set, opt.duration);
		atomic_store(&stop_flag, true);
	}
	for (i = 0; i < opt.threads; i++)
		pthread_join(ws[i].tid, NULL);
	wall = (double)(now_ns() - t_start) / 1e9;

	for (i = 0; i < opt.threads; i++) {
		connects += ws[i].connects;
		failures += ws[i].failures;
		enotavail += ws[i].eaddrnotavail;
		timeouts += ws[i].timeouts;
		if (ws[i].max_ns > max_ns)
			max_ns = ws[i].max_ns;
		for (b = 0; b < NBUCKETS; b++)
			hist[b] += ws[i].hist[b];
	}
	n = (uint64_t)connects;
	rate = wall > 0 ? (double)connects / wall : 0;
	p50 = hist_pct(hist, n, 0.50) / 1e3;
	p90 = hist_pct(hist, n, 0.90) / 1e3;
	p99 = hist_pct(hist, n, 0.99) / 1e3;

	if (opt.json) {
		printf("{\"connects\":%ld,\"failures\":%ld,\"eaddrnotavail\":%ld,"
		       "\"timeouts\":%ld,\"duration_s\":%.3f,\"rate\":%.1f,\"p50_us\":%.2f,\"p90_us\":%.2f,"
		       "\"p99_us\":%.2f,\"max_us\":%.2f,\"threads\":%ld,"
		       "\"mode\":\"%s\"}\n",
		       connects, failures, enotavail, timeouts, wall, rate, p50, p90, p99,
		       (double)max_ns / 1e3, opt.threads,
		       mode_names[opt.mode]);
	} else {
		printf("mode=%s threads=%ld duration_s=%.3f\n",
		       mode_names[opt.mode], opt.threads, wall);
		printf("connects=%ld failures=%ld (eaddrnotavail=%ld) rate=%.1f/s\n",
		       connects, failures, enotavail, rate);
		printf("connect_latency_us p50=%.2f p90=%.2f p99=%.2f max=%.2f\n",
		       p50, p90, p99, (double)max_ns / 1e3);
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "addr",	required_argument, NULL, 'a' },
		{ "port",	required_argument, NULL, 'p' },
		{ "threads",	required_argument, NULL, 't' },
		{ "duration",	required_argument, NULL, 'd' },
		{ "mode",	required_argument, NULL, 'm' },
		{ "max-held",	required_argument, NULL, 'M' },
		{ "count",	required_argument, NULL, 'c' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "server",	no_argument,	   NULL, 's' },
		{ "backlog",	required_argument, NULL, 'b' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker *ws;
	sigset_t set;
	int c, r;

	while ((c = getopt_long(argc, argv, "a:p:t:d:m:M:c:jsb:h", lopts,
				NULL)) != -1) {
		switch (c) {
		case 'a':
			opt.addr = optarg;
			break;
		case 'p':
			opt.port = parse_long(optarg, 1, 65535, "port");
			break;
		case 't':
			opt.threads = parse_long(optarg, 1, 1024, "threads");
			break;
		case 'd':
			opt.duration = parse_double(optarg, 0.001, 1e7,
						    "duration");
			opt.duration_set = true;
			break;
		case 'm':
			if (!strcmp(optarg, "short"))
				opt.mode = MODE_SHORT;
			else if (!strcmp(optarg, "held"))
				opt.mode = MODE_HELD;
			else if (!strcmp(optarg, "rst"))
				opt.mode = MODE_RST;
			else
				die_usage("invalid mode", optarg);
			break;
		case 'M':
			opt.max_held = parse_long(optarg, 1, 10000000,
						  "max-held");
			break;
		case 'c':
			opt.count = parse_long(optarg, 1, 1000000000, "count");
			break;
		case 'j':
			opt.json = true;
			break;
		case 's':
			opt.server = true;
			break;
		case 'b':
			opt.backlog = parse_long(optarg, 0, INT_MAX, "backlog");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		die_usage("unexpected argument", argv[optind]);
	if (!opt.addr)
		die_usage("--addr is required", NULL);
	if (opt.port < 0)
		die_usage("--port is required", NULL);
	parse_addr(opt.addr, opt.port);

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	/* Workers inherit the blocked mask; main collects the signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ws = calloc((size_t)opt.threads, sizeof(*ws));
	if (!ws)
		die_errno("calloc");
	r = opt.server ? run_server(ws, &set) : run_client(ws, &set);
	/* held sockets and server threads are torn down by exit() */
	exit(r);
}
