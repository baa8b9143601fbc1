// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /proc metadata: stat parsing, PID reuse, cmdline, uid, cgroups, container ids. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "unit.h"
#include "output.h"
#include "procinfo.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* starttime parsed the simple way: fine for a comm without spaces */
static unsigned long long self_start_sscanf(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/stat", "r");

	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
				"%*d %*d %*d %*d %llu", &v) != 1)
			v = 0;
	}
	fclose(f);
	return v;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* A child with a comm full of traps and another uid; waits for SIGKILL. */
static pid_t spawn_odd_child(const char *comm, uid_t uid)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_NAME, comm);
		if (setresuid(uid, uid, uid))
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &c, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	/* the shell's sleep too: it is in the shell's process group */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

UNIT_TEST(procinfo_self)
{
	struct ph_proc_meta m;
	char comm[64], cg[4096] = "", line[4096];
	unsigned long long st = self_start_sscanf();
	FILE *f;
	int err;

	CHECK(st != 0);
	CHECK_EQ_INT(ph_proc_start_ticks(getpid()), st);
	memset(&m, 0, sizeof(m));
	err = ph_procinfo_read(getpid(), st, &m);
	CHECK_EQ_INT(err, 0);
	if (err)
		return;
	CHECK_EQ_INT(m.key.pid, getpid());
	CHECK_EQ_INT(m.key.start, st);
	read_line("/proc/self/comm", comm, sizeof(comm));
	CHECK_EQ_STR(m.comm, comm);
	CHECK_EQ_INT(m.uid, getuid());
	CHECK(m.cmdline != NULL);
	/* the cgroup v2 line, "0::/path" */
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(cg, sizeof(cg), "%s", line + 3);
		}
	}
	if (f)
		fclose(f);
	if (cg[0]) {
		CHECK(m.cgroup != NULL);
		if (m.cgroup)
			CHECK_EQ_STR(m.cgroup, cg);
		CHECK(m.cgroup_id != 0);
		CHECK_EQ_INT(m.cgroup_id, ph_cgroup_id(cg));
	}
	ph_proc_meta_free(&m);
	CHECK(m.cmdline == NULL && m.cgroup == NULL);
	ph_proc_meta_free(&m);	/* twice is harmless */
}

UNIT_TEST(procinfo_cmdline_exact)
{
	struct ph_proc_meta m = {};
	pid_t pid;
	int err = -1, i;

	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		/* an empty argument, one with a space, trailing empties trimmed */
		execl("/bin/sh", "sh", "-c", "sleep 30; :", "a", "", "x y", "", (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	for (i = 0; i < 200; i++) {
		err = ph_procinfo_read(pid, 0, &m);
		if (!err && !strcmp(m.comm, "sh"))
			break;
		if (!err)
			ph_proc_meta_free(&m);
		sleep_ms(5);
	}
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_STR(m.comm, "sh");
	CHECK(m.cmdline != NULL);
	if (m.cmdline)
		CHECK_EQ_STR(m.cmdline, "sh -c sleep 30; : a  x y");
	CHECK_EQ_INT(m.key.pid, pid);
	CHECK_EQ_INT(m.key.start, ph_proc_start_ticks(pid));
	ph_proc_meta_free(&m);
	reap(pid);
}

UNIT_TEST(procinfo_cmdline_capped)
{
	char *arg = malloc(6000);
	struct ph_proc_meta m = {};
	pid_t pid;
	int err = -1, i;

	if (!arg)
		return;
	memset(arg, 'a', 5999);
	arg[5999] = '\0';
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", "sleep 30; :", arg, (char *)NULL);
		_exit(127);
	}
	free(arg);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	for (i = 0; i < 200; i++) {
		err = ph_procinfo_read(pid, 0, &m);
		if (!err && !strcmp(m.comm, "sh"))
			break;
		if (!err)
			ph_proc_meta_free(&m);
		sleep_ms(5);
	}
	CHECK_EQ_INT(err, 0);
	CHECK(m.cmdline != NULL);
	if (m.cmdline) {
		CHECK_EQ_INT(strlen(m.cmdline), PH_CMDLINE_MAX);
		CHECK(!strncmp(m.cmdline, "sh -c sleep 30; : aaaa", 22));
		CHECK_EQ_INT(m.cmdline[PH_CMDLINE_MAX - 1], 'a');
	}
	ph_proc_meta_free(&m);
	reap(pid);
}

UNIT_TEST(procinfo_stat_comm_with_parens)
{
	struct ph_proc_meta m = {};
	__u64 start, self = ph_proc_start_ticks(getpid());
	struct timespec now;
	pid_t pid;
	int err;

	pid = spawn_odd_child("a) (b c) 1 2", 4321);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	clock_gettime(CLOCK_BOOTTIME, &now);
	start = ph_proc_start_ticks(pid);
	/* started after us and before now */
	CHECK(start >= self);
	CHECK(start <= (__u64)now.tv_sec * sysconf(_SC_CLK_TCK) +
		       now.tv_nsec / (1000000000 / sysconf(_SC_CLK_TCK)) + 1);
	err = ph_procinfo_read(pid, start, &m);
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_STR(m.comm, "a) (b c) 1 2");
	CHECK_EQ_INT(m.uid, 4321);
	CHECK_EQ_INT(m.key.start, start);
	ph_proc_meta_free(&m);
	CHECK(ph_proc_alive(pid, start));
	CHECK(ph_proc_alive(pid, 0));
	reap(pid);
	CHECK(!ph_proc_alive(pid, start));
	CHECK_EQ_INT(ph_proc_start_ticks(pid), 0);
}

UNIT_TEST(procinfo_pid_reuse)
{
	struct ph_proc_meta m;
	__u64 start = ph_proc_start_ticks(getpid());

	memset(&m, 0x5a, sizeof(m));
	CHECK_EQ_INT(ph_procinfo_read(getpid(), start + 1, &m), -ESRCH);
	/* nothing filled */
	CHECK_EQ_INT(m.key.pid, 0x5a5a5a5a);
	CHECK_EQ_INT(m.uid, 0x5a5a5a5a);
	CHECK(!ph_proc_alive(getpid(), start + 1));
	CHECK(ph_proc_alive(getpid(), start));
	memset(&m, 0, sizeof(m));
	CHECK_EQ_INT(ph_procinfo_read(0, 0, &m), -ESRCH);
	CHECK_EQ_INT(ph_procinfo_read(999999999, 0, &m), -ESRCH);
	CHECK_EQ_INT(ph_proc_start_ticks(999999999), 0);
	CHECK(!ph_proc_alive(999999999, 0));
}

UNIT_TEST(procinfo_zombie)
{
	pid_t pid = fork();
	__u64 start;
	int i;

	if (pid == 0)
		_exit(0);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	/* wait until it is a zombie: exited, not reaped */
	for (i = 0; i < 200; i++) {
		char path[64], st[256];

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		read_line(path, st, sizeof(st));
		if (strstr(st, ") Z "))
			break;
		sleep_ms(5);
	}
	start = ph_proc_start_ticks(pid);
	CHECK(start != 0);
	CHECK(!ph_proc_alive(pid, start));
	waitpid(pid, NULL, 0);
}

/* cgroup v2 mount point, as the test sees it; "" if none */
static void cgroup2_dir(char *buf, size_t len)
{
	char line[4096], root[1024], dir[1024];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	buf[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, dir) == 2 && !strcmp(root, "/")) {
			snprintf(buf, len, "%s", dir);
			break;
		}
	}
	if (f)
		fclose(f);
}

UNIT_TEST(procinfo_cgroup_child)
{
	char mnt[1024], dir[2048], procs[2100], want[64], path[4096], pidstr[32];
	struct ph_proc_meta m = {};
	struct stat st;
	pid_t pid;
	int fd, err;

	cgroup2_dir(mnt, sizeof(mnt));
	if (!mnt[0])
		return;		/* no cgroup v2 here: nothing to check */
	snprintf(want, sizeof(want), "/ph-unit-%d", getpid());
	snprintf(dir, sizeof(dir), "%s%s", mnt, want);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return;		/* not allowed to create cgroups */
	CHECK_EQ_INT(stat(dir, &st), 0);
	pid = spawn_odd_child("cgchild", 0);
	CHECK(pid > 0);
	if (pid <= 0)
		goto out;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	fd = open(procs, O_WRONLY);
	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	err = fd >= 0 && write(fd, pidstr, strlen(pidstr)) > 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(err, 0);
	if (!err) {
		CHECK_EQ_INT(ph_procinfo_read(pid, 0, &m), 0);
		CHECK(m.cgroup != NULL);
		if (m.cgroup)
			CHECK_EQ_STR(m.cgroup, want);
		CHECK_EQ_INT(m.cgroup_id, st.st_ino);
		CHECK_EQ_INT(ph_cgroup_id(want), st.st_ino);
		CHECK_EQ_INT(ph_cgroup_path(st.st_ino, path, sizeof(path)), 0);
		CHECK_EQ_STR(path, want);
		ph_proc_meta_free(&m);
	}
	reap(pid);
out:
	rmdir(dir);
}

UNIT_TEST(procinfo_cgroup_path_root_and_missing)
{
	char mnt[1024], path[4096];
	struct stat st;

	cgroup2_dir(mnt, sizeof(mnt));
	if (!mnt[0] || stat(mnt, &st))
		return;
	CHECK_EQ_INT(ph_cgroup_id("/"), st.st_ino);
	CHECK_EQ_INT(ph_cgroup_path(st.st_ino, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, "/");
	/* no such cgroup: the handle fails, then the walk misses */
	CHECK_EQ_INT(ph_cgroup_path(0x7fffffffffffULL, path, sizeof(path)), -ENOENT);
	CHECK_EQ_INT(ph_cgroup_path(0, path, sizeof(path)), -EINVAL);
	CHECK_EQ_INT(ph_cgroup_id("/no/such/cgroup/here"), 0);
	CHECK_EQ_INT(ph_cgroup_id(NULL), 0);
}

#define UID	"0b1c2d3e-aaaa-bbbb-cccc-111122223333"
#define UID_	"0b1c2d3e_aaaa_bbbb_cccc_111122223333"	/* as the systemd driver writes it */
#define SHORT	"0123456789ab"

/* Real cgroup v2 path shapes of runtimes and both kubelet cgroup drivers. */
UNIT_TEST(cgroup_workload_shapes)
{
	static const struct {
		const char *path, *container, *pod_uid;
	} t[] = {
		/* Docker, systemd and cgroupfs drivers */
		{ "/system.slice/docker-" H64 ".scope", SHORT, "" },
		{ "/docker/" H64, SHORT, "" },
		/* Podman, root and rootless; the container's own sub-cgroup */
		{ "/machine.slice/libpod-" H64 ".scope", SHORT, "" },
		{ "/machine.slice/libpod-" H64 ".scope/container", SHORT, "" },
		{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" H64 ".scope",
		  SHORT, "" },
		{ "/machine.slice/libpod-conmon-" H64 ".scope", "", "" },
		/* containerd without Kubernetes (nerdctl) */
		{ "/system.slice/nerdctl-" H64 ".scope", SHORT, "" },
		{ "/default/" H64, SHORT, "" },
		/* kubelet, systemd driver: three QoS classes, three runtimes */
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/"
		  "cri-containerd-" H64 ".scope", SHORT, UID },
		{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/"
		  "crio-" H64 ".scope", SHORT, UID },
		{ "/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" H64 ".scope", SHORT, UID },
		{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/"
		  "crio-conmon-" H64 ".scope", "", UID },
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice",
		  "", UID },
		/* static pod: the UID is the config hash */
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		  "6B9E3B0AC8E3E2B0F4D1F6A8C2D0F3E1.slice/cri-containerd-" H64 ".scope",
		  SHORT, "6b9e3b0ac8e3e2b0f4d1f6a8c2d0f3e1" },
		/* kubelet, cgroupfs driver: three QoS classes */
		{ "/kubepods/burstable/pod" UID "/" H64, SHORT, UID },
		{ "/kubepods/besteffort/pod" UID "/" H64 "/sub", SHORT, UID },
		{ "/kubepods/pod" UID "/" H64, SHORT, UID },
		/* containerd's systemd cgroup paths inside a node container (kind) */
		{ "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:"
		  "cri-containerd:" H64, SHORT, UID },
		/* upper-case digits come out lower case */
		{ "/docker/0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
		  SHORT, "" },
		/* innermost container wins */
		{ "/docker/" H64 "/docker/fedcba9876543210fedcba9876543210fedcba9876543210"
		  "fedcba9876543210", "fedcba987654", "" },
		/* neither */
		{ "/", "", "" },
		{ "", "", "" },
		{ "/user.slice/user-0.slice/session-1.scope", "", "" },
		{ "/system.slice/docker.service", "", "" },
		{ "/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", "", "" },
		{ "/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", "", "" },
		{ "/docker/" H64 "0", "", "" },
		{ "/kubepods.slice/crio-conmon-" H64 ".scope", "", "" },
		{ "/system.slice/foo" H64 ".scope", "", "" },
		/* "pod<uid>" outside the kubelet's hierarchy, malformed UIDs */
		{ "/pod" UID "/x", "", "" },
		{ "/kubepods/burstable/pod1a2b/x", "", "" },
		{ "/kubepods/burstable/pod0b1c2d3eaaaa-bbbb-cccc-111122223333-/x", "", "" },
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ "x.slice",
		  "", "" },
		{ "/kubepods.slice/kubepods-burstable.slice", "", "" },
	};
	struct ph_workload w;
	char uid[PH_POD_UID_LEN + 1];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		bool found = ph_cgroup_workload(t[i].path, &w);

		CHECK(found == (t[i].container[0] || t[i].pod_uid[0]));
		CHECK(!strncmp(w.container, t[i].container, PH_CONTAINER_SHORT));
		CHECK(strlen(w.container) == (t[i].container[0] ? PH_CONTAINER_ID_LEN : 0));
		CHECK_EQ_STR(w.pod_uid, t[i].pod_uid);
		if (strncmp(w.container, t[i].container, PH_CONTAINER_SHORT) ||
		    strcmp(w.pod_uid, t[i].pod_uid))
			fprintf(stderr, "    path %s\n", t[i].path);
	}
	CHECK(!ph_cgroup_workload(NULL, &w) && !w.container[0] && !w.pod_uid[0]);
	/* the UID the --pod-uid filter takes: either spelling, the real one out */
	CHECK(ph_pod_uid_parse(UID_, strlen(UID_), uid));
	CHECK_EQ_STR(uid, UID);
	CHECK(!ph_pod_uid_parse("0b1c2d3e", 8, uid));
	CHECK(!ph_pod_uid_parse("0b1c2d3e-aaaa-bbbb-cccc-11112222333g", 36, uid));
}

UNIT_TEST(proc_filter_pod_container)
{
	static const char *const pod = "/kubepods.slice/kubepods-besteffort.slice/"
		"kubepods-besteffort-pod" UID_ ".slice/crio-" H64 ".scope";
	struct ph_proc_filter f = {};

	CHECK(ph_proc_filter_match(&f, pod));
	CHECK(ph_proc_filter_match(&f, NULL));
	strcpy(f.pod_uid, UID);
	CHECK(ph_proc_filter_match(&f, pod));
	CHECK(!ph_proc_filter_match(&f, "/docker/" H64));
	CHECK(!ph_proc_filter_match(&f, NULL));
	strcpy(f.container, "0123456789abcdef");
	CHECK(ph_proc_filter_match(&f, pod));
	strcpy(f.container, "01234567899");
	CHECK(!ph_proc_filter_match(&f, pod));
	f.pod_uid[0] = '\0';
	strcpy(f.container, H64);
	CHECK(ph_proc_filter_match(&f, "/docker/" H64));
	CHECK(!ph_proc_filter_match(&f, "/system.slice/cron.service"));
	f.cgroup = "docker";
	CHECK(!ph_proc_filter_match(&f, pod));
}
