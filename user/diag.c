// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <libmnl/libmnl.h>

#include "diag.h"
#include "procinfo.h"

#define ST_SYN_RECV		3
#define ST_FIN_WAIT1		4
#define ST_FIN_WAIT2		5
#define ST_TIME_WAIT		6
#define ST_CLOSE		7
#define ST_LAST_ACK		9
#define ST_CLOSING		11
#define ST_BOUND_INACTIVE	13	/* diag only, kernel >= 6.8: bound, not listening or connecting */
/* TCP_ESTABLISHED .. TCP_BOUND_INACTIVE; older kernels ignore the bits they lack */
#define DIAG_STATES		(((1u << (ST_BOUND_INACTIVE + 1)) - 1) & ~1u)
/* sockets that can have a file: no TIME_WAIT */
#define DIAG_FD_STATES		(DIAG_STATES & ~(1u << ST_TIME_WAIT))
#define DIAG_BUF		32768	/* the largest netlink dump skb */

/* Full walks ask for tcp_info: the socket activity, as the iterators read it */
static bool diag_activity = true;

void ph_diag_activity(bool on)
{
	diag_activity = on;
}

struct tcp_walk {
	ph_sock_fn fn;
	void *ctx;
	__u32 netns;
	int n;
	int err;	/* first non-zero return of fn */
};

static int self_netns(__u32 *ino)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st))
		return -errno;
	*ino = st.st_ino;
	return 0;
}

struct diag_attrs {
	bool full;			/* INET_DIAG_SHUTDOWN: a full socket */
	const struct tcp_info *info;	/* INET_DIAG_INFO, if asked for and long enough */
};

static int on_attr(const struct nlattr *a, void *data)
{
	struct diag_attrs *d = data;

	if (mnl_attr_get_type(a) == INET_DIAG_SHUTDOWN)
		d->full = true;
	else if (mnl_attr_get_type(a) == INET_DIAG_INFO &&
		 mnl_attr_get_payload_len(a) >= offsetof(struct tcp_info, tcpi_segs_in) +
		 sizeof(__u32))
		d->info = mnl_attr_get_payload(a);
	return MNL_CB_OK;
}

/* The activity part of a socket record from tcp_info (times already in ms). */
static void info_activity(const struct tcp_info *ti, struct ph_sock_rec *r)
{
	r->tx_idle_ms = ti->tcpi_last_data_sent;
	r->rx_idle_ms = ti->tcpi_last_data_recv;
	r->bytes_acked = ti->tcpi_bytes_acked;
	r->bytes_received = ti->tcpi_bytes_received;
	r->segs_out = ti->tcpi_segs_out;
	r->segs_in = ti->tcpi_segs_in;
	r->retrans = ti->tcpi_retransmits;
	r->flags |= PH_SR_ACTIVITY;
}

static int on_diag_msg(const struct nlmsghdr *nlh, void *data)
{
	struct tcp_walk *w = data;
	const struct inet_diag_msg *m;
	struct diag_attrs at = {};
	struct ph_sock_rec r = {};
	int err;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_OK;
	m = mnl_nlmsg_get_payload(nlh);
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*m), on_attr, &at);
	/* request sockets (a SYN received, no accept yet): SYN_RECV, no attributes but the mark */
	if (m->idiag_state == ST_SYN_RECV && !at.full)
		return MNL_CB_OK;
	if (at.info)
		info_activity(at.info, &r);
	r.family = m->idiag_family;
	/* as iter/task_file reports them */
	r.state = m->idiag_state == ST_BOUND_INACTIVE ? ST_CLOSE : m->idiag_state;
	r.sport = ntohs(m->id.idiag_sport);
	r.dport = ntohs(m->id.idiag_dport);
	memcpy(r.saddr, m->id.idiag_src, r.family == AF_INET ? 4 : 16);
	memcpy(r.daddr, m->id.idiag_dst, r.family == AF_INET ? 4 : 16);
	r.uid = m->idiag_uid;
	r.ino = m->idiag_inode;
	r.netns = w->netns;
	err = w->fn(w->ctx, &r);
	if (err) {
		w->err = err;
		return MNL_CB_STOP;
	}
	w->n++;
	return MNL_CB_OK;
}

static int dump_family(struct mnl_socket *nl, __u8 family, __u32 states, __u32 seq, char *buf,
		       struct tcp_walk *w)
{
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;
	__u32 portid = mnl_socket_get_portid(nl);
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = states;
	if (diag_activity && states != PH_DIAG_UNHELD)
		req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, DIAG_BUF);

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run(buf, len, seq, portid, on_diag_msg, w);
		if (ret < 0)
			return errno ? -errno : -EIO;
		if (ret == MNL_CB_STOP || w->err)
			return 0;
	}
}

/* family: AF_INET, AF_INET6, or AF_UNSPEC for both */
static int walk_tcp_states(ph_sock_fn fn, void *ctx, __u32 states, int family)
{
	struct tcp_walk w = { .fn = fn, .ctx = ctx };
	struct mnl_socket *nl;
	__u32 seq = time(NULL);
	char *buf;
	int err;

	err = self_netns(&w.netns);
	if (err)
		return err;
	buf = malloc(DIAG_BUF);
	if (!buf)
		return -ENOMEM;
	nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	if (!nl) {
		err = -errno;
		goto out_buf;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	if (family != AF_INET6) {
		err = dump_family(nl, AF_INET, states, seq, buf, &w);
		if (err || w.err || family == AF_INET)
			goto out;
	}
	err = dump_family(nl, AF_INET6, states, seq + 1, buf, &w);
	/* a kernel without IPv6 */
	if (err == -ENOENT || err == -EAFNOSUPPORT)
		err = 0;
out:
	mnl_socket_close(nl);
out_buf:
	free(buf);
	if (err)
		return err;
	return w.err ? w.err : w.n;
}

int ph_diag_walk_tcp(ph_sock_fn fn, void *ctx)
{
	return walk_tcp_states(fn, ctx, DIAG_STATES, AF_UNSPEC);
}

int ph_diag_walk_tcp_unheld(ph_sock_fn fn, void *ctx, int family)
{
	return walk_tcp_states(fn, ctx, PH_DIAG_UNHELD, family);
}

/* Open addressing, linear probing: 32-bit inode (never 0) -> 32-bit value. */
struct ino_slot {
	__u32 key;
	__u32 val;
};

struct ino_map {
	struct ino_slot *slots;
	__u32 mask;	/* capacity - 1, capacity a power of two */
	__u32 count;
};

static __u32 ino_hash(__u32 k)
{
	k *= 0x9e3779b1u;
	return k ^ (k >> 16);
}

static int ino_map_put(struct ino_map *m, __u32 key, __u32 val);

static int ino_map_grow(struct ino_map *m)
{
	struct ino_map n = {};
	__u32 cap = m->slots ? (m->mask + 1) * 2 : 1024;

	n.slots = calloc(cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	n.mask = cap - 1;
	if (m->slots) {
		for (__u32 i = 0; i <= m->mask; i++) {
			if (m->slots[i].key)
				ino_map_put(&n, m->slots[i].key, m->slots[i].val);
		}
	}
	free(m->slots);
	*m = n;
	return 0;
}

static int ino_map_put(struct ino_map *m, __u32 key, __u32 val)
{
	__u32 i;

	if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
		int err = ino_map_grow(m);

		if (err)
			return err;
	}
	for (i = ino_hash(key) & m->mask; m->slots[i].key; i = (i + 1) & m->mask) {
		if (m->slots[i].key == key) {
			m->slots[i].val = val;
			return 0;
		}
	}
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->count++;
	return 0;
}

static bool ino_map_get(const struct ino_map *m, __u32 key, __u32 *val)
{
	__u32 i;

	if (!m->slots)
		return false;
	for (i = ino_hash(key) & m->mask; m->slots[i].key; i = (i + 1) & m->mask) {
		if (m->slots[i].key == key) {
			*val = m->slots[i].val;
			return true;
		}
	}
	return false;
}

static void ino_map_free(struct ino_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/*
 * The /proc walk, in three phases:
 *  1. list every process's fds and network namespace (readdir only);
 *  2. readlink the fds, spread over a few threads, while this thread dumps
 *     each namespace once (setns, sock_diag, setns back) into an inode map;
 *  3. join the two and call fn, from this thread only.
 * readlink on /proc/PID/fd/N costs a few microseconds; threads keep a walk of
 * 100k sockets well under a second.
 */
#define FD_CHUNK	256	/* fds of one process per unit of work */
#define FD_MAX_THREADS	8
#define FD_PAR_MIN	2048	/* fewer fds: no helper threads */

struct fd_proc {
	__u32 pid;
	__u32 netns;		/* 0: unknown */
	__u32 first, count;	/* its fds in items[] */
};

struct fd_item {
	__u32 fd;
	__u32 ino;		/* socket inode, from phase 2; 0: not a socket */
};

struct fd_chunk {
	__u32 proc;
	__u32 first, count;
};

struct fd_walk {
	ph_fd_fn fn;
	void *ctx;
	int procfd;
	struct fd_proc *procs;
	__u32 nprocs, procs_cap;
	struct fd_item *items;
	__u32 nitems, items_cap;
	struct fd_chunk *chunks;
	__u32 nchunks, chunks_cap;
	__u32 next_chunk;		/* atomic */
	struct ph_sock_rec *socks;	/* every dumped socket that has an inode */
	__u32 nsocks, socks_cap;
	struct ino_map by_ino;		/* socket inode -> index in socks */
	struct ino_map nets;		/* netns inodes already dumped */
	int self_fd;			/* the thread's own netns, to come back to */
	__u32 self_ino;
	int n;
	int err;			/* first non-zero return of fn */
};

/* Room for element n of an array of *cap elements of sz bytes: the array, or NULL. */
static void *grow(void *arr, __u32 *cap, __u32 n, size_t sz)
{
	__u32 c;
	void *p;

	if (n < *cap)
		return arr;
	c = *cap ? *cap * 2 : 1024;
	p = realloc(arr, (size_t)c * sz);
	if (p)
		*cap = c;
	return p;
}

#define GROW(arr, cap, n) ({ \
	void *__p = grow(arr, &(cap), n, sizeof(*(arr))); \
	if (__p) \
		(arr) = __p; \
	__p ? 0 : -ENOMEM; \
})

static int collect_sock(void *ctx, const struct ph_sock_rec *r)
{
	struct fd_walk *w = ctx;

	if (!r->ino)
		return 0;
	if (GROW(w->socks, w->socks_cap, w->nsocks) ||
	    ino_map_put(&w->by_ino, r->ino, w->nsocks))
		return -ENOMEM;
	w->socks[w->nsocks++] = *r;
	return 0;
}

static bool parse_u32(const char *s, __u32 *out)
{
	__u64 v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = v;
	return true;
}

/*
 * Fd numbers of a big process with a dense fd table: probe 0 .. FDSize-1 and
 * skip readdir. Worth it when a probe that misses (~2 us) is rarer than the
 * readdir entry it saves (~1-3 us per fd, cold dentries cost most), and the
 * probes spread over threads where one readdir cannot. Kernels >= 6.2 report
 * the number of open fds as the size of /proc/PID/fd.
 */
#define DENSE_MIN_FDS	1024

static __u32 dense_fd_limit(int piddir, int fdfd)
{
	struct stat st;
	__u32 fdsize;

	if (fstat(fdfd, &st) || st.st_size < DENSE_MIN_FDS ||
	    ph_proc_status_at(piddir, "FDSize", &fdsize))
		return 0;
	/* at most one miss for three fds */
	return (__u64)fdsize * 3 <= (__u64)st.st_size * 4 ? fdsize : 0;
}

/* Phase 1: one process's fd numbers and netns. A vanished process adds nothing. */
static int list_proc(struct fd_walk *w, __u32 pid)
{
	struct fd_proc *p;
	struct dirent *de;
	struct stat st;
	char name[16];
	int piddir, fdfd, err = 0;
	__u32 fd, limit, first = w->nitems;
	DIR *d;

	snprintf(name, sizeof(name), "%u", pid);
	piddir = openat(w->procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (piddir < 0)
		return 0;
	fdfd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fdfd < 0)
		goto out;
	limit = dense_fd_limit(piddir, fdfd);
	if (limit) {
		close(fdfd);
		for (fd = 0; fd < limit && !err; fd++) {
			err = GROW(w->items, w->items_cap, w->nitems);
			if (!err) {
				w->items[w->nitems].fd = fd;
				w->items[w->nitems++].ino = 0;
			}
		}
	} else {
		d = fdopendir(fdfd);
		if (!d) {
			close(fdfd);
			goto out;
		}
		while ((de = readdir(d))) {
			if (!parse_u32(de->d_name, &fd))
				continue;
			err = GROW(w->items, w->items_cap, w->nitems);
			if (err)
				break;
			w->items[w->nitems].fd = fd;
			w->items[w->nitems++].ino = 0;
		}
		closedir(d);
	}
	if (err || w->nitems == first)
		goto out;
	err = GROW(w->procs, w->procs_cap, w->nprocs);
	if (err)
		goto out;
	p = &w->procs[w->nprocs];
	p->pid = pid;
	p->first = first;
	p->count = w->nitems - first;
	p->netns = fstatat(piddir, "ns/net", &st, 0) ? 0 : st.st_ino;
	for (__u32 i = 0; i < p->count; i += FD_CHUNK) {
		err = GROW(w->chunks, w->chunks_cap, w->nchunks);
		if (err)
			goto out;
		w->chunks[w->nchunks].proc = w->nprocs;
		w->chunks[w->nchunks].first = first + i;
		w->chunks[w->nchunks++].count = p->count - i < FD_CHUNK ? p->count - i : FD_CHUNK;
	}
	w->nprocs++;
out:
	close(piddir);
	return err;
}

/* Like iter/task_file's pid filter: a process (tgid), not one of its threads. */
static int list_only(struct fd_walk *w, __u32 pid)
{
	char name[16];
	__u32 tgid;
	int dirfd, err;

	snprintf(name, sizeof(name), "%u", pid);
	dirfd = openat(w->procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return 0;
	err = ph_proc_status_at(dirfd, "Tgid", &tgid);
	close(dirfd);
	if (err || tgid != pid)
		return 0;
	return list_proc(w, pid);
}

/* "socket:[12345]" -> 12345 */
static __u32 socket_ino(const char *link, ssize_t len)
{
	__u64 v = 0;
	ssize_t i;

	if (len < 10 || memcmp(link, "socket:[", 8) || link[len - 1] != ']')
		return 0;
	for (i = 8; i < len - 1; i++) {
		if (link[i] < '0' || link[i] > '9')
			return 0;
		v = v * 10 + (link[i] - '0');
		if (v > UINT32_MAX)
			return 0;
	}
	return v;
}

/* Phase 2: readlink chunks of fds until none is left. Any thread. */
static void *resolve_fds(void *arg)
{
	struct fd_walk *w = arg;
	char path[32], link[64];
	__u32 c;

	while ((c = __atomic_fetch_add(&w->next_chunk, 1, __ATOMIC_RELAXED)) < w->nchunks) {
		const struct fd_chunk *ch = &w->chunks[c];
		int fdfd;

		snprintf(path, sizeof(path), "%u/fd", w->procs[ch->proc].pid);
		fdfd = openat(w->procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fdfd < 0)
			continue;
		for (__u32 i = ch->first; i < ch->first + ch->count; i++) {
			struct fd_item *it = &w->items[i];
			ssize_t len;

			snprintf(path, sizeof(path), "%u", it->fd);
			len = readlinkat(fdfd, path, link, sizeof(link));
			if (len > 0 && len < (ssize_t)sizeof(link))
				it->ino = socket_ino(link, len);
		}
		close(fdfd);
	}
	return NULL;
}

/*
 * Phase 2, this thread: dump each netns once, entering it through a process
 * living there. A namespace that cannot be entered or dumped only loses its
 * sockets; returns a fatal -errno (no memory, or no way back).
 */
static int dump_namespaces(struct fd_walk *w)
{
	char path[40];
	struct stat st;
	__u32 dummy;
	int fd, err;

	for (__u32 i = 0; i < w->nprocs; i++) {
		__u32 ns = w->procs[i].netns;

		if (!ns || ino_map_get(&w->nets, ns, &dummy))
			continue;
		if (ns == w->self_ino) {
			err = walk_tcp_states(collect_sock, w, DIAG_FD_STATES, AF_UNSPEC);
			if (err == -ENOMEM)
				return err;
			if (ino_map_put(&w->nets, ns, 1))
				return -ENOMEM;
			continue;
		}
		snprintf(path, sizeof(path), "%u/ns/net", w->procs[i].pid);
		fd = openat(w->procfd, path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;	/* gone: try the next process of this netns */
		if (fstat(fd, &st) || st.st_ino != ns || setns(fd, CLONE_NEWNET)) {
			close(fd);
			continue;
		}
		close(fd);
		err = walk_tcp_states(collect_sock, w, DIAG_FD_STATES, AF_UNSPEC);
		if (setns(w->self_fd, CLONE_NEWNET)) {
			err = -errno;
			ph_err("cannot return to the original network namespace: %s",
			       strerror(-err));
			return err;
		}
		if (err == -ENOMEM)
			return err;
		if (ino_map_put(&w->nets, ns, 1))
			return -ENOMEM;
	}
	return 0;
}

/* Process facts, read when its first TCP socket fd is found. */
struct proc_facts {
	__u64 start_ns;
	__u64 cgroup_id;
	__u32 uid;
	char comm[PH_COMM_LEN];
};

static int read_facts(int procfd, __u32 pid, struct proc_facts *f)
{
	char name[16], *cg;
	__u64 ticks;
	int dirfd, err;

	snprintf(name, sizeof(name), "%u", pid);
	dirfd = openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -ESRCH;
	err = ph_proc_stat_at(dirfd, &ticks, NULL);
	if (!err)
		err = ph_proc_uid_at(dirfd, &f->uid);
	if (!err)
		err = ph_proc_comm_at(dirfd, f->comm);
	if (!err) {
		f->start_ns = ticks * (1000000000ULL / (unsigned long long)clk_tck());
		cg = ph_proc_cgroup_at(dirfd);
		f->cgroup_id = ph_cgroup_id(cg);
		free(cg);
	}
	close(dirfd);
	return err;
}

/* Phase 3 */
static void emit(struct fd_walk *w)
{
	for (__u32 i = 0; i < w->nprocs && !w->err; i++) {
		const struct fd_proc *p = &w->procs[i];
		struct proc_facts f;
		bool have = false;

		for (__u32 j = p->first; j < p->first + p->count; j++) {
			const struct ph_sock_rec *s;
			struct ph_fd_rec r = {};
			__u32 idx;

			if (!w->items[j].ino || !ino_map_get(&w->by_ino, w->items[j].ino, &idx))
				continue;	/* not TCP */
			if (!have) {
				if (read_facts(w->procfd, p->pid, &f))
					break;	/* exited meanwhile */
				have = true;
			}
			s = &w->socks[idx];
			r.sock = *s;
			r.sock.owner_pid = p->pid;
			r.sock.owner_start_ns = f.start_ns;
			r.cgroup_id = f.cgroup_id;
			r.protocol = PH_PROTO_TCP;
			r.uid = f.uid;
			memcpy(r.comm, f.comm, sizeof(r.comm));
			w->err = w->fn(w->ctx, &r);
			if (w->err)
				break;
			w->n++;
		}
	}
}

int ph_diag_walk_fds(ph_fd_fn fn, void *ctx, __u32 only_pid)
{
	struct fd_walk w = { .fn = fn, .ctx = ctx, .self_fd = -1 };
	pthread_t threads[FD_MAX_THREADS - 1];
	int nthreads = 0, err = 0;
	struct dirent *de;
	struct stat st;
	DIR *proc = NULL;
	long ncpu;
	__u32 pid;

	w.procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.procfd < 0)
		return -errno;
	w.self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (w.self_fd < 0 || fstat(w.self_fd, &st)) {
		err = -errno;
		goto out;
	}
	w.self_ino = st.st_ino;

	if (only_pid) {
		err = list_only(&w, only_pid);
	} else {
		proc = opendir("/proc");
		if (!proc) {
			err = -errno;
			goto out;
		}
		while (!err && (de = readdir(proc))) {
			if (parse_u32(de->d_name, &pid) && pid)
				err = list_proc(&w, pid);
		}
	}
	if (err)
		goto out;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (w.nitems >= FD_PAR_MIN && ncpu > 1) {
		int want = ncpu < FD_MAX_THREADS ? ncpu - 1 : FD_MAX_THREADS - 1;

		for (; nthreads < want; nthreads++) {
			if (pthread_create(&threads[nthreads], NULL, resolve_fds, &w))
				break;
		}
	}
	err = dump_namespaces(&w);
	resolve_fds(&w);
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	if (!err)
		emit(&w);
out:
	if (proc)
		closedir(proc);
	if (w.self_fd >= 0)
		close(w.self_fd);
	close(w.procfd);
	ino_map_free(&w.by_ino);
	ino_map_free(&w.nets);
	free(w.socks);
	free(w.procs);
	free(w.items);
	free(w.chunks);
	if (err)
		return err;
	return w.err ? w.err : w.n;
}
