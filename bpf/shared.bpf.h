/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What both BPF objects share (porthog.bpf.c, ports.bpf.c): the ring buffer
 * and the stats map (one pair: user space gives ports.bpf.c porthog.bpf.c's
 * with bpf_map__reuse_fd), their helpers, and the socket options both read.
 */
#ifndef __PH_SHARED_BPF_H
#define __PH_SHARED_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PH_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* atomic: the catcher may run nested in tp_set_state on the same CPU */
static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u64 task_start_ns(struct task_struct *task)
{
	if (bpf_core_field_exists(task->start_boottime))
		return BPF_CORE_READ(task, group_leader, start_boottime);
	return BPF_CORE_READ(task, group_leader, start_time);
}

/*
 * IP_LOCAL_PORT_RANGE (6.3+): struct { u16 lo, hi } up to 6.7, then
 * u32 hi << 16 | lo: the same bytes. port_lo 0 means none; a high end of 0
 * means "the namespace's".
 */
static __always_inline void sock_port_range(const struct sock *sk, struct ph_event *e,
					   const struct tcp_sock *tp)
{
	const struct inet_sock *inet = (const struct inet_sock *)sk;
	__u32 v = 0;

	/* tp: the same socket as a BTF pointer (a plain load), or NULL */
	if (bpf_core_field_exists(inet->local_port_range) &&
	    bpf_core_field_size(inet->local_port_range) == 4) {
		if (tp)
			v = *(const __u32 *)&tp->inet_conn.icsk_inet.local_port_range;
		else
			bpf_core_read(&v, 4, &inet->local_port_range);
	}
	e->port_lo = v & 0xffff;
	e->port_hi = v >> 16;
	if (e->port_lo && !e->port_hi)
		e->port_hi = 65535;
}

#endif
