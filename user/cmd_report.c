// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * porthog report: read a trace file and replay it through the accounting
 * engine. No root, no BPF: it runs on any machine.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "event.h"
#include "output.h"
#include "report_feed.h"

struct report_env {
	const char *path;
	bool json, events;
	const char *html;
	const char *at;
	long top;
	double tick;
};

static const char doc[] =
"Summarise a trace written by `porthog record`: the host and time span, the\n"
"offenders ranked by peak ports held, each destination's peak against its\n"
"capacity, the first EADDRNOTAVAIL and who held how much at that instant,\n"
"and lost events. Needs neither root nor BPF.\n"
"\n"
"--at TIME rebuilds the state at TIME, shown as `top` shows it. TIME is Unix\n"
"seconds, +SECONDS from the start of the recording, or an ISO 8601 time\n"
"(2026-11-29T09:12:03Z; local time without the Z).\n"
"\n"
"A file cut short (a killed recorder, a full disk) is reported up to its last\n"
"complete block, with a note of how much was cut, and exit code 8.\n"
"\v"
"EXAMPLES:\n"
"  porthog report ports.phtrace\n"
"  porthog report --json ports.phtrace | jq '.offenders[0]'\n"
"  porthog report --html report.html ports.phtrace\n"
"  porthog report --events ports.phtrace | jq 'select(.event==\"connect_failed\")'\n"
"  porthog report --at +42.5 ports.phtrace\n\n"
PH_EXIT_CODES_HELP;

enum { OPT_HTML = 0x2000, OPT_AT, OPT_TOP, OPT_TICK };

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "The summary (or the --at state) as one JSON document", 0 },
	{ "events", 'e', NULL, 0, "Every event as a JSON line, as `trace --json` prints them", 0 },
	{ "html", OPT_HTML, "OUT", 0, "Also write a self-contained HTML page with a chart to OUT", 0 },
	{ "at", OPT_AT, "TIME", 0, "The state at TIME instead of the summary", 0 },
	{ "top", OPT_TOP, "N", 0, "Processes drawn in the chart (default 5)", 0 },
	{ "tick", OPT_TICK, "SECONDS", 0, "First sampling period of peaks and the chart; it doubles every 2000 samples (default 0.001)", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct report_env *env = state->input;

	switch (key) {
	case 'j':
		env->json = true;
		break;
	case 'e':
		env->events = true;
		break;
	case OPT_HTML:
		env->html = arg;
		break;
	case OPT_AT:
		env->at = arg;
		break;
	case OPT_TOP:
		if (parse_long(arg, 1, 100, &env->top))
			argp_error(state, "invalid --top '%s' (1..100)", arg);
		break;
	case OPT_TICK:
		if (parse_double(arg, 0.001, 3600, &env->tick))
			argp_error(state, "invalid --tick '%s'", arg);
		break;
	case ARGP_KEY_ARG:
		if (env->path)
			argp_error(state, "one trace file at a time ('%s')", arg);
		env->path = arg;
		break;
	case ARGP_KEY_END:
		if (!env->path)
			argp_error(state, "a trace FILE is required");
		if (env->events && (env->at || env->html || env->json))
			argp_error(state, "--events goes alone");
		if (env->at && env->html)
			argp_error(state, "--at and --html do not go together");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.args_doc = "FILE",
	.doc = doc,
};

/* TIME as wall seconds; start is the recording's start. */
static int parse_at(const char *s, double start, double *out)
{
	struct tm tm = {};
	const char *p;
	double frac = 0;
	time_t t;

	if (s[0] == '+') {
		if (parse_double(s + 1, 0, 1e10, out))
			return -EINVAL;
		*out += start;
		return 0;
	}
	if (!strchr(s, '-'))
		return parse_double(s, 0, 1e11, out) ? -EINVAL : 0;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		char *end;

		frac = strtod(p, &end);
		p = end;
	}
	if (!strcmp(p, "Z")) {
		t = timegm(&tm);
	} else if (!*p) {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	} else {
		return -EINVAL;
	}
	*out = (double)t + frac;
	return 0;
}

static int print_at(struct ph_feed *st, const struct report_env *env, double at)
{
	struct ph_acct *a = ph_replay_acct(st->rp);
	const struct ph_summary *s;
	struct ph_out_ctx out = {};

	ph_acct_tick(a, (__u64)(at * 1e9 - st->hdr.mono_to_wall_ns));
	s = ph_replay_finish(st->rp);
	out.ts = at;
	out.attach_mode = s->attach;
	out.lost_events = s->lost_events;
	out.skipped_events = s->skipped_events;
	out.snapshot = "trace";
	if (env->json)
		ph_out_json(stdout, a, &out);
	else
		ph_out_text(stdout, a, &out);
	return 0;
}

static int write_html(const char *path, const struct ph_summary *s)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f) {
		ph_err("writing %s: %s", path, strerror(errno));
		return PH_EXIT_IO;
	}
	err = ph_summary_html(f, s);
	if (fclose(f) || err) {
		ph_err("writing %s: %s", path, strerror(err ? -err : errno));
		return PH_EXIT_IO;
	}
	ph_info("wrote %s", path);
	return 0;
}

int cmd_report(int argc, char **argv)
{
	struct report_env env = { .top = 5, .tick = 0.001 };
	struct ph_feed st = {};
	struct ph_replay_opts ro;
	struct ph_tf_reader *rd = NULL;
	struct ph_tf_status fs;
	struct ph_file_note note = {};
	const struct ph_summary *s;
	char why[160];
	double at = 0;
	int err, ret = 0;

	err = ph_argp_parse(&argp, argc, argv, &env);
	if (err)
		return err;
	err = ph_tf_open(env.path, &rd, why, sizeof(why));
	if (err) {
		ph_err("%s: %s", env.path, why);
		return PH_EXIT_BADFILE;
	}
	if (env.events)
		st.events_out = stdout;
	ph_replay_opts_init(&ro);
	ro.tick_s = env.tick;
	ro.top_n = env.top;
	st.rp = ph_replay_new(&ro);
	if (!st.rp) {
		ph_err("out of memory");
		ret = PH_EXIT_ERR;
		goto cleanup;
	}
	for (;;) {
		const void *p;
		__u16 type;
		__u32 len;

		err = ph_tf_next(rd, &type, &p, &len);
		if (err <= 0)
			break;
		if (ph_feed_record(&st, type, p, len))
			break;
		/* --at: the header is read, the stop time is known */
		if (type == PH_REC_HEADER && env.at) {
			if (parse_at(env.at, st.hdr.start_wall, &at)) {
				ph_err("invalid --at '%s' (Unix seconds, +SECONDS or ISO 8601)", env.at);
				ret = PH_EXIT_USAGE;
				goto cleanup;
			}
			ph_replay_free(st.rp);
			ro.stop_at = at;
			st.rp = ph_replay_new(&ro);
			if (!st.rp) {
				ret = PH_EXIT_ERR;
				goto cleanup;
			}
			st.have_hdr = false;
			ph_feed_record(&st, type, p, len);
		}
		if (st.past_at)
			break;
	}
	if (err < 0) {
		ph_err("%s: %s", env.path, strerror(-err));
		ret = PH_EXIT_BADFILE;
		goto cleanup;
	}
	if (!st.have_hdr) {
		ph_tf_status(rd, &fs);
		ph_err("%s: no readable header record (%s)", env.path,
		       st.bad[0] ? st.bad : fs.reason);
		ret = PH_EXIT_BADFILE;
		goto cleanup;
	}
	ph_tf_status(rd, &fs);
	note.complete = fs.clean_end && !st.bad[0];
	note.bytes_valid = fs.bytes_valid;
	note.bytes_total = fs.bytes_total;
	note.bytes_cut = fs.bytes_cut;
	snprintf(note.reason, sizeof(note.reason), "%s", st.bad[0] ? st.bad : fs.reason);
	ph_replay_file(st.rp, &note);

	if (env.events) {
		/* events are already printed */
	} else if (env.at) {
		ret = print_at(&st, &env, at);
	} else {
		s = ph_replay_finish(st.rp);
		if (env.json)
			ph_summary_json(stdout, s);
		else
			ph_summary_text(stdout, s);
		if (env.html)
			ret = write_html(env.html, s);
	}
	fflush(stdout);
	/* --at stopped reading on purpose: the rest of the file does not matter */
	if (!ret && !note.complete && !st.past_at) {
		ph_err("%s: incomplete: %s; reported the first %llu of %llu bytes (%llu cut)",
		       env.path, note.reason, (unsigned long long)note.bytes_valid,
		       (unsigned long long)note.bytes_total, (unsigned long long)note.bytes_cut);
		ret = PH_EXIT_TRUNCATED;
	}

cleanup:
	ph_replay_free(st.rp);
	ph_tf_reader_close(rd);
	return ret;
}
