// SPDX-License-Identifier: GPL-2.0
/*
 * ph_client - TCP client workloads for porthog tests.
 *
 *   leaky:  new connection per request, never closed (port leak);
 *           --heartbeat S: every S seconds each held connection sends 8 bytes;
 *           --nonblock --no-wait: keeps connects in progress (SYN_SENT) too
 *   pooled: one connection, many requests
 *   churn:  connect + close (FIN -> TIME_WAIT, or RST -> none)
 *
 * Event log lines: "pid N", "connect SPORT FD", "failed ERRNO",
 * "error ERRNO", "done connects=N failures=N errors=N".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ECHO_TIMEOUT_MS		1000
#define CONNECT_TIMEOUT_MS	60000

enum mode { MODE_NONE, MODE_LEAKY, MODE_POOLED, MODE_CHURN };
enum close_how { CLOSE_FIN, CLOSE_RST };

static const char *prog = "ph_client";

struct opts {
	const char *addr;
	long port;
	enum mode mode;
	const char *out;
	bool nonblock;
	bool bind_first;
	double rate;		/* attempts/s, 0 = unlimited */
	long count;		/* -1 = unlimited (pooled: default 100) */
	long fail_count;
	long max_errors;	/* 0 = unlimited */
	double hold;		/* seconds, < 0 = until signal */
	enum close_how close_how;
	const char *ready_file;
	double heartbeat;	/* leaky: seconds between heartbeats, 0 = none */
	bool no_wait;		/* with --nonblock: a connect in progress counts as made */
};

struct stats {
	long connects;
	long failures;
	long errors;
};

static FILE *evlog;
/* leaky: the connections held open, for --heartbeat */
static int *held;
static size_t nheld, held_cap;
static struct timespec next_beat;
static struct sockaddr_storage dst;
static socklen_t dst_len;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --addr ADDR --port PORT --mode leaky|pooled|churn\n"
		"       [--out PATH] [--nonblock] [--bind] [--rate R] [--count N]\n"
		"       [--fail-count N] [--max-errors N] [--hold SECONDS]\n"
		"       [--close fin|rst] [--ready-file PATH] [--comm NAME] [--note TEXT]\n"
		"       [--heartbeat SECONDS] [--no-wait]\n",
		prog);
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

/* SIGTERM/SIGINT: exit 0 at once; the log is line buffered. */
static void on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

static void setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
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

static void write_ready(const char *path, const char *content)
{
	char tmp[PATH_MAX];
	size_t len = strlen(content);
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		fprintf(stderr, "%s: ready file path too long\n", prog);
		exit(1);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die_errno(tmp);
	if (write(fd, content, len) != (ssize_t)len)
		die_errno(tmp);
	close(fd);
	if (rename(tmp, path) < 0)
		die_errno(path);
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

static void ts_add(struct timespec *t, double secs)
{
	long ns;

	t->tv_sec += (time_t)secs;
	ns = t->tv_nsec + (long)((secs - (double)(time_t)secs) * 1e9);
	t->tv_sec += ns / 1000000000L;
	t->tv_nsec = ns % 1000000000L;
}

static void sleep_until(const struct timespec *t)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) ==
	       EINTR)
		;
}

static void sleep_secs(double secs)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	ts_add(&t, secs);
	sleep_until(&t);
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* bind() to the family's wildcard address, port 0. */
static int bind_wildcard(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = dst.ss_family;
	if (dst.ss_family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr.s_addr =
			htonl(INADDR_ANY);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_any;
		len = sizeof(struct sockaddr_in6);
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

static int wait_connect(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0, n;

	do {
		n = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return err ? -err : 0;
}

/*
 * One connect attempt. Returns fd, or -errno. *at_bind is set when the
 * failure came from bind() (port 0 exhaustion there is EADDRINUSE).
 */
static int do_connect(const struct opts *o, bool *at_bind)
{
	int type = SOCK_STREAM | SOCK_CLOEXEC;
	int fd, err;

	*at_bind = false;
	if (o->nonblock)
		type |= SOCK_NONBLOCK;
	fd = socket(dst.ss_family, type, 0);
	if (fd < 0)
		return -errno;
	if (o->bind_first && bind_wildcard(fd) < 0) {
		err = -errno;
		*at_bind = true;
		close(fd);
		return err;
	}
	if (connect(fd, (struct sockaddr *)&dst, dst_len) == 0)
		return fd;
	err = -errno;
	if (err == -EINPROGRESS && o->no_wait)
		return fd;
	if (err == -EINPROGRESS) {
		err = wait_connect(fd);
		if (!err)
			return fd;
	}
	close(fd);
	return err;
}

/* Returns true when the failure means "out of ephemeral ports". */
static bool is_port_failure(int err, bool at_bind)
{
	return err == EADDRNOTAVAIL || (at_bind && err == EADDRINUSE);
}

/* Send one byte and wait up to 1s for the echo. Returns 0 or -errno. */
static int request(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c = 'x';
	ssize_t n;
	int r;

	do {
		n = send(fd, &c, 1, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, ECHO_TIMEOUT_MS) <= 0)
			return 0;
		pfd.events = POLLIN;
		n = send(fd, &c, 1, MSG_NOSIGNAL);
	}
	if (n < 0)
		return -errno;
	do {
		r = poll(&pfd, 1, ECHO_TIMEOUT_MS);
	} while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;	/* no echo in time: carry on */
	n = recv(fd, &c, 1, MSG_DONTWAIT);
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static void hold_fd(int fd)
{
	if (nheld == held_cap) {
		size_t cap = held_cap ? held_cap * 2 : 256;
		int *n = realloc(held, cap * sizeof(*n));

		if (!n)
			die_errno("realloc");
		held = n;
		held_cap = cap;
	}
	held[nheld++] = fd;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Each held connection sends a small heartbeat and drains its echo, when due. */
static void heartbeat(const struct opts *o)
{
	static const char beat[8] = "PING\r\n\r\n";
	struct timespec now;
	char buf[256];

	if (o->heartbeat <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ts_before(&now, &next_beat))
		return;
	for (size_t i = 0; i < nheld; i++) {
		send(held[i], beat, sizeof(beat), MSG_NOSIGNAL | MSG_DONTWAIT);
		while (recv(held[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	next_beat = now;
	ts_add(&next_beat, o->heartbeat);
}

/* Hold the connections for secs (< 0: until a signal), beating as set. */
static void hold_connections(const struct opts *o, double secs)
{
	struct timespec end;

	if (o->heartbeat <= 0 || !nheld) {
		if (secs < 0)
			for (;;)
				pause();
		if (secs > 0)
			sleep_secs(secs);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	ts_add(&end, secs);
	for (;;) {
		struct timespec now;

		heartbeat(o);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (secs >= 0 && !ts_before(&now, &end))
			return;
		sleep_until(secs >= 0 && ts_before(&end, &next_beat) ? &end : &next_beat);
	}
}

static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static bool attempts_left(const struct opts *o, const struct stats *st)
{
	long attempts = st->connects + st->failures + st->errors;

	if (o->count >= 0 && attempts >= o->count)
		return false;
	if (st->failures >= o->fail_count)
		return false;
	if (o->max_errors > 0 && st->errors >= o->max_errors)
		return false;
	return true;
}

/* Attempt loop shared by leaky and churn. */
static void run_loop(const struct opts *o, struct stats *st)
{
	struct timespec next;
	double interval = o->rate > 0 ? 1.0 / o->rate : 0;
	bool at_bind;
	int fd;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (attempts_left(o, st)) {
		heartbeat(o);
		if (interval > 0) {
			sleep_until(&next);
			ts_add(&next, interval);
		}
		fd = do_connect(o, &at_bind);
		if (fd < 0) {
			if (is_port_failure(-fd, at_bind)) {
				st->failures++;
				fprintf(evlog, "failed %d\n", -fd);
				usleep(1000);
			} else {
				st->errors++;
				fprintf(evlog, "error %d\n", -fd);
				if (fd == -EMFILE || fd == -ENFILE)
					break;	/* no progress possible */
				usleep(1000);
			}
			continue;
		}
		st->connects++;
		fprintf(evlog, "connect %d %d\n", local_port(fd), fd);
		if (o->mode == MODE_LEAKY) {
			int err = o->no_wait ? 0 : request(fd);

			if (err)
				fprintf(evlog, "error %d\n", -err);
			/* fd stays open on purpose */
			hold_fd(fd);
		} else if (o->close_how == CLOSE_RST) {
			close_rst(fd);
		} else {
			close(fd);
		}
	}
}

static void run_pooled(const struct opts *o, struct stats *st)
{
	long nreq = o->count >= 0 ? o->count : 100;
	bool at_bind;
	long i;
	int fd, err;

	fd = do_connect(o, &at_bind);
	if (fd < 0) {
		if (is_port_failure(-fd, at_bind)) {
			st->failures++;
			fprintf(evlog, "failed %d\n", -fd);
		} else {
			st->errors++;
			fprintf(evlog, "error %d\n", -fd);
		}
		return;
	}
	st->connects++;
	fprintf(evlog, "connect %d %d\n", local_port(fd), fd);
	for (i = 0; i < nreq; i++) {
		if (o->rate > 0 && i > 0)
			sleep_secs(1.0 / o->rate);
		err = request(fd);
		if (err) {
			fprintf(evlog, "error %d\n", -err);
			break;
		}
	}
	/* fd held until exit */
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "addr",	required_argument, NULL, 'a' },
		{ "port",	required_argument, NULL, 'p' },
		{ "mode",	required_argument, NULL, 'm' },
		{ "out",	required_argument, NULL, 'o' },
		{ "nonblock",	no_argument,	   NULL, 'N' },
		{ "bind",	no_argument,	   NULL, 'B' },
		{ "rate",	required_argument, NULL, 'R' },
		{ "count",	required_argument, NULL, 'n' },
		{ "fail-count",	required_argument, NULL, 'f' },
		{ "max-errors",	required_argument, NULL, 'E' },
		{ "hold",	required_argument, NULL, 'H' },
		{ "close",	required_argument, NULL, 'C' },
		{ "ready-file",	required_argument, NULL, 'r' },
		{ "comm",	required_argument, NULL, 'c' },	/* prctl(PR_SET_NAME) */
		{ "note",	required_argument, NULL, 'T' },	/* ignored: text for argv */
		{ "heartbeat",	required_argument, NULL, 'b' },
		{ "no-wait",	no_argument,	   NULL, 'W' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.port = -1, .count = -1, .fail_count = 3, .hold = -1,
	};
	struct stats st = { 0 };
	char line[64];
	int c;

	while ((c = getopt_long(argc, argv, "a:p:m:o:NBR:n:f:E:H:C:r:c:T:b:Wh",
				lopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.addr = optarg;
			break;
		case 'p':
			o.port = parse_long(optarg, 1, 65535, "port");
			break;
		case 'm':
			if (!strcmp(optarg, "leaky"))
				o.mode = MODE_LEAKY;
			else if (!strcmp(optarg, "pooled"))
				o.mode = MODE_POOLED;
			else if (!strcmp(optarg, "churn"))
				o.mode = MODE_CHURN;
			else
				die_usage("invalid mode", optarg);
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'N':
			o.nonblock = true;
			break;
		case 'B':
			o.bind_first = true;
			break;
		case 'R':
			o.rate = parse_double(optarg, 0, 1e9, "rate");
			break;
		case 'n':
			o.count = parse_long(optarg, 0, LONG_MAX, "count");
			break;
		case 'f':
			o.fail_count = parse_long(optarg, 1, LONG_MAX,
						  "fail-count");
			break;
		case 'E':
			o.max_errors = parse_long(optarg, 0, LONG_MAX,
						  "max-errors");
			break;
		case 'H':
			o.hold = parse_double(optarg, 0, 1e7, "hold");
			break;
		case 'C':
			if (!strcmp(optarg, "fin"))
				o.close_how = CLOSE_FIN;
			else if (!strcmp(optarg, "rst"))
				o.close_how = CLOSE_RST;
			else
				die_usage("invalid --close", optarg);
			break;
		case 'r':
			o.ready_file = optarg;
			break;
		case 'c':
			if (prctl(PR_SET_NAME, optarg))
				die_errno("prctl(PR_SET_NAME)");
			break;
		case 'T':
			break;
		case 'W':
			o.no_wait = true;
			break;
		case 'b':
			o.heartbeat = parse_double(optarg, 0.01, 3600, "heartbeat");
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
	if (!o.addr)
		die_usage("--addr is required", NULL);
	if (o.port < 0)
		die_usage("--port is required", NULL);
	if (o.mode == MODE_NONE)
		die_usage("--mode is required", NULL);
	parse_addr(o.addr, o.port);

	if (o.out) {
		evlog = fopen(o.out, "we");
		if (!evlog)
			die_errno(o.out);
	} else {
		evlog = stdout;
	}
	setvbuf(evlog, NULL, _IOLBF, 0);

	setup_signals();
	raise_nofile();

	fprintf(evlog, "pid %d\n", (int)getpid());
	if (o.mode == MODE_POOLED)
		run_pooled(&o, &st);
	else
		run_loop(&o, &st);
	fprintf(evlog, "done connects=%ld failures=%ld errors=%ld\n",
		st.connects, st.failures, st.errors);

	if (o.ready_file) {
		snprintf(line, sizeof(line), "DONE %d\n", (int)getpid());
		write_ready(o.ready_file, line);
	}

	hold_connections(&o, o.hold);
	return 0;
}
