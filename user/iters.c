// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>

#include "iters.h"
#include "porthog_iter.lskel.h"

struct ph_iters {
	struct porthog_iter *skel;
};

int ph_iters_open(__u32 tgid, unsigned int hz, struct ph_iters **out)
{
	struct ph_iters *it;
	int err;

	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->skel = porthog_iter__open();
	if (!it->skel) {
		err = -ENOMEM;
		goto cleanup;
	}
	it->skel->rodata->target_tgid = tgid;
	it->skel->rodata->sock_activity = hz != 0;
	it->skel->kconfig->CONFIG_HZ = hz;
	err = porthog_iter__load(it->skel);
	if (err)
		goto cleanup;
	if (porthog_iter__attach(it->skel)) {
		err = -errno;
		goto cleanup;
	}
	*out = it;
	return 0;
cleanup:
	ph_iters_close(it);
	return err < 0 ? err : -EINVAL;
}

void ph_iters_close(struct ph_iters *it)
{
	if (!it)
		return;
	porthog_iter__destroy(it->skel);
	free(it);
}

int ph_iters_tcp_link(const struct ph_iters *it)
{
	return it->skel->links.iter_tcp_fd;
}

int ph_iters_files_link(const struct ph_iters *it)
{
	return it->skel->links.iter_task_file_fd;
}
