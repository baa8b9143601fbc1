/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef PH_JSON_H
#define PH_JSON_H

#include <stdio.h>
#include <stddef.h>

/* Write s as a JSON string literal, quotes included (RFC 8259 escaping). */
void json_str(FILE *f, const char *s);
/* The same, for at most n bytes of s (stops at NUL). */
void json_strn(FILE *f, const char *s, size_t n);
/* Escape into a buffer; returns the length needed (snprintf-like). */
size_t json_escape(char *dst, size_t len, const char *s);
/* A finite double, or null. */
void json_num(FILE *f, double v);

#endif
