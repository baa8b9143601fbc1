/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Feed decoded trace records to a replay, in file order. The start snapshot
 * fills the table; a later one (after lost events, at a trigger) replaces it,
 * so lost events cannot leave ports counted forever. Used by `porthog report`
 * and by the fuzzer.
 */
#ifndef PH_REPORT_FEED_H
#define PH_REPORT_FEED_H

#include <stdio.h>

#include "losses.h"
#include "replay.h"
#include "tracerec.h"

struct ph_feed {
	struct ph_replay *rp;
	FILE *events_out;	/* set: print events as JSON lines instead of replaying */
	struct ph_rec_header hdr;
	bool have_hdr;
	bool restoring;		/* inside a snapshot that is applied */
	bool resync;		/* ... that replaces the table (not the start one) */
	bool started;		/* the start snapshot or the first event is behind */
	bool past_at;		/* the replay passed its stop time */
	struct ph_losses seen;	/* events_out: totals the last "lost" line gave */
	char bad[160];		/* why a record was refused */
};

/* 0, or -EBADMSG for a malformed record or a file not opened by a header. */
int ph_feed_record(struct ph_feed *f, __u16 type, const void *p, __u32 len);

#endif
