// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* porthog top's ncurses screen: process list, process view, command filter. */
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <ncurses.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"
#include "event.h"
#include "textesc.h"
#include "top_screen.h"

#define KEY_ESC		27
#define MAX_SOCK_LINES	2000	/* sockets listed in the process view */
#define MIN_DEST_ROWS	14	/* smaller terminals show only the process list */

const char *const ph_sort_names[PH_NSORT] = {
	"held", "time_wait", "opened", "failed", "rate", "pid",
};

enum { PAIR_WARN = 1, PAIR_FAIL, PAIR_HEAD };

int ph_top_screen_open(void)
{
	/* UTF-8 names show as such; everything unsafe is escaped (textesc.h) */
	setlocale(LC_CTYPE, "");
	if (!initscr())
		return -1;
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	timeout(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(PAIR_WARN, COLOR_YELLOW, -1);
		init_pair(PAIR_FAIL, COLOR_RED, -1);
		init_pair(PAIR_HEAD, COLOR_CYAN, -1);
	}
	return 0;
}

void ph_top_screen_close(void)
{
	endwin();
}

void ph_top_ui_free(struct ph_top_ui *ui)
{
	free(ui->keys);
	ui->keys = NULL;
	ui->nkeys = ui->cap_keys = 0;
}

bool ph_top_filter_match(const char *filter, const struct ph_proc_meta *m)
{
	if (!filter || !filter[0])
		return true;
	return strstr(m->comm, filter) || (m->cmdline && strstr(m->cmdline, filter));
}

static void move_sel(struct ph_top_ui *ui, long delta)
{
	long i = (long)ui->sel_idx + delta;

	if (!ui->nkeys)
		return;
	if (i < 0)
		i = 0;
	if (i >= (long)ui->nkeys)
		i = ui->nkeys - 1;
	ui->sel_idx = i;
	ui->sel = ui->keys[i];
}

static void move_scroll(struct ph_top_ui *ui, long delta)
{
	long s = (long)ui->scroll + delta;

	ui->scroll = s < 0 ? 0 : s;	/* the draw clamps the end */
}

static enum ph_top_act edit_key(struct ph_top_ui *ui, int ch)
{
	size_t len = strlen(ui->edit);

	switch (ch) {
	case '\n':
	case '\r':
	case KEY_ENTER:
		memcpy(ui->filter, ui->edit, sizeof(ui->filter));
		ui->editing = false;
		ui->sel.pid = 0;
		ui->sel_idx = ui->first = 0;
		break;
	case KEY_ESC:
		ui->filter[0] = ui->edit[0] = '\0';
		ui->editing = false;
		break;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		if (len)
			ui->edit[len - 1] = '\0';
		break;
	default:
		if (ch < 0 || ch > 255 || !isprint(ch) || len + 1 >= sizeof(ui->edit))
			return PH_TOP_NONE;
		ui->edit[len] = ch;
		ui->edit[len + 1] = '\0';
	}
	return PH_TOP_REDRAW;
}

enum ph_top_act ph_top_key(struct ph_top_ui *ui, int ch)
{
	long page = ui->page > 1 ? (long)ui->page - 1 : 1;
	bool list = ui->view == PH_TOP_LIST;

	if (ui->editing)
		return edit_key(ui, ch);
	switch (ch) {
	case 'q':
	case 'Q':
		return PH_TOP_QUIT;
	case 's':
		ui->sort = (ui->sort + 1) % PH_NSORT;
		break;
	case KEY_UP:
		list ? move_sel(ui, -1) : move_scroll(ui, -1);
		break;
	case KEY_DOWN:
		list ? move_sel(ui, 1) : move_scroll(ui, 1);
		break;
	case KEY_PPAGE:
		list ? move_sel(ui, -page) : move_scroll(ui, -page);
		break;
	case KEY_NPAGE:
		list ? move_sel(ui, page) : move_scroll(ui, page);
		break;
	case KEY_HOME:
		list ? move_sel(ui, -(long)ui->nkeys) : (void)(ui->scroll = 0);
		break;
	case KEY_END:
		list ? move_sel(ui, ui->nkeys) : (void)(ui->scroll = SIZE_MAX / 2);
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		if (!list || !ui->nkeys)
			return PH_TOP_NONE;
		ui->sel = ui->keys[ui->sel_idx];
		ui->view = PH_TOP_PROC;
		ui->scroll = 0;
		break;
	case KEY_ESC:
	case KEY_LEFT:
	case KEY_BACKSPACE:
		if (!list)
			ui->view = PH_TOP_LIST;
		else if (ui->filter[0])
			ui->filter[0] = '\0';
		else
			return PH_TOP_NONE;
		break;
	case KEY_RESIZE:
		break;
	case '/':
		ui->view = PH_TOP_LIST;
		ui->editing = true;
		memcpy(ui->edit, ui->filter, sizeof(ui->edit));
		break;
	default:
		return PH_TOP_NONE;
	}
	return PH_TOP_REDRAW;
}

/*
 * Text at the cursor on line y, cut at the terminal width (ncurses would wrap
 * it). False once the line is full. At most cols - x bytes fit: a character
 * takes at least a byte per column.
 */
static bool put(int y, int cols, int attr, const char *s)
{
	int x = getcurx(stdscr);

	if (getcury(stdscr) != y || x >= cols)
		return false;
	attron(attr);
	addnstr(s, cols - x);
	attroff(attr);
	return true;
}

/* A selected row is highlighted across the whole width. */
static void fill(int y, int cols, int attr)
{
	int x = getcurx(stdscr);

	if ((attr & A_REVERSE) && getcury(stdscr) == y && x < cols) {
		attron(attr);
		hline(' ', cols - x);
		attroff(attr);
	}
}

/* One screen line, cut at the terminal width. */
static void line_at(int y, int cols, int attr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void line_at(int y, int cols, int attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	move(y, 0);
	put(y, cols, attr, buf);
	fill(y, cols, attr);
}

static void fmt_age(double s, char *buf, size_t len)
{
	if (s < 0 || !isfinite(s))
		snprintf(buf, len, "-");
	else if (s < 120)
		snprintf(buf, len, "%.0fs", s);
	else if (s < 7200)
		snprintf(buf, len, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
	else if (s < 172800)
		snprintf(buf, len, "%.0fh%02.0fm", floor(s / 3600), fmod(s / 60, 60));
	else
		snprintf(buf, len, "%.0fd", floor(s / 86400));
}

static void title(int cols, const struct ph_top_ui *ui, const struct ph_out_ctx *c,
		  const char *keys)
{
	line_at(0, cols, 0, "porthog top  attach=%s  lost_events=%llu  skipped_events=%llu  "
		"sort=%s  (%s)", c->attach_mode, (unsigned long long)c->lost_events,
		(unsigned long long)c->skipped_events, ph_sort_names[ui->sort], keys);
}

static int keys_reserve(struct ph_top_ui *ui, size_t n)
{
	struct ph_proc_key *k;

	if (n <= ui->cap_keys)
		return 0;
	k = realloc(ui->keys, n * sizeof(*k));
	if (!k)
		return -1;
	ui->keys = k;
	ui->cap_keys = n;
	return 0;
}

static bool same_key(const struct ph_proc_key *a, const struct ph_proc_key *b)
{
	return a->pid == b->pid && a->start == b->start;
}

static int sev_attr(int sev)
{
	return sev == PH_SEV_CRITICAL ? COLOR_PAIR(PAIR_FAIL) | A_BOLD :
	       sev == PH_SEV_WARNING ? COLOR_PAIR(PAIR_WARN) | A_BOLD : 0;
}

static void draw_list(struct ph_top_ui *ui, struct ph_acct *a, const struct ph_out_ctx *c,
		      const struct ph_finding *fs, size_t nf, int rows, int cols)
{
	const struct ph_proc_view *pv, **shown;
	const struct ph_dest_view *dv;
	size_t np, nd, n = 0;
	int y = 0, pane_end;
	bool dests = rows >= MIN_DEST_ROWS;
	char tx[512];

	np = ph_acct_procs(a, ui->sort, &pv);
	nd = ph_acct_dests(a, &dv);
	shown = calloc(np ? np : 1, sizeof(*shown));
	if (!shown || keys_reserve(ui, np ? np : 1)) {
		free(shown);
		line_at(0, cols, 0, "porthog top: out of memory");
		return;
	}
	for (size_t i = 0; i < np; i++)
		if (ph_out_proc_match(c, &pv[i]) && ph_top_filter_match(ui->filter, pv[i].meta))
			shown[n++] = &pv[i];
	/* the selection follows its process when rows move */
	for (size_t i = 0; ui->sel.pid && i < n; i++)
		if (same_key(&shown[i]->meta->key, &ui->sel)) {
			ui->sel_idx = i;
			break;
		}
	if (ui->sel_idx >= n)
		ui->sel_idx = n ? n - 1 : 0;
	ui->nkeys = n;
	for (size_t i = 0; i < n; i++)
		ui->keys[i] = shown[i]->meta->key;
	ui->sel = n ? ui->keys[ui->sel_idx] : (struct ph_proc_key){};

	title(cols, ui, c, "q quit, s sort, arrows select, Enter open, / filter");
	y = 1;
	if (ui->editing)
		line_at(y, cols, A_BOLD, "filter (Enter apply, Esc clear): %s_", ui->edit);
	else if (ui->filter[0])
		line_at(y, cols, A_BOLD, "filter: %s  (%zu of %zu processes; Esc clears)",
			ui->filter, n, np);
	y++;
	line_at(y++, cols, COLOR_PAIR(PAIR_HEAD) | A_BOLD,
		"%-7s %-16s %6s %5s %5s %6s %8s %8s %7s %7s %-7s %s", "PID", "COMM", "HELD", "TCP",
		"UDP", "TW", "OPENED", "FAILED", "OPEN/s", "OLDEST", "DIAG", "CMDLINE");
	pane_end = dests ? rows / 2 : rows;
	ui->page = pane_end > y ? pane_end - y : 1;
	if (ui->sel_idx < ui->first)
		ui->first = ui->sel_idx;
	if (ui->sel_idx >= ui->first + ui->page)
		ui->first = ui->sel_idx - ui->page + 1;
	if (ui->first + ui->page > n)
		ui->first = n > ui->page ? n - ui->page : 0;
	for (size_t i = ui->first; i < n && y < pane_end; i++) {
		const struct ph_proc_view *v = shown[i];
		char old[16], comm[PH_TX_SIZE(PH_COMM_LEN)], dg[16], cell[24], pre[160];
		int attr = v->failed || v->bind_failed ? COLOR_PAIR(PAIR_FAIL) : 0, sev;

		if (i == ui->sel_idx)
			attr |= A_REVERSE;
		fmt_age(v->oldest_s, old, sizeof(old));
		PH_TX(comm, v->meta->comm);
		ph_tx(tx, sizeof(tx), v->meta->cmdline, (size_t)-1);
		ph_out_diag(fs, nf, &v->meta->key, dg, sizeof(dg), &sev);
		snprintf(pre, sizeof(pre), "%-7u %-16s %6u %5u %5u %6u %8llu %8llu %7.1f %7s ",
			 v->meta->key.pid, comm, v->ports_held, v->ports_held_tcp, v->ports_held_udp,
			 v->time_wait, (unsigned long long)v->opened,
			 (unsigned long long)(v->failed + v->bind_failed), v->open_rate, old);
		snprintf(cell, sizeof(cell), "%-7s ", dg);
		move(y, 0);
		/* the DIAG cell in its severity's colour */
		if (put(y, cols, attr, pre) && put(y, cols, (sev >= 0 ? sev_attr(sev) : attr) |
						   (attr & A_REVERSE), cell))
			put(y, cols, attr, tx);
		fill(y, cols, attr);
		y++;
	}
	free(shown);
	if (!dests)
		return;
	y = rows / 2 + 1;
	line_at(y++, cols, COLOR_PAIR(PAIR_HEAD) | A_BOLD, "%-52s %6s %6s %6s %8s %6s %8s",
		"DESTINATION", "IN_USE", "TW", "CAP", "HEADROOM", "ETA", "FAILED");
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
		line_at(y++, cols, pair ? COLOR_PAIR(pair) | A_BOLD : 0,
			"%-52s %6u %6u %6u %7.1f%% %6s %8llu", d, v->in_use, v->time_wait,
			v->capacity, v->headroom_pct, eta, (unsigned long long)v->failed);
	}
}

/* The process view is a list of lines, scrolled under a fixed title. */
struct pline {
	char *s;
	int attr;
};

struct plines {
	struct pline *l;
	size_t n, cap;
};

static void add_line(struct plines *p, int attr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_line(struct plines *p, int attr, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct pline *l = realloc(p->l, cap * sizeof(*l));

		if (!l)
			return;
		p->l = l;
		p->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return;
	p->l[p->n].s = s;
	p->l[p->n++].attr = attr;
}

static void free_lines(struct plines *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->l[i].s);
	free(p->l);
}

static int cmp_dest_then_age(const void *x, const void *y)
{
	const struct ph_sock_entry *a = x, *b = y;
	int r;

	if (a->netns != b->netns)
		return a->netns < b->netns ? -1 : 1;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if ((r = memcmp(a->daddr, b->daddr, 16)))
		return r;
	if (a->dport != b->dport)
		return a->dport < b->dport ? -1 : 1;
	if ((r = memcmp(a->saddr, b->saddr, 16)))
		return r;
	return a->opened_ns < b->opened_ns ? -1 : a->opened_ns > b->opened_ns;
}

/* Oldest first; unknown opening times last; then by port. */
static int cmp_age(const void *x, const void *y)
{
	const struct ph_sock_entry *a = x, *b = y;

	if (!a->opened_ns != !b->opened_ns)
		return a->opened_ns ? -1 : 1;
	if (a->opened_ns != b->opened_ns)
		return a->opened_ns < b->opened_ns ? -1 : 1;
	return a->sport < b->sport ? -1 : a->sport > b->sport;
}

static bool same_dest(const struct ph_sock_entry *a, const struct ph_sock_entry *b)
{
	return a->netns == b->netns && a->family == b->family && a->dport == b->dport &&
	       !memcmp(a->daddr, b->daddr, 16) && !memcmp(a->saddr, b->saddr, 16);
}

static double sock_age(const struct ph_sock_entry *s, __u64 now_ns)
{
	return s->opened_ns && now_ns > s->opened_ns ? (now_ns - s->opened_ns) / 1e9 : -1;
}

static void dest_of(const struct ph_sock_entry *s, char *buf, size_t len)
{
	struct ph_dest_key k = { .netns = s->netns, .family = s->family, .dport = s->dport };

	memcpy(k.saddr, s->saddr, 16);
	memcpy(k.daddr, s->daddr, 16);
	ph_dest_fmt(&k, buf, len);
}

/* text (no control bytes) wrapped at width, each line indented */
static void add_wrapped(struct plines *p, int attr, const char *indent, const char *text,
			int width)
{
	int room = width - (int)strlen(indent);
	size_t len = strlen(text);

	if (room < 20)
		room = 20;
	while (len) {
		size_t n = len > (size_t)room ? (size_t)room : len;

		/* break at the last space that fits, if there is one */
		if (n < len) {
			size_t b = n;

			while (b > 0 && text[b] != ' ')
				b--;
			if (b > 0)
				n = b;
		}
		add_line(p, attr, "%s%.*s", indent, (int)n, text);
		text += n;
		len -= n;
		while (*text == ' ') {
			text++;
			len--;
		}
	}
}

static const char *const sev_names[] = { "INFO", "WARNING", "CRITICAL" };

static void finding_lines(struct plines *p, const struct ph_finding *f, int width)
{
	char d[128], tx[PH_TX_SIZE(640)];

	ph_finding_where(f, d, sizeof(d));
	add_line(p, sev_attr(f->severity), "%-8s %-6s %s  %u ports",
		 sev_names[f->severity < ARRAY_SIZE(sev_names) ? f->severity : 0],
		 ph_find_kind_label(f->kind), d, f->ports);
	add_wrapped(p, 0, "  ", PH_TX(tx, f->summary), width);
	for (__u32 i = 0; i < f->ev.nholders && i < PH_FIND_HOLDERS; i++) {
		const struct ph_holder *h = &f->ev.holders[i];
		char comm[PH_TX_SIZE(PH_COMM_LEN)];

		add_line(p, 0, "  held by pid %u %s: %u ports%s%s", h->pid, PH_TX(comm, h->comm),
			 h->ports, h->kind < PH_FIND_KINDS ? " " : "",
			 h->kind < PH_FIND_KINDS ? ph_find_kind_label(h->kind) : "");
	}
	add_wrapped(p, 0, "  advice: ", PH_TX(tx, f->advice), width);
}

/* Idle time of a socket as the last walk read it, -1 if unknown. */
static double sock_idle(const struct ph_sock_entry *s)
{
	__u32 ms;

	if (!(s->act.flags & PH_SR_ACTIVITY) || !s->act.ts_ns)
		return -1;
	ms = s->act.tx_idle_ms < s->act.rx_idle_ms ? s->act.tx_idle_ms : s->act.rx_idle_ms;
	return ms / 1000.0;
}

static void proc_lines(struct plines *p, struct ph_acct *a, const struct ph_proc_view *v,
		       const struct ph_finding *fs, size_t nf, int width, __u64 now_ns)
{
	const struct ph_proc_meta *m = v->meta;
	struct ph_sock_entry *socks;
	char tx[1024], old[16], age[16], d[128], sp[PH_EP_STRLEN];
	size_t n, shown;

	PH_TX(tx, m->comm);
	add_line(p, A_BOLD, "PID %u  %s  uid %u  netns %u", m->key.pid, tx, m->uid, v->netns);
	PH_TX(tx, m->cmdline);
	add_line(p, 0, "cmdline: %s", tx);
	PH_TX(tx, m->cgroup);
	add_line(p, 0, "cgroup:  %s", tx);
	fmt_age(v->oldest_s, old, sizeof(old));
	add_line(p, v->failed ? COLOR_PAIR(PAIR_FAIL) : 0,
		 "held %u  time_wait %u  opened %llu  closed %llu  failed %llu  open/s %.1f  oldest %s",
		 v->ports_held, v->time_wait, (unsigned long long)v->opened,
		 (unsigned long long)v->closed, (unsigned long long)v->failed, v->open_rate, old);
	add_line(p, 0, "ports: tcp %u (bound, not connected: %u)  udp %u  bind(0) without "
		 "IP_BIND_ADDRESS_NO_PORT: %u  bind failed: %llu", v->ports_held_tcp, v->bound_only,
		 v->ports_held_udp, v->bind_ephemeral, (unsigned long long)v->bind_failed);

	for (size_t i = 0, k = 0; i < nf; i++) {
		if (!ph_finding_of(&fs[i], &m->key))
			continue;
		if (!k++) {
			add_line(p, 0, "%s", "");
			add_line(p, COLOR_PAIR(PAIR_HEAD) | A_BOLD, "FINDINGS");
		}
		finding_lines(p, &fs[i], width);
	}

	n = ph_acct_proc_socks(a, &m->key, &socks);
	add_line(p, 0, "%s", "");
	add_line(p, COLOR_PAIR(PAIR_HEAD) | A_BOLD, "%-52s %6s %6s %8s %6s %6s %7s",
		 "DESTINATION", "PORTS", "ESTAB", "SYN_SENT", "TW", "OTHER", "OLDEST");
	if (n)
		qsort(socks, n, sizeof(*socks), cmp_dest_then_age);
	for (size_t i = 0, j; i < n; i = j) {
		__u32 est = 0, syn = 0, tw = 0, other = 0;
		double oldest = -1;

		for (j = i; j < n && same_dest(&socks[i], &socks[j]); j++) {
			double ag = sock_age(&socks[j], now_ns);

			if (socks[j].state == PH_ST_ESTABLISHED)
				est++;
			else if (socks[j].state == PH_ST_SYN_SENT)
				syn++;
			else if (socks[j].state == PH_ST_TIME_WAIT)
				tw++;
			else
				other++;
			if (socks[j].state != PH_ST_TIME_WAIT && ag > oldest)
				oldest = ag;
		}
		dest_of(&socks[i], d, sizeof(d));
		fmt_age(oldest, old, sizeof(old));
		add_line(p, 0, "%-52s %6zu %6u %8u %6u %6u %7s", d, j - i, est, syn, tw, other, old);
	}
	if (!n)
		add_line(p, 0, "(no outbound sockets)");

	add_line(p, 0, "%s", "");
	add_line(p, COLOR_PAIR(PAIR_HEAD) | A_BOLD, "%-7s %-44s %-12s %8s %8s %10s %10s", "LPORT",
		 "DESTINATION", "STATE", "AGE", "IDLE", "SENT", "RECEIVED");
	if (n)
		qsort(socks, n, sizeof(*socks), cmp_age);
	shown = n < MAX_SOCK_LINES ? n : MAX_SOCK_LINES;
	for (size_t i = 0; i < shown; i++) {
		const struct ph_sock_entry *s = &socks[i];

		bool act = sock_idle(s) >= 0;
		char idle[16], sent[24] = "-", rcvd[24] = "-";

		ph_endpoint_fmt(s->family, s->daddr, s->dport, sp, sizeof(sp));
		fmt_age(sock_age(s, now_ns), age, sizeof(age));
		fmt_age(sock_idle(s), idle, sizeof(idle));
		if (act) {
			snprintf(sent, sizeof(sent), "%llu", (unsigned long long)s->act.bytes_acked);
			snprintf(rcvd, sizeof(rcvd), "%llu", (unsigned long long)s->act.bytes_received);
		}
		add_line(p, 0, "%-7u %-44s %-12s %8s %8s %10s %10s", s->sport, sp,
			 ph_tcp_state_name(s->state), age, idle, sent, rcvd);
	}
	if (n > shown)
		add_line(p, 0, "... %zu more sockets", n - shown);
	free(socks);
}

static void draw_proc(struct ph_top_ui *ui, struct ph_acct *a, const struct ph_out_ctx *c,
		      const struct ph_finding *fs, size_t nf, int rows, int cols, __u64 now_ns)
{
	const struct ph_proc_view *pv, *v = NULL;
	struct plines p = {};
	size_t np, body = rows > 1 ? rows - 1 : 0;

	np = ph_acct_procs(a, ui->sort, &pv);
	for (size_t i = 0; i < np && !v; i++)
		if (same_key(&pv[i].meta->key, &ui->sel))
			v = &pv[i];
	title(cols, ui, c, "Esc back, arrows scroll, q quit");
	if (v)
		proc_lines(&p, a, v, fs, nf, cols, now_ns);
	else
		add_line(&p, A_BOLD, "pid %u is no longer tracked (it exited); Esc goes back",
			 ui->sel.pid);
	ui->page = body ? body : 1;
	if (ui->scroll + body > p.n)
		ui->scroll = p.n > body ? p.n - body : 0;
	for (size_t i = ui->scroll; i < p.n && i - ui->scroll < body; i++)
		line_at(1 + (i - ui->scroll), cols, p.l[i].attr, "%s", p.l[i].s);
	free_lines(&p);
}

void ph_top_draw(struct ph_top_ui *ui, struct ph_acct *a, const struct ph_out_ctx *c,
		 __u64 now_ns)
{
	struct ph_finding *fs = NULL;
	size_t nf = 0;
	int rows, cols;

	getmaxyx(stdscr, rows, cols);
	erase();
	if (c->diag)
		nf = ph_diagnose(a, c->diag, &fs);
	if (rows < 4 || cols < 20) {
		mvaddnstr(0, 0, "porthog top: terminal too small", cols);
	} else if (ui->view == PH_TOP_PROC) {
		draw_proc(ui, a, c, fs, nf, rows, cols, now_ns);
	} else {
		draw_list(ui, a, c, fs, nf, rows, cols);
	}
	free(fs);
	refresh();
}
