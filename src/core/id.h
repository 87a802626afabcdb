/*
 * id: message identifiers that sort by arrival time.
 *
 * An id is a 64-bit number: milliseconds since the Unix epoch in the high
 * 44 bits and a sequence number in the low 20 bits. The generator never
 * returns the same id twice and never goes backwards, even if the wall clock
 * does (it then keeps counting on from the last id). The public spelling is
 * 13 characters of Crockford base32, fixed width, so ids compare the same as
 * strings and as numbers.
 */
#ifndef MAILSCOPE_CORE_ID_H
#define MAILSCOPE_CORE_ID_H

#include <stdint.h>

#define ID_STRLEN   13
#define ID_SEQ_BITS 20

struct id_gen {
	uint64_t last;
};

void id_gen_init(struct id_gen *g);
/* Next id for a message that arrived at now_ms (pure: the clock is passed in). */
uint64_t id_next(struct id_gen *g, int64_t now_ms);
/* out must hold ID_STRLEN + 1 bytes. */
void id_format(uint64_t id, char *out);
/* Accepts upper or lower case and Crockford's aliases (O->0, I/L->1). 0 on success. */
int id_parse(const char *s, uint64_t *out);
int64_t id_time_ms(uint64_t id);

#endif
