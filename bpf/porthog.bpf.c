// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * porthog: who is using up the outbound TCP ephemeral ports.
 *
 * Three backends feed one ring buffer with struct ph_event:
 *   fentry:     fentry tcp_v{4,6}_connect, fexit inet{,6}_hash_connect
 *   kprobe:     kprobe tcp_v{4,6}_connect, k(ret)probe inet{,6}_hash_connect
 *   tracepoint: sock:inet_sock_set_state only (tp_btf, or raw_tp)
 * Every backend uses inet_sock_set_state for close. User space enables one
 * set of programs with bpf_program__set_autoload() before load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "porthog.h"

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define SOCK_STREAM	1
#define SOCK_DGRAM	2
#define EADDRNOTAVAIL	99
#define SOCK_BINDPORT_LOCK	8

/* enum tcp_state values are ABI (also in include/net/tcp_states.h) */
#define ST_ESTABLISHED	1
#define ST_SYN_SENT	2
#define ST_FIN_WAIT1	4
#define ST_FIN_WAIT2	5
#define ST_TIME_WAIT	6
#define ST_CLOSE	7
#define ST_CLOSING	11
#define ST_NEW_SYN_RECV	12

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 target_netns = 0;
const volatile __u8 backend = PH_BACKEND_TRACEPOINT;
/* 0: let the kernel decide when to wake the reader; else wake once this much is queued */
const volatile __u32 wakeup_bytes = 0;
/* hold connect_failed until connect() returns, and report its real errno */
const volatile bool syscall_errno = false;
/* iter/tcp: add the socket activity part of struct ph_sock_rec */
const volatile bool sock_activity = true;
/* jiffies per second; user space supplies it when no kernel config is readable */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* Linux 6.2+: fields beyond a BTF pointer's type as plain loads; older kernels read them by helper */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
/*
 * The light skeleton's loader (libbpf 1.1) cannot test a kfunc's address: it
 * calls the kfunc, and where the kernel lacks it the load fails and `snapshot`
 * loads the iterators with libbpf, which can.
 */
#ifdef PH_ITER_ONLY
#define have_rdonly_cast()	true
#else
#define have_rdonly_cast()	(bpf_rdonly_cast != NULL)
#endif

/* task_start_ns() for a BTF pointer to the task: plain loads */
static __always_inline __u64 task_start_ns_btf(const struct task_struct *task)
{
	const struct task_struct *leader = task->group_leader;

	return bpf_core_field_exists(task->start_boottime) ? leader->start_boottime :
		leader->start_time;
}

static __always_inline void copy_addrs_direct(const struct sock_common *skc, __u16 family,
					      __u8 *saddr, __u8 *daddr)
{
	__u32 *s = (__u32 *)saddr, *d = (__u32 *)daddr;

	if (family == AF_INET) {
		s[0] = skc->skc_rcv_saddr;
		d[0] = skc->skc_daddr;
		s[1] = s[2] = s[3] = d[1] = d[2] = d[3] = 0;
		return;
	}
	for (int i = 0; i < 4; i++) {
		s[i] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
		d[i] = skc->skc_v6_daddr.in6_u.u6_addr32[i];
	}
}

/*
 * PH_ITER_ONLY builds the iterators alone (build/porthog_iter.bpf.o), loaded as
 * a light skeleton by `snapshot`: the kernel applies their CO-RE relocations
 * with its own BTF, so no vmlinux BTF is parsed in user space.
 */
#ifndef PH_ITER_ONLY
#include "shared.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);		/* struct sock address */
	__type(value, struct ph_owner);
} owners SEC(".maps");

/* kprobe backend: the socket passed to inet_hash_connect, keyed by tid */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} hash_args SEC(".maps");

/* --syscall-errno: failures waiting for their connect() to return, and its sockaddr */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ph_event);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} connect_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ph_event);
} scratch SEC(".maps");

/*
 * Map updates can fail in a nested context (a bucket the interrupted program
 * holds). A refused insert loses the connect: count it. A refused delete
 * leaves an entry that must not report a close for a reused struct sock.
 */
static __always_inline void owner_forget(__u64 key, struct ph_owner *o)
{
	long err = bpf_map_delete_elem(&owners, &key);

	if (err && err != -2 /* -ENOENT */) {
		o->connected = 0;
		stat_inc(PH_STAT_DELETE_BUSY);
	}
}

/*
 * "direct": sk is a BTF pointer (tp_btf), so fields are plain loads (CO-RE
 * relocated, faults read as zero); otherwise (raw_tp, kprobes, fentry) one
 * bpf_probe_read_kernel() per field. The flag is a constant at every call.
 * tcp_of() gives the same socket as a tcp_sock for plain loads beyond struct
 * sock (the caller checked TCP); NULL: use helpers.
 */
static __always_inline const struct tcp_sock *tcp_of(const struct sock *sk, bool direct)
{
	if (direct && have_rdonly_cast())
		return bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	return NULL;
}

static __always_inline __u32 sk_netns(const struct sock *sk, bool direct)
{
	if (direct)
		return sk->__sk_common.skc_net.net->ns.inum;
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline bool sk_is_tcp(const struct sock *sk, __u16 *family, bool direct)
{
	__u16 fam, proto;

	if (direct) {
		fam = sk->__sk_common.skc_family;
		proto = BPF_CORE_READ_BITFIELD(sk, sk_protocol);
	} else {
		fam = BPF_CORE_READ(sk, __sk_common.skc_family);
		proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	}
	*family = fam;
	return proto == IPPROTO_TCP && (fam == AF_INET || fam == AF_INET6);
}

/*
 * The local port, 0 until bind() or inet_hash_connect() set it. inet_sport,
 * not skc_num: at X->CLOSE the port was already put back (skc_num is 0). It
 * lies beyond struct sock, so even tp_btf reads it with a helper.
 */
static __always_inline __u16 sk_sport(const struct sock *sk, bool direct)
{
	const struct inet_sock *inet = (const struct inet_sock *)sk;
	const struct tcp_sock *tp = tcp_of(sk, direct);

	if (tp)
		return bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	return bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
}

/* Connect entry, process context: remember who owns this socket. */
static __always_inline void record_owner(const struct sock *sk, bool direct)
{
	struct ph_owner o = {};
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = (__u64)sk;
	__u16 family;

	if (target_tgid && (id >> 32) != target_tgid)
		return;
	if (!sk_is_tcp(sk, &family, direct))
		return;
	if (target_netns && sk_netns(sk, direct) != target_netns)
		return;

	o.cgroup_id = bpf_get_current_cgroup_id();
	if (direct)
		o.start_ns = task_start_ns_btf(bpf_get_current_task_btf());
	else
		o.start_ns = task_start_ns((struct task_struct *)bpf_get_current_task());
	o.pid = id >> 32;
	o.tid = (__u32)id;
	o.uid = (__u32)bpf_get_current_uid_gid();
	o.bound_sport = sk_sport(sk, direct);
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	if (bpf_map_update_elem(&owners, &key, &o, BPF_ANY))
		stat_inc(PH_STAT_OWNER_BUSY);
}

static __always_inline void submit(struct ph_event *e)
{
	__u64 flags = 0;

	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	stat_inc(PH_STAT_EVENTS);
}

/* 16-byte address fields; IPv4 fills the first 4 bytes and zeroes the rest */
static __always_inline void copy_addrs(const struct sock_common *skc, __u16 family,
				       __u8 *saddr, __u8 *daddr, bool direct)
{
	if (direct) {
		copy_addrs_direct(skc, family, saddr, daddr);
		return;
	}
	if (family == AF_INET) {
		__builtin_memset(saddr, 0, 16);
		__builtin_memset(daddr, 0, 16);
		bpf_core_read(saddr, 4, &skc->skc_rcv_saddr);
		bpf_core_read(daddr, 4, &skc->skc_daddr);
	} else {
		bpf_core_read(saddr, 16, &skc->skc_v6_rcv_saddr);
		bpf_core_read(daddr, 16, &skc->skc_v6_daddr);
	}
}

static __always_inline void fill_event(struct ph_event *e, const struct sock *sk,
				      const struct ph_owner *o, __u8 type, __s32 err,
				      __u8 oldstate, __u8 flags, bool direct)
{
	__u16 family = direct ? sk->__sk_common.skc_family :
		BPF_CORE_READ(sk, __sk_common.skc_family);

	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = o->cgroup_id;
	e->start_ns = o->start_ns;
	e->pid = o->pid;
	e->tid = o->tid;
	e->uid = o->uid;
	e->netns = sk_netns(sk, direct);
	e->err = err;
	e->sport = type == PH_EV_CONNECT_FAILED && !o->bound_sport ? 0 : sk_sport(sk, direct);
	e->dport = bpf_ntohs(direct ? sk->__sk_common.skc_dport :
			     BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->type = type;
	e->family = family;
	e->oldstate = oldstate;
	e->flags = flags | (o->bound_sport ? PH_F_BOUND : 0);
	/* bind(port 0) without IP_BIND_ADDRESS_NO_PORT: no explicit port was locked */
	if (o->bound_sport && !((direct ? BPF_CORE_READ_BITFIELD(sk, sk_userlocks) :
				  BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks)) & SOCK_BINDPORT_LOCK))
		e->flags |= PH_F_BIND_EPHEMERAL;
	copy_addrs(&sk->__sk_common, family, e->saddr, e->daddr, direct);
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->protocol = IPPROTO_TCP;
	e->pad2 = 0;
	e->pad3 = 0;
	if (type != PH_EV_CLOSE)
		sock_port_range(sk, e, tcp_of(sk, direct));
	else
		e->port_lo = e->port_hi = 0;
}

/* Emit one event for a socket whose owner is known. */
static __always_inline void emit(const struct sock *sk, const struct ph_owner *o,
				 __u8 type, __s32 err, __u8 oldstate, __u8 flags, bool direct)
{
	struct ph_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(PH_STAT_LOST);
		return;
	}
	fill_event(e, sk, o, type, err, oldstate, flags, direct);
	submit(e);
}

/* connect() could not get a port; in process context of the connecting task */
static __always_inline void emit_failure(const struct sock *sk, const struct ph_owner *o,
					 __s32 err, __u8 oldstate, bool direct)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0;
	struct ph_event *e;

	if (!syscall_errno) {
		emit(sk, o, PH_EV_CONNECT_FAILED, err, oldstate, 0, direct);
		return;
	}
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return;
	fill_event(e, sk, o, PH_EV_CONNECT_FAILED, err, oldstate, 0, direct);
	bpf_map_update_elem(&pending, &tid, e, BPF_ANY);
}

/* fentry and kprobe backends: inet_hash_connect() returned, in process context */
static __always_inline void hash_connect_done(const struct sock *sk, int ret)
{
	__u64 key = (__u64)sk;
	struct ph_owner *o;

	o = bpf_map_lookup_elem(&owners, &key);
	if (!o)
		return;
	if (ret) {
		emit_failure(sk, o, -ret, ST_SYN_SENT, false);
		owner_forget(key, o);
		return;
	}
	o->connected = 1;
	emit(sk, o, PH_EV_CONNECT, 0, ST_SYN_SENT, 0, false);
}

static __always_inline __u32 tcp_segs_out(const struct sock *sk, bool direct)
{
	const struct tcp_sock *tp = tcp_of(sk, direct);

	if (!bpf_core_field_exists(tp->segs_out))
		return 1;
	if (tp)
		return tp->segs_out;
	return BPF_CORE_READ((const struct tcp_sock *)sk, segs_out);
}

/*
 * The transitions porthog acts on: the connect (tracepoint backend), the first
 * one out of SYN_SENT (its port, tracepoint backend) and every close. Of about
 * seven hits per connect, the rest return before the owner map.
 */
static __always_inline bool state_matters(int oldstate, int newstate)
{
	if (oldstate == ST_CLOSE && newstate == ST_SYN_SENT)
		return backend == PH_BACKEND_TRACEPOINT;
	return newstate == ST_CLOSE || (backend == PH_BACKEND_TRACEPOINT && oldstate == ST_SYN_SENT);
}

/* Callers checked state_matters(). */
static __always_inline int handle_set_state(const struct sock *sk, int oldstate, int newstate,
					    bool direct)
{
	__u64 key = (__u64)sk;
	struct ph_owner *o;
	__u8 flags = 0;

	if (oldstate == ST_CLOSE && newstate == ST_SYN_SENT) {
		/* inside tcp_v{4,6}_connect(), before inet_hash_connect() */
		record_owner(sk, direct);
		return 0;
	}

	o = bpf_map_lookup_elem(&owners, &key);
	if (!o)
		return 0;

	if (backend == PH_BACKEND_TRACEPOINT && !o->connected) {
		if (oldstate != ST_SYN_SENT)
			return 0;
		/*
		 * SYN_SENT -> CLOSE before any segment went out: inet_hash_connect()
		 * found no free port. A port bound before connect() stays set, and
		 * the failure is then EADDRNOTAVAIL for the 4-tuple.
		 */
		if (newstate == ST_CLOSE && tcp_segs_out(sk, direct) == 0 &&
		    (sk_sport(sk, direct) == 0 || o->bound_sport)) {
			emit_failure(sk, o, EADDRNOTAVAIL, oldstate, direct);
			owner_forget(key, o);
			return 0;
		}
		/* first transition out of SYN_SENT: the port is now known */
		o->connected = 1;
		emit(sk, o, PH_EV_CONNECT, 0, oldstate, 0, direct);
	}

	if (newstate != ST_CLOSE)
		return 0;
	if (o->connected) {
		/* tcp_time_wait() hands the port to a timewait sock, then closes */
		if (oldstate == ST_FIN_WAIT1 || oldstate == ST_FIN_WAIT2 || oldstate == ST_CLOSING)
			flags |= PH_F_TIME_WAIT;
		emit(sk, o, PH_EV_CLOSE, 0, oldstate, flags, direct);
	}
	owner_forget(key, o);
	return 0;
}

/*
 * Nesting. The kernel runs a program at most once per CPU at a time: a hit
 * from a softirq that interrupts tp_set_state on the same CPU is skipped
 * (counted in its recursion_misses). The catcher, a second program attached
 * after it to the same tracepoint, runs for that hit.
 *
 * The tracepoint calls both programs from the same frame, so both see the
 * same current->bpf_ctx (the kernel's run context on the stack); a nested hit
 * has another frame. tp_set_state leaves a note for its hit: frame, socket,
 * states and a depth, which it raises and the catcher lowers again, so that
 * hits nested in between leave it as they found it. The catcher takes the
 * note of its frame back: none, another hit's, or one of another depth (a
 * stale note whose catcher was skipped) means the kernel skipped
 * tp_set_state for this hit. No window: each note is written by the run it
 * describes. Handling a hit twice is harmless (the owner map records what was
 * reported), so an uncertain case errs towards handling.
 */
const volatile bool nest_catch = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ph_nest);
} nest SEC(".maps");

static __always_inline __u64 run_frame(void)
{
	/* a BTF pointer: a plain load, no helper call */
	return (__u64)bpf_get_current_task_btf()->bpf_ctx;
}

static __always_inline void nest_note(const struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0, slot = PH_NEST_SLOTS;
	struct ph_nest *n;
	__u64 f;

	if (!nest_catch)
		return;
	n = bpf_map_lookup_elem(&nest, &zero);
	if (!n)
		return;
	f = run_frame();
	for (__u32 i = 0; i < PH_NEST_SLOTS; i++) {
		/* a note left at this frame is stale: its catcher was skipped */
		if (n->frame[i] == f) {
			slot = i;
			break;
		}
		if (!n->frame[i] && slot == PH_NEST_SLOTS)
			slot = i;
	}
	if (slot == PH_NEST_SLOTS)
		slot = n->next++;
	slot &= PH_NEST_SLOTS - 1;
	n->frame[slot] = f;
	n->sk[slot] = (__u64)sk;
	n->states[slot] = (oldstate & 0xff) << 8 | (newstate & 0xff);
	n->gen[slot] = ++n->depth;
}

/* true if the kernel skipped tp_set_state for this hit */
static __always_inline bool nest_skipped(const struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0, st = (oldstate & 0xff) << 8 | (newstate & 0xff), depth;
	struct ph_nest *n;
	bool ran = false;
	__u64 f;

	n = bpf_map_lookup_elem(&nest, &zero);
	if (!n)
		return false;
	depth = n->depth;
	f = run_frame();
	for (__u32 i = 0; i < PH_NEST_SLOTS; i++) {
		if (n->frame[i] != f)
			continue;
		ran = n->sk[i] == (__u64)sk && n->states[i] == st && n->gen[i] == depth;
		n->frame[i] = 0;
		break;
	}
	if (ran) {
		n->depth = depth - 1;
		return false;
	}
	stat_inc(PH_STAT_CAUGHT);
	return true;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_set_state, const struct sock *sk, int oldstate, int newstate)
{
	/* every hit leaves its note: the catcher counts what the kernel skipped */
	nest_note(sk, oldstate, newstate);
	if (!state_matters(oldstate, newstate))
		return 0;
	return handle_set_state(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_set_state, const struct sock *sk, int oldstate, int newstate)
{
	/* every hit leaves its note: the catcher counts what the kernel skipped */
	nest_note(sk, oldstate, newstate);
	if (!state_matters(oldstate, newstate))
		return 0;
	return handle_set_state(sk, oldstate, newstate, false);
}

/* the catcher: attached after tp_set_state (raw_set_state) */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_catch_state, const struct sock *sk, int oldstate, int newstate)
{
	if (!nest_skipped(sk, oldstate, newstate) || !state_matters(oldstate, newstate))
		return 0;
	return handle_set_state(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_catch_state, const struct sock *sk, int oldstate, int newstate)
{
	if (!nest_skipped(sk, oldstate, newstate) || !state_matters(oldstate, newstate))
		return 0;
	return handle_set_state(sk, oldstate, newstate, false);
}

/*
 * A connect whose SYN gets no answer stays in SYN_SENT, holding its port,
 * and no state change reveals it until it times out. Its first SYN
 * retransmit (after the initial RTO, 1 s) does: report the connect then.
 */
static __always_inline int handle_retransmit(const struct sock *sk, bool direct)
{
	__u64 key = (__u64)sk;
	struct ph_owner *o;

	if (BPF_CORE_READ(sk, __sk_common.skc_state) != ST_SYN_SENT)
		return 0;
	o = bpf_map_lookup_elem(&owners, &key);
	if (!o || o->connected)
		return 0;
	o->connected = 1;
	emit(sk, o, PH_EV_CONNECT, 0, ST_SYN_SENT, PH_F_SYN_SENT, direct);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tp_retransmit, const struct sock *sk)
{
	return handle_retransmit(sk, true);
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(raw_retransmit, const struct sock *sk)
{
	return handle_retransmit(sk, false);
}

/* fentry backend */
SEC("fentry/tcp_v4_connect")
int BPF_PROG(fentry_v4_connect, struct sock *sk)
{
	record_owner(sk, false);
	return 0;
}

SEC("fentry/tcp_v6_connect")
int BPF_PROG(fentry_v6_connect, struct sock *sk)
{
	record_owner(sk, false);
	return 0;
}

SEC("fexit/inet_hash_connect")
int BPF_PROG(fexit_hash_connect, struct inet_timewait_death_row *dr, struct sock *sk, int ret)
{
	hash_connect_done(sk, ret);
	return 0;
}

SEC("fexit/inet6_hash_connect")
int BPF_PROG(fexit_hash6_connect, struct inet_timewait_death_row *dr, struct sock *sk, int ret)
{
	hash_connect_done(sk, ret);
	return 0;
}

/* kprobe backend */
SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(kprobe_v4_connect, struct sock *sk)
{
	record_owner(sk, false);
	return 0;
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(kprobe_v6_connect, struct sock *sk)
{
	record_owner(sk, false);
	return 0;
}

static __always_inline int hash_enter(struct sock *sk)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 key = (__u64)sk;

	if (!bpf_map_lookup_elem(&owners, &key))
		return 0;
	bpf_map_update_elem(&hash_args, &tid, &key, BPF_ANY);
	return 0;
}

static __always_inline int hash_exit(int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *skp = bpf_map_lookup_elem(&hash_args, &tid);

	if (!skp)
		return 0;
	hash_connect_done((const struct sock *)*skp, ret);
	bpf_map_delete_elem(&hash_args, &tid);
	return 0;
}

SEC("kprobe/inet_hash_connect")
int BPF_KPROBE(kprobe_hash_connect, struct inet_timewait_death_row *dr, struct sock *sk)
{
	return hash_enter(sk);
}

SEC("kretprobe/inet_hash_connect")
int BPF_KRETPROBE(kretprobe_hash_connect, int ret)
{
	return hash_exit(ret);
}

SEC("kprobe/inet6_hash_connect")
int BPF_KPROBE(kprobe_hash6_connect, struct inet_timewait_death_row *dr, struct sock *sk)
{
	return hash_enter(sk);
}

SEC("kretprobe/inet6_hash_connect")
int BPF_KRETPROBE(kretprobe_hash6_connect, int ret)
{
	return hash_exit(ret);
}

/*
 * --syscall-errno: connect()'s own return value. Enabling any syscall tracepoint
 * puts every syscall of every task on the slow path, so this is opt-in.
 */
struct connect_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 fd;
	__u64 uservaddr;
	__u64 addrlen;
};

struct connect_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct connect_enter_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 uaddr = ctx->uservaddr;
	__u32 tid = (__u32)id;

	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	bpf_map_update_elem(&connect_args, &tid, &uaddr, BPF_ANY);
	return 0;
}

/* A connect() that failed with EADDRNOTAVAIL before any TCP hook saw it. */
static __always_inline void emit_syscall_failure(__u64 uaddr, __s32 err)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	struct sockaddr_in6 sa = {};
	struct ph_event *e;

	if (target_netns && netns != target_netns)
		return;
	if (bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
		return;
	if (sa.sin6_family != AF_INET && sa.sin6_family != AF_INET6)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(PH_STAT_LOST);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->start_ns = task_start_ns(task);
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = netns;
	e->err = err;
	e->dport = bpf_ntohs(sa.sin6_port);
	e->type = PH_EV_CONNECT_FAILED;
	e->family = sa.sin6_family;
	e->protocol = IPPROTO_TCP;
	e->flags = PH_F_SYSCALL_ERRNO;
	if (sa.sin6_family == AF_INET)
		__builtin_memcpy(e->daddr, &((struct sockaddr_in *)&sa)->sin_addr, 4);
	else
		__builtin_memcpy(e->daddr, &sa.sin6_addr, 16);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	submit(e);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct connect_exit_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ph_event *p, *e;
	__u64 *uaddr;

	uaddr = bpf_map_lookup_elem(&connect_args, &tid);
	p = bpf_map_lookup_elem(&pending, &tid);
	if (p) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			__builtin_memcpy(e, p, sizeof(*e));
			if (ctx->ret < 0)
				e->err = -ctx->ret;
			e->flags |= PH_F_SYSCALL_ERRNO;
			submit(e);
		} else {
			stat_inc(PH_STAT_LOST);
		}
		bpf_map_delete_elem(&pending, &tid);
	} else if (uaddr && ctx->ret == -EADDRNOTAVAIL) {
		emit_syscall_failure(*uaddr, EADDRNOTAVAIL);
	}
	if (uaddr)
		bpf_map_delete_elem(&connect_args, &tid);
	return 0;
}

#endif /* !PH_ITER_ONLY */

/*
 * Iterators: the start-up snapshot and the periodic reconcile walk. Their
 * context pointers carry BTF, so fields are loaded directly (CO-RE relocated,
 * faults read as zero) instead of one bpf_probe_read_kernel() call per field:
 * at 40k sockets the helper calls were the largest cost of a snapshot.
 */
static __always_inline __u32 jiffies_to_ms(__u32 j)
{
	__u64 ms = (__u64)j * 1000 / CONFIG_HZ;

	return ms > 0xffffffffULL ? 0xffffffff : ms;
}

/*
 * Activity of a full TCP socket: how long since data went each way, how much
 * went, and the SYNs resent. A few loads from the tcp_sock the walk is at.
 */
static __always_inline void sock_activity_read(struct tcp_sock *tp, struct ph_sock_rec *r)
{
	struct inet_bind_bucket *tb;
	__u32 now;

	if (!CONFIG_HZ)
		return;
	now = (__u32)bpf_jiffies64();
	r->tx_idle_ms = jiffies_to_ms(now - tp->lsndtime);
	r->rx_idle_ms = jiffies_to_ms(now - tp->inet_conn.icsk_ack.lrcvtime);
	r->segs_out = tp->segs_out;
	r->segs_in = tp->segs_in;
	r->bytes_acked = tp->bytes_acked;
	r->bytes_received = tp->bytes_received;
	r->retrans = tp->inet_conn.icsk_retransmits;
	r->flags |= PH_SR_ACTIVITY;
	/* connect() marks the buckets it creates fastreuse -1; bind() sets 0 or 1 */
	tb = tp->inet_conn.icsk_bind_hash;
	if (tb && tb->fastreuse >= 0)
		r->flags |= PH_SR_BOUND;
}

/* sock_activity_read() for a socket that is no BTF pointer: one helper read per field. */
static __always_inline void sock_activity_probe(const struct sock *sk, struct ph_sock_rec *r)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	struct inet_bind_bucket *tb;
	__u32 now;

	if (!CONFIG_HZ)
		return;
	now = (__u32)bpf_jiffies64();
	r->uid = BPF_CORE_READ(sk, sk_uid.val);
	r->tx_idle_ms = jiffies_to_ms(now - BPF_CORE_READ(tp, lsndtime));
	r->rx_idle_ms = jiffies_to_ms(now - BPF_CORE_READ(tp, inet_conn.icsk_ack.lrcvtime));
	r->segs_out = BPF_CORE_READ(tp, segs_out);
	r->segs_in = BPF_CORE_READ(tp, segs_in);
	r->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	r->bytes_received = BPF_CORE_READ(tp, bytes_received);
	r->retrans = BPF_CORE_READ(tp, inet_conn.icsk_retransmits);
	r->flags |= PH_SR_ACTIVITY;
	tb = BPF_CORE_READ(tp, inet_conn.icsk_bind_hash);
	if (tb && BPF_CORE_READ(tb, fastreuse) >= 0)
		r->flags |= PH_SR_BOUND;
}

/* The part of a socket record that struct sock_common holds. */
static __always_inline void sock_rec_common(const struct sock_common *skc, struct ph_sock_rec *r)
{
	r->state = skc->skc_state;
	r->family = skc->skc_family;
	r->sport = skc->skc_num;
	r->dport = bpf_ntohs(skc->skc_dport);
	r->netns = skc->skc_net.net->ns.inum;
	copy_addrs_direct(skc, r->family, r->saddr, r->daddr);
}

/*
 * The part of a full socket beyond sock_common, through a BTF pointer to the
 * tcp_sock (direct loads): uid, the opener if events recorded one, activity.
 */
static __always_inline void sock_rec_full(struct tcp_sock *tp, struct ph_sock_rec *r)
{
	r->uid = tp->inet_conn.icsk_inet.sk.sk_uid.val;
#ifndef PH_ITER_ONLY	/* alone, the iterators run without events: nobody records owners */
	__u64 key = (__u64)tp;
	struct ph_owner *o = bpf_map_lookup_elem(&owners, &key);

	if (o) {
		r->owner_pid = o->pid;
		r->owner_start_ns = o->start_ns;
		if (o->bound_sport)
			r->flags |= PH_SR_BOUND;
	}
#endif
	if (sock_activity)
		sock_activity_read(tp, r);
}

SEC("iter/tcp")
int iter_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct seq_file *seq = ctx->meta->seq;
	struct ph_sock_rec r = {};
	struct tcp_sock *tp;
	struct socket *sock;

	if (!skc || skc->skc_state == ST_NEW_SYN_RECV)
		return 0;
	sock_rec_common(skc, &r);
	/* NULL for TIME_WAIT */
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp) {
		sock_rec_full(tp, &r);
		sock = tp->inet_conn.icsk_inet.sk.sk_socket;
		/* SOCK_INODE(): the inode follows the socket, not via file (a cache miss less) */
		if (sock)
			r.ino = BPF_CORE_READ((struct socket_alloc *)sock, vfs_inode.i_ino);
	}
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}

/*
 * The files of one process come one after another: its identity (pid, start
 * time) is checked per file, the rest is read once per process (the cgroup
 * chain and comm were a third of the walk at 40k sockets).
 */
static struct {
	__u32 pid;
	__u32 uid;
	__u64 start_ns;
	__u64 cgroup_id;
	char comm[PH_COMM_LEN];
} last_task;

SEC("iter/task_file")
int iter_task_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct ph_fd_rec r = {};
	struct task_struct *leader;
	struct tcp_sock *tp;
	struct socket *sock;
	struct sock *sk;
	__u32 pid;
	__u64 start_ns;
	__u16 family;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	r.protocol = BPF_CORE_READ_BITFIELD(sk, sk_protocol);
	if (!(sock->type == SOCK_STREAM && r.protocol == IPPROTO_TCP) &&
	    !(sock->type == SOCK_DGRAM && r.protocol == IPPROTO_UDP))
		return 0;
	pid = task->tgid;
	if (target_tgid && pid != target_tgid)
		return 0;
	leader = task->group_leader;
	start_ns = task_start_ns_btf(task);
	if (pid != last_task.pid || start_ns != last_task.start_ns) {
		last_task.pid = pid;
		last_task.start_ns = start_ns;
		last_task.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
		last_task.uid = task->cred->uid.val;
		bpf_probe_read_kernel_str(&last_task.comm, sizeof(last_task.comm), leader->comm);
	}
	r.cgroup_id = last_task.cgroup_id;
	r.uid = last_task.uid;
	__builtin_memcpy(r.comm, last_task.comm, sizeof(r.comm));
	/* the socket as iter/tcp reports it; its owner the process holding the fd */
	r.sock.owner_pid = pid;
	r.sock.owner_start_ns = start_ns;
	sock_rec_common(&sk->__sk_common, &r.sock);
	r.sock.ino = file->f_inode->i_ino;
	/* sock->sk is not a trusted pointer, so no helper takes it: cast it (TCP checked above) */
	if (r.protocol != IPPROTO_TCP) {
		/* UDP: no tcp_sock fields */
	} else if (have_rdonly_cast()) {
		tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
		sock_rec_full(tp, &r.sock);
	} else if (sock_activity) {
		/* no kfunc (before 6.2, or the light skeleton): the activity by helper reads */
		sock_activity_probe(sk, &r.sock);
	}
	/*
	 * A TCP port from bind(0): its bucket is not connect()'s (fastreuse -1)
	 * and no explicit port was locked. It is not shared per destination.
	 */
	if (r.protocol == IPPROTO_TCP && r.sock.sport &&
	    !(BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks) & SOCK_BINDPORT_LOCK)) {
		const struct inet_connection_sock *icsk = (const void *)sk;
		struct inet_bind_bucket *tb = BPF_CORE_READ(icsk, icsk_bind_hash);

		if (tb && BPF_CORE_READ(tb, fastreuse) != -1) {
			r.flags = PH_F_BIND_EPHEMERAL;
			r.sock.flags |= PH_SR_BIND_EPHEMERAL;
		}
	}
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
