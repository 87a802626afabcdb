/*
 * fuzz_store_pg_notice: the payload of a "message committed" notification
 * (store_pg_notice_parse) comes from the database's channel, which any
 * client of the database may NOTIFY on: it must never crash, and what it
 * accepts must be what the writer would have sent — a node 0..255, an id
 * that fits a BIGINT, nonzero unless a bulk delete — and read back the same
 * when written out again the way the writer writes it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	struct store_pg_notice n;
	if (store_pg_notice_parse(s, &n) == 0) {
		if (n.node < 0 || n.node > 255 || n.id > INT64_MAX || (n.id == 0 && !n.deleted))
			abort();
		char again[64];
		if (n.deleted)
			snprintf(again, sizeof again, "%d d %llu", n.node, (unsigned long long)n.id);
		else
			snprintf(again, sizeof again, "%d %llu", n.node, (unsigned long long)n.id);
		struct store_pg_notice m;
		if (store_pg_notice_parse(again, &m) != 0 || m.node != n.node || m.id != n.id || m.deleted != n.deleted)
			abort();
	}
	free(s);
	return 0;
}
