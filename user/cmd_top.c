// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog top: live view of who holds the ephemeral ports. */
#include <locale.h>
#include <math.h>
#include <ncurses.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "live.h"
#include "output.h"
#include "textesc.h"

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
"Keys: q quit, s next sort key (held, time_wait, opened, failed, rate, pid).\n"
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

static const char *const sort_names[] = { "held", "time_wait", "opened", "failed", "rate", "pid" };

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
		for (i = 0; i < ARRAY_SIZE(sort_names); i++)
			if (!strcmp(arg, sort_names[i]))
				break;
		if (i == ARRAY_SIZE(sort_names))
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

enum { PAIR_WARN = 1, PAIR_FAIL, PAIR_HEAD };

static void draw(struct ph_acct *a, const struct ph_out_ctx *c)
{
	const struct ph_proc_view *pv;
	const struct ph_dest_view *dv;
	size_t np, nd;
	int rows, cols, y = 0, half;

	getmaxyx(stdscr, rows, cols);
	half = rows / 2;
	np = ph_acct_procs(a, c->sort, &pv);
	nd = ph_acct_dests(a, &dv);
	erase();
	mvprintw(y++, 0, "porthog top  attach=%s  lost_events=%llu  sort=%s  (q quit, s sort)",
		 c->attach_mode, (unsigned long long)c->lost_events, sort_names[c->sort]);
	y++;
	attron(COLOR_PAIR(PAIR_HEAD) | A_BOLD);
	mvprintw(y++, 0, "%-7s %-16s %6s %6s %8s %8s %7s %7s %s", "PID", "COMM", "HELD", "TW",
		 "OPENED", "FAILED", "OPEN/s", "OLDEST", "CMDLINE");
	attroff(COLOR_PAIR(PAIR_HEAD) | A_BOLD);
	for (size_t i = 0; i < np && y < half; i++) {
		const struct ph_proc_view *v = &pv[i];
		char old[16], comm[PH_TX_SIZE(PH_COMM_LEN)], cmd[512];
		int w = cols > 80 ? cols - 80 : 0;

		if (!ph_out_proc_match(c, v))
			continue;
		if (v->oldest_s >= 0)
			snprintf(old, sizeof(old), "%.0fs", v->oldest_s);
		else
			snprintf(old, sizeof(old), "-");
		if (v->failed)
			attron(COLOR_PAIR(PAIR_FAIL));
		mvprintw(y++, 0, "%-7u %-16s %6u %6u %8llu %8llu %7.1f %7s %s", v->meta->key.pid,
			 PH_TX(comm, v->meta->comm), v->ports_held, v->time_wait,
			 (unsigned long long)v->opened, (unsigned long long)v->failed, v->open_rate,
			 old, ph_tx(cmd, (size_t)w + 1 < sizeof(cmd) ? (size_t)w + 1 : sizeof(cmd),
				    v->meta->cmdline, (size_t)-1));
		if (v->failed)
			attroff(COLOR_PAIR(PAIR_FAIL));
	}
	y = half + 1;
	attron(COLOR_PAIR(PAIR_HEAD) | A_BOLD);
	mvprintw(y++, 0, "%-52s %6s %6s %6s %8s %6s %8s", "DESTINATION", "IN_USE", "TW", "CAP",
		 "HEADROOM", "ETA", "FAILED");
	attroff(COLOR_PAIR(PAIR_HEAD) | A_BOLD);
	for (size_t i = 0; i < nd && y < rows; i++) {
		const struct ph_dest_view *v = &dv[i];
		char d[128], eta[16];
		int pair = v->failed ? PAIR_FAIL : v->headroom_pct < c->warn_pct ? PAIR_WARN : 0;

		if (!ph_out_dest_match(c, v))
			continue;
		ph_dest_fmt(&v->key, d, sizeof(d));
		if (!isfinite(v->eta_s))
			snprintf(eta, sizeof(eta), "-");
		else
			snprintf(eta, sizeof(eta), "%.0fs", v->eta_s);
		if (pair)
			attron(COLOR_PAIR(pair) | A_BOLD);
		mvprintw(y++, 0, "%-52s %6u %6u %6u %7.1f%% %6s %8llu", d, v->in_use, v->time_wait,
			 v->capacity, v->headroom_pct, eta, (unsigned long long)v->failed);
		if (pair)
			attroff(COLOR_PAIR(pair) | A_BOLD);
	}
	refresh();
}

int cmd_top(int argc, char **argv)
{
	struct top_env env = { .interval = 1, .warn_pct = 20 };
	struct ph_out_ctx out = {};
	bool screen, curses_on = false;
	struct ph_live l;
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
	out.sort = env.sort;
	if (screen) {
		/* UTF-8 names show as such; everything unsafe is escaped (textesc.h) */
		setlocale(LC_CTYPE, "");
		initscr();
		curses_on = true;
		cbreak();
		noecho();
		curs_set(0);
		timeout(0);
		if (has_colors()) {
			start_color();
			use_default_colors();
			init_pair(PAIR_WARN, COLOR_YELLOW, -1);
			init_pair(PAIR_FAIL, COLOR_RED, -1);
			init_pair(PAIR_HEAD, COLOR_CYAN, -1);
		}
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
			if (screen) {
				int ch = getch();

				if (ch == 'q' || ch == 'Q')
					ph_exiting = 1;
				else if (ch == 's') {
					out.sort = (out.sort + 1) % ARRAY_SIZE(sort_names);
					break;
				}
			}
		}
		ph_acct_tick(l.acct, mono_ns());
		out.ts = wall_now();
		out.attach_mode = ph_live_attach_desc(&l);
		out.lost_events = ph_live_lost(&l);
		if (screen)
			draw(l.acct, &out);
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
		endwin();
	ph_live_close(&l);
	return err;
}
