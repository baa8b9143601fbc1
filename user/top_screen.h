/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The interactive screen of `porthog top`: a process list to move through
 * (arrows, PgUp/PgDn, Home/End), the view of one process (Enter; Esc goes
 * back) and a filter by command (/). Keys change only this state; the screen
 * is drawn from the accounting views at the next ph_top_draw().
 */
#ifndef PH_TOP_SCREEN_H
#define PH_TOP_SCREEN_H

#include "account.h"
#include "output.h"

#define PH_NSORT	6
extern const char *const ph_sort_names[PH_NSORT];

enum ph_top_view { PH_TOP_LIST, PH_TOP_PROC };
enum ph_top_act { PH_TOP_NONE, PH_TOP_REDRAW, PH_TOP_QUIT };

struct ph_top_ui {
	enum ph_top_view view;
	enum ph_sort sort;
	struct ph_proc_key sel;		/* the selected, or opened, process (pid 0: none) */
	size_t sel_idx;			/* its row in keys */
	size_t first;			/* first list row on the screen */
	size_t scroll;			/* first line of the process view */
	size_t page;			/* list rows (process view: lines) at the last draw */
	struct ph_proc_key *keys;	/* processes listed at the last draw, in order */
	size_t nkeys, cap_keys;
	char filter[64];		/* substring of comm or cmdline; "" shows all */
	char edit[64];			/* the filter being typed */
	bool editing;
};

/* initscr and the modes the screen needs; returns 0 or -1. */
int ph_top_screen_open(void);
void ph_top_screen_close(void);
void ph_top_ui_free(struct ph_top_ui *ui);
/* One key (ncurses code). */
enum ph_top_act ph_top_key(struct ph_top_ui *ui, int ch);
/* After ph_acct_tick(); c->sort is taken from ui. now_ns: CLOCK_MONOTONIC. */
void ph_top_draw(struct ph_top_ui *ui, struct ph_acct *a, const struct ph_out_ctx *c,
		 __u64 now_ns);
/* Does the process pass the command filter? (comm or cmdline contains it) */
bool ph_top_filter_match(const char *filter, const struct ph_proc_meta *m);

#endif
