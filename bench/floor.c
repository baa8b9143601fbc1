// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor - load and attach bench/floor.bpf.o (an empty tp_btf program on
 * sock:inet_sock_set_state) until SIGINT or SIGTERM.
 *
 * usage: floor [OBJECT]   (default: floor.bpf.o next to this binary)
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX], *slash;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct timespec ts = { 0, 100000000L };
	ssize_t n;

	if (argc > 1) {
		snprintf(path, sizeof(path), "%s", argv[1]);
	} else {
		n = readlink("/proc/self/exe", path, sizeof(path) - 16);
		if (n < 0) {
			perror("floor: readlink");
			return 1;
		}
		path[n] = 0;
		slash = strrchr(path, '/');
		strcpy(slash ? slash + 1 : path, "floor.bpf.o");
	}
	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "floor: loading %s: %s\n", path, strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "floor: attach %s: %s\n", bpf_program__name(prog),
				strerror(errno));
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("READY\n");
	fflush(stdout);
	while (!stop)
		nanosleep(&ts, NULL);
	bpf_object__close(obj);
	return 0;
}
