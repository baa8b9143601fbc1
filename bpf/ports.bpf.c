// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * porthog: ports taken by bind() and by UDP, and their failures.
 *
 * cgroup programs on the cgroup v2 root see every socket of the host:
 *   bind4/6 + post_bind4/6: a bind() attempt, then the port it got
 *   connect4/6:             a UDP connect() attempt (autobind follows)
 *   sendmsg4/6:             an unconnected UDP socket, after its autobind
 *   sock_release:           the port is released
 * plus sock:sock_send_length for sendto() failing with EAGAIN. An attempt
 * that never got a port is a failure: the sweep (a syscall program run by
 * user space over the attempts) resolves attempts older than sweep_age_ns.
 * Events go to the ring buffer of porthog.bpf.c (shared with reuse_fd).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "porthog.h"
#include "shared.bpf.h"

#define AF_INET			2
#define AF_INET6		10
#define IPPROTO_TCP		6
#define IPPROTO_UDP		17
#define EAGAIN			11
#define EADDRINUSE		98
#define ST_CLOSE		7

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 target_netns = 0;
const volatile __u32 wakeup_bytes = 0;
/* an attempt still waiting after this long never got its port */
const volatile __u64 sweep_age_ns = 20000000;
/* --syscall-errno: bind() failures are reported at syscall exit, with its errno */
const volatile bool syscall_errno = false;

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * User space runs the sweep only when attempts were added since its last run
 * or the last run left some: a walk of the empty map costs ~250 us.
 */
__u64 attempts_added = 0;
__u32 attempts_left = 0;

/* not preallocated: memory as bind() and UDP sockets come, none on a TCP-only host */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);		/* struct sock address */
	__type(value, struct ph_attempt);
} attempts SEC(".maps");

/* entries leave at the socket's release, so no LRU (which would need preallocation) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);		/* struct sock address */
	__type(value, struct ph_held);
} held SEC(".maps");

/* --syscall-errno: the bind() attempt of a thread, until bind() returns */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u64);
} bind_tid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ph_attempt);
} scratch SEC(".maps");

/* before 6.8 the netns range was two ints under a seqlock */
struct local_ports___old {
	int range[2];
};

/* before 6.6 the flag was a bitfield of struct inet_sock */
struct inet_sock___old {
	__u8 bind_address_no_port: 1;
};

static __always_inline struct sock *sk_of(struct bpf_sock *bsk)
{
	return bpf_rdonly_cast(bsk, bpf_core_type_id_kernel(struct sock));
}

static __always_inline bool bind_no_port(const struct sock *sk)
{
	const struct inet_sock *inet = (const struct inet_sock *)sk;
	struct inet_sock___old *old = (void *)sk;

	/* 6.6+: a bit of inet_flags (an anonymous enum: CO-RE cannot relocate its value) */
	if (bpf_core_field_exists(inet->inet_flags))
		return (BPF_CORE_READ(inet, inet_flags) >> INET_FLAGS_BIND_ADDRESS_NO_PORT) & 1;
	if (bpf_core_field_exists(old->bind_address_no_port))
		return BPF_CORE_READ_BITFIELD_PROBED(old, bind_address_no_port);
	return false;
}

/* Is an explicit port inside the namespace's ephemeral range? Others use up nothing. */
static __always_inline bool in_netns_range(const struct sock *sk, __u16 port)
{
	struct local_ports *lp;
	struct local_ports___old *old;
	struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	__u32 lo, hi, v;

	lp = &net->ipv4.ip_local_ports;
	if (bpf_core_field_size(lp->range) == 4) {
		v = BPF_CORE_READ(lp, range);
		lo = v & 0xffff;
		hi = v >> 16;
	} else {
		old = (void *)lp;
		lo = BPF_CORE_READ(old, range[0]);
		hi = BPF_CORE_READ(old, range[1]);
	}
	return port >= lo && port <= hi;
}

static __always_inline void sock_addrs(const struct sock *sk, __u16 family, struct ph_event *e)
{
	if (family == AF_INET) {
		__builtin_memset(e->saddr, 0, 16);
		__builtin_memset(e->daddr, 0, 16);
		bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Process context: who and where. False if filtered out. */
static __always_inline bool fill_current(struct ph_event *e, const struct sock *sk, __u8 type,
					 __u8 protocol, __u16 family)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	if (target_tgid && (id >> 32) != target_tgid)
		return false;
	__builtin_memset(e, 0, sizeof(*e));
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (target_netns && e->netns != target_netns)
		return false;
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->start_ns = task_start_ns(task);
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->type = type;
	e->family = family;
	e->protocol = protocol;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return true;
}

static __always_inline void submit_copy(const struct ph_event *src)
{
	struct ph_event *e;
	__u64 flags = 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(PH_STAT_LOST);
		return;
	}
	__builtin_memcpy(e, src, sizeof(*e));
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	stat_inc(PH_STAT_EVENTS);
}

static __always_inline void hold(__u64 key, const struct ph_event *e)
{
	struct ph_held h = {};

	h.cgroup_id = e->cgroup_id;
	h.start_ns = e->start_ns;
	h.pid = e->pid;
	h.tid = e->tid;
	h.uid = e->uid;
	h.protocol = e->protocol;
	h.flags = e->flags & PH_F_BIND_EPHEMERAL;
	__builtin_memcpy(h.comm, e->comm, sizeof(h.comm));
	/* full (--max-sockets): its close will not be seen, a loss like a refused owner */
	if (bpf_map_update_elem(&held, &key, &h, BPF_ANY))
		stat_inc(PH_STAT_OWNER_BUSY);
}

/* ctx fields are loaded one by one: the verifier refuses a moved ctx pointer */
static __always_inline void user_addr(const struct bpf_sock_addr *ctx, __u16 family, __u8 *addr)
{
	__u32 *a = (__u32 *)addr;

	if (family == AF_INET) {
		a[0] = ctx->user_ip4;
		return;
	}
	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
}

static __always_inline struct ph_attempt *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* The socket got its port: report the attempt as done, from the socket's fields. */
static __always_inline void attempt_done(struct ph_attempt *a, const struct sock *sk, __u16 port)
{
	struct ph_event *e = &a->ev;

	e->ts_ns = bpf_ktime_get_ns();
	e->sport = port;
	sock_addrs(sk, e->family, e);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->type == PH_EV_BIND)
		__builtin_memset(e->daddr, 0, 16);
	sock_port_range(sk, e, NULL);
	submit_copy(e);
	hold(a->sk, e);
}

static __always_inline void attempt_failed(struct ph_attempt *a)
{
	struct ph_event *e = &a->ev;

	e->ts_ns = bpf_ktime_get_ns();
	e->type = e->type == PH_EV_BIND ? PH_EV_BIND_FAILED : PH_EV_CONNECT_FAILED;
	e->err = e->type == PH_EV_BIND_FAILED ? EADDRINUSE : EAGAIN;
	e->flags |= PH_F_INFERRED;
	submit_copy(e);
}

static __always_inline int bind_attempt(struct bpf_sock_addr *ctx, __u16 family)
{
	struct bpf_sock *bsk = ctx->sk;
	struct ph_attempt *a;
	struct sock *sk;
	__u32 tid;
	__u16 port;

	if (!bsk || (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP))
		return 1;
	sk = sk_of(bsk);
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_num))
		return 1;	/* already bound: EINVAL, no port is taken */
	port = bpf_ntohs((__u16)ctx->user_port);
	if (!port && bind_no_port(sk))
		return 1;	/* the port waits for connect(), shared per destination */
	if (port && !in_netns_range(sk, port))
		return 1;	/* a server's port: not an ephemeral one */
	a = scratch_get();
	if (!a || !fill_current(&a->ev, sk, PH_EV_BIND, ctx->protocol, family))
		return 1;
	a->sk = (__u64)sk;
	a->ev.sport = port;
	sock_port_range(sk, &a->ev, NULL);
	if (!port)
		a->ev.flags = PH_F_BIND_EPHEMERAL;
	user_addr(ctx, family, a->ev.saddr);
	bpf_map_update_elem(&attempts, &a->sk, a, BPF_ANY);
	__sync_fetch_and_add(&attempts_added, 1);
	if (syscall_errno) {
		tid = a->ev.tid;
		bpf_map_update_elem(&bind_tid, &tid, &a->sk, BPF_ANY);
	}
	return 1;
}

SEC("cgroup/bind4")
int ph_bind4(struct bpf_sock_addr *ctx)
{
	return bind_attempt(ctx, AF_INET);
}

SEC("cgroup/bind6")
int ph_bind6(struct bpf_sock_addr *ctx)
{
	return bind_attempt(ctx, AF_INET6);
}

/* bind() got its port: post_bind runs only then */
static __always_inline int post_bind(struct bpf_sock *bsk)
{
	struct sock *sk = sk_of(bsk);
	struct ph_attempt *a;
	__u64 key = (__u64)sk;

	a = bpf_map_lookup_elem(&attempts, &key);
	if (!a)
		return 1;
	attempt_done(a, sk, bsk->src_port);
	bpf_map_delete_elem(&attempts, &key);
	return 1;
}

SEC("cgroup/post_bind4")
int ph_post_bind4(struct bpf_sock *ctx)
{
	return post_bind(ctx);
}

SEC("cgroup/post_bind6")
int ph_post_bind6(struct bpf_sock *ctx)
{
	return post_bind(ctx);
}

/*
 * UDP connect(): runs before the autobind. A socket that has its port
 * already moves from the host pool to this destination at once; otherwise
 * the attempt waits for the sweep or the release.
 */
static __always_inline int udp_connect(struct bpf_sock_addr *ctx, __u16 family)
{
	struct bpf_sock *bsk = ctx->sk;
	struct ph_attempt *a;
	struct sock *sk;
	__u16 port;

	if (!bsk)
		return 1;
	if (ctx->protocol != IPPROTO_UDP) {
		/*
		 * Every TCP connect() comes here: a socket without a port returns at
		 * once. One bound first is connect()'s now: inet_sock_set_state
		 * reports its close, so forget it (the release hook skips it).
		 */
		if (ctx->protocol == IPPROTO_TCP && bsk->src_port) {
			__u64 key = (__u64)sk_of(bsk);

			bpf_map_delete_elem(&held, &key);
		}
		return 1;
	}
	sk = sk_of(bsk);
	a = scratch_get();
	if (!sk || !a || !fill_current(&a->ev, sk, PH_EV_CONNECT, IPPROTO_UDP, family))
		return 1;
	a->sk = (__u64)sk;
	a->ev.dport = bpf_ntohs((__u16)ctx->user_port);
	sock_port_range(sk, &a->ev, NULL);
	user_addr(ctx, family, a->ev.daddr);
	port = bsk->src_port;
	if (port) {
		struct ph_held *h = bpf_map_lookup_elem(&held, &a->sk);

		if (!h && !in_netns_range(sk, port))
			return 1;	/* a server's own port */
		a->ev.sport = port;
		a->ev.flags = PH_F_BOUND | (h ? h->flags : 0);
		sock_port_range(sk, &a->ev, NULL);
		submit_copy(&a->ev);
		hold(a->sk, &a->ev);
		return 1;
	}
	bpf_map_update_elem(&attempts, &a->sk, a, BPF_ANY);
	__sync_fetch_and_add(&attempts_added, 1);
	return 1;
}

SEC("cgroup/connect4")
int ph_connect4(struct bpf_sock_addr *ctx)
{
	return udp_connect(ctx, AF_INET);
}

SEC("cgroup/connect6")
int ph_connect6(struct bpf_sock_addr *ctx)
{
	return udp_connect(ctx, AF_INET6);
}

/* sendto() on an unconnected UDP socket: the autobind already happened */
static __always_inline int udp_sendmsg(struct bpf_sock_addr *ctx, __u16 family)
{
	struct bpf_sock *bsk = ctx->sk;
	struct ph_attempt *a;
	struct sock *sk;
	__u64 key;

	if (!bsk || !bsk->src_port)
		return 1;
	sk = sk_of(bsk);
	key = (__u64)sk;
	if (bpf_map_lookup_elem(&held, &key) || !in_netns_range(sk, bsk->src_port))
		return 1;	/* known, or a server's own port */
	a = scratch_get();
	if (!a || !fill_current(&a->ev, sk, PH_EV_CONNECT, IPPROTO_UDP, family))
		return 1;
	a->sk = key;
	a->ev.sport = bsk->src_port;
	sock_port_range(sk, &a->ev, NULL);
	submit_copy(&a->ev);
	hold(key, &a->ev);
	return 1;
}

SEC("cgroup/sendmsg4")
int ph_sendmsg4(struct bpf_sock_addr *ctx)
{
	return udp_sendmsg(ctx, AF_INET);
}

SEC("cgroup/sendmsg6")
int ph_sendmsg6(struct bpf_sock_addr *ctx)
{
	return udp_sendmsg(ctx, AF_INET6);
}

/*
 * sendmsg() returned: EAGAIN on a UDP socket without a port is a failed
 * autobind (a full send buffer is EAGAIN too, but the socket has its port).
 */
SEC("tp_btf/sock_send_length")
int BPF_PROG(ph_send_length, struct sock *sk, int ret, int flags)
{
	struct ph_attempt *a;
	__u16 family;

	if (ret != -EAGAIN)
		return 0;
	if (BPF_CORE_READ_BITFIELD(sk, sk_protocol) != IPPROTO_UDP || sk->__sk_common.skc_num)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	a = scratch_get();
	if (!a || !fill_current(&a->ev, sk, PH_EV_CONNECT_FAILED, IPPROTO_UDP, family))
		return 0;
	a->ev.err = EAGAIN;
	sock_port_range(sk, &a->ev, NULL);
	submit_copy(&a->ev);
	return 0;
}

/* The socket is released: resolve a waiting attempt, report the close of a held port. */
SEC("cgroup/sock_release")
int ph_sock_release(struct bpf_sock *ctx)
{
	struct sock *sk = sk_of(ctx);
	__u64 key = (__u64)sk;
	struct ph_attempt *a;
	struct ph_held *h;
	__u16 port, dport;

	/* the release hook's context has no ports: read them from the socket */
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 1;
	port = sk->__sk_common.skc_num;
	dport = sk->__sk_common.skc_dport;
	/* a connected TCP socket (every accepted one too): nothing of ours */
	if (ctx->protocol == IPPROTO_TCP && dport)
		return 1;
	a = bpf_map_lookup_elem(&attempts, &key);
	if (a) {
		if (port)
			attempt_done(a, sk, port);
		else
			attempt_failed(a);
		bpf_map_delete_elem(&attempts, &key);
	}
	h = bpf_map_lookup_elem(&held, &key);
	if (!h)
		return 1;
	/* a connected TCP socket's close comes from inet_sock_set_state */
	if (port && (ctx->protocol == IPPROTO_UDP || !dport)) {
		a = scratch_get();
		if (a) {
			struct ph_event *e = &a->ev;

			__builtin_memset(e, 0, sizeof(*e));
			e->ts_ns = bpf_ktime_get_ns();
			e->cgroup_id = h->cgroup_id;
			e->start_ns = h->start_ns;
			e->pid = h->pid;
			e->tid = h->tid;
			e->uid = h->uid;
			e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
			e->type = PH_EV_CLOSE;
			e->family = ctx->family;
			e->protocol = ctx->protocol;
			e->oldstate = sk->__sk_common.skc_state;
			e->flags = h->flags;
			e->sport = port;
			e->dport = bpf_ntohs(dport);
			sock_addrs(sk, e->family, e);
			__builtin_memcpy(e->comm, h->comm, sizeof(e->comm));
			submit_copy(e);
		}
	}
	bpf_map_delete_elem(&held, &key);
	return 1;
}

static long sweep_one(struct bpf_map *map, __u64 *key, struct ph_attempt *v, void *ctx)
{
	struct ph_attempt a;
	const struct sock *sk;
	__u64 k = *key;
	__u16 port;

	if (bpf_ktime_get_ns() - v->ev.ts_ns < sweep_age_ns) {
		attempts_left++;
		return 0;
	}
	__builtin_memcpy(&a, v, sizeof(a));
	sk = (const struct sock *)a.sk;
	port = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* a bind() attempt that is still without port never got one */
	if (port && a.ev.type != PH_EV_BIND)
		attempt_done(&a, sk, port);
	else
		attempt_failed(&a);
	bpf_map_delete_elem(&attempts, &k);
	return 0;
}

/*
 * Run by user space every poll (BPF_PROG_RUN): attempts that never got their
 * port failed. The release hook deletes an attempt before its socket is freed.
 */
SEC("syscall")
int ph_sweep(void *ctx)
{
	attempts_left = 0;
	bpf_for_each_map_elem(&attempts, sweep_one, NULL, 0);
	return 0;
}

/* --syscall-errno: bind()'s own return value confirms the failure */
struct bind_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

SEC("tracepoint/syscalls/sys_exit_bind")
int ph_sys_exit_bind(struct bind_exit_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ph_attempt *a;
	__u64 *skp, key;

	skp = bpf_map_lookup_elem(&bind_tid, &tid);
	if (!skp)
		return 0;
	key = *skp;
	bpf_map_delete_elem(&bind_tid, &tid);
	a = bpf_map_lookup_elem(&attempts, &key);
	if (!a || ctx->ret >= 0)
		return 0;
	a->ev.ts_ns = bpf_ktime_get_ns();
	a->ev.type = PH_EV_BIND_FAILED;
	a->ev.err = -ctx->ret;
	a->ev.flags |= PH_F_SYSCALL_ERRNO;
	submit_copy(&a->ev);
	bpf_map_delete_elem(&attempts, &key);
	return 0;
}
