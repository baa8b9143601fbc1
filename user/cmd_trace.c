// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog trace: one line per connect, connect_failed and close. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "event.h"

struct trace_env {
	struct ph_probe_opts probe;
	double duration;
	bool json;
	__s64 wall_off;
	struct ph_losses warned;	/* totals the last warning gave */
	struct ph_losses inband;	/* totals the last "lost" line gave */
};

static const char doc[] =
"Stream every outbound TCP connect that takes an ephemeral port, every connect()\n"
"that fails to get one (EADDRNOTAVAIL), and every release of such a port.\n"
"\v"
"EXAMPLES:\n"
"  porthog trace                      # all processes, text columns\n"
"  porthog trace --json | jq .        # JSON lines\n"
"  porthog trace -p 1234 -d 60        # one process, for a minute\n"
"  porthog trace --attach tracepoint  # force the tracepoint backend\n\n"
PH_EXIT_CODES_HELP;

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "JSON lines instead of text columns", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long (default: until Ctrl-C)", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct trace_env *env = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &env->probe;
		break;
	case 'j':
		env->json = true;
		break;
	case 'd':
		if (parse_double(arg, 0.001, 1e9, &env->duration))
			argp_error(state, "invalid --duration '%s'", arg);
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
	{ &ph_probe_argp, 0, "Probe options:", 1 },
	{},
};

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.args_doc = "",
	.doc = doc,
	.children = children,
};

static int on_event(void *ctx, const struct ph_event *e)
{
	struct trace_env *env = ctx;

	if (env->json)
		ph_event_print_json(stdout, e, env->wall_off);
	else
		ph_event_print_text(stdout, e, env->wall_off);
	return 0;
}

/* A gap in the stream: say so in-band (JSON) and on stderr, by cause. */
static void report_lost(struct ph_probe *p, struct trace_env *env, bool final)
{
	struct ph_losses l;

	ph_probe_losses(p, &l);
	if (env->json)
		ph_losses_print_json(stdout, wall_now(), &l, &env->inband);
	ph_losses_warn(&l, &env->warned, final, ph_probe_nest_catch(p));
	if (final && ph_verbose)
		ph_info("%llu tracepoint hits skipped by the kernel (nested on one CPU) were caught",
			(unsigned long long)l.caught);
}

int cmd_trace(int argc, char **argv)
{
	struct trace_env env = {};
	struct ph_probe *p = NULL;
	__u64 end = 0;
	int err;

	ph_probe_opts_init(&env.probe);
	env.probe.iterators = false;
	err = ph_argp_parse(&argp, argc, argv, &env);
	if (err)
		return err;

	err = ph_probe_open(&env.probe, on_event, &env, &p);
	if (err)
		return err;
	install_exit_signals();
	env.wall_off = mono_to_wall_ns();
	if (env.duration > 0)
		end = mono_ns() + (__u64)(env.duration * 1e9);
	if (!env.json) {
		ph_event_text_header(stdout);
		fflush(stdout);
	}

	while (!ph_exiting) {
		err = ph_probe_poll(p, 100);
		if (err < 0 && err != -EINTR) {
			ph_err("reading events: %s", strerror(-err));
			err = PH_EXIT_ERR;
			goto cleanup;
		}
		report_lost(p, &env, false);
		fflush(stdout);
		if (end && mono_ns() >= end)
			break;
	}
	/* drain what is already queued */
	ph_probe_poll(p, 0);
	report_lost(p, &env, true);
	fflush(stdout);
	err = PH_EXIT_OK;
cleanup:
	ph_probe_close(p);
	return err;
}
