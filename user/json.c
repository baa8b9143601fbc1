// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <string.h>

#include "json.h"

/* Append the escape for byte c to out (at most 7 bytes); returns its length. */
static size_t escape_byte(unsigned char c, char *out)
{
	switch (c) {
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
	default:
		/* control bytes and non-ASCII (comm and cmdline are not always UTF-8) */
		if (c < 0x20 || c >= 0x7f)
			return (size_t)sprintf(out, "\\u%04x", c);
		out[0] = (char)c;
		out[1] = 0;
		return 1;
	}
}

size_t json_escape(char *dst, size_t len, const char *s)
{
	size_t n = 0;
	char tmp[8];

	for (; *s; s++) {
		size_t k = escape_byte((unsigned char)*s, tmp);

		if (len && n + k < len)
			memcpy(dst + n, tmp, k);
		n += k;
	}
	if (len)
		dst[n < len ? n : len - 1] = 0;
	return n;
}

void json_strn(FILE *f, const char *s, size_t n)
{
	char tmp[8];

	fputc('"', f);
	for (size_t i = 0; i < n && s[i]; i++) {
		size_t k = escape_byte((unsigned char)s[i], tmp);

		fwrite(tmp, 1, k, f);
	}
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
