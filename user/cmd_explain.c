// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog explain: why the ports run out, and what to do about it. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diagnose.h"
#include "live.h"
#include "json.h"
#include "output.h"

struct explain_env {
	struct ph_live_opts live;
	struct ph_diag_opts diag;
	struct ph_proc_filter filter;
	double duration;
	bool json;
};

static const char doc[] =
"Take a snapshot of every TCP socket, watch connects and closes for\n"
"--duration seconds, walk the sockets again for their traffic, then say why\n"
"the ports run out and what to do: one finding per cause, ranked by\n"
"severity, then the causes by ports before the host settings (range) and the\n"
"victims. Kinds: leak (connections pile up, idle or\n"
"heartbeat-only), churn (short connections, ports wait in TIME_WAIT),\n"
"syn_hang (the destination does not answer SYNs), bind_hog (bind() before\n"
"connect()), victim (connects fail because of other processes), range (host\n"
"settings cut capacity). Severity: critical while connects fail or headroom\n"
"is under --crit-pct, warning when the destination fills within an hour,\n"
"info otherwise. Exit status 0 whether or not there are findings.\n"
"\v"
"EXAMPLES:\n"
"  porthog explain                       # watch 10 s, then explain\n"
"  porthog explain --duration 60 --json | jq '.findings[0]'\n"
"  porthog explain --duration 0          # one look, no tracing\n"
"  porthog explain --netns 4026532481 --min-ports 100\n"
"  porthog explain --pod-uid 0b1c2d3e-aaaa-bbbb-cccc-111122223333 --json\n\n"
PH_EXIT_CODES_HELP;

static const struct argp_option options[] = {
	{ "duration", 'd', "SECONDS", 0, "Watch events this long before concluding (default 10; 0: the snapshot only)", 0 },
	{ "json", 'j', NULL, 0, "One JSON object: findings, netns settings", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct explain_env *env = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &env->live;
		state->child_inputs[1] = &env->diag;
		state->child_inputs[2] = &env->filter;
		break;
	case 'd':
		if (parse_double(arg, 0, 86400, &env->duration))
			argp_error(state, "invalid --duration '%s' (0..86400)", arg);
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
	{ &ph_diag_argp, 0, "Diagnosis options:", 4 },
	{ &ph_filter_argp, 0, "Process filters:", 3 },
	{},
};

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.doc = doc,
	.children = children,
};

int cmd_explain(int argc, char **argv)
{
	struct explain_env env = { .duration = 10 };
	struct ph_out_ctx view = {};
	struct ph_finding *fs = NULL;
	__u64 end, start;
	struct ph_losses lo;
	struct ph_live l;
	size_t n;
	int err;

	ph_live_opts_init(&env.live);
	ph_diag_opts_init(&env.diag);
	err = ph_argp_parse(&argp, argc, argv, &env);
	if (err)
		return err;
	env.live.probe.events = env.duration > 0;
	err = ph_live_open(&l, &env.live, NULL, NULL);
	if (err)
		goto cleanup;
	install_exit_signals();
	start = mono_ns();
	end = start + (__u64)(env.duration * 1e9);
	if (!env.json && env.duration > 0)
		fprintf(stderr, "porthog: watching for %.0f s (Ctrl-C concludes early)...\n",
			env.duration);
	/* a tick a second: the growth rate behind the ETA needs a history */
	while (!ph_exiting && mono_ns() < end) {
		__u64 next = mono_ns() + 1000000000ULL;

		err = ph_live_run_until(&l, next < end ? next : end);
		if (err) {
			ph_err("reading events: %s", strerror(-err));
			err = PH_EXIT_ERR;
			goto cleanup;
		}
		ph_acct_tick(l.acct, mono_ns());
	}
	/* the sockets' traffic as it is now */
	if (env.duration > 0)
		ph_live_walk(&l, false);
	ph_acct_tick(l.acct, mono_ns());
	/* only findings of the namespace and the processes asked for */
	view.pid = env.live.probe.pid;
	view.netns = env.live.probe.netns;
	view.filter = env.filter;
	view.diag = &env.diag;
	n = ph_out_findings(l.acct, &view, &fs);
	ph_live_losses(&l, &lo);
	if (env.json) {
		printf("{\"ts\":%.6f,\"duration_s\":%.3f,\"attach_mode\":", wall_now(),
		       (mono_ns() - start) / 1e9);
		json_str(stdout, env.duration > 0 ? ph_live_attach_desc(&l) : "none");
		printf(",\"snapshot\":\"%s\",\"lost_events\":%llu,\"skipped_events\":%llu,"
		       "\"findings\":", l.snap == PH_SNAP_DIAG ? "diag" : "iter",
		       (unsigned long long)lo.ringbuf, (unsigned long long)lo.skipped);
		ph_findings_json(stdout, fs, n);
		fputs(",\"netns\":", stdout);
		ph_out_netns_json(stdout, l.acct, env.live.probe.netns);
		fputs("}\n", stdout);
	} else {
		printf("porthog explain: %zu finding%s after %.0f s", n, n == 1 ? "" : "s",
		       (mono_ns() - start) / 1e9);
		if (ph_losses_table(&lo))
			printf(" (%llu events lost: counts are low)",
			       (unsigned long long)ph_losses_table(&lo));
		fputs("\n\n", stdout);
		ph_findings_text(stdout, fs, n);
		ph_findings_settings_text(stdout, l.acct, fs, n);
	}
	err = fflush(stdout) ? PH_EXIT_IO : PH_EXIT_OK;
cleanup:
	free(fs);
	ph_live_close(&l);
	return err;
}
