/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Events lost, by cause: the counts, the in-band line a JSON stream gets at a
 * gap, and warnings that name the cause and its remedy.
 */
#ifndef PH_LOSSES_H
#define PH_LOSSES_H

#include "common.h"

/* Totals since the probe was opened (or the recording started). */
struct ph_losses {
	__u64 ringbuf;		/* ring buffer reservations that failed: lost_events */
	__u64 skipped;		/* hits the kernel skipped that nothing caught: skipped_events */
	__u64 caught;		/* hits the kernel skipped that the catcher handled (no loss) */
};

enum ph_loss_cause {
	PH_LOSS_RINGBUF,
	PH_LOSS_SKIPPED,
};

/* "ringbuf", "skipped" */
const char *ph_loss_cause_name(enum ph_loss_cause c);
/* Losses that could have changed the socket table (caught hits did not). */
static inline __u64 ph_losses_table(const struct ph_losses *l)
{
	return l->ringbuf + l->skipped;
}
/* {"ts":T,"event":"lost","count":N,"cause":"ringbuf"} and a newline */
void ph_loss_print_json(FILE *f, double ts, __u64 count, enum ph_loss_cause c);
/*
 * One JSON line per cause whose total grew since *seen (which is updated),
 * for streams of events (trace --json, report --events).
 */
void ph_losses_print_json(FILE *f, double ts, const struct ph_losses *now,
			  struct ph_losses *seen);
/*
 * Warn on stderr for each cause whose total grew since *warned (updated), or
 * for every non-zero total if final. nest_catch: the catcher was attached.
 */
void ph_losses_warn(const struct ph_losses *now, struct ph_losses *warned, bool final,
		    bool nest_catch);

#endif
