/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Event decode and formatting: names, addresses, text and JSON lines. */
#ifndef PH_EVENT_H
#define PH_EVENT_H

#include "common.h"
#include "porthog.h"

#define PH_ADDR_STRLEN	46	/* INET6_ADDRSTRLEN */
#define PH_EP_STRLEN	56	/* [addr]:port */

const char *ph_event_type_name(__u8 type);
const char *ph_family_name(__u8 family);
/* "tcp" or "udp"; 0 (traces before the protocol field) is TCP */
const char *ph_protocol_name(__u8 protocol);
const char *ph_tcp_state_name(__u8 state);
/* "EADDRNOTAVAIL" for 99; "E<n>" for unknown values */
const char *ph_errname(int err, char *buf, size_t len);
void ph_addr_fmt(__u8 family, const __u8 *addr, char *buf, size_t len);
/* 10.0.0.1:80 or [::1]:80 */
void ph_endpoint_fmt(__u8 family, const __u8 *addr, __u16 port, char *buf, size_t len);
/* Parse an IPv4/IPv6 literal into the 16-byte form used by events. */
int ph_addr_parse(const char *s, __u8 *family, __u8 addr[16]);

/* Event timestamps are CLOCK_MONOTONIC; wall_off_ns converts them. */
static inline double ph_event_wall(const struct ph_event *e, __s64 wall_off_ns)
{
	return ((__s64)e->ts_ns + wall_off_ns) / 1e9;
}

static inline bool ph_addr_is_zero(const __u8 *a)
{
	for (int i = 0; i < 16; i++)
		if (a[i])
			return false;
	return true;
}

static inline bool ph_event_is_failure(const struct ph_event *e)
{
	return e->type == PH_EV_CONNECT_FAILED || e->type == PH_EV_BIND_FAILED;
}

void ph_event_text_header(FILE *f);
void ph_event_print_text(FILE *f, const struct ph_event *e, __s64 wall_off_ns);
void ph_event_print_json(FILE *f, const struct ph_event *e, __s64 wall_off_ns);

#endif
