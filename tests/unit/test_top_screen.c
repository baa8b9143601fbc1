// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog top's keys (user/top_screen.c): selection, process view, filter. No terminal needed. */
#include <ncurses.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "top_screen.h"

/* A list of n processes as the last draw left it, pids 1..n. */
static void listed(struct ph_top_ui *ui, size_t n, size_t page)
{
	ui->keys = calloc(n, sizeof(*ui->keys));
	for (size_t i = 0; i < n; i++)
		ui->keys[i] = (struct ph_proc_key){ .pid = i + 1, .start = 7 };
	ui->nkeys = ui->cap_keys = n;
	ui->page = page;
}

static void keys(struct ph_top_ui *ui, const char *s)
{
	for (; *s; s++)
		ph_top_key(ui, (unsigned char)*s);
}

UNIT_TEST(top_keys_select_and_open)
{
	struct ph_top_ui ui = {};

	listed(&ui, 30, 10);
	CHECK_EQ_INT(ph_top_key(&ui, KEY_DOWN), PH_TOP_REDRAW);
	CHECK_EQ_INT(ph_top_key(&ui, KEY_DOWN), PH_TOP_REDRAW);
	CHECK_EQ_INT(ui.sel.pid, 3);
	ph_top_key(&ui, KEY_UP);
	CHECK_EQ_INT(ui.sel.pid, 2);
	ph_top_key(&ui, KEY_NPAGE);		/* a page is its rows less one */
	CHECK_EQ_INT(ui.sel.pid, 11);
	ph_top_key(&ui, KEY_PPAGE);
	ph_top_key(&ui, KEY_PPAGE);
	CHECK_EQ_INT(ui.sel.pid, 1);
	ph_top_key(&ui, KEY_END);
	CHECK_EQ_INT(ui.sel.pid, 30);
	ph_top_key(&ui, KEY_DOWN);		/* stays on the last row */
	CHECK_EQ_INT(ui.sel.pid, 30);
	ph_top_key(&ui, KEY_HOME);
	CHECK_EQ_INT(ui.sel.pid, 1);
	ph_top_key(&ui, KEY_DOWN);
	CHECK_EQ_INT(ph_top_key(&ui, '\n'), PH_TOP_REDRAW);
	CHECK_EQ_INT(ui.view, PH_TOP_PROC);
	CHECK_EQ_INT(ui.sel.pid, 2);
	CHECK_EQ_INT(ui.sel.start, 7);
	/* arrows scroll the process view, the selection stays */
	ph_top_key(&ui, KEY_DOWN);
	ph_top_key(&ui, KEY_DOWN);
	CHECK_EQ_INT(ui.scroll, 2);
	CHECK_EQ_INT(ui.sel.pid, 2);
	ph_top_key(&ui, 27);			/* Esc */
	CHECK_EQ_INT(ui.view, PH_TOP_LIST);
	CHECK_EQ_INT(ui.sel.pid, 2);
	ph_top_key(&ui, 's');
	CHECK_EQ_INT(ui.sort, PH_SORT_TIME_WAIT);
	CHECK_EQ_INT(ph_top_key(&ui, 'q'), PH_TOP_QUIT);
	ph_top_ui_free(&ui);
}

UNIT_TEST(top_keys_filter)
{
	struct ph_top_ui ui = {};
	struct ph_proc_meta m = { .comm = "ph_client", .cmdline = "ph_client --mode leaky" };

	listed(&ui, 3, 10);
	ph_top_key(&ui, '/');
	CHECK(ui.editing);
	keys(&ui, "leakx");
	ph_top_key(&ui, KEY_BACKSPACE);
	keys(&ui, "q");			/* typed, not quit */
	CHECK_EQ_STR(ui.edit, "leakq");
	ph_top_key(&ui, 0x1b5b);		/* not a character: ignored */
	CHECK_EQ_STR(ui.filter, "");		/* applies only on Enter */
	ph_top_key(&ui, KEY_BACKSPACE);
	ph_top_key(&ui, 'y');
	ph_top_key(&ui, '\n');
	CHECK(!ui.editing);
	CHECK_EQ_STR(ui.filter, "leaky");
	CHECK(ph_top_filter_match(ui.filter, &m));	/* the command line */
	CHECK(ph_top_filter_match("client", &m));	/* the name */
	CHECK(!ph_top_filter_match("pooled", &m));
	m.cmdline = NULL;
	CHECK(!ph_top_filter_match("leaky", &m));
	CHECK(ph_top_filter_match("", &m));
	/* / again edits the filter in place; Esc clears it */
	ph_top_key(&ui, '/');
	CHECK_EQ_STR(ui.edit, "leaky");
	ph_top_key(&ui, 27);
	CHECK(!ui.editing);
	CHECK_EQ_STR(ui.filter, "");
	/* Esc in the list clears an applied filter too */
	ph_top_key(&ui, '/');
	keys(&ui, "x\n");
	CHECK_EQ_STR(ui.filter, "x");
	CHECK_EQ_INT(ph_top_key(&ui, 27), PH_TOP_REDRAW);
	CHECK_EQ_STR(ui.filter, "");
	CHECK_EQ_INT(ph_top_key(&ui, 27), PH_TOP_NONE);
	ph_top_ui_free(&ui);
}
