// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "procinfo.h"

#define FILEID_KERNFS	0xfe	/* kernfs file handle: the 64-bit node id */
#define CGROUP_REFRESH_NS 1000000000ULL

/* Read a small /proc file relative to dirfd, NUL-terminated. Returns its length or -errno. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t len)
{
	size_t have = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (have < len - 1) {
		ssize_t r = read(fd, buf + have, len - 1 - have);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return r;
		}
		if (r == 0)
			break;
		have += r;
	}
	close(fd);
	buf[have] = '\0';
	return have;
}

static int open_pid_dir(__u32 pid)
{
	char path[32];
	int fd;

	if (!pid)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%u", pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	return fd;
}

int ph_proc_stat_at(int dirfd, __u64 *start_ticks, char *state)
{
	char buf[1024], *p, *end;
	unsigned long long v;
	ssize_t n;
	int i;

	n = read_at(dirfd, "stat", buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : n;
	/* comm may hold spaces and ')': fields restart after the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	while (*p == ' ')
		p++;
	if (!*p)
		return -EINVAL;
	if (state)
		*state = *p;
	/* p is at field 3 (state); starttime is field 22 */
	for (i = 3; i < 22; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EINVAL;
	*start_ticks = v;
	return 0;
}

int ph_proc_status_at(int dirfd, const char *key, __u32 *out)
{
	char buf[4096], want[32], *p, *end;
	unsigned long v;
	ssize_t n;

	/* the fields we want are near the top; a truncated read still has them */
	n = read_at(dirfd, "status", buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : n;
	snprintf(want, sizeof(want), "\n%s:", key);
	p = strstr(buf, want);
	if (!p)
		return -ENOENT;
	p += strlen(want);
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno || end == p || v > UINT32_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

int ph_proc_uid_at(int dirfd, __u32 *uid)
{
	return ph_proc_status_at(dirfd, "Uid", uid);
}

int ph_proc_comm_at(int dirfd, char comm[PH_COMM_LEN])
{
	char buf[64];
	ssize_t n;

	n = read_at(dirfd, "comm", buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : n;
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	memset(comm, 0, PH_COMM_LEN);
	memcpy(comm, buf, n < PH_COMM_LEN ? n : PH_COMM_LEN - 1);
	return 0;
}

char *ph_proc_cgroup_at(int dirfd)
{
	char buf[8192], *p, *nl;
	size_t len;
	ssize_t n;

	n = read_at(dirfd, "cgroup", buf, sizeof(buf));
	if (n <= 0)
		return NULL;
	for (p = buf; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (strncmp(p, "0::", 3))
			continue;
		p += 3;
		len = nl ? (size_t)(nl - p) : strlen(p);
		/* a removed cgroup shows as "/path (deleted)" */
		if (len > 10 && !memcmp(p + len - 10, " (deleted)", 10))
			len -= 10;
		return len ? strndup(p, len) : NULL;
	}
	return NULL;
}

/* Where the cgroup v2 hierarchy is mounted, and which of its paths is the mount root. */
static struct {
	pthread_once_t once;
	char dir[PATH_MAX];
	char root[PATH_MAX];	/* "" for "/" */
} cg2 = { .once = PTHREAD_ONCE_INIT };

/* mountinfo escapes blanks and backslashes as \ooo */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0');
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/*
 * A mount of the whole hierarchy (root "/") wins over one of a subtree, and a
 * later one over an earlier: in a container, the host's cgroup root mounted
 * over the runtime's mount of the container's own cgroup.
 */
static void find_cgroup2_mount(void)
{
	char *line = NULL, root[PATH_MAX], dir[PATH_MAX];
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(cg2.dir, sizeof(cg2.dir), "/sys/fs/cgroup");
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint ... - fstype source opts */
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, dir) != 2)
			continue;
		unescape(root);
		unescape(dir);
		if (found && !*cg2.root && strcmp(root, "/"))
			continue;
		snprintf(cg2.dir, sizeof(cg2.dir), "%s", dir);
		snprintf(cg2.root, sizeof(cg2.root), "%s", strcmp(root, "/") ? root : "");
		found = true;
	}
	free(line);
	fclose(f);
}

/*
 * Kernel threads live in the initial cgroup namespace; kthreadd is PID 2 of the
 * initial PID namespace (PID 1 may refuse ptrace access, and in a container
 * may be in a cgroup namespace of its own).
 */
int ph_cgroupns_enter_host(void)
{
	struct stat self, init;
	char buf[256];
	int dirfd, fd, err = 0;

	dirfd = open_pid_dir(2);
	if (dirfd < 0)
		return 0;
	/* not the host's PID namespace: no other cgroup namespace is in sight */
	if (read_at(dirfd, "stat", buf, sizeof(buf)) < 0 || strncmp(buf, "2 (kthreadd) S 0 ", 17))
		goto out;
	fd = openat(dirfd, "ns/cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fstat(fd, &init) || stat("/proc/thread-self/ns/cgroup", &self))
		err = -errno;
	else if ((self.st_ino != init.st_ino || self.st_dev != init.st_dev) &&
		 setns(fd, CLONE_NEWCGROUP))
		err = -errno;
	close(fd);
out:
	close(dirfd);
	return err;
}

static void cgroup2_mount(void)
{
	pthread_once(&cg2.once, find_cgroup2_mount);
}

__u64 ph_cgroup_id(const char *cgroup_path)
{
	char path[PATH_MAX * 2];
	size_t rl;
	struct stat st;

	if (!cgroup_path || cgroup_path[0] != '/')
		return 0;
	cgroup2_mount();
	rl = strlen(cg2.root);
	if (rl && !strncmp(cgroup_path, cg2.root, rl) &&
	    (cgroup_path[rl] == '/' || !cgroup_path[rl]))
		cgroup_path += rl;
	snprintf(path, sizeof(path), "%s%s", cg2.dir, cgroup_path);
	if (stat(path, &st))
		return 0;
	return st.st_ino;
}

/* Absolute directory under the mount -> path as /proc/PID/cgroup shows it. */
static int mount_rel_path(const char *abs, char *buf, size_t len)
{
	size_t dl = strlen(cg2.dir);
	const char *rest;

	if (strncmp(abs, cg2.dir, dl) || (abs[dl] && abs[dl] != '/'))
		return -ENOENT;
	rest = abs + dl;
	if (!*cg2.root && !*rest)
		rest = "/";
	if ((size_t)snprintf(buf, len, "%s%s", cg2.root, rest) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Resolve with a kernfs file handle: needs CAP_DAC_READ_SEARCH. */
static int cgroup_path_fhandle(__u64 id, char *buf, size_t len)
{
	union {
		struct file_handle fh;
		char raw[sizeof(struct file_handle) + sizeof(__u64)];
	} h;
	char link[64], abs[PATH_MAX];
	int mfd, fd, err;
	ssize_t n;

	mfd = open(cg2.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	h.fh.handle_bytes = sizeof(__u64);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	close(mfd);
	if (err)
		return err;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, abs, sizeof(abs) - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	abs[n] = '\0';
	return mount_rel_path(abs, buf, len);
}

/* Fallback: walk the hierarchy into an id -> path cache, refreshed at most once a second. */
struct cg_ent {
	__u64 id;
	char *path;
};

static struct {
	pthread_mutex_t lock;
	struct cg_ent *ents;
	size_t n, cap;
	__u64 loaded_ns;
} cg_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void cg_cache_clear(void)
{
	for (size_t i = 0; i < cg_cache.n; i++)
		free(cg_cache.ents[i].path);
	cg_cache.n = 0;
}

static int cg_cache_add(__u64 id, const char *abs)
{
	char rel[PATH_MAX];

	if (mount_rel_path(abs, rel, sizeof(rel)))
		return 0;
	if (cg_cache.n == cg_cache.cap) {
		size_t cap = cg_cache.cap ? cg_cache.cap * 2 : 256;
		struct cg_ent *e = realloc(cg_cache.ents, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		cg_cache.ents = e;
		cg_cache.cap = cap;
	}
	cg_cache.ents[cg_cache.n].path = strdup(rel);
	if (!cg_cache.ents[cg_cache.n].path)
		return -ENOMEM;
	cg_cache.ents[cg_cache.n++].id = id;
	return 0;
}

static int cg_walk(char *abs, size_t used, size_t len, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int err;

	if (stat(abs, &st))
		return 0;
	err = cg_cache_add(st.st_ino, abs);
	if (err || depth > 64)
		return err;
	d = opendir(abs);
	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		size_t nl = strlen(de->d_name);

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (used + 1 + nl >= len)
			continue;
		abs[used] = '/';
		memcpy(abs + used + 1, de->d_name, nl + 1);
		err = cg_walk(abs, used + 1 + nl, len, depth + 1);
		abs[used] = '\0';
	}
	closedir(d);
	return err;
}

static int cgroup_path_walk(__u64 id, char *buf, size_t len)
{
	char abs[PATH_MAX];
	struct timespec ts;
	__u64 now;
	int err = -ENOENT, pass;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	pthread_mutex_lock(&cg_cache.lock);
	for (pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cg_cache.n; i++) {
			if (cg_cache.ents[i].id != id)
				continue;
			err = (size_t)snprintf(buf, len, "%s", cg_cache.ents[i].path) >= len ?
			      -ENAMETOOLONG : 0;
			goto out;
		}
		if (pass || (cg_cache.loaded_ns && now - cg_cache.loaded_ns < CGROUP_REFRESH_NS))
			break;
		cg_cache_clear();
		cg_cache.loaded_ns = now;
		snprintf(abs, sizeof(abs), "%s", cg2.dir);
		err = cg_walk(abs, strlen(abs), sizeof(abs), 0);
		if (err)
			goto out;
		err = -ENOENT;
	}
out:
	pthread_mutex_unlock(&cg_cache.lock);
	return err;
}

int ph_cgroup_path(__u64 cgroup_id, char *buf, size_t len)
{
	if (!cgroup_id || !len)
		return -EINVAL;
	cgroup2_mount();
	if (!cgroup_path_fhandle(cgroup_id, buf, len))
		return 0;
	return cgroup_path_walk(cgroup_id, buf, len);
}

static char *read_cmdline(int dirfd)
{
	char *buf;
	ssize_t n;

	buf = malloc(PH_CMDLINE_MAX + 1);
	if (!buf)
		return NULL;
	n = read_at(dirfd, "cmdline", buf, PH_CMDLINE_MAX + 1);
	if (n < 0)
		n = 0;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	/* kernel threads and zombies have none */
	if (!n) {
		free(buf);
		return NULL;
	}
	return buf;
}

int ph_procinfo_read(__u32 pid, __u64 start_ticks, struct ph_proc_meta *m)
{
	struct ph_proc_meta t = {};
	__u64 start;
	int dirfd, err;

	dirfd = open_pid_dir(pid);
	if (dirfd < 0)
		return dirfd;
	err = ph_proc_stat_at(dirfd, &start, NULL);
	if (err)
		goto out;
	if (start_ticks && start != start_ticks) {
		err = -ESRCH;
		goto out;
	}
	t.key.pid = pid;
	t.key.start = start;
	err = ph_proc_comm_at(dirfd, t.comm);
	if (err)
		goto out;
	err = ph_proc_uid_at(dirfd, &t.uid);
	if (err)
		goto out;
	t.cmdline = read_cmdline(dirfd);
	t.cgroup = ph_proc_cgroup_at(dirfd);
	t.cgroup_id = ph_cgroup_id(t.cgroup);
	*m = t;
out:
	close(dirfd);
	return err;
}

void ph_proc_meta_free(struct ph_proc_meta *m)
{
	if (!m)
		return;
	free(m->cmdline);
	free(m->cgroup);
	m->cmdline = NULL;
	m->cgroup = NULL;
}

__u64 ph_proc_start_ticks(__u32 pid)
{
	__u64 start = 0;
	int dirfd;

	dirfd = open_pid_dir(pid);
	if (dirfd < 0)
		return 0;
	if (ph_proc_stat_at(dirfd, &start, NULL))
		start = 0;
	close(dirfd);
	return start;
}

bool ph_proc_alive(__u32 pid, __u64 start_ticks)
{
	__u64 start;
	char state = 0;
	int dirfd;
	bool alive;

	dirfd = open_pid_dir(pid);
	if (dirfd < 0)
		return false;
	alive = !ph_proc_stat_at(dirfd, &start, &state) &&
		(!start_ticks || start == start_ticks) && state != 'Z' && state != 'X';
	close(dirfd);
	return alive;
}

/* A path component naming a container: "<prefix>-<id>.scope", "...:<runtime>:<id>" or "<id>". */
static const char *component_id(const char *s, size_t n)
{
	const char *id;
	size_t i;

	if (n > 6 && !memcmp(s + n - 6, ".scope", 6))
		n -= 6;
	if (n < PH_CONTAINER_ID_LEN)
		return NULL;
	id = s + n - PH_CONTAINER_ID_LEN;
	if (id > s && id[-1] != '-' && id[-1] != ':')
		return NULL;
	/* the runtime's monitor, not the container */
	if (memmem(s, id - s, "conmon", 6))
		return NULL;
	for (i = 0; i < PH_CONTAINER_ID_LEN; i++) {
		if (!isxdigit((unsigned char)id[i]))
			return NULL;
	}
	return id;
}

bool ph_pod_uid_parse(const char *s, size_t n, char out[PH_POD_UID_LEN + 1])
{
	char uid[PH_POD_UID_LEN + 1];
	size_t i;

	if (n != PH_POD_UID_LEN && n != 32)
		return false;
	for (i = 0; i < n; i++) {
		bool dash = n == PH_POD_UID_LEN && (i == 8 || i == 13 || i == 18 || i == 23);
		char c = s[i];

		if (dash ? c != '-' && c != '_' : !isxdigit((unsigned char)c))
			return false;
		uid[i] = dash ? '-' : tolower((unsigned char)c);
	}
	uid[n] = '\0';
	memcpy(out, uid, n + 1);
	return true;
}

/*
 * A path component naming a pod: "pod<uid>" (cgroupfs driver),
 * "kubepods[-<qos>]-pod<uid>.slice" (systemd driver), the latter also as the
 * slice part of "<slice>:<runtime>:<id>" (containerd's systemd cgroup paths).
 */
static bool component_pod(const char *s, size_t n, char out[PH_POD_UID_LEN + 1])
{
	const char *colon = memchr(s, ':', n);

	if (colon)
		n = colon - s;
	if (n > 3 && !memcmp(s, "pod", 3))
		return ph_pod_uid_parse(s + 3, n - 3, out);
	if (n < 8 + 4 + 6 || memcmp(s, "kubepods-", 9) || memcmp(s + n - 6, ".slice", 6))
		return false;
	n -= 6;
	for (size_t i = n; i-- > 8;) {
		if (s[i] == '-')
			return i + 4 < n && !memcmp(s + i + 1, "pod", 3) &&
			       ph_pod_uid_parse(s + i + 4, n - i - 4, out);
	}
	return false;
}

bool ph_cgroup_workload(const char *cgroup_path, struct ph_workload *w)
{
	const char *end, *start, *id;
	bool kube = false;

	memset(w, 0, sizeof(*w));
	if (!cgroup_path)
		return false;
	/* innermost first: nested runtimes and sub-cgroups inside a container */
	end = cgroup_path + strlen(cgroup_path);
	while (end > cgroup_path) {
		size_t n;

		start = end;
		while (start > cgroup_path && start[-1] != '/')
			start--;
		n = end - start;
		if (!w->container[0] && (id = component_id(start, n))) {
			for (int i = 0; i < PH_CONTAINER_ID_LEN; i++)
				w->container[i] = tolower((unsigned char)id[i]);
		}
		if (!w->pod_uid[0])
			component_pod(start, n, w->pod_uid);
		if (n >= 8 && !memcmp(start, "kubepods", 8))
			kube = true;
		end = start > cgroup_path ? start - 1 : start;
	}
	/* "pod<uid>" names a pod only under the kubelet's kubepods hierarchy */
	if (!kube)
		w->pod_uid[0] = '\0';
	return w->container[0] || w->pod_uid[0];
}
