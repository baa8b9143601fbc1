/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Process metadata from /proc: command line, comm, uid, cgroup, start time. */
#ifndef PH_PROCINFO_H
#define PH_PROCINFO_H

#include <stddef.h>

#include "account.h"

#define PH_CMDLINE_MAX	4096

/*
 * Fill m from /proc/PID. If start_ticks is non-zero and the process now at PID
 * started at another time, the PID was reused: -ESRCH and m is left alone.
 * Returns 0 or -errno; on success the caller frees m with ph_proc_meta_free.
 */
int ph_procinfo_read(__u32 pid, __u64 start_ticks, struct ph_proc_meta *m);
void ph_proc_meta_free(struct ph_proc_meta *m);

/* Start time in clock ticks since boot (/proc/PID/stat field 22), 0 if gone. */
__u64 ph_proc_start_ticks(__u32 pid);
/* The process exists, has not exited (zombies have) and started at start_ticks (0: any). */
bool ph_proc_alive(__u32 pid, __u64 start_ticks);

#define PH_CONTAINER_ID_LEN	64
#define PH_CONTAINER_SHORT	12	/* as `docker ps` shows it, and porthog's output */
#define PH_POD_UID_LEN		36

/* What a cgroup path says about the container and the Kubernetes pod a process runs in. */
struct ph_workload {
	char container[PH_CONTAINER_ID_LEN + 1];	/* lower-case hex, "" if none */
	char pod_uid[PH_POD_UID_LEN + 1];		/* the pod's real UID, "" if none */
};

/*
 * Parse a cgroup v2 path: the innermost container id of Docker
 * ("docker-<id>.scope", "/docker/<id>"), containerd ("cri-containerd-<id>.scope",
 * "<slice>:cri-containerd:<id>", "/kubepods/.../<id>"), CRI-O ("crio-<id>.scope")
 * or Podman ("libpod-<id>.scope"), never their monitors (conmon); and the pod UID
 * of the kubelet's systemd ("kubepods-<qos>-pod<uid>.slice", '_' for '-') or
 * cgroupfs ("/kubepods/<qos>/pod<uid>") driver. Returns true if either was found.
 */
bool ph_cgroup_workload(const char *cgroup_path, struct ph_workload *w);
/*
 * A pod UID of n characters at s: 8-4-4-4-12 hex digits with '-' or '_' (as
 * the systemd driver writes it), or 32 hex digits (static pods). Writes the
 * real UID (lower case, '-') to out and returns true, or returns false.
 */
bool ph_pod_uid_parse(const char *s, size_t n, char out[PH_POD_UID_LEN + 1]);

/*
 * In a container with the host's PID namespace (hostPID) but a cgroup namespace
 * of its own, /proc/PID/cgroup shows other processes' cgroups relative to ours
 * ("/../../kubepods.slice/..."): enter the cgroup namespace of PID 1, the
 * host's. Call before starting threads. Returns 0 (also when already there)
 * or -errno.
 */
int ph_cgroupns_enter_host(void);

/*
 * cgroup v2 id (inode number of the cgroup directory) -> path as in
 * /proc/PID/cgroup ("/system.slice/foo.service"). Returns 0 or -errno.
 */
int ph_cgroup_path(__u64 cgroup_id, char *buf, size_t len);
/* cgroup v2 path -> id, 0 if unknown. */
__u64 ph_cgroup_id(const char *cgroup_path);

/*
 * The same facts from an open /proc/PID directory (dirfd), so that all reads
 * are about one process even if the PID is reused meanwhile. Return 0 or -errno.
 */
int ph_proc_stat_at(int dirfd, __u64 *start_ticks, char *state);
int ph_proc_uid_at(int dirfd, __u32 *uid);	/* real uid */
/* A numeric field of /proc/PID/status ("Tgid", "FDSize"; the first number of "Uid"). */
int ph_proc_status_at(int dirfd, const char *key, __u32 *out);
int ph_proc_comm_at(int dirfd, char comm[PH_COMM_LEN]);
/* The "0::" line of /proc/PID/cgroup; malloc'ed, NULL if none. */
char *ph_proc_cgroup_at(int dirfd);

#endif
