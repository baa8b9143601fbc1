// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog check: which backends load (pass the verifier) and attach here. */
#include <string.h>

#include "cli.h"
#include "json.h"
#include "ports.h"

static const char doc[] =
"Load every probe backend on this kernel, with and without attaching, and say\n"
"why a backend cannot be used. 'auto' picks the first one that attaches.\n"
"\v"
"EXAMPLES:\n"
"  porthog check\n"
"  porthog check --json\n\n"
PH_EXIT_CODES_HELP;

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "One JSON object per backend", 0 },
	{ "verbose", 'v', NULL, 0, "Pass libbpf's own messages (verifier logs) through", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	bool *json = state->input;

	switch (key) {
	case 'j':
		*json = true;
		break;
	case 'v':
		ph_verbose = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc };

int cmd_check(int argc, char **argv)
{
	static const struct {
		enum ph_backend b;
		bool syscall_errno;
		const char *name;
	} rows[] = {
		{ PH_BACKEND_FENTRY, false, "fentry" },
		{ PH_BACKEND_KPROBE, false, "kprobe" },
		{ PH_BACKEND_TRACEPOINT, false, "tracepoint" },
		{ PH_BACKEND_TRACEPOINT, true, "syscall-errno" },
		{ PH_BACKEND_NONE, false, "iterators" },
		{ PH_BACKEND_NONE, false, "bind-udp" },
	};
	bool json = false;
	int err, usable = 0;

	err = ph_argp_parse(&argp, argc, argv, &json);
	if (err)
		return err;
	err = ph_preflight();
	if (err)
		return err;
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char load_why[256], attach_why[256] = "-";
		int lerr, aerr = -1;

		/* bind() and UDP: cgroup programs, the same under every backend */
		bool ports = !strcmp(rows[i].name, "bind-udp");

		lerr = ports ? ph_ports_try(false, load_why, sizeof(load_why)) :
			ph_probe_try(rows[i].b, rows[i].syscall_errno, false, load_why,
				     sizeof(load_why));
		if (!lerr)
			aerr = ports ? ph_ports_try(true, attach_why, sizeof(attach_why)) :
				ph_probe_try(rows[i].b, rows[i].syscall_errno, true, attach_why,
					     sizeof(attach_why));
		if (!aerr && rows[i].b != PH_BACKEND_NONE && !rows[i].syscall_errno)
			usable++;
		if (json) {
			printf("{\"backend\":\"%s\",\"load\":%s,\"load_error\":", rows[i].name,
			       lerr ? "false" : "true");
			json_str(stdout, lerr ? load_why : "");
			printf(",\"attach\":%s,\"attach_error\":", aerr ? "false" : "true");
			json_str(stdout, aerr && !lerr ? attach_why : "");
			printf("}\n");
		} else {
			printf("%-14s load:   %-4s %s\n", rows[i].name, lerr ? "FAIL" : "ok",
			       lerr ? load_why : "");
			printf("%-14s attach: %-4s %s\n", "", lerr ? "-" : aerr ? "FAIL" : "ok",
			       lerr ? "" : attach_why);
		}
	}
	if (!usable) {
		ph_err("no usable probe backend");
		return PH_EXIT_NOBACKEND;
	}
	return PH_EXIT_OK;
}
