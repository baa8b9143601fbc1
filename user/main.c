// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "trace", cmd_trace, "stream connect, connect_failed and close events" },
	{ "top", cmd_top, "live view of who holds the ephemeral ports" },
	{ "snapshot", cmd_snapshot, "who holds the ports right now, once, no tracing" },
	{ "explain", cmd_explain, "why the ports run out, and what to do about it" },
	{ "record", cmd_record, "capture a trace file (one-shot or flight recorder)" },
	{ "report", cmd_report, "analyse a trace file (text, JSON, HTML); no root needed" },
	{ "serve", cmd_serve, "Prometheus exporter" },
	{ "check", cmd_check, "which probe backends load and attach on this kernel" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: porthog COMMAND [OPTION...]\n\n"
		"Find which process is using up the host's outbound TCP ephemeral ports,\n"
		"and catch every connect() that fails with EADDRNOTAVAIL.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nRun 'porthog COMMAND --help' for a command's options.\n\n"
		"Examples:\n"
		"  sudo porthog top                    # live: processes and destinations\n"
		"  sudo porthog explain                # watch 10 s: what is wrong, what to do\n"
		"  sudo porthog trace --json           # every connect/failure/close as JSON\n"
		"  sudo porthog record -o ports.phtrace --until-fail=10\n"
		"  porthog report ports.phtrace --html ports.html\n"
		"  sudo porthog serve                  # Prometheus metrics on 127.0.0.1:9873\n\n%s",
		PH_EXIT_CODES_HELP);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return PH_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return PH_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("porthog %s\n", PORTHOG_VERSION);
		return PH_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		static char name[32];

		if (strcmp(argv[1], commands[i].name))
			continue;
		/* so that argp says "porthog trace" in usage and errors */
		snprintf(name, sizeof(name), "porthog %s", commands[i].name);
		argv[1] = name;
		return commands[i].fn(argc - 1, argv + 1);
	}
	ph_err("unknown command '%s'; see 'porthog --help'", argv[1]);
	return PH_EXIT_USAGE;
}
