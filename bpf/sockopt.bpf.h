/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Socket options both BPF objects read (porthog.bpf.c, ports.bpf.c). */
#ifndef __PH_SOCKOPT_BPF_H
#define __PH_SOCKOPT_BPF_H

/*
 * IP_LOCAL_PORT_RANGE (6.3+): struct { u16 lo, hi } up to 6.7, then
 * u32 hi << 16 | lo: the same bytes. port_lo 0 means none; a high end of 0
 * means "the namespace's".
 */
static __always_inline void sock_port_range(const struct sock *sk, struct ph_event *e)
{
	const struct inet_sock *inet = (const struct inet_sock *)sk;
	__u32 v = 0;

	if (bpf_core_field_exists(inet->local_port_range) &&
	    bpf_core_field_size(inet->local_port_range) == 4)
		bpf_core_read(&v, 4, &inet->local_port_range);
	e->port_lo = v & 0xffff;
	e->port_hi = v >> 16;
	if (e->port_lo && !e->port_hi)
		e->port_hi = 65535;
}

#endif
