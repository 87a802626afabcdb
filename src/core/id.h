/*
 * id: message identifiers that sort by arrival time.
 *
 * An id is a 64-bit number: milliseconds since the Unix epoch in the high
 * 44 bits and a sequence number in the low 20 bits. The generator never
 * returns the same id twice and never goes backwards, even if the wall clock
 * does (it then keeps counting on from the last id). The public spelling is
 * 13 characters of Crockford base32, fixed width, so ids compare the same as
 * strings and as numbers.
 *
 * Several nodes on one database (the PostgreSQL store) must never produce
 * the same id: each takes a node number from the database, and its ids
 * carry it in their lowest node_bits bits (the sequence keeps the bits in
 * between). Two nodes then differ in those bits whatever their clocks do,
 * and one node's ids still strictly increase. node_bits 0 (the default,
 * SQLite) is the plain time-and-sequence id.
 */
#ifndef MAILSCOPE_CORE_ID_H
#define MAILSCOPE_CORE_ID_H

#include <stdint.h>

#define ID_STRLEN   13
#define ID_SEQ_BITS 20

/* Bits of the sequence that carry the node number when several nodes share a store (256 nodes). */
#define ID_NODE_BITS 8

struct id_gen {
	uint64_t last;
	unsigned node_bits; /* 0 = no node number */
	uint64_t node;      /* < 1 << node_bits */
};

void id_gen_init(struct id_gen *g);
/* From now on, ids carry node in their lowest bits bits (bits <= ID_NODE_BITS). */
void id_gen_set_node(struct id_gen *g, unsigned bits, uint64_t node);
/* Next id for a message that arrived at now_ms (pure: the clock is passed in). */
uint64_t id_next(struct id_gen *g, int64_t now_ms);
/* out must hold ID_STRLEN + 1 bytes. */
void id_format(uint64_t id, char *out);
/* Accepts upper or lower case and Crockford's aliases (O->0, I/L->1). 0 on success. */
int id_parse(const char *s, uint64_t *out);
int64_t id_time_ms(uint64_t id);

#endif
