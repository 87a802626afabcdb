/* id: time-ordered message ids. See id.h. */
#include "core/id.h"

#include <string.h>

static const char id_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void id_gen_init(struct id_gen *g)
{
	g->last = 0;
	g->node_bits = 0;
	g->node = 0;
}

void id_gen_set_node(struct id_gen *g, unsigned bits, uint64_t node)
{
	g->node_bits = bits;
	g->node = bits ? node & ((UINT64_C(1) << bits) - 1) : 0;
}

uint64_t id_next(struct id_gen *g, int64_t now_ms)
{
	uint64_t candidate = (uint64_t)(now_ms < 0 ? 0 : now_ms) << ID_SEQ_BITS | g->node;
	/*
	 * Same millisecond or a clock that stepped back: continue the sequence
	 * (above the node bits, so the node number stays in every id).
	 */
	if (candidate <= g->last)
		candidate = ((g->last >> g->node_bits) + 1) << g->node_bits | g->node;
	g->last = candidate;
	return candidate;
}

void id_format(uint64_t id, char *out)
{
	/* 13 digits of 5 bits = 65 bits; the first digit carries the top 4 bits. */
	for (int i = ID_STRLEN - 1; i >= 0; i--) {
		out[i] = id_alphabet[id & 31];
		id >>= 5;
	}
	out[ID_STRLEN] = '\0';
}

static int id_digit(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	switch (c) {
	case 'O':
		return 0;
	case 'I':
	case 'L':
		return 1;
	default:
		break;
	}
	const char *p = c ? strchr(id_alphabet, c) : NULL;
	return p ? (int)(p - id_alphabet) : -1;
}

int id_parse(const char *s, uint64_t *out)
{
	if (strlen(s) != ID_STRLEN)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < ID_STRLEN; i++) {
		int d = id_digit(s[i]);
		if (d < 0 || (i == 0 && d > 15))
			return -1;
		v = (v << 5) | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int64_t id_time_ms(uint64_t id)
{
	return (int64_t)(id >> ID_SEQ_BITS);
}
