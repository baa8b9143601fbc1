// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog top: live view of who holds the ephemeral ports. */
#include <ncurses.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diagnose.h"
#include "live.h"
#include "output.h"
#include "top_screen.h"

struct top_env {
	struct ph_live_opts live;
	bool json, batch;
	double interval;
	long count;
	double warn_pct;
	struct ph_proc_filter filter;
	enum ph_sort sort;
};

static const char doc[] =
"Live view: processes sorted by ports held, destinations sorted by headroom.\n"
"Destinations under --warn-pct headroom, or with failing connects, are highlighted.\n"
"Keys: q quit, s next sort key (held, time_wait, opened, failed, rate, pid),\n"
"  Up/Down/PgUp/PgDn/Home/End select a process, Enter opens it (findings,\n"
"  destinations, states, socket ages and idle times), Esc goes back,\n"
"  / filters by command (Enter applies, Esc clears).\n"
"DIAG (screen and --batch): the most severe finding of the process:\n"
"  LEAK, CHURN, HANG, BIND or VICTIM ('+': findings of more kinds).\n"
"\v"
"EXAMPLES:\n"
"  porthog top\n"
"  porthog top --batch --interval 5 >> ports.log\n"
"  porthog top --json --count 10 | jq '.destinations[0]'\n"
"  porthog top -p 1234 --cgroup docker\n"
"  porthog top --pod-uid 0b1c2d3e-aaaa-bbbb-cccc-111122223333 --json --count 1\n\n"
PH_EXIT_CODES_HELP;

enum { OPT_WARN = 0x2000, OPT_SORT };

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "One JSON object per interval", 0 },
	{ "batch", 'b', NULL, 0, "Plain text per interval, for logs and pipes", 0 },
	{ "interval", 'i', "SECONDS", 0, "Refresh interval (default 1)", 0 },
	{ "count", 'c', "N", 0, "Exit after N intervals", 0 },
	{ "warn-pct", OPT_WARN, "PCT", 0, "Highlight destinations under this headroom (default 20)", 0 },
	{ "sort", OPT_SORT, "KEY", 0, "held (default), time_wait, opened, failed, rate, pid", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct top_env *env = state->input;
	size_t i;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &env->live;
		state->child_inputs[1] = &env->filter;
		break;
	case 'j':
		env->json = true;
		break;
	case 'b':
		env->batch = true;
		break;
	case 'i':
		if (parse_double(arg, 0.05, 86400, &env->interval))
			argp_error(state, "invalid --interval '%s'", arg);
		break;
	case 'c':
		if (parse_long(arg, 1, 1L << 40, &env->count))
			argp_error(state, "invalid --count '%s'", arg);
		break;
	case OPT_WARN:
		if (parse_double(arg, 0, 100, &env->warn_pct))
			argp_error(state, "invalid --warn-pct '%s' (0..100)", arg);
		break;
	case OPT_SORT:
		for (i = 0; i < PH_NSORT; i++)
			if (!strcmp(arg, ph_sort_names[i]))
				break;
		if (i == PH_NSORT)
			argp_error(state, "invalid --sort '%s'", arg);
		env->sort = i;
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

/* Every key that is waiting; true when the screen must be drawn again now. */
static bool screen_keys(struct ph_top_ui *ui)
{
	bool redraw = false;
	int ch;

	while ((ch = getch()) != ERR) {
		switch (ph_top_key(ui, ch)) {
		case PH_TOP_QUIT:
			ph_exiting = 1;
			return true;
		case PH_TOP_REDRAW:
			redraw = true;
			break;
		default:
			break;
		}
	}
	return redraw;
}

int cmd_top(int argc, char **argv)
{
	struct top_env env = { .interval = 1, .warn_pct = 20 };
	struct ph_out_ctx out = {};
	struct ph_top_ui ui = {};
	struct ph_diag_opts dopts;
	bool screen, curses_on = false;
	struct ph_live l;
	struct ph_losses lo;
	long n = 0;
	int err;

	ph_live_opts_init(&env.live);
	err = ph_argp_parse(&argp, argc, argv, &env);
	if (err)
		return err;
	screen = !env.json && !env.batch;
	if (screen && !isatty(STDOUT_FILENO)) {
		ph_err("stdout is not a terminal; use --batch or --json");
		return PH_EXIT_USAGE;
	}
	err = ph_live_open(&l, &env.live, NULL, NULL);
	if (err)
		goto cleanup;
	install_exit_signals();
	out.snapshot = l.snap == PH_SNAP_DIAG ? "diag" : "iter";
	out.pid = env.live.probe.pid;
	out.netns = env.live.probe.netns;
	out.filter = env.filter;
	out.warn_pct = env.warn_pct;
	ph_diag_opts_init(&dopts);
	dopts.warn_pct = env.warn_pct;
	out.diag = &dopts;
	out.sort = env.sort;
	ui.sort = env.sort;
	if (screen) {
		if (ph_top_screen_open()) {
			ph_err("cannot initialize the terminal");
			err = PH_EXIT_ERR;
			goto cleanup;
		}
		curses_on = true;
	}

	for (;;) {
		__u64 deadline = mono_ns() + (__u64)(env.interval * 1e9);

		while (!ph_exiting && mono_ns() < deadline) {
			__u64 slice = mono_ns() + 100000000ULL;

			err = ph_live_run_until(&l, slice < deadline ? slice : deadline);
			if (err) {
				ph_err("reading events: %s", strerror(-err));
				err = PH_EXIT_ERR;
				goto cleanup;
			}
			if (screen && screen_keys(&ui))
				break;
		}
		ph_acct_tick(l.acct, mono_ns());
		out.ts = wall_now();
		out.attach_mode = ph_live_attach_desc(&l);
		ph_live_losses(&l, &lo);
		out.lost_events = lo.ringbuf;
		out.skipped_events = lo.skipped;
		out.sort = ui.sort;
		if (screen)
			ph_top_draw(&ui, l.acct, &out, mono_ns());
		else if (env.json)
			ph_out_json(stdout, l.acct, &out);
		else
			ph_out_text(stdout, l.acct, &out);
		if (!screen && fflush(stdout)) {
			err = PH_EXIT_IO;
			goto cleanup;
		}
		if (ph_exiting || (env.count && ++n >= env.count))
			break;
	}
	err = PH_EXIT_OK;
cleanup:
	if (curses_on)
		ph_top_screen_close();
	ph_top_ui_free(&ui);
	ph_live_close(&l);
	return err;
}
