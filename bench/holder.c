// SPDX-License-Identifier: GPL-2.0
/*
 * holder - many processes that each hold a few TCP connections, for the
 * porthog memory and snapshot benchmarks (bench/run.sh).
 *
 * Forks --procs children; child i opens --per-proc connections to
 * (ADDR+(i % --addrs)):(PORT+(i % --ports)) and keeps them open until the
 * parent goes away. Spread them: with tens of thousands of connections to
 * one destination, connect() spends long searching for a free port.
 * The parent prints "READY procs=N sockets=M failed=F" once every child has
 * connected, then waits for SIGINT/SIGTERM (or --duration) and SIGKILLs and
 * reaps the children. Children also die with the parent (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "holder";

static void usage(FILE *f)
{
	fprintf(f, "usage: %s --addr IPV4 --port PORT [--addrs N] [--ports N] --procs N\n"
		   "       --per-proc K [--duration S]\n", prog);
}

static long parse_long(const char *s, long lo, long hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: invalid %s '%s' (range %ld..%ld)\n", prog, name, s, lo, hi);
		exit(2);
	}
	return v;
}

/* Child: connect, report, then wait to be killed. */
static void child(long idx, const struct sockaddr_in *base, long addrs, long ports, long per,
		  int wfd, pid_t parent)
{
	struct sockaddr_in sa = *base;
	long i, ok = 0;
	unsigned char msg;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	sa.sin_port = htons((unsigned short)(ntohs(base->sin_port) + idx % ports));
	sa.sin_addr.s_addr = htonl(ntohl(base->sin_addr.s_addr) + (uint32_t)(idx % addrs));
	for (i = 0; i < per; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			continue;
		}
		ok++;
	}
	msg = (unsigned char)(ok > 255 ? 255 : ok);
	if (write(wfd, &msg, 1) != 1)
		_exit(1);
	close(wfd);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "ports", required_argument, NULL, 'P' },
		{ "addrs", required_argument, NULL, 'A' },
		{ "procs", required_argument, NULL, 'n' },
		{ "per-proc", required_argument, NULL, 'k' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long port = -1, ports = 1, addrs = 1, procs = 0, per = 0, duration = -1, i, got = 0, sockets = 0;
	const char *addr = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	pid_t *pids, self = getpid();
	int c, pfd[2];
	sigset_t set;

	while ((c = getopt_long(argc, argv, "a:p:P:A:n:k:d:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'a': addr = optarg; break;
		case 'p': port = parse_long(optarg, 1, 65535, "port"); break;
		case 'P': ports = parse_long(optarg, 1, 1000, "ports"); break;
		case 'A': addrs = parse_long(optarg, 1, 250, "addrs"); break;
		case 'n': procs = parse_long(optarg, 1, 100000, "procs"); break;
		case 'k': per = parse_long(optarg, 1, 255, "per-proc"); break;
		case 'd': duration = parse_long(optarg, 1, 86400, "duration"); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!addr || port < 0 || !procs || !per || port + ports - 1 > 65535 ||
	    inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		usage(stderr);
		return 2;
	}
	sa.sin_port = htons((unsigned short)port);

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	pids = calloc((size_t)procs, sizeof(*pids));
	if (!pids || pipe2(pfd, O_CLOEXEC) < 0) {
		perror(prog);
		return 1;
	}
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "%s: fork after %ld children: %s\n", prog, i, strerror(errno));
			break;
		}
		if (pid == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			close(pfd[0]);
			child(i, &sa, addrs, ports, per, pfd[1], self);
		}
		pids[i] = pid;
	}
	procs = i;
	close(pfd[1]);
	while (got < procs) {
		unsigned char buf[4096];
		ssize_t n = read(pfd[0], buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t j = 0; j < n; j++)
			sockets += buf[j];
		got += n;
	}
	printf("READY procs=%ld sockets=%ld failed=%ld\n", got, sockets, procs * per - sockets);
	fflush(stdout);

	if (duration > 0)
		alarm((unsigned int)duration);
	while (sigwaitinfo(&set, NULL) < 0 && errno == EINTR)
		;
	for (i = 0; i < procs; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
