/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one escaping path for text that a process controls (comm, cmdline,
 * cgroup path, and whatever a trace file claims they were) on its way to a
 * terminal or a plain-text file. Nothing in the result is a control byte, so
 * no escape sequence reaches the operator's terminal and one record stays one
 * row:
 *   \\ \n \r \t   backslash, LF, CR and TAB
 *   \xNN          any other C0 byte, DEL, and each byte that is not valid UTF-8
 *   \uXXXX        C1 controls written in UTF-8 (U+0080..U+009F), the line and
 *                 paragraph separators, and the bidirectional controls
 * Valid UTF-8 passes through. JSON uses the same rule (user/json.c).
 */
#ifndef PH_TEXTESC_H
#define PH_TEXTESC_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* Worst case: every input byte becomes "\xNN". */
#define PH_TX_SIZE(n)	(4 * (n) + 1)

/*
 * Escape at most n bytes of s (it stops at a NUL; s may be NULL) into dst,
 * which always ends with a NUL. Output that does not fit is cut at a whole
 * escape. Returns dst, so that it can stand as a printf argument.
 */
const char *ph_tx(char *dst, size_t len, const char *s, size_t n);
#define PH_TX(buf, s)	ph_tx((buf), sizeof(buf), (s), (size_t)-1)

/*
 * The length of the valid UTF-8 sequence at s (at most n bytes), with its
 * code point in *cp; 0 if s does not start one (overlong forms, surrogates
 * and values above U+10FFFF are not valid); -1 if the n bytes are a valid
 * start of one that n cuts off.
 */
int ph_utf8_next(const unsigned char *s, size_t n, __u32 *cp);
/* Code points that text must not carry as they are (see above). */
bool ph_cp_unsafe(__u32 cp);

/*
 * The walk both media share: for each unit of at most n bytes of s (a valid
 * UTF-8 sequence of k bytes with code point cp, or k == 0 for one byte that
 * is not valid UTF-8), unit() writes its escape (at most 8 bytes) and emit()
 * takes it; the walk stops early if emit() returns false.
 */
typedef size_t (*ph_esc_unit_fn)(const unsigned char *s, int k, __u32 cp, char *out);
void ph_esc_walk(const char *s, size_t n, ph_esc_unit_fn unit,
		 bool (*emit)(void *ctx, const char *p, size_t k), void *ctx);
/* The text escape of one unit, for other media to build on (HTML). */
size_t ph_tx_unit(const unsigned char *s, int k, __u32 cp, char *out);

#endif
