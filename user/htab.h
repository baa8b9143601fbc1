/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Intrusive chained hash table with fixed-size binary keys. */
#ifndef PH_HTAB_H
#define PH_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **buckets;
	size_t nbuckets;
	size_t count;
	size_t key_off;		/* key offset from the hnode */
	size_t key_size;
};

#define htab_entry(node, type, member) \
	((type *)((char *)(node) - offsetof(type, member)))

void htab_init(struct htab *h, size_t key_off, size_t key_size);
void htab_free(struct htab *h);	/* frees the buckets, not the entries */
/* Frees every entry (plain malloc'ed structs, their hnode at node_off), then the buckets. */
void htab_free_entries(struct htab *h, size_t node_off);
struct hnode *htab_find(const struct htab *h, const void *key);
int htab_insert(struct htab *h, struct hnode *n);
void htab_remove(struct htab *h, struct hnode *n);
uint64_t htab_hash(const void *key, size_t len);

/* Safe against removal of the current node. */
#define htab_for_each(h, n, tmp, i) \
	for ((i) = 0; (i) < (h)->nbuckets; (i)++) \
		for ((n) = (h)->buckets[i]; (n) && ((tmp) = (n)->next, 1); (n) = (tmp))

#endif
