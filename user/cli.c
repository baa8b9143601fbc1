// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Option parsing shared by the subcommands. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diagnose.h"
#include "live.h"
#include "output.h"

enum {
	OPT_ATTACH = 0x1000,
	OPT_NETNS,
	OPT_MAX_SOCKETS,
	OPT_RINGBUF,
	OPT_SYSCALL_ERRNO,
	OPT_NO_NEST_CATCH,
	OPT_SNAPSHOT,
	OPT_MAX_PROCS,
	OPT_RECONCILE,
	OPT_ETA_WINDOW,
	OPT_CGROUP,
	OPT_POD_UID,
	OPT_CONTAINER,
	OPT_NO_ACTIVITY,
	OPT_MIN_PORTS,
	OPT_IDLE,
	OPT_LIGHT_BPS,
	OPT_SYN_MIN,
	OPT_DIAG_WARN,
	OPT_RANGE_MIN,
	OPT_BIND_UDP,
};

static const struct argp_option probe_options[] = {
	{ "pid", 'p', "PID", 0, "Only sockets opened by this process (tgid)", 1 },
	{ "netns", OPT_NETNS, "INODE", 0, "Only sockets in this network namespace (inode, as in /proc/PID/ns/net)", 1 },
	{ "attach", OPT_ATTACH, "MODE", 0, "Probe backend: auto (default), fentry, kprobe or tracepoint", 1 },
	{ "max-sockets", OPT_MAX_SOCKETS, "N", 0, "Bound of tracked sockets, in the kernel and in porthog (default 131072)", 1 },
	{ "ringbuf-size", OPT_RINGBUF, "BYTES", 0, "Ring buffer size, a power of two (default 4194304)", 1 },
	{ "syscall-errno", OPT_SYSCALL_ERRNO, NULL, 0, "Also hook connect()'s syscall exit: report its real errno and catch EADDRNOTAVAIL from any path (slows every syscall)", 1 },
	{ "bind-udp", OPT_BIND_UDP, "on|off", 0, "Watch ports taken by bind() and by UDP, and their failures (default: on where it can load; on: fail if it cannot)", 1 },
	{ "no-nest-catch", OPT_NO_NEST_CATCH, NULL, 0, "Do not attach the program that catches tracepoint hits the kernel skips while porthog's runs on the same CPU (a little less overhead; those hits are then lost and counted as skipped_events)", 1 },
	{ "verbose", 'v', NULL, 0, "libbpf's own messages, and the start-up's timing, on stderr", 1 },
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
	case OPT_SYSCALL_ERRNO:
		o->syscall_errno = true;
		break;
	case OPT_NO_NEST_CATCH:
		o->nest_catch = false;
		break;
	case OPT_BIND_UDP:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			argp_error(state, "invalid --bind-udp '%s' (on or off)", arg);
		o->bind_udp = !strcmp(arg, "on");
		o->bind_udp_required = o->bind_udp;
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

static const struct argp_option live_options[] = {
	{ "snapshot", OPT_SNAPSHOT, "iter|diag", 0, "How to list existing sockets: BPF iterators (default) or sock_diag + /proc", 2 },
	{ "max-procs", OPT_MAX_PROCS, "N", 0, "Bound of tracked processes (default 16384)", 2 },
	{ "reconcile", OPT_RECONCILE, "SECONDS", 0, "Re-walk all sockets this often to repair what lost events broke (default 30; 0 = never; a loss that could have changed the table triggers one, at most 5% of a CPU)", 2 },
	{ "eta-window", OPT_ETA_WINDOW, "SECONDS", 0, "Window of the growth rate behind eta_s (default 30)", 2 },
	{ "no-sock-activity", OPT_NO_ACTIVITY, NULL, 0, "Socket walks leave out each socket's traffic (idle times, bytes): cheaper, but the diagnosis loses its leak evidence", 2 },
	{},
};

static error_t live_parse(int key, char *arg, struct argp_state *state)
{
	struct ph_live_opts *o = state->input;
	long v;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &o->probe;
		break;
	case OPT_SNAPSHOT:
		if (ph_snap_parse(arg, &o->snap))
			argp_error(state, "invalid --snapshot '%s' (iter or diag)", arg);
		break;
	case OPT_MAX_PROCS:
		if (parse_long(arg, 16, 1 << 24, &v))
			argp_error(state, "invalid --max-procs '%s' (16..16777216)", arg);
		o->acct.max_procs = v;
		break;
	case OPT_RECONCILE:
		if (parse_double(arg, 0, 86400, &o->reconcile_s))
			argp_error(state, "invalid --reconcile '%s'", arg);
		break;
	case OPT_NO_ACTIVITY:
		o->probe.sock_activity = false;
		break;
	case OPT_ETA_WINDOW:
		if (parse_double(arg, 1, 86400, &o->acct.eta_window_s))
			argp_error(state, "invalid --eta-window '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child live_children[] = {
	{ &ph_probe_argp, 0, "Probe options:", 1 },
	{},
};

const struct argp ph_live_argp = {
	.options = live_options,
	.parser = live_parse,
	.children = live_children,
};

const struct argp_child ph_live_children[] = {
	{ &ph_live_argp, 0, "Accounting options:", 2 },
	{},
};

static const struct argp_option filter_options[] = {
	{ "cgroup", OPT_CGROUP, "SUBSTR", 0, "Only processes whose cgroup path contains SUBSTR", 3 },
	{ "pod-uid", OPT_POD_UID, "UID", 0, "Only processes of this Kubernetes pod (metadata.uid)", 3 },
	{ "container", OPT_CONTAINER, "ID", 0, "Only processes of containers whose id starts with ID (hex)", 3 },
	{},
};

static error_t filter_parse(int key, char *arg, struct argp_state *state)
{
	struct ph_proc_filter *f = state->input;
	size_t n;

	switch (key) {
	case OPT_CGROUP:
		f->cgroup = arg;
		break;
	case OPT_POD_UID:
		if (!ph_pod_uid_parse(arg, strlen(arg), f->pod_uid))
			argp_error(state, "invalid --pod-uid '%s' (a UID such as "
				   "0b1c2d3e-aaaa-bbbb-cccc-111122223333)", arg);
		break;
	case OPT_CONTAINER:
		n = strlen(arg);
		if (!n || n > PH_CONTAINER_ID_LEN || strspn(arg, "0123456789abcdefABCDEF") != n)
			argp_error(state, "invalid --container '%s' (1 to 64 hex digits)", arg);
		for (size_t i = 0; i <= n; i++)
			f->container[i] = tolower((unsigned char)arg[i]);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp ph_filter_argp = {
	.options = filter_options,
	.parser = filter_parse,
};

const struct argp_child ph_view_children[] = {
	{ &ph_live_argp, 0, "Accounting options:", 2 },
	{ &ph_filter_argp, 0, "Process filters:", 3 },
	{},
};

static const struct argp_option diag_options[] = {
	{ "min-ports", OPT_MIN_PORTS, "N", 0, "A leak, churn or bind_hog holds at least N ports (default 16)", 4 },
	{ "idle", OPT_IDLE, "SECONDS", 0, "A connection with no data either way this long is idle (default 30)", 4 },
	{ "light-bps", OPT_LIGHT_BPS, "BYTES", 0, "A connection carrying at most this many bytes/s is heartbeat-sized (default 256)", 4 },
	{ "syn-min", OPT_SYN_MIN, "N", 0, "syn_hang: N sockets in SYN_SENT past the first SYN retransmit (default 2)", 4 },
	{ "crit-pct", OPT_DIAG_WARN, "PCT", 0, "A finding is critical under this headroom (default 20)", 4 },
	{ "range-min", OPT_RANGE_MIN, "N", 0, "An ip_local_port_range of fewer ports is a finding (default 16384)", 4 },
	{},
};

static error_t diag_parse(int key, char *arg, struct argp_state *state)
{
	struct ph_diag_opts *o = state->input;
	long v;

	switch (key) {
	case OPT_MIN_PORTS:
		if (parse_long(arg, 1, 65536, &v))
			argp_error(state, "invalid --min-ports '%s' (1..65536)", arg);
		o->min_ports = v;
		break;
	case OPT_IDLE:
		if (parse_double(arg, 1, 86400, &o->idle_s))
			argp_error(state, "invalid --idle '%s' (1..86400)", arg);
		break;
	case OPT_LIGHT_BPS:
		if (parse_double(arg, 0, 1e9, &o->light_bps))
			argp_error(state, "invalid --light-bps '%s'", arg);
		break;
	case OPT_SYN_MIN:
		if (parse_long(arg, 1, 65536, &v))
			argp_error(state, "invalid --syn-min '%s' (1..65536)", arg);
		o->syn_min = v;
		break;
	case OPT_DIAG_WARN:
		if (parse_double(arg, 0, 100, &o->warn_pct))
			argp_error(state, "invalid --crit-pct '%s' (0..100)", arg);
		break;
	case OPT_RANGE_MIN:
		if (parse_long(arg, 1, 65536, &v))
			argp_error(state, "invalid --range-min '%s' (1..65536)", arg);
		o->range_min = v;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp ph_diag_argp = {
	.options = diag_options,
	.parser = diag_parse,
};
