// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bind() and UDP watch: bpf/ports.bpf.c on the cgroup v2 root, sharing the ring buffer. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ports.h"
#include "ports.skel.h"

static const char *const cgroup_progs[] = {
	"ph_bind4", "ph_bind6", "ph_post_bind4", "ph_post_bind6", "ph_connect4", "ph_connect6",
	"ph_sendmsg4", "ph_sendmsg6", "ph_sock_release",
};

struct ph_ports {
	struct ports_bpf *skel;
	struct bpf_link *cgroup_links[ARRAY_SIZE(cgroup_progs)];
	int cgroup_fd;
	char root[256];
	__u64 swept_added;	/* attempts_added at the last sweep */
};

int ph_cgroup2_root(char *buf, size_t len)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS] - FSTYPE SOURCE SUPER" */
	while (fgets(line, sizeof(line), f)) {
		char root[512], mnt[512], *dash = strstr(line, " - ");
		char fstype[64];

		if (!dash || sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) != 2 || strcmp(root, "/"))
			continue;
		if (strlen(mnt) >= len) {
			err = -ENAMETOOLONG;
			continue;
		}
		snprintf(buf, len, "%s", mnt);
		err = 0;
		/* the unified /sys/fs/cgroup wins over a hybrid /sys/fs/cgroup/unified */
		if (!strcmp(mnt, "/sys/fs/cgroup"))
			break;
	}
	fclose(f);
	return err;
}

int ph_ports_open(const struct ph_ports_opts *o, struct ph_ports **out, char *why, size_t len)
{
	struct ph_ports *pp;
	struct bpf_program *prog;
	int err;

	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return -ENOMEM;
	pp->cgroup_fd = -1;
	err = ph_cgroup2_root(pp->root, sizeof(pp->root));
	if (err) {
		snprintf(why, len, "no cgroup v2 mount found in /proc/self/mountinfo");
		goto fail;
	}
	pp->cgroup_fd = open(pp->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pp->cgroup_fd < 0) {
		err = -errno;
		snprintf(why, len, "open %s: %s", pp->root, strerror(-err));
		goto fail;
	}
	pp->skel = ports_bpf__open();
	if (!pp->skel) {
		err = -(errno ?: EINVAL);
		snprintf(why, len, "open BPF object: %s", strerror(-err));
		goto fail;
	}
	pp->skel->rodata->target_tgid = o->pid;
	pp->skel->rodata->target_netns = o->netns;
	pp->skel->rodata->wakeup_bytes = o->wakeup_bytes;
	pp->skel->rodata->syscall_errno = o->syscall_errno;
	bpf_map__set_max_entries(pp->skel->maps.held, o->max_sockets);
	if (!o->syscall_errno)
		bpf_map__set_max_entries(pp->skel->maps.bind_tid, 1);
	bpf_program__set_autoload(pp->skel->progs.ph_sys_exit_bind, o->syscall_errno);
	err = o->events_fd < 0 ? 0 : bpf_map__reuse_fd(pp->skel->maps.events, o->events_fd);
	if (!err && o->stats_fd >= 0)
		err = bpf_map__reuse_fd(pp->skel->maps.stats, o->stats_fd);
	if (err) {
		snprintf(why, len, "share the ring buffer: %s", strerror(-err));
		goto fail;
	}
	err = ports_bpf__load(pp->skel);
	if (err) {
		snprintf(why, len, "load failed: %s", strerror(-err));
		goto fail;
	}
	if (o->load_only)
		goto done;
	for (size_t i = 0; i < ARRAY_SIZE(cgroup_progs); i++) {
		struct bpf_link *link;

		prog = bpf_object__find_program_by_name(pp->skel->obj, cgroup_progs[i]);
		link = prog ? bpf_program__attach_cgroup(prog, pp->cgroup_fd) : NULL;
		if (!link) {
			err = -(errno ?: ENOENT);
			snprintf(why, len, "attach %s to %s: %s", cgroup_progs[i], pp->root,
				 strerror(-err));
			goto fail;
		}
		pp->cgroup_links[i] = link;
	}
	pp->skel->links.ph_send_length = bpf_program__attach(pp->skel->progs.ph_send_length);
	if (!pp->skel->links.ph_send_length) {
		err = -errno;
		snprintf(why, len, "attach sock:sock_send_length: %s", strerror(-err));
		goto fail;
	}
	if (o->syscall_errno) {
		pp->skel->links.ph_sys_exit_bind = bpf_program__attach(pp->skel->progs.ph_sys_exit_bind);
		if (!pp->skel->links.ph_sys_exit_bind) {
			err = -errno;
			snprintf(why, len, "attach syscalls:sys_exit_bind: %s", strerror(-err));
			goto fail;
		}
	}
done:
	*out = pp;
	return 0;
fail:
	ph_ports_close(pp);
	return err;
}

void ph_ports_close(struct ph_ports *pp)
{
	if (!pp)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(cgroup_progs); i++)
		bpf_link__destroy(pp->cgroup_links[i]);
	ports_bpf__destroy(pp->skel);
	if (pp->cgroup_fd >= 0)
		close(pp->cgroup_fd);
	free(pp);
}

int ph_ports_sweep(struct ph_ports *pp)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	__u64 added;

	if (!pp)
		return 0;
	/* nothing new and nothing left waiting: skip the walk of the map */
	added = __atomic_load_n(&pp->skel->bss->attempts_added, __ATOMIC_RELAXED);
	if (added == pp->swept_added && !pp->skel->bss->attempts_left)
		return 0;
	pp->swept_added = added;
	if (bpf_prog_test_run_opts(bpf_program__fd(pp->skel->progs.ph_sweep), &opts))
		return -errno;
	return 0;
}

__u64 ph_ports_recursion_misses(struct ph_ports *pp)
{
	struct bpf_program *prog;
	__u64 n = 0;

	if (!pp)
		return 0;
	bpf_object__for_each_program(prog, pp->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int pfd = bpf_program__fd(prog);

		if (pfd >= 0 && !bpf_obj_get_info_by_fd(pfd, &info, &len))
			n += info.recursion_misses;
	}
	return n;
}

int ph_ports_try(bool attach, char *why, size_t len)
{
	struct ph_ports_opts o = {
		.max_sockets = 1024, .events_fd = -1, .stats_fd = -1, .load_only = !attach,
	};
	struct ph_ports *pp;
	int err;

	err = ph_ports_open(&o, &pp, why, len);
	if (err)
		return err;
	snprintf(why, len, "%s", attach ? "loads and attaches" : "passes the verifier");
	ph_ports_close(pp);
	return 0;
}

const char *ph_ports_cgroup_root(const struct ph_ports *pp)
{
	return pp ? pp->root : "";
}
