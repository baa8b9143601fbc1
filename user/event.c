// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "event.h"
#include "json.h"
#include "textesc.h"

const char *ph_event_type_name(__u8 type)
{
	switch (type) {
	case PH_EV_CONNECT:
		return "connect";
	case PH_EV_CONNECT_FAILED:
		return "connect_failed";
	case PH_EV_CLOSE:
		return "close";
	case PH_EV_BIND:
		return "bind";
	case PH_EV_BIND_FAILED:
		return "bind_failed";
	default:
		return "unknown";
	}
}

/* Events of old traces carry 0: TCP */
const char *ph_protocol_name(__u8 protocol)
{
	return protocol == PH_PROTO_UDP ? "udp" : "tcp";
}

const char *ph_family_name(__u8 family)
{
	return family == AF_INET6 ? "ipv6" : family == AF_INET ? "ipv4" : "unknown";
}

const char *ph_tcp_state_name(__u8 state)
{
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV", [4] = "FIN_WAIT1",
		[5] = "FIN_WAIT2", [6] = "TIME_WAIT", [7] = "CLOSE", [8] = "CLOSE_WAIT",
		[9] = "LAST_ACK", [10] = "LISTEN", [11] = "CLOSING", [12] = "NEW_SYN_RECV",
		[13] = "BOUND_INACTIVE",
	};

	if (state < ARRAY_SIZE(names) && names[state])
		return names[state];
	return "UNKNOWN";
}

const char *ph_errname(int err, char *buf, size_t len)
{
	static const struct { int err; const char *name; } names[] = {
		{ EADDRNOTAVAIL, "EADDRNOTAVAIL" }, { EADDRINUSE, "EADDRINUSE" },
		{ ECONNREFUSED, "ECONNREFUSED" }, { ETIMEDOUT, "ETIMEDOUT" },
		{ ENETUNREACH, "ENETUNREACH" }, { EHOSTUNREACH, "EHOSTUNREACH" },
		{ ENOMEM, "ENOMEM" }, { ENOBUFS, "ENOBUFS" }, { EAGAIN, "EAGAIN" },
		{ EINVAL, "EINVAL" }, { EPERM, "EPERM" }, { EACCES, "EACCES" },
		{ EAFNOSUPPORT, "EAFNOSUPPORT" }, { ECONNRESET, "ECONNRESET" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(buf, len, "E%d", err);
	return buf;
}

void ph_addr_fmt(__u8 family, const __u8 *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
}

void ph_endpoint_fmt(__u8 family, const __u8 *addr, __u16 port, char *buf, size_t len)
{
	char a[PH_ADDR_STRLEN];

	ph_addr_fmt(family, addr, a, sizeof(a));
	if (family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, port);
	else
		snprintf(buf, len, "%s:%u", a, port);
}

int ph_addr_parse(const char *s, __u8 *family, __u8 addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

void ph_event_text_header(FILE *f)
{
	fprintf(f, "%-12s %-7s %-16s %-14s %-5s %-47s %-47s %s\n",
		"TIME", "PID", "COMM", "EVENT", "PROTO", "SADDR:SPORT", "DADDR:DPORT", "ERR");
}

void ph_event_print_text(FILE *f, const struct ph_event *e, __s64 wall_off_ns)
{
	char src[PH_EP_STRLEN], dst[PH_EP_STRLEN], tbuf[16], ebuf[16];
	char comm[PH_TX_SIZE(PH_COMM_LEN)];
	double wall = ph_event_wall(e, wall_off_ns);
	time_t secs = (time_t)wall;
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	snprintf(tbuf + 8, sizeof(tbuf) - 8, ".%03d", (int)((wall - secs) * 1000));
	ph_endpoint_fmt(e->family, e->saddr, e->sport, src, sizeof(src));
	ph_endpoint_fmt(e->family, e->daddr, e->dport, dst, sizeof(dst));
	ph_tx(comm, sizeof(comm), e->comm, PH_COMM_LEN);
	if (e->type == PH_EV_BIND || e->type == PH_EV_BIND_FAILED ||
	    (e->protocol == PH_PROTO_UDP && ph_addr_is_zero(e->daddr) && !e->dport))
		snprintf(dst, sizeof(dst), "-");
	fprintf(f, "%-12s %-7u %-16s %-14s %-5s %-47s %-47s %s%s\n", tbuf, e->pid,
		comm, ph_event_type_name(e->type), ph_protocol_name(e->protocol),
		src, dst, ph_event_is_failure(e) ? ph_errname(e->err, ebuf, sizeof(ebuf)) :
		e->type == PH_EV_CLOSE && (e->flags & PH_F_TIME_WAIT) ? "TIME_WAIT" :
		e->type == PH_EV_CONNECT && (e->flags & PH_F_SYN_SENT) ? "SYN_SENT" : "-",
		e->flags & PH_F_BIND_EPHEMERAL ? " bind(0),no IP_BIND_ADDRESS_NO_PORT" : "");
}

void ph_event_print_json(FILE *f, const struct ph_event *e, __s64 wall_off_ns)
{
	char saddr[PH_ADDR_STRLEN], daddr[PH_ADDR_STRLEN], ebuf[16];

	ph_addr_fmt(e->family, e->saddr, saddr, sizeof(saddr));
	ph_addr_fmt(e->family, e->daddr, daddr, sizeof(daddr));
	fprintf(f, "{\"ts\":%.6f,\"event\":\"%s\",\"pid\":%u,\"tid\":%u,\"comm\":",
		ph_event_wall(e, wall_off_ns), ph_event_type_name(e->type), e->pid, e->tid);
	json_strn(f, e->comm, PH_COMM_LEN);
	fprintf(f, ",\"uid\":%u,\"cgroup_id\":%llu,\"netns\":%u,\"family\":\"%s\","
		"\"saddr\":\"%s\",\"sport\":%u,\"daddr\":\"%s\",\"dport\":%u",
		e->uid, (unsigned long long)e->cgroup_id, e->netns, ph_family_name(e->family),
		saddr, e->sport, daddr, e->dport);
	fprintf(f, ",\"protocol\":\"%s\"", ph_protocol_name(e->protocol));
	if (ph_event_is_failure(e))
		fprintf(f, ",\"errno\":%d,\"errname\":\"%s\",\"errno_source\":\"%s\"", e->err,
			ph_errname(e->err, ebuf, sizeof(ebuf)),
			e->flags & PH_F_SYSCALL_ERRNO ? "syscall" :
			e->flags & PH_F_INFERRED ? "inferred" : "kernel");
	if (e->type == PH_EV_BIND || e->type == PH_EV_CONNECT)
		fprintf(f, ",\"bound_before_connect\":%s,\"bind_ephemeral\":%s",
			e->flags & PH_F_BOUND ? "true" : "false",
			e->flags & PH_F_BIND_EPHEMERAL ? "true" : "false");
	if (e->port_lo)
		fprintf(f, ",\"socket_port_range\":[%u,%u]", e->port_lo, e->port_hi);
	if (e->type == PH_EV_CONNECT)
		fprintf(f, ",\"syn_sent\":%s", e->flags & PH_F_SYN_SENT ? "true" : "false");
	if (e->type == PH_EV_CLOSE)
		fprintf(f, ",\"oldstate\":\"%s\",\"time_wait\":%s",
			ph_tcp_state_name(e->oldstate), e->flags & PH_F_TIME_WAIT ? "true" : "false");
	fputs("}\n", f);
}
