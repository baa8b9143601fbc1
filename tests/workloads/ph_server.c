// SPDX-License-Identifier: GPL-2.0
/*
 * ph_server - TCP test server for porthog workloads.
 *
 * Keeps accepted connections open and echoes every byte back, or
 * closes on accept, or never accepts (to fill the accept queue).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS	1024

static const char *prog = "ph_server";
static volatile sig_atomic_t stop_flag;

struct opts {
	const char *addr;
	long port;
	long backlog;
	bool no_accept;
	double accept_after;
	bool close_on_accept;
	const char *ready_file;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --addr ADDR --port PORT [--backlog N] [--no-accept]\n"
		"       [--accept-after SECONDS] [--close-on-accept] [--ready-file PATH]\n",
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

static double parse_secs(const char *s, const char *name)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e7) {
		fprintf(stderr, "%s: invalid %s '%s'\n", prog, name, s);
		exit(2);
	}
	return v;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: wake blocking calls */
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

static socklen_t parse_addr(const char *s, long port,
			    struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		return sizeof(*sin6);
	}
	die_usage("invalid address", s);
	return 0;
}

static int open_listener(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_addr(o->addr, o->port, &ss);
	int one = 1;
	int fd;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_errno("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die_errno("setsockopt(SO_REUSEADDR)");
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		die_errno("setsockopt(IPV6_V6ONLY)");
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die_errno("bind");
	if (listen(fd, (int)o->backlog) < 0)
		die_errno("listen");
	return fd;
}

/* Sleep up to @secs, returns early when a stop signal arrives. */
static void sleep_secs(double secs)
{
	struct timespec end, now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)secs;
	end.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (!stop_flag) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL);
	}
}

static void accept_all(int lfd, int efd, bool close_on_accept)
{
	static bool warned_emfile;
	struct epoll_event ev;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				if (!warned_emfile)
					fprintf(stderr, "%s: accept: %s\n",
						prog, strerror(errno));
				warned_emfile = true;
				usleep(10000);
				return;
			}
			die_errno("accept");
		}
		if (close_on_accept) {
			close(fd);
			continue;
		}
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.fd = fd;
		if (epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			fprintf(stderr, "%s: epoll_ctl: %s\n", prog,
				strerror(errno));
			close(fd);
		}
	}
}

/* Read and echo back; close on EOF or error. */
static void serve_conn(int fd)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			/* best effort echo; drop what does not fit */
			if (write(fd, buf, (size_t)n) < 0 && errno != EAGAIN)
				goto out_close;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		goto out_close;
	}
out_close:
	close(fd);	/* close() also removes fd from the epoll set */
}

static int run(const struct opts *o, int lfd)
{
	struct epoll_event evs[MAX_EVENTS], ev;
	int efd, n, i;

	/* --accept-after overrides --no-accept: accept after the delay */
	if (o->no_accept && o->accept_after <= 0) {
		while (!stop_flag)
			pause();
		return 0;
	}
	if (o->accept_after > 0)
		sleep_secs(o->accept_after);
	if (stop_flag)
		return 0;

	if (fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK) < 0)
		die_errno("fcntl");
	efd = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0)
		die_errno("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die_errno("epoll_ctl");

	while (!stop_flag) {
		n = epoll_wait(efd, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_errno("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == lfd)
				accept_all(lfd, efd, o->close_on_accept);
			else
				serve_conn(evs[i].data.fd);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "addr",		required_argument, NULL, 'a' },
		{ "port",		required_argument, NULL, 'p' },
		{ "backlog",		required_argument, NULL, 'b' },
		{ "no-accept",		no_argument,	   NULL, 'n' },
		{ "accept-after",	required_argument, NULL, 'A' },
		{ "close-on-accept",	no_argument,	   NULL, 'c' },
		{ "ready-file",		required_argument, NULL, 'r' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .port = -1, .backlog = 4096 };
	char line[64];
	int c, lfd;

	while ((c = getopt_long(argc, argv, "a:p:b:nA:cr:h", lopts,
				NULL)) != -1) {
		switch (c) {
		case 'a':
			o.addr = optarg;
			break;
		case 'p':
			o.port = parse_long(optarg, 1, 65535, "port");
			break;
		case 'b':
			o.backlog = parse_long(optarg, 0, INT_MAX, "backlog");
			break;
		case 'n':
			o.no_accept = true;
			break;
		case 'A':
			o.accept_after = parse_secs(optarg, "accept-after");
			break;
		case 'c':
			o.close_on_accept = true;
			break;
		case 'r':
			o.ready_file = optarg;
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

	setup_signals();
	raise_nofile();
	lfd = open_listener(&o);

	snprintf(line, sizeof(line), "READY %d\n", (int)getpid());
	if (o.ready_file)
		write_ready(o.ready_file, line);
	fputs(line, stdout);
	fflush(stdout);

	return run(&o, lfd);
}
