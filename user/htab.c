// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

/* Eight bytes a step (keys are small fixed-size structs), then a final mix. */
uint64_t htab_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

void htab_init(struct htab *h, size_t key_off, size_t key_size)
{
	memset(h, 0, sizeof(*h));
	h->key_off = key_off;
	h->key_size = key_size;
}

void htab_free(struct htab *h)
{
	free(h->buckets);
	h->buckets = NULL;
	h->nbuckets = h->count = 0;
}

void htab_free_entries(struct htab *h, size_t node_off)
{
	struct hnode *n, *tmp;
	size_t i;

	htab_for_each(h, n, tmp, i)
		free((char *)n - node_off);
	htab_free(h);
}

static const void *node_key(const struct htab *h, const struct hnode *n)
{
	return (const char *)n + h->key_off;
}

struct hnode *htab_find(const struct htab *h, const void *key)
{
	uint64_t hash;
	struct hnode *n;

	if (!h->nbuckets)
		return NULL;
	hash = htab_hash(key, h->key_size);
	for (n = h->buckets[hash & (h->nbuckets - 1)]; n; n = n->next)
		if (n->hash == hash && !memcmp(node_key(h, n), key, h->key_size))
			return n;
	return NULL;
}

static int grow(struct htab *h)
{
	size_t nb = h->nbuckets ? h->nbuckets * 2 : 64;
	struct hnode **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct hnode *n = h->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->nbuckets = nb;
	return 0;
}

int htab_insert(struct htab *h, struct hnode *n)
{
	size_t i;

	if (h->count >= h->nbuckets && grow(h))
		return -ENOMEM;
	n->hash = htab_hash(node_key(h, n), h->key_size);
	i = n->hash & (h->nbuckets - 1);
	n->next = h->buckets[i];
	h->buckets[i] = n;
	h->count++;
	return 0;
}

void htab_remove(struct htab *h, struct hnode *n)
{
	struct hnode **pp = &h->buckets[n->hash & (h->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			h->count--;
			return;
		}
	}
}
