// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>

#include "textesc.h"

int ph_utf8_next(const unsigned char *s, size_t n, __u32 *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	__u32 v;
	int len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, v = c & 0x07;
	else
		return 0;
	/* the second byte's range rules out overlong forms, surrogates, > U+10FFFF */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return -1;
		if (s[i] < lo || s[i] > hi)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
		lo = 0x80, hi = 0xbf;
	}
	*cp = v;
	return len;
}

bool ph_cp_unsafe(__u32 cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	       cp == 0x061c || cp == 0x200e || cp == 0x200f ||	/* bidi marks */
	       (cp >= 0x2028 && cp <= 0x202e) ||		/* separators, embeddings */
	       (cp >= 0x2066 && cp <= 0x2069);			/* bidi isolates */
}

size_t ph_tx_unit(const unsigned char *s, int k, __u32 cp, char *out)
{
	if (!k)
		return (size_t)sprintf(out, "\\x%02x", s[0]);
	if (cp == '\\')
		return (size_t)sprintf(out, "\\\\");
	if (cp == '\n')
		return (size_t)sprintf(out, "\\n");
	if (cp == '\r')
		return (size_t)sprintf(out, "\\r");
	if (cp == '\t')
		return (size_t)sprintf(out, "\\t");
	if (cp < 0x80 && ph_cp_unsafe(cp))
		return (size_t)sprintf(out, "\\x%02x", cp & 0xff);
	if (ph_cp_unsafe(cp))
		return (size_t)sprintf(out, "\\u%04x", cp & 0xffff);	/* unsafe ones are BMP */
	memcpy(out, s, (size_t)k);
	return (size_t)k;
}

void ph_esc_walk(const char *s, size_t n, ph_esc_unit_fn unit,
		 bool (*emit)(void *ctx, const char *p, size_t k), void *ctx)
{
	const unsigned char *u = (const unsigned char *)s;
	char tmp[8];

	n = s ? strnlen(s, n) : 0;
	for (size_t i = 0; i < n;) {
		__u32 cp = 0;
		int k = ph_utf8_next(u + i, n - i, &cp);

		if (k < 0)
			k = 0;	/* a character cut by n: its bytes are not valid here */
		if (!emit(ctx, tmp, unit(u + i, k, cp, tmp)))
			return;
		i += k ? (size_t)k : 1;
	}
}

struct tx_buf {
	char *dst;
	size_t len, n;
};

/* Keep room for the NUL; cut at a whole escape. */
static bool tx_emit(void *ctx, const char *p, size_t k)
{
	struct tx_buf *b = ctx;

	if (b->n + k >= b->len)
		return false;
	memcpy(b->dst + b->n, p, k);
	b->n += k;
	return true;
}

const char *ph_tx(char *dst, size_t len, const char *s, size_t n)
{
	struct tx_buf b = { .dst = dst, .len = len };

	if (!len)
		return dst;
	ph_esc_walk(s, n, ph_tx_unit, tx_emit, &b);
	dst[b.n] = 0;
	return dst;
}
