// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <string.h>

#include "json.h"
#include "textesc.h"

/*
 * The JSON for the unit at s: a code point of k bytes, or if !k one byte that
 * is not valid UTF-8. Such a byte b is written \udcXX (Python's
 * "surrogateescape"), so that the exact bytes can be recovered:
 * value.encode("utf-8", "surrogateescape"). Code points that text must not
 * carry as they are (user/textesc.h) are \u escapes. At most 6 bytes.
 */
static size_t escape_unit(const unsigned char *s, int k, __u32 cp, char *out)
{
	if (!k)
		return (size_t)sprintf(out, "\\udc%02x", s[0]);
	switch (cp) {
	case '"':
		return (size_t)sprintf(out, "\\\"");
	case '\\':
		return (size_t)sprintf(out, "\\\\");
	case '\n':
		return (size_t)sprintf(out, "\\n");
	case '\r':
		return (size_t)sprintf(out, "\\r");
	case '\t':
		return (size_t)sprintf(out, "\\t");
	case '\b':
		return (size_t)sprintf(out, "\\b");
	case '\f':
		return (size_t)sprintf(out, "\\f");
	}
	if (ph_cp_unsafe(cp))
		return (size_t)sprintf(out, "\\u%04x", cp & 0xffff);	/* unsafe ones are BMP */
	memcpy(out, s, (size_t)k);
	return (size_t)k;
}

struct esc_buf {
	char *dst;
	size_t len, n;
};

static bool emit_buf(void *ctx, const char *p, size_t k)
{
	struct esc_buf *b = ctx;

	if (b->len && b->n + k < b->len)
		memcpy(b->dst + b->n, p, k);
	b->n += k;
	return true;
}

size_t json_escape(char *dst, size_t len, const char *s)
{
	struct esc_buf b = { .dst = dst, .len = len };

	ph_esc_walk(s, (size_t)-1, escape_unit, emit_buf, &b);
	if (len)
		dst[b.n < len ? b.n : len - 1] = 0;
	return b.n;
}

static bool emit_file(void *ctx, const char *p, size_t k)
{
	return fwrite(p, 1, k, ctx) == k;
}

void json_strn(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	ph_esc_walk(s, n, escape_unit, emit_file, f);
	fputc('"', f);
}

void json_str(FILE *f, const char *s)
{
	json_strn(f, s ? s : "", (size_t)-1);
}

void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.10g", v);
	else
		fputs("null", f);
}
