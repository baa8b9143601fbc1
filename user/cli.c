// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Option parsing shared by the subcommands. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	OPT_ATTACH = 0x1000,
	OPT_NETNS,
	OPT_MAX_SOCKETS,
	OPT_RINGBUF,
};

static const struct argp_option probe_options[] = {
	{ "pid", 'p', "PID", 0, "Only sockets opened by this process (tgid)", 1 },
	{ "netns", OPT_NETNS, "INODE", 0, "Only sockets in this network namespace (inode, as in /proc/PID/ns/net)", 1 },
	{ "attach", OPT_ATTACH, "MODE", 0, "Probe backend: auto (default), fentry, kprobe or tracepoint", 1 },
	{ "max-sockets", OPT_MAX_SOCKETS, "N", 0, "Bound of the kernel socket->owner map (default 131072)", 1 },
	{ "ringbuf-size", OPT_RINGBUF, "BYTES", 0, "Ring buffer size, a power of two (default 4194304)", 1 },
	{ "verbose", 'v', NULL, 0, "Pass libbpf's own messages through to stderr", 1 },
	{},
};

static error_t probe_parse(int key, char *arg, struct argp_state *state)
{
	struct ph_probe_opts *o = state->input;
	long v;

	switch (key) {
	case 'p':
		if (parse_long(arg, 1, 0x7fffffff, &v))
			argp_error(state, "invalid PID '%s'", arg);
		o->pid = v;
		break;
	case OPT_NETNS:
		if (parse_long(arg, 1, 0xffffffffL, &v))
			argp_error(state, "invalid netns inode '%s'", arg);
		o->netns = v;
		break;
	case OPT_ATTACH:
		if (ph_backend_parse(arg, &o->backend))
			argp_error(state, "invalid --attach '%s' (auto, fentry, kprobe, tracepoint)", arg);
		break;
	case OPT_MAX_SOCKETS:
		if (parse_long(arg, 1024, 16 << 20, &v))
			argp_error(state, "invalid --max-sockets '%s' (1024..16777216)", arg);
		o->max_sockets = v;
		break;
	case OPT_RINGBUF:
		if (parse_long(arg, 4096, 1L << 30, &v) || (v & (v - 1)))
			argp_error(state, "invalid --ringbuf-size '%s' (power of two, 4096..1073741824)", arg);
		o->ringbuf_bytes = v;
		break;
	case 'v':
		ph_verbose = true;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp ph_probe_argp = {
	.options = probe_options,
	.parser = probe_parse,
};

int ph_argp_parse(const struct argp *argp, int argc, char **argv, void *input)
{
	int err;

	/* argp exits with argp_err_exit_status on usage errors */
	argp_err_exit_status = PH_EXIT_USAGE;
	err = argp_parse(argp, argc, argv, 0, NULL, input);
	return err ? PH_EXIT_USAGE : 0;
}
