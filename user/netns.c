// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "htab.h"
#include "netns.h"

/* How to reach a namespace again: a pid living in it, or a bind-mount path. */
struct ns_ent {
	struct hnode node;
	__u32 inode;
	__u32 pid;
	char path[128];
};

struct ph_netns_reg {
	struct htab map;
};

struct ph_netns_reg *ph_netns_reg_new(void)
{
	struct ph_netns_reg *r = calloc(1, sizeof(*r));

	if (r)
		htab_init(&r->map, offsetof(struct ns_ent, inode) - offsetof(struct ns_ent, node),
			  sizeof(__u32));
	return r;
}

void ph_netns_reg_free(struct ph_netns_reg *r)
{
	if (!r)
		return;
	htab_free_entries(&r->map, offsetof(struct ns_ent, node));
	free(r);
}

static struct ns_ent *lookup(struct ph_netns_reg *r, __u32 inode)
{
	struct hnode *n = htab_find(&r->map, &inode);

	return n ? htab_entry(n, struct ns_ent, node) : NULL;
}

static struct ns_ent *add(struct ph_netns_reg *r, __u32 inode)
{
	struct ns_ent *e = lookup(r, inode);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->inode = inode;
	if (htab_insert(&r->map, &e->node)) {
		free(e);
		return NULL;
	}
	return e;
}

bool ph_netns_known(struct ph_netns_reg *r, __u32 inode)
{
	return lookup(r, inode) != NULL;
}

void ph_netns_note_pid(struct ph_netns_reg *r, __u32 inode, __u32 pid)
{
	struct ns_ent *e = add(r, inode);

	if (e && !e->path[0])
		e->pid = pid;
}

static __u32 path_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (__u32)st.st_ino;
}

__u32 ph_netns_self(void)
{
	return path_inode("/proc/thread-self/ns/net");
}

void ph_netns_scan(struct ph_netns_reg *r)
{
	struct ns_ent *e;
	struct dirent *de;
	DIR *d;

	/* not /proc/<getpid()>: in a container /proc may belong to another PID namespace */
	e = add(r, ph_netns_self());
	if (e)
		snprintf(e->path, sizeof(e->path), "/proc/thread-self/ns/net");
	d = opendir("/run/netns");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[128];
		__u32 ino;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%.100s", de->d_name);
		ino = path_inode(path);
		if (!ino)
			continue;
		e = add(r, ino);
		if (e)
			snprintf(e->path, sizeof(e->path), "%s", path);
	}
	closedir(d);
}

static int open_ns(const struct ns_ent *e)
{
	char path[128];
	struct stat st;
	int fd;

	if (e->path[0])
		snprintf(path, sizeof(path), "%s", e->path);
	else
		snprintf(path, sizeof(path), "/proc/%u/ns/net", e->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the pid may have exited and been reused in another namespace */
	if (fstat(fd, &st) || (__u32)st.st_ino != e->inode) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

int ph_netns_each(struct ph_netns_reg *r, int (*fn)(void *ctx, __u32 inode), void *ctx)
{
	struct hnode *n, *tmp;
	int self, err = 0;
	size_t i;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	htab_for_each(&r->map, n, tmp, i) {
		struct ns_ent *e = htab_entry(n, struct ns_ent, node);
		int fd = open_ns(e);

		if (fd < 0) {
			/* namespace gone (or unreachable): forget it */
			htab_remove(&r->map, n);
			free(e);
			continue;
		}
		if (setns(fd, CLONE_NEWNET)) {
			err = -errno;
			close(fd);
			break;
		}
		close(fd);
		err = fn(ctx, e->inode);
		if (setns(self, CLONE_NEWNET) && !err)
			err = -errno;
		if (err)
			break;
	}
	close(self);
	return err;
}

static int read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

int ph_netns_tcp_counts(__u32 *inuse, __u32 *inuse6, __u32 *tw)
{
	char buf[1024];
	const char *p;
	unsigned int n, t;
	int err;

	err = read_file("/proc/thread-self/net/sockstat", buf, sizeof(buf));
	if (err)
		return err;
	p = strstr(buf, "TCP: ");
	if (!p || sscanf(p, "TCP: inuse %u orphan %*u tw %u", &n, &t) != 2)
		return -EINVAL;
	*inuse = n;
	*inuse6 = 0;
	*tw = t;
	/* no IPv6: no file */
	if (!read_file("/proc/thread-self/net/sockstat6", buf, sizeof(buf)) &&
	    (p = strstr(buf, "TCP6: ")) && sscanf(p, "TCP6: inuse %u", &n) == 1) {
		*inuse += n;
		*inuse6 = n;
	}
	return 0;
}

__u32 ph_reserved_in_range(const char *list, __u16 lo, __u16 hi)
{
	const char *p = list;
	__u32 n = 0;

	while (p && *p) {
		char *end;
		long a = strtol(p, &end, 10), b;

		if (end == p)
			break;
		b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		if (a < lo)
			a = lo;
		if (b > hi)
			b = hi;
		if (b >= a)
			n += b - a + 1;
		p = strchr(end, ',');
		if (p)
			p++;
	}
	return n;
}

int ph_netns_read_settings(__u32 inode, struct ph_netns_info *out)
{
	char buf[4096];
	unsigned int lo, hi;
	int err;

	memset(out, 0, sizeof(*out));
	out->inode = inode;
	out->tw_reuse = -1;
	out->syn_retries = -1;
	out->timestamps = -1;
	err = read_file("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof(buf));
	if (err)
		return err;
	if (sscanf(buf, "%u %u", &lo, &hi) != 2 || lo > hi || hi > 65535)
		return -EINVAL;
	out->range_lo = lo;
	out->range_hi = hi;
	if (!read_file("/proc/sys/net/ipv4/ip_local_reserved_ports", buf, sizeof(buf))) {
		out->reserved = strdup(buf);
		out->reserved_in_range = ph_reserved_in_range(buf, lo, hi);
	}
	if (!read_file("/proc/sys/net/ipv4/tcp_tw_reuse", buf, sizeof(buf)))
		out->tw_reuse = atoi(buf);
	if (!read_file("/proc/sys/net/ipv4/tcp_syn_retries", buf, sizeof(buf)))
		out->syn_retries = atoi(buf);
	if (!read_file("/proc/sys/net/ipv4/tcp_timestamps", buf, sizeof(buf)))
		out->timestamps = atoi(buf);
	return 0;
}
