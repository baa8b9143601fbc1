// SPDX-License-Identifier: GPL-2.0
/*
 * ph_ports - workloads that take local ports without TCP connect() alone.
 *
 *   tcp-bind:     TCP socket, bind(ADDR:0), kept open
 *   udp-connect:  UDP socket, connect(ADDR:PORT): autobind, kept open
 *   udp-sendto:   UDP socket, sendto(ADDR:PORT): autobind, kept open
 *   bind-connect: TCP socket, bind(SRC:0) then connect(ADDR:PORT), kept open;
 *                 --no-port sets IP_BIND_ADDRESS_NO_PORT first
 *
 * --port-range LO:HI sets IP_LOCAL_PORT_RANGE on every socket. Output, one
 * line each: "pid N", "port PORT" for a socket that got its port,
 * "failed OP ERRNO" (OP: bind, connect, sendto), "done ok=N failed=N".
 * After --count sockets it writes --ready-file and holds them until SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE	51
#endif

enum mode { MODE_NONE, MODE_TCP_BIND, MODE_UDP_CONNECT, MODE_UDP_SENDTO, MODE_BIND_CONNECT };

static volatile sig_atomic_t stop;

static void on_signal(int sig __attribute__((unused)))
{
	stop = 1;
}

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "ph_ports: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static long num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die(what, s);
	return v;
}

static socklen_t mkaddr(const char *s, long port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return sizeof(*a6);
	}
	die("invalid address", s);
	return 0;
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		     ((struct sockaddr_in *)&ss)->sin_port);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "src", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "no-port", no_argument, NULL, 'N' },
		{ "port-range", required_argument, NULL, 'r' },
		{ "ready-file", required_argument, NULL, 'R' },
		{},
	};
	const char *addr = NULL, *src = NULL, *ready = NULL;
	long port = 0, count = 1, ok = 0, failed = 0, range_lo = 0, range_hi = 0;
	struct sockaddr_storage dst, sa;
	socklen_t dst_len = 0, sa_len;
	enum mode mode = MODE_NONE;
	bool no_port = false;
	struct rlimit rl;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mode = !strcmp(optarg, "tcp-bind") ? MODE_TCP_BIND :
			       !strcmp(optarg, "udp-connect") ? MODE_UDP_CONNECT :
			       !strcmp(optarg, "udp-sendto") ? MODE_UDP_SENDTO :
			       !strcmp(optarg, "bind-connect") ? MODE_BIND_CONNECT : MODE_NONE;
			if (mode == MODE_NONE)
				die("invalid mode", optarg);
			break;
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = num(optarg, 1, 65535, "invalid port");
			break;
		case 's':
			src = optarg;
			break;
		case 'n':
			count = num(optarg, 1, 1000000, "invalid count");
			break;
		case 'N':
			no_port = true;
			break;
		case 'r': {
			char *colon = strchr(optarg, ':');

			if (!colon)
				die("invalid --port-range (LO:HI)", optarg);
			*colon = 0;
			range_lo = num(optarg, 1, 65535, "invalid range");
			range_hi = num(colon + 1, range_lo, 65535, "invalid range");
			break;
		}
		case 'R':
			ready = optarg;
			break;
		default:
			die("usage: --mode tcp-bind|udp-connect|udp-sendto|bind-connect --addr A [--port P] [--src S] [--count N] [--no-port] [--port-range LO:HI] [--ready-file F]", NULL);
		}
	}
	if (mode == MODE_NONE || !addr)
		die("--mode and --addr are required", NULL);
	if (mode != MODE_TCP_BIND && !port)
		die("--port is required", NULL);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("pid %d\n", getpid());
	dst_len = mkaddr(addr, port, &dst);
	sa_len = mkaddr(src ? src : addr, 0, &sa);

	for (long i = 0; i < count; i++) {
		int type = mode == MODE_UDP_CONNECT || mode == MODE_UDP_SENDTO ? SOCK_DGRAM : SOCK_STREAM;
		int fd = socket(dst.ss_family, type, 0), one = 1, r;
		const char *op;

		if (fd < 0) {
			perror("socket");
			return 1;
		}
		if (range_lo) {
			uint32_t v = (uint32_t)range_hi << 16 | range_lo;

			if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof(v))) {
				perror("IP_LOCAL_PORT_RANGE");
				return 1;
			}
		}
		if (no_port && setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one))) {
			perror("IP_BIND_ADDRESS_NO_PORT");
			return 1;
		}
		switch (mode) {
		case MODE_TCP_BIND:
			op = "bind";
			r = bind(fd, (struct sockaddr *)&sa, sa_len);
			break;
		case MODE_UDP_CONNECT:
			op = "connect";
			r = connect(fd, (struct sockaddr *)&dst, dst_len);
			break;
		case MODE_UDP_SENDTO:
			op = "sendto";
			r = sendto(fd, "x", 1, 0, (struct sockaddr *)&dst, dst_len) == 1 ? 0 : -1;
			break;
		default:
			op = "bind";
			r = bind(fd, (struct sockaddr *)&sa, sa_len);
			if (!r) {
				op = "connect";
				r = connect(fd, (struct sockaddr *)&dst, dst_len);
			}
			break;
		}
		if (r) {
			printf("failed %s %d\n", op, errno);
			failed++;
			close(fd);
			continue;
		}
		printf("port %d\n", local_port(fd));
		ok++;
	}
	printf("done ok=%ld failed=%ld\n", ok, failed);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!stop)
		pause();
	return 0;
}
