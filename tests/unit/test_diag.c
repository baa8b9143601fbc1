// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sock_diag + /proc socket walks, against real sockets (IPv4, IPv6, another netns). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "unit.h"
#include "diag.h"
#include "procinfo.h"

#define ST_ESTABLISHED	1
#define ST_TIME_WAIT	6
#define ST_CLOSE	7
#define ST_LISTEN	10

struct socks {
	struct ph_sock_rec *r;
	size_t n, cap;
	int stop_after;		/* non-zero: return 42 after this many */
};

struct fds {
	struct ph_fd_rec *r;
	size_t n, cap;
};

static int add_sock(void *ctx, const struct ph_sock_rec *r)
{
	struct socks *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->r = realloc(s->r, s->cap * sizeof(*s->r));
		if (!s->r)
			return -ENOMEM;
	}
	s->r[s->n++] = *r;
	return s->stop_after && (int)s->n >= s->stop_after ? 42 : 0;
}

static int add_fd(void *ctx, const struct ph_fd_rec *r)
{
	struct fds *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->r = realloc(s->r, s->cap * sizeof(*s->r));
		if (!s->r)
			return -ENOMEM;
	}
	s->r[s->n++] = *r;
	return 0;
}

static const struct ph_sock_rec *sock_by_ino(const struct socks *s, __u32 ino)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i].ino == ino)
			return &s->r[i];
	}
	return NULL;
}

/* How many records have that inode; *out is the last (a zeroed record if none). */
static size_t fds_with_ino(const struct fds *s, __u32 ino, const struct ph_fd_rec **out)
{
	static const struct ph_fd_rec none;
	size_t n = 0;

	*out = &none;
	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i].sock.ino == ino) {
			*out = &s->r[i];
			n++;
		}
	}
	return n;
}

static __u32 fd_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

static __u32 netns_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : st.st_ino;
}

static __u16 local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static bool kernel_at_least(int maj, int min)
{
	struct utsname u;
	int a = 0, b = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &a, &b) != 2)
		return false;
	return a > maj || (a == maj && b >= min);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Loopback address of family; v4: 127.0.0.1, v6: ::1 */
static socklen_t loopback(int family, struct sockaddr_storage *ss, __u16 port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(port);
	a6->sin6_addr = in6addr_loopback;
	return sizeof(*a6);
}

/* listener, client and accepted socket on loopback; 0 or -1 */
static int tcp_pair(int family, int *lfd, int *cfd, int *afd)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss, 0);

	*lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0 || bind(*lfd, (struct sockaddr *)&ss, len) || listen(*lfd, 16))
		return -1;
	len = loopback(family, &ss, local_port(*lfd));
	*cfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&ss, len))
		return -1;
	*afd = accept4(*lfd, NULL, NULL, SOCK_CLOEXEC);
	return *afd < 0 ? -1 : 0;
}

static void check_addr(const __u8 *got, int family, bool any)
{
	__u8 want[16] = {};

	if (family == AF_INET) {
		if (!any) {
			want[0] = 127;
			want[3] = 1;
		}
	} else if (!any) {
		memcpy(want, &in6addr_loopback, 16);
	}
	CHECK(!memcmp(got, want, 16));
}

static void check_walk_tcp(int family)
{
	struct socks s = {};
	int lfd = -1, cfd = -1, afd = -1, bfd;
	struct sockaddr_storage ss;
	const struct ph_sock_rec *r;
	__u16 lport, cport, bport;
	__u32 self_ns = netns_ino("/proc/self/ns/net");
	int n;

	CHECK_EQ_INT(tcp_pair(family, &lfd, &cfd, &afd), 0);
	/* bound, never listening or connecting */
	bfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ_INT(bind(bfd, (struct sockaddr *)&ss, loopback(family, &ss, 0)), 0);
	lport = local_port(lfd);
	cport = local_port(cfd);
	bport = local_port(bfd);

	n = ph_diag_walk_tcp(add_sock, &s);
	CHECK(n > 0);
	CHECK_EQ_INT(n, s.n);

	r = sock_by_ino(&s, fd_ino(lfd));
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_INT(r->family, family);
		CHECK_EQ_INT(r->state, ST_LISTEN);
		CHECK_EQ_INT(r->sport, lport);
		CHECK_EQ_INT(r->dport, 0);
		check_addr(r->saddr, family, false);
		check_addr(r->daddr, family, true);
		CHECK_EQ_INT(r->uid, geteuid());
		CHECK_EQ_INT(r->netns, self_ns);
		CHECK_EQ_INT(r->owner_pid, 0);
		CHECK_EQ_INT(r->owner_start_ns, 0);
	}
	r = sock_by_ino(&s, fd_ino(cfd));
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_INT(r->family, family);
		CHECK_EQ_INT(r->state, ST_ESTABLISHED);
		CHECK_EQ_INT(r->sport, cport);
		CHECK_EQ_INT(r->dport, lport);
		check_addr(r->saddr, family, false);
		check_addr(r->daddr, family, false);
		CHECK_EQ_INT(r->netns, self_ns);
	}
	r = sock_by_ino(&s, fd_ino(afd));
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_INT(r->state, ST_ESTABLISHED);
		CHECK_EQ_INT(r->sport, lport);
		CHECK_EQ_INT(r->dport, cport);
	}
	/* bound-only sockets: sock_diag has them since 6.8 (TCP_BOUND_INACTIVE) */
	r = sock_by_ino(&s, fd_ino(bfd));
	if (kernel_at_least(6, 8)) {
		CHECK(r != NULL);
		if (r) {
			CHECK_EQ_INT(r->family, family);
			CHECK_EQ_INT(r->state, ST_CLOSE);
			CHECK_EQ_INT(r->sport, bport);
			CHECK_EQ_INT(r->dport, 0);
			check_addr(r->saddr, family, false);
		}
	}
	/* nothing of the other family leaks in */
	for (size_t i = 0; i < s.n; i++)
		CHECK(s.r[i].family == AF_INET || s.r[i].family == AF_INET6);
	free(s.r);
	close(bfd);
	close(afd);
	close(cfd);
	close(lfd);
}

UNIT_TEST(diag_walk_tcp_ipv4)
{
	check_walk_tcp(AF_INET);
}

UNIT_TEST(diag_walk_tcp_ipv6)
{
	check_walk_tcp(AF_INET6);
}

/* IPv4 peer on a dual-stack listener: the accepted socket is AF_INET6, v4-mapped. */
UNIT_TEST(diag_walk_tcp_v4_mapped)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in a = { .sin_family = AF_INET };
	const __u8 mapped[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };
	const struct ph_sock_rec *r;
	struct socks s = {};
	int lfd, cfd, afd, off = 0;

	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&a6, sizeof(a6)), 0);
	CHECK_EQ_INT(listen(lfd, 4), 0);
	a.sin_port = htons(local_port(lfd));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ_INT(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0);
	CHECK(ph_diag_walk_tcp(add_sock, &s) > 0);
	r = sock_by_ino(&s, fd_ino(afd));
	CHECK(r != NULL);
	if (r) {
		CHECK_EQ_INT(r->family, AF_INET6);
		CHECK_EQ_INT(r->sport, local_port(lfd));
		CHECK_EQ_INT(r->dport, local_port(cfd));
		CHECK(!memcmp(r->saddr, mapped, 16));
		CHECK(!memcmp(r->daddr, mapped, 16));
	}
	r = sock_by_ino(&s, fd_ino(cfd));
	CHECK(r != NULL);
	if (r)
		CHECK_EQ_INT(r->family, AF_INET);
	free(s.r);
	close(afd);
	close(cfd);
	close(lfd);
}

UNIT_TEST(diag_walk_tcp_time_wait)
{
	int lfd, cfd, afd, i;
	__u16 lport, cport;
	const struct ph_sock_rec *tw = NULL;
	struct socks s = {};

	CHECK_EQ_INT(tcp_pair(AF_INET, &lfd, &cfd, &afd), 0);
	lport = local_port(lfd);
	cport = local_port(cfd);
	/* the client closes first: it ends in TIME_WAIT */
	close(cfd);
	close(afd);
	for (i = 0; i < 100 && !tw; i++) {
		s.n = 0;
		CHECK(ph_diag_walk_tcp(add_sock, &s) >= 0);
		for (size_t j = 0; j < s.n; j++) {
			if (s.r[j].sport == cport && s.r[j].dport == lport &&
			    s.r[j].state == ST_TIME_WAIT)
				tw = &s.r[j];
		}
		if (!tw)
			sleep_ms(10);
	}
	CHECK(tw != NULL);
	if (tw) {
		CHECK_EQ_INT(tw->ino, 0);
		CHECK_EQ_INT(tw->uid, 0);
		CHECK_EQ_INT(tw->family, AF_INET);
		check_addr(tw->daddr, AF_INET, false);
	}
	free(s.r);
	close(lfd);
}

UNIT_TEST(diag_walk_tcp_stops)
{
	struct socks s = { .stop_after = 1 };
	int lfd, cfd, afd;

	CHECK_EQ_INT(tcp_pair(AF_INET, &lfd, &cfd, &afd), 0);
	CHECK_EQ_INT(ph_diag_walk_tcp(add_sock, &s), 42);
	CHECK_EQ_INT(s.n, 1);
	free(s.r);
	close(afd);
	close(cfd);
	close(lfd);
}

UNIT_TEST(diag_walk_fds_self)
{
	int l4, c4, a4, l6, c6, a6, udp, unx[2];
	__u32 self_ns = netns_ino("/proc/self/ns/net");
	__u64 tick_ns = 1000000000ULL / sysconf(_SC_CLK_TCK);
	const struct ph_fd_rec *r;
	char comm[32] = "";
	struct fds f = {};
	FILE *cf;
	int n;

	CHECK_EQ_INT(tcp_pair(AF_INET, &l4, &c4, &a4), 0);
	CHECK_EQ_INT(tcp_pair(AF_INET6, &l6, &c6, &a6), 0);
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, unx), 0);
	cf = fopen("/proc/self/comm", "r");
	if (cf) {
		if (fgets(comm, sizeof(comm), cf))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(cf);
	}

	n = ph_diag_walk_fds(add_fd, &f, getpid());
	CHECK(n >= 6);
	CHECK_EQ_INT(n, f.n);
	for (size_t i = 0; i < f.n; i++) {
		CHECK_EQ_INT(f.r[i].sock.owner_pid, getpid());
		CHECK_EQ_INT(f.r[i].sock.owner_start_ns % tick_ns, 0);
		CHECK_EQ_INT(f.r[i].sock.owner_start_ns / tick_ns, ph_proc_start_ticks(getpid()));
		CHECK_EQ_INT(f.r[i].uid, getuid());
		CHECK_EQ_INT(f.r[i].sock.netns, self_ns);
		CHECK_EQ_STR(f.r[i].comm, comm);
	}
	if (f.n) {
		struct ph_proc_meta m = {};

		/* the cgroup id is the one of the process's cgroup v2 directory */
		if (!ph_procinfo_read(getpid(), 0, &m) && m.cgroup) {
			CHECK(f.r[0].cgroup_id != 0);
			CHECK_EQ_INT(f.r[0].cgroup_id, ph_cgroup_id(m.cgroup));
		}
		ph_proc_meta_free(&m);
	}

	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(l4), &r), 1);
	CHECK_EQ_INT(r->sock.state, ST_LISTEN);
	CHECK_EQ_INT(r->sock.family, AF_INET);
	CHECK_EQ_INT(r->sock.sport, local_port(l4));
	CHECK_EQ_INT(r->sock.dport, 0);
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(c4), &r), 1);
	CHECK_EQ_INT(r->sock.state, ST_ESTABLISHED);
	CHECK_EQ_INT(r->sock.sport, local_port(c4));
	CHECK_EQ_INT(r->sock.dport, local_port(l4));
	check_addr(r->sock.saddr, AF_INET, false);
	check_addr(r->sock.daddr, AF_INET, false);
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(a4), &r), 1);
	CHECK_EQ_INT(r->sock.sport, local_port(l4));
	CHECK_EQ_INT(r->sock.dport, local_port(c4));
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(l6), &r), 1);
	CHECK_EQ_INT(r->sock.family, AF_INET6);
	CHECK_EQ_INT(r->sock.state, ST_LISTEN);
	CHECK_EQ_INT(r->sock.sport, local_port(l6));
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(c6), &r), 1);
	CHECK_EQ_INT(r->sock.family, AF_INET6);
	CHECK_EQ_INT(r->sock.sport, local_port(c6));
	CHECK_EQ_INT(r->sock.dport, local_port(l6));
	check_addr(r->sock.saddr, AF_INET6, false);
	check_addr(r->sock.daddr, AF_INET6, false);
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(a6), &r), 1);
	CHECK_EQ_INT(r->sock.state, ST_ESTABLISHED);
	/* not TCP */
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(udp), &r), 0);
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(unx[0]), &r), 0);
	CHECK_EQ_INT(fds_with_ino(&f, fd_ino(unx[1]), &r), 0);

	/* a dup'ed fd is a second record for the same socket, as iter/task_file gives */
	{
		int d = dup(c4);

		f.n = 0;
		CHECK_EQ_INT(ph_diag_walk_fds(add_fd, &f, getpid()), n + 1);
		CHECK_EQ_INT(fds_with_ino(&f, fd_ino(c4), &r), 2);
		close(d);
	}
	/* no such process: nothing, no error */
	f.n = 0;
	CHECK_EQ_INT(ph_diag_walk_fds(add_fd, &f, 999999999), 0);
	free(f.r);
	close(udp);
	close(unx[0]);
	close(unx[1]);
	close(a6);
	close(c6);
	close(l6);
	close(a4);
	close(c4);
	close(l4);
}

struct tid_sync {
	int tid_pipe[2];	/* the thread sends its id */
	int go_pipe[2];		/* then waits for a byte here */
};

static void *blocked_thread(void *arg)
{
	struct tid_sync *t = arg;
	pid_t tid = gettid();
	char c;

	if (write(t->tid_pipe[1], &tid, sizeof(tid)) != sizeof(tid))
		return NULL;
	if (read(t->go_pipe[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

/* only_pid is a process, as in iter/task_file: a thread id matches nothing. */
UNIT_TEST(diag_walk_fds_thread_id)
{
	struct tid_sync t;
	struct fds f = {};
	int lfd, cfd, afd;
	pid_t tid = 0;
	pthread_t th;

	CHECK_EQ_INT(tcp_pair(AF_INET, &lfd, &cfd, &afd), 0);
	CHECK_EQ_INT(pipe(t.tid_pipe), 0);
	CHECK_EQ_INT(pipe(t.go_pipe), 0);
	CHECK_EQ_INT(pthread_create(&th, NULL, blocked_thread, &t), 0);
	CHECK_EQ_INT(read(t.tid_pipe[0], &tid, sizeof(tid)), sizeof(tid));
	CHECK(tid > 0 && tid != getpid());
	CHECK_EQ_INT(ph_diag_walk_fds(add_fd, &f, tid), 0);
	CHECK_EQ_INT(f.n, 0);
	CHECK(ph_diag_walk_fds(add_fd, &f, getpid()) >= 3);
	CHECK_EQ_INT(write(t.go_pipe[1], "x", 1), 1);
	pthread_join(th, NULL);
	close(t.tid_pipe[0]);
	close(t.tid_pipe[1]);
	close(t.go_pipe[0]);
	close(t.go_pipe[1]);
	free(f.r);
	close(afd);
	close(cfd);
	close(lfd);
}

/* What a child in its own netns opened, shared with the parent. */
struct ns_share {
	int status;		/* 1: ready, < 0: -errno */
	__u32 netns;
	__u32 n;
	struct {
		__u32 ino;
		__u16 sport, dport;
		__u8 state;
	} s[];
};

static int lo_up(void)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr))
		err = -errno;
	close(fd);
	return err;
}

static void ns_child(struct ns_share *sh, int nconn, int ready_fd)
{
	int lfd, cfd, afd, err;

	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		goto fail;
	}
	err = lo_up();
	if (err)
		goto fail;
	sh->netns = netns_ino("/proc/thread-self/ns/net");
	for (int i = 0; i < nconn; i++) {
		__u16 lport, cport;

		if (tcp_pair(AF_INET, &lfd, &cfd, &afd)) {
			err = -errno;
			goto fail;
		}
		lport = local_port(lfd);
		cport = local_port(cfd);
		if (!i) {
			/* keep one listener */
			sh->s[sh->n].ino = fd_ino(lfd);
			sh->s[sh->n].sport = lport;
			sh->s[sh->n].dport = 0;
			sh->s[sh->n++].state = ST_LISTEN;
		} else {
			close(lfd);
		}
		sh->s[sh->n].ino = fd_ino(cfd);
		sh->s[sh->n].sport = cport;
		sh->s[sh->n].dport = lport;
		sh->s[sh->n++].state = ST_ESTABLISHED;
		sh->s[sh->n].ino = fd_ino(afd);
		sh->s[sh->n].sport = lport;
		sh->s[sh->n].dport = cport;
		sh->s[sh->n++].state = ST_ESTABLISHED;
	}
	sh->status = 1;
	if (write(ready_fd, "x", 1) != 1)
		_exit(1);
	for (;;)
		pause();
fail:
	sh->status = err ? err : -EIO;
	if (write(ready_fd, "x", 1) != 1)
		_exit(1);
	_exit(1);
}

/* Count how many of the child's sockets a walk reported exactly right. */
static __u32 match_child(const struct fds *f, const struct ns_share *sh, pid_t pid)
{
	__u32 ok = 0;

	for (__u32 i = 0; i < sh->n; i++) {
		const struct ph_fd_rec *r;

		if (fds_with_ino(f, sh->s[i].ino, &r) != 1)
			continue;
		if (r->sock.owner_pid == (__u32)pid && r->sock.netns == sh->netns &&
		    r->sock.state == sh->s[i].state && r->sock.family == AF_INET &&
		    r->sock.sport == sh->s[i].sport && r->sock.dport == sh->s[i].dport)
			ok++;
	}
	return ok;
}

UNIT_TEST(diag_walk_fds_other_netns)
{
	__u32 self_ns = netns_ino("/proc/thread-self/ns/net");
	struct rlimit rl;
	struct ns_share *sh;
	struct socks s = {};
	struct fds f = {};
	size_t shlen;
	int p[2], nconn = 1600;	/* > 3200 fds: threads, dense fd table probing */
	pid_t pid;
	char c;

	/* needs CAP_SYS_ADMIN for a netns: make test runs as root */
	CHECK_EQ_INT(geteuid(), 0);
	if (geteuid() != 0)
		return;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < (rlim_t)nconn * 2 + 64)
		nconn = rl.rlim_max > 200 ? (rl.rlim_max - 64) / 2 : 50;
	shlen = sizeof(*sh) + (size_t)(nconn * 2 + 1) * sizeof(sh->s[0]);
	sh = mmap(NULL, shlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	if (sh == MAP_FAILED)
		return;
	CHECK_EQ_INT(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct rlimit want = { (rlim_t)nconn * 2 + 64, (rlim_t)nconn * 2 + 64 };

		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < want.rlim_cur) {
			want.rlim_max = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &want);
		}
		close(p[0]);
		ns_child(sh, nconn, p[1]);
	}
	close(p[1]);
	CHECK(pid > 0);
	CHECK_EQ_INT(read(p[0], &c, 1), 1);
	close(p[0]);
	CHECK_EQ_INT(sh->status, 1);
	if (sh->status != 1)
		goto out;
	CHECK(sh->netns != 0 && sh->netns != self_ns);

	/* only that process */
	CHECK_EQ_INT(ph_diag_walk_fds(add_fd, &f, pid), sh->n);
	CHECK_EQ_INT(match_child(&f, sh, pid), sh->n);
	/* the walk came back to our own netns */
	CHECK_EQ_INT(netns_ino("/proc/thread-self/ns/net"), self_ns);

	/* every process: the child's sockets are among them */
	f.n = 0;
	CHECK(ph_diag_walk_fds(add_fd, &f, 0) >= (int)sh->n);
	CHECK_EQ_INT(match_child(&f, sh, pid), sh->n);
	CHECK_EQ_INT(netns_ino("/proc/thread-self/ns/net"), self_ns);

	/* a walk of our own netns does not see them */
	CHECK(ph_diag_walk_tcp(add_sock, &s) >= 0);
	CHECK(sock_by_ino(&s, sh->s[0].ino) == NULL);
	CHECK(sock_by_ino(&s, sh->s[1].ino) == NULL);
out:
	free(s.r);
	free(f.r);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	munmap(sh, shlen);
}

static __u16 csum16(const void *data, size_t len, __u32 sum)
{
	const __u8 *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* A bare SYN from 10.9.9.9:40000 to 127.0.0.1:port, through a raw socket. */
static int send_syn(__u16 port)
{
	struct {
		__u8 vihl, tos;
		__u16 len, id, frag;
		__u8 ttl, proto;
		__u16 csum;
		__u32 src, dst;
		__u16 sport, dport;
		__u32 seq, ack;
		__u8 doff, flags;
		__u16 win, tcsum, urg;
	} __attribute__((packed)) pkt = {
		.vihl = 0x45, .len = htons(40), .id = htons(1), .ttl = 64, .proto = IPPROTO_TCP,
		.src = htonl(0x0a090909), .dst = htonl(INADDR_LOOPBACK),
		.sport = htons(40000), .dport = htons(port), .seq = htonl(1000),
		.doff = 5 << 4, .flags = 0x02, .win = htons(65535),
	};
	struct {
		__u32 src, dst;
		__u8 zero, proto;
		__u16 len;
	} __attribute__((packed)) ph = { pkt.src, pkt.dst, 0, IPPROTO_TCP, htons(20) };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	__u8 buf[32];
	int fd, err = 0;

	memcpy(buf, &ph, 12);
	memcpy(buf + 12, &pkt.sport, 20);
	pkt.tcsum = htons(csum16(buf, 32, 0));
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return -errno;
	if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* /proc/net/tcp lists request sockets as state 03 */
static bool proc_has_syn_recv(__u16 port)
{
	char line[256], want[16];
	bool found = false;
	FILE *f = fopen("/proc/net/tcp", "r");

	snprintf(want, sizeof(want), ":%04X", port);
	while (f && fgets(line, sizeof(line), f)) {
		char local[64], st[8];

		if (sscanf(line, "%*s %63s %*s %7s", local, st) == 2 && strstr(local, want) &&
		    !strcmp(st, "03"))
			found = true;
	}
	if (f)
		fclose(f);
	return found;
}

/*
 * Request sockets (SYN received, handshake not done) are not sockets of their
 * own in iter/tcp (TCP_NEW_SYN_RECV is skipped); the diag walk skips them too.
 * A SYN from an address routed to lo gets a SYN-ACK that goes nowhere, so the
 * request stays.
 */
UNIT_TEST(diag_walk_tcp_skips_request_socks)
{
	struct {
		int status;	/* 1 ran, 0 no route, < 0 failed */
		int n, listeners, others;
	} res = { -1 };
	int p[2];
	pid_t pid;

	CHECK_EQ_INT(geteuid(), 0);	/* a netns: make test runs as root */
	if (geteuid() != 0)
		return;
	CHECK_EQ_INT(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct socks s = {};
		struct sockaddr_storage ss;
		int lfd, i;
		__u16 port;

		close(p[0]);
		res.status = -1;
		if (unshare(CLONE_NEWNET) || lo_up())
			goto done;
		res.status = 0;
		if (system("ip route add 10.9.9.0/24 dev lo >/dev/null 2>&1"))
			goto done;	/* no iproute2 */
		res.status = -2;
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (bind(lfd, (struct sockaddr *)&ss, loopback(AF_INET, &ss, 0)) || listen(lfd, 8))
			goto done;
		port = local_port(lfd);
		res.status = -3;
		if (send_syn(port))
			goto done;
		for (i = 0; i < 100 && !proc_has_syn_recv(port); i++)
			sleep_ms(10);
		res.status = -4;
		if (!proc_has_syn_recv(port))
			goto done;
		res.n = ph_diag_walk_tcp(add_sock, &s);
		for (size_t j = 0; j < s.n; j++) {
			if (s.r[j].state == ST_LISTEN && s.r[j].sport == port)
				res.listeners++;
			else
				res.others++;
		}
		res.status = 1;
done:
		if (write(p[1], &res, sizeof(res)) != sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	CHECK(pid > 0);
	CHECK_EQ_INT(read(p[0], &res, sizeof(res)), sizeof(res));
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	CHECK_EQ_INT(res.status, 1);	/* 0: could not route 10.9.9.0/24 to lo */
	CHECK_EQ_INT(res.n, 1);
	CHECK_EQ_INT(res.listeners, 1);
	CHECK_EQ_INT(res.others, 0);
}
