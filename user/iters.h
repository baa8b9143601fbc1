/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket iterators alone, loaded as a light skeleton: the kernel applies
 * their CO-RE relocations with its own BTF, so loading them parses no vmlinux
 * BTF in user space (a quarter of the libbpf load time). Needs a kernel with
 * BPF_PROG_TYPE_SYSCALL and kernel-side CO-RE; callers fall back to libbpf.
 */
#ifndef PH_ITERS_H
#define PH_ITERS_H

#include <linux/types.h>

struct ph_iters;

/*
 * Load and attach both iterators; tgid 0: every process. hz is the kernel's
 * CONFIG_HZ for the socket activity times, 0 leaves the activity out.
 * Returns 0 or -errno.
 */
int ph_iters_open(__u32 tgid, unsigned int hz, struct ph_iters **out);
void ph_iters_close(struct ph_iters *it);
/* Link fds for bpf_iter_create() */
int ph_iters_tcp_link(const struct ph_iters *it);
int ph_iters_files_link(const struct ph_iters *it);

#endif
