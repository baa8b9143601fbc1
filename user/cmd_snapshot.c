// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog snapshot: who holds the ports right now, from one socket walk. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diagnose.h"
#include "live.h"
#include "output.h"

struct snap_env {
	struct ph_live_opts live;
	bool json;
	struct ph_proc_filter filter;
	struct ph_diag_opts diag;
};

static const char doc[] =
"Walk every TCP socket once, with its owning process, and show who holds the\n"
"ephemeral ports and how much headroom each destination has left. No tracing.\n"
"Findings are those one look supports: leak (from idle times), syn_hang,\n"
"bind_hog and range; 'porthog explain' watches events for the others.\n"
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
		state->child_inputs[2] = &env->diag;
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

static const struct argp_child children[] = {
	{ &ph_live_argp, 0, "Accounting options:", 2 },
	{ &ph_filter_argp, 0, "Process filters:", 3 },
	{ &ph_diag_argp, 0, "Diagnosis options:", 4 },
	{},
};

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.doc = doc,
	.children = children,
};

int cmd_snapshot(int argc, char **argv)
{
	struct snap_env env = {};
	struct ph_out_ctx out = {};
	struct ph_live l;
	int err;

	ph_live_opts_init(&env.live);
	ph_diag_opts_init(&env.diag);
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
	out.diag = &env.diag;
	if (env.json) {
		ph_out_json(stdout, l.acct, &out);
	} else {
		struct ph_finding *fs = NULL;
		size_t n = ph_out_findings(l.acct, &out, &fs);

		ph_out_text(stdout, l.acct, &out);
		fputs("\nFINDINGS (one look: a leak younger than --idle seconds, and churn, need the "
		      "events porthog explain watches)\n", stdout);
		ph_findings_text(stdout, fs, n);
		free(fs);
	}
	err = fflush(stdout) ? PH_EXIT_IO : PH_EXIT_OK;
cleanup:
	ph_live_close(&l);
	return err;
}
