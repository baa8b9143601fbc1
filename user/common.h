/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef PH_COMMON_H
#define PH_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>

#define PORTHOG_VERSION "0.1.0"

/* Exit codes, documented in --help, README.md and docs/porthog.8 */
enum ph_exit {
	PH_EXIT_OK		= 0,
	PH_EXIT_ERR		= 1,	/* runtime error */
	PH_EXIT_USAGE		= 2,	/* bad flag or argument */
	PH_EXIT_PERM		= 3,	/* not root / missing capability */
	PH_EXIT_NOBTF		= 4,	/* kernel has no BTF */
	PH_EXIT_NOBACKEND	= 5,	/* no probe backend could attach */
	PH_EXIT_BADFILE		= 6,	/* trace file unreadable, corrupt or unsupported */
	PH_EXIT_IO		= 7,	/* write failed (disk full, size cap) */
	PH_EXIT_TRUNCATED	= 8,	/* trace file cut off; the readable part was reported */
};

#define PH_EXIT_CODES_HELP \
	"Exit codes: 0 ok, 1 runtime error, 2 bad usage, 3 not root, 4 no kernel BTF,\n" \
	"  5 no usable probe backend, 6 bad trace file, 7 write error (disk full, --max-size),\n" \
	"  8 trace file truncated (the readable part was reported).\n"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern bool ph_verbose;
extern volatile int ph_exiting;

void ph_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ph_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ph_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int parse_long(const char *s, long min, long max, long *out);
int parse_double(const char *s, double min, double max, double *out);

__u64 mono_ns(void);
double wall_now(void);
/* CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns: adds to BPF timestamps */
__s64 mono_to_wall_ns(void);
/* clock ticks per second used by /proc/PID/stat start times */
long clk_tck(void);
/* process start in clock ticks since boot, from BPF's ns */
static inline __u64 start_ticks(__u64 start_ns)
{
	return start_ns / (1000000000ULL / (unsigned long long)clk_tck());
}

void install_exit_signals(void);

#endif
