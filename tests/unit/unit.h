/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Minimal unit test harness, header only: UNIT_TEST(name) { CHECK...; }
 * Tests register themselves from constructors; the weak main below runs them
 * all, or those whose name contains argv[1], and ends with the line
 * "unit: N passed, N failed". Exit status 1 if any check failed.
 * Shared state and main are weak definitions, so every test file may include
 * this header and a unit_main.c with a strong main may replace it.
 */
#ifndef PH_UNIT_H
#define PH_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct unit_test {
	const char *name;
	void (*fn)(void);
	struct unit_test *next;
};

__attribute__((weak)) struct unit_test *unit_head;
__attribute__((weak)) struct unit_test **unit_tail;
__attribute__((weak)) int unit_failures;

__attribute__((weak)) void unit_register(struct unit_test *t)
{
	if (!unit_tail)
		unit_tail = &unit_head;
	*unit_tail = t;
	unit_tail = &t->next;
}

#define UNIT_TEST(name) \
	static void name(void); \
	static struct unit_test name##_unit = { #name, name, NULL }; \
	__attribute__((constructor)) static void name##_register(void) \
	{ \
		unit_register(&name##_unit); \
	} \
	static void name(void)

#define UNIT_FAIL(fmt, ...) do { \
	unit_failures++; \
	fprintf(stderr, "%s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__); \
} while (0)

#define CHECK(cond) do { \
	if (!(cond)) \
		UNIT_FAIL("CHECK(%s) failed", #cond); \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
	long long __a = (long long)(a), __b = (long long)(b); \
	if (__a != __b) \
		UNIT_FAIL("%s == %s: %lld != %lld", #a, #b, __a, __b); \
} while (0)

#define CHECK_EQ_STR(a, b) do { \
	const char *__a = (a), *__b = (b); \
	if (!__a || !__b || strcmp(__a, __b)) \
		UNIT_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, \
			  __a ? __a : "(null)", __b ? __b : "(null)"); \
} while (0)

__attribute__((weak)) int main(int argc, char **argv)
{
	int run = 0, failed = 0;

	for (struct unit_test *t = unit_head; t; t = t->next) {
		int before = unit_failures;

		if (argc > 1 && !strstr(t->name, argv[1]))
			continue;
		t->fn();
		run++;
		if (unit_failures != before) {
			failed++;
			printf("FAIL %s\n", t->name);
		} else {
			printf("ok   %s\n", t->name);
		}
		fflush(stdout);
	}
	/* tests/run.sh parses this line */
	printf("unit: %d passed, %d failed\n", run - failed, failed);
	return failed ? 1 : 0;
}

#endif
