/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Subcommands: each lives in its own cmd_*.c with its own argp parser. */
#ifndef PH_CLI_H
#define PH_CLI_H

#include <argp.h>

#include "probe.h"

int cmd_trace(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_explain(int argc, char **argv);

/* Probe options shared by every tracing command (argp group "Probe options"). */
extern const struct argp ph_probe_argp;
/* state for ph_probe_argp; set child input to a struct ph_probe_opts */

/* Accounting options (snapshot mode, bounds), with the probe options as a child. */
struct ph_live_opts;
extern const struct argp ph_live_argp;
/* argp children of the commands that account (top, snapshot, record, serve) */
extern const struct argp_child ph_live_children[];

/*
 * Process filters (--cgroup, --pod-uid, --container; input: struct
 * ph_proc_filter) for the commands that show processes (top, snapshot, serve):
 * their children are ph_view_children, child inputs [0] struct ph_live_opts,
 * [1] struct ph_proc_filter.
 */
extern const struct argp ph_filter_argp;
extern const struct argp_child ph_view_children[];

/* Diagnosis thresholds (argp group "Diagnosis options"; input: struct ph_diag_opts). */
extern const struct argp ph_diag_argp;

/* Parse argv for a subcommand; returns 0 or PH_EXIT_USAGE. */
int ph_argp_parse(const struct argp *argp, int argc, char **argv, void *input);

#endif
