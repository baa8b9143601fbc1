// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog snapshot: who holds the ports right now, from one socket walk. */
#include <string.h>

#include "cli.h"
#include "live.h"
#include "output.h"

struct snap_env {
	struct ph_live_opts live;
	bool json;
	struct ph_proc_filter filter;
};

static const char doc[] =
"Walk every TCP socket once, with its owning process, and show who holds the\n"
"ephemeral ports and how much headroom each destination has left. No tracing.\n"
"\v"
"EXAMPLES:\n"
"  porthog snapshot\n"
"  porthog snapshot --json | jq '.processes[0]'\n"
"  porthog snapshot --snapshot=diag      # without BPF iterators\n"
"  porthog snapshot --json --container 4f3a9c1b2d7e\n\n"
PH_EXIT_CODES_HELP;

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "One JSON object", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct snap_env *env = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &env->live;
		state->child_inputs[1] = &env->filter;
		break;
	case 'j':
		env->json = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.doc = doc,
	.children = ph_view_children,
};

int cmd_snapshot(int argc, char **argv)
{
	struct snap_env env = {};
	struct ph_out_ctx out = {};
	struct ph_live l;
	int err;

	ph_live_opts_init(&env.live);
	err = ph_argp_parse(&argp, argc, argv, &env);
	if (err)
		return err;
	env.live.probe.events = false;
	err = ph_live_open(&l, &env.live, NULL, NULL);
	if (err)
		goto cleanup;
	ph_acct_tick(l.acct, mono_ns());
	out.ts = wall_now();
	out.attach_mode = "none";
	out.snapshot = l.snap == PH_SNAP_DIAG ? "diag" : "iter";
	out.pid = env.live.probe.pid;
	out.netns = env.live.probe.netns;
	out.filter = env.filter;
	out.warn_pct = 20;
	if (env.json)
		ph_out_json(stdout, l.acct, &out);
	else
		ph_out_text(stdout, l.acct, &out);
	err = fflush(stdout) ? PH_EXIT_IO : PH_EXIT_OK;
cleanup:
	ph_live_close(&l);
	return err;
}
