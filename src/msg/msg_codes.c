/*
 * msg_codes: one-time codes in a message, ranked. See msg_codes.h.
 *
 * Each source (the text body, the visible text of the HTML body, the
 * subject) is cut into tokens: digit runs, words (Latin, Greek, Cyrillic;
 * letters and digits together), runs of ideographic script (CJK, kana,
 * hangul: no spaces there, so a code word is found inside the run) and
 * single punctuation marks. Candidates are digit runs, grouped digits and,
 * next to a code word, alphanumeric tokens. A candidate is dropped by the
 * exclusion rules (dates, amounts, phone numbers, labelled numbers ...) and
 * otherwise scored by msg_codes_weights; what scores under
 * MSG_CODES_MIN_SCORE is left out. docs/ARCHITECTURE.md has both tables.
 * The words that label a number, in every language, are in
 * msg_codes_words.c (the files: msg_codes_internal.h).
 *
 * Promises: strings are valid UTF-8, values are ASCII letters and digits,
 * the cost is linear in the input. Does not: read HTML (callers pass
 * msg_html_text), guess codes spelled out in words, or look into images.
 */
#include "msg/msg_codes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_codes_internal.h"

/* A candidate scoring under this (in points of 100) is not reported. */
#define MSG_CODES_MIN_POINTS 30
/* Words searched either side of a candidate for a label. */
#define MSG_CODES_WINDOW 8
/* An ID label (order, invoice ...) labels a number only this close. */
#define MSG_CODES_ID_REACH 3
/* Tokens (punctuation included) a label walk may pass over in all: bounds the work per candidate. */
#define MSG_CODES_WALK_STEPS 48
/* Bytes looked at around a candidate for URLs, identifiers and telephone numbers. */
#define MSG_CODES_RUN_MAX   128
#define MSG_CODES_PHONE_MAX 32
/* A line of at most this many words that ends in a label labels the line below. */
#define MSG_CODES_LABEL_LINE_WORDS 3
/* An alphanumeric token is a candidate only with a code word this close (words before / after). */
#define MSG_CODES_ALNUM_BEFORE 4
#define MSG_CODES_ALNUM_AFTER  3
/*
 * Bytes of each source read (subject, text, HTML text): one-time codes sit at
 * the top of short messages, and the token array costs about 64 bytes per word.
 */
#define MSG_CODES_SOURCE_MAX  (1024 * 1024)
#define MSG_CODES_SUBJECT_MAX 2048
/* Bytes of context kept. */
#define MSG_CODES_CONTEXT_MAX 200
#define MSG_CODES_MIN_LEN     4
#define MSG_CODES_MAX_LEN     10

/*
 * Score, in points of 100: the label term is the best one found, the others
 * add up. The largest possible sum is 100, so score = points / 100.
 */
enum {
	MSG_CODES_W_BEFORE_NEAR = 40, /* code word 1-3 words before, same line */
	MSG_CODES_W_BEFORE_FAR = 30,  /* 4-8 words before */
	MSG_CODES_W_AFTER_NEAR = 35,  /* 1-3 words after ("123456 is your code") */
	MSG_CODES_W_AFTER_FAR = 25,
	MSG_CODES_W_PREV_NEAR = 35, /* at the end of the line above ("Your code:" / "123456") */
	MSG_CODES_W_PREV_FAR = 25,
	MSG_CODES_W_NEXT = 25,    /* on the line below */
	MSG_CODES_W_ALONE = 15,   /* alone on its line (HTML codes sit in their own block) */
	MSG_CODES_W_EMPHASIS = 5, /* *123456*, [123456], 「123456」 */
	MSG_CODES_W_SUBJECT_VALUE = 15,
	MSG_CODES_W_SUBJECT_WORD = 10,
	MSG_CODES_W_LEN6 = 10,
	MSG_CODES_W_LEN48 = 6,
	MSG_CODES_W_LEN57 = 4,
	MSG_CODES_W_GROUPED = 5, /* 123-456, 123 456: a code laid out to be typed */
};
/* A weak code word (verification, security, token ...) earns half. */

/* ---- tokens ---- */

static void msg_codes_tok_add(struct msg_codes_src *src, const struct msg_codes_tok *t)
{
	if (src->ntok == src->cap) {
		src->cap = src->cap ? src->cap * 2 : 256;
		src->tok = xrealloc(src->tok, src->cap * sizeof *src->tok);
	}
	src->tok[src->ntok++] = *t;
}

static void msg_codes_tokenize(struct msg_codes_src *src)
{
	const char *t = src->t;
	size_t n = src->n, i = 0, line = 0;
	while (i < n) {
		uint32_t c;
		size_t len = utf8_decode((const unsigned char *)t + i, n - i, &c);
		enum utf8_cc cc = utf8_class(c);
		struct msg_codes_tok k;
		memset(&k, 0, sizeof k);
		k.s = i;
		k.line = line;
		k.label = k.label_before = k.label_after = -2;
		k.fold_len = SIZE_MAX;
		if (c == '\n') {
			line++;
			i += len;
			continue;
		}
		if (cc == UTF8_CC_SPACE || cc == UTF8_CC_INVISIBLE) {
			i += len;
			continue;
		}
		if (cc == UTF8_CC_PUNCT) {
			k.type = MSG_CODES_T_PUNCT;
			k.cp = c;
			i += len;
		} else if (cc == UTF8_CC_IDEO) {
			k.type = MSG_CODES_T_IDEO;
			k.cp = c;
			do {
				k.last_cp = c;
				k.nchars++;
				i += len;
				if (i >= n)
					break;
				len = utf8_decode((const unsigned char *)t + i, n - i, &c);
			} while (utf8_class(c) == UTF8_CC_IDEO);
		} else if (c >= 0xFF10 && c <= 0xFF19) {
			k.type = MSG_CODES_T_NUM;
			k.fullwidth = 1;
			do {
				k.nchars++;
				i += len;
				if (i >= n)
					break;
				len = utf8_decode((const unsigned char *)t + i, n - i, &c);
			} while (c >= 0xFF10 && c <= 0xFF19);
		} else {
			int digits = 0, letters = 0;
			k.ascii = 1;
			k.upper = 1;
			for (;;) {
				if (c >= '0' && c <= '9') {
					digits = 1;
				} else {
					letters = 1;
					if (c >= 0x80)
						k.ascii = 0;
					if (c >= 'a' && c <= 'z')
						k.upper = 0;
				}
				k.nchars++;
				i += len;
				if (i >= n)
					break;
				len = utf8_decode((const unsigned char *)t + i, n - i, &c);
				if (!((c >= '0' && c <= '9') || utf8_class(c) == UTF8_CC_LETTER))
					break;
			}
			k.type = !letters ? MSG_CODES_T_NUM : digits ? MSG_CODES_T_ALNUM : MSG_CODES_T_WORD;
		}
		k.e = i;
		msg_codes_tok_add(src, &k);
	}
}

int msg_codes_is_word(const struct msg_codes_tok *k)
{
	return k->type != MSG_CODES_T_PUNCT;
}

/* ---- candidates ---- */

struct msg_codes_cand {
	size_t ti, tj; /* first and last token */
	size_t s, e;   /* bytes */
	char value[MSG_CODES_MAX_LEN + 1];
	size_t vlen;
	int grouped;
	int alnum;
};

/* What a label walk found on one side of a candidate. */
struct msg_codes_near {
	int code;   /* best label points for a code word, 0 when none */
	int code_d; /* its effective distance (for comparing with exclusions) */
	int id_d;   /* nearest ID label, INT32_MAX when none */
	int phone_d;
	int promo;
};

#define MSG_CODES_FAR 1000000

static void msg_codes_note_code(struct msg_codes_near *nr, int cls, int pts, int eff)
{
	if (cls == L_WEAK)
		pts /= 2;
	if (pts > nr->code)
		nr->code = pts;
	if (eff < nr->code_d)
		nr->code_d = eff;
}

/*
 * Walks from the candidate outwards over at most MSG_CODES_WINDOW words; a
 * walk leftwards may go on into the line above when nothing precedes the
 * candidate on its own line, a walk rightwards into the line below when
 * nothing follows it.
 */
static void msg_codes_walk(struct msg_codes_src *src, const struct msg_codes_cand *c, int dir,
                           struct msg_codes_near *nr)
{
	size_t line = src->tok[c->ti].line;
	size_t j = dir < 0 ? c->ti : c->tj;
	int words = 0, crossed = 0, own_words = 0;
	size_t cross_line_words = 0;
	for (int steps = 0; steps < MSG_CODES_WALK_STEPS; steps++) {
		if (dir < 0) {
			if (j == 0)
				return;
			j--;
		} else {
			if (j + 1 >= src->ntok)
				return;
			j++;
		}
		const struct msg_codes_tok *k = &src->tok[j];
		if (k->line != line) {
			if (crossed || own_words > 0)
				return;
			size_t gap = dir < 0 ? line - k->line : k->line - line;
			if (gap > 2)
				return;
			crossed = 1;
			line = k->line;
			words = 0;
			/* words on that line: a short one is a label line ("Order number:") */
			cross_line_words = 0;
			for (size_t q = j, qs = 0; qs < MSG_CODES_WALK_STEPS; qs++) {
				if (msg_codes_is_word(&src->tok[q]))
					cross_line_words++;
				if (dir < 0) {
					if (q == 0 || src->tok[q - 1].line != line)
						break;
					q--;
				} else {
					if (q + 1 >= src->ntok || src->tok[q + 1].line != line)
						break;
					q++;
				}
				if (cross_line_words > MSG_CODES_LABEL_LINE_WORDS)
					break;
			}
		}
		int cls;
		if (msg_codes_is_word(k)) {
			words++;
			if (!crossed)
				own_words++;
			if (words > MSG_CODES_WINDOW)
				return;
			cls = msg_codes_label_at(src, j, dir);
		} else {
			cls = msg_codes_word_label(src, j);
		}
		int d = words > 0 ? words : 1;
		int eff;
		int pts;
		if (!crossed) {
			eff = dir < 0 ? 2 * d : 2 * d + 1;
			if (dir < 0)
				pts = d <= 3 ? MSG_CODES_W_BEFORE_NEAR : MSG_CODES_W_BEFORE_FAR;
			else
				pts = d <= 3 ? MSG_CODES_W_AFTER_NEAR : MSG_CODES_W_AFTER_FAR;
		} else {
			eff = (dir < 0 ? 100 : 200) + d;
			if (dir < 0)
				pts = d <= 3 ? MSG_CODES_W_PREV_NEAR : MSG_CODES_W_PREV_FAR;
			else
				pts = MSG_CODES_W_NEXT;
		}
		switch (cls) {
		case L_CODE:
		case L_WEAK:
			msg_codes_note_code(nr, cls, pts, eff);
			break;
		case L_ID:
			if (crossed ? cross_line_words <= MSG_CODES_LABEL_LINE_WORDS : d <= MSG_CODES_ID_REACH) {
				if (eff < nr->id_d)
					nr->id_d = eff;
			}
			break;
		case L_PHONE:
			if (crossed ? cross_line_words <= MSG_CODES_LABEL_LINE_WORDS : d <= MSG_CODES_ID_REACH) {
				if (eff < nr->phone_d)
					nr->phone_d = eff;
			}
			break;
		case L_PROMO:
			if (!crossed)
				nr->promo = 1;
			break;
		default:
			break;
		}
	}
}

/* Letters that only end a number ("20th", "10min") or a word with a number ("SPRING2026") are not codes. */
static int msg_codes_alnum_shape(const char *s, size_t n)
{
	int digits = 0, letters = 0, lower = 0, transitions = 0, run = 0, maxrun = 0;
	int prev = -1;
	for (size_t i = 0; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9';
		if (d) {
			digits++;
			run = 0;
		} else {
			letters++;
			if (s[i] >= 'a' && s[i] <= 'z')
				lower = 1;
			if (++run > maxrun)
				maxrun = run;
		}
		if (prev >= 0 && prev != d)
			transitions++;
		prev = d;
	}
	if (!digits || !letters || maxrun >= 5)
		return 0;
	if (lower && transitions < 3)
		return 0;
	return 1;
}

static int msg_codes_eligible(const struct msg_codes_tok *k)
{
	if (k->type == MSG_CODES_T_NUM)
		return 1;
	if ((k->type == MSG_CODES_T_ALNUM || k->type == MSG_CODES_T_WORD) && k->ascii)
		return k->type == MSG_CODES_T_ALNUM || (k->upper && k->nchars <= 5);
	return 0;
}

/* One space between two tokens: ' ', no-break space, thin space, narrow no-break space. */
static int msg_codes_one_space(const struct msg_codes_src *src, size_t a, size_t b)
{
	const char *t = src->t;
	size_t gs = src->tok[a].e, ge = src->tok[b].s;
	if (ge - gs == 1)
		return t[gs] == ' ';
	if (ge - gs == 2)
		return (unsigned char)t[gs] == 0xC2 && (unsigned char)t[gs + 1] == 0xA0;
	if (ge - gs == 3)
		return (unsigned char)t[gs] == 0xE2 && (unsigned char)t[gs + 1] == 0x80 &&
		       ((unsigned char)t[gs + 2] == 0x89 || (unsigned char)t[gs + 2] == 0xAF);
	return 0;
}

static int msg_codes_is_hyphen(const struct msg_codes_tok *k)
{
	return k->type == MSG_CODES_T_PUNCT && (k->cp == '-' || k->cp == 0x2010 || k->cp == 0x2011);
}

static void msg_codes_value_append(struct msg_codes_cand *c, const struct msg_codes_src *src, size_t j)
{
	const struct msg_codes_tok *k = &src->tok[j];
	for (size_t i = k->s; i < k->e && c->vlen < MSG_CODES_MAX_LEN;) {
		uint32_t cp;
		size_t len = utf8_decode((const unsigned char *)src->t + i, k->e - i, &cp);
		if (cp >= 0xFF10 && cp <= 0xFF19)
			cp = cp - 0xFF10 + '0';
		c->value[c->vlen++] = (char)cp;
		i += len;
	}
	c->value[c->vlen] = '\0';
}

/*
 * Chains of tokens joined by one separator: "123 456", "12-34-56",
 * "K7P-4QX". A chain is one candidate when its groups are equally long
 * (2-4 digits, or 3-5 characters with letters) and 4-10 characters in all;
 * otherwise (a phone number, a date, "INV-2026-0042") none of it is.
 */
static size_t msg_codes_chain(const struct msg_codes_src *src, size_t i, struct msg_codes_cand *c, int *ok)
{
	size_t idx[MSG_CODES_MAX_LEN + 2];
	size_t n = 0, j = i;
	int sep = 0, too_long = 0;
	idx[n++] = i;
	for (;;) {
		const struct msg_codes_tok *a = &src->tok[j];
		if (j + 2 < src->ntok && (sep == 0 || sep == '-') && msg_codes_is_hyphen(&src->tok[j + 1]) &&
		    src->tok[j + 1].s == a->e && src->tok[j + 2].s == src->tok[j + 1].e &&
		    msg_codes_eligible(&src->tok[j + 2])) {
			sep = '-';
			j += 2;
		} else if (j + 1 < src->ntok && (sep == 0 || sep == ' ') && a->type == MSG_CODES_T_NUM &&
		           src->tok[j + 1].type == MSG_CODES_T_NUM && src->tok[j + 1].line == a->line &&
		           msg_codes_one_space(src, j, j + 1)) {
			sep = ' ';
			j += 1;
		} else {
			break;
		}
		if (n < MSG_CODES_MAX_LEN + 2)
			idx[n++] = j;
		else
			too_long = 1;
	}
	*ok = 0;
	memset(c, 0, sizeof *c);
	c->ti = i;
	c->tj = j;
	c->s = src->tok[i].s;
	c->e = src->tok[j].e;
	if (too_long)
		return j;
	const struct msg_codes_tok *f = &src->tok[i];
	if (n == 1) {
		if (f->type == MSG_CODES_T_NUM && f->nchars >= MSG_CODES_MIN_LEN && f->nchars <= MSG_CODES_MAX_LEN) {
			msg_codes_value_append(c, src, i);
			*ok = 1;
		} else if (f->type == MSG_CODES_T_ALNUM && f->nchars >= MSG_CODES_MIN_LEN &&
		           f->nchars <= MSG_CODES_MAX_LEN && msg_codes_alnum_shape(src->t + f->s, f->e - f->s)) {
			msg_codes_value_append(c, src, i);
			c->alnum = 1;
			*ok = 1;
		}
		return j;
	}
	size_t glen = f->nchars, total = 0;
	int all_num = 1;
	for (size_t k = 0; k < n; k++) {
		const struct msg_codes_tok *g = &src->tok[idx[k]];
		if (g->nchars != glen)
			return j;
		if (g->type != MSG_CODES_T_NUM)
			all_num = 0;
		total += g->nchars;
	}
	if (total < MSG_CODES_MIN_LEN || total > MSG_CODES_MAX_LEN)
		return j;
	if (all_num ? (glen < 2 || glen > 4) : (glen < 3 || glen > 5 || sep != '-'))
		return j;
	for (size_t k = 0; k < n; k++)
		msg_codes_value_append(c, src, idx[k]);
	if (!all_num) {
		int digits = 0, letters = 0;
		for (size_t k = 0; k < c->vlen; k++) {
			if (c->value[k] >= '0' && c->value[k] <= '9')
				digits = 1;
			else
				letters = 1;
		}
		if (!digits || !letters)
			return j;
		c->alnum = 1;
	}
	c->grouped = 1;
	*ok = 1;
	return j;
}

static int msg_codes_ascii_alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Characters that put a number inside an address, a URL, an amount or an identifier. */
static int msg_codes_in_url_or_id(const struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	const char *t = src->t;
	size_t rs = c->s, re = c->e;
	size_t lo = c->s > MSG_CODES_RUN_MAX ? c->s - MSG_CODES_RUN_MAX : 0;
	size_t hi = src->n - c->e > MSG_CODES_RUN_MAX ? c->e + MSG_CODES_RUN_MAX : src->n;
	while (rs > lo && (unsigned char)t[rs - 1] > ' ' && (unsigned char)t[rs - 1] < 0x7F)
		rs--;
	while (re < hi && (unsigned char)t[re] > ' ' && (unsigned char)t[re] < 0x7F)
		re++;
	for (size_t k = rs; k < re; k++) {
		if (k >= c->s && k < c->e)
			continue;
		char ch = t[k];
		if (strchr("/\\@=&#%+$~|^", ch) != NULL)
			return 1;
		if (ch == '?' && k + 1 < re)
			return 1;
	}
	/* joined to more digits or letters: 12.50, 1,234, 2026-11-28, 12:30, v1.2345 */
	if (c->s >= 2) {
		char p = t[c->s - 1], q = t[c->s - 2];
		if ((strchr("-./,", p) != NULL && msg_codes_ascii_alnum(q)) || (p == ':' && q >= '0' && q <= '9'))
			return 1;
	}
	if (c->e + 1 < src->n) {
		char p = t[c->e], q = t[c->e + 1];
		if (strchr("-./,:", p) != NULL && msg_codes_ascii_alnum(q))
			return 1;
	}
	return 0;
}

/* A telephone number by its form: "+49 30 1234567", "(030) 1234567", "(555) 123-4567". */
static int msg_codes_phone_form(const struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	const char *t = src->t;
	size_t k = c->s;
	size_t lo = c->s > MSG_CODES_PHONE_MAX ? c->s - MSG_CODES_PHONE_MAX : 0;
	int paren = 0;
	while (k > lo) {
		char ch = t[k - 1];
		if (ch == '\n' || !((ch >= '0' && ch <= '9') || strchr(" +-().", ch) != NULL))
			break;
		if (ch == ' ' && k >= 2 && t[k - 2] == ' ')
			break;
		if (ch == ')')
			paren = 1;
		k--;
	}
	while (k < c->s && t[k] == ' ')
		k++;
	if (k < c->s && t[k] == '+' && k + 1 < src->n && t[k + 1] >= '0' && t[k + 1] <= '9')
		return 1;
	if (paren && k < c->s && t[k] == '(')
		return 1;
	return 0;
}

/* The token next to the candidate on its line (dir -1 before, +1 after), or SIZE_MAX. */
static size_t msg_codes_neighbour(const struct msg_codes_src *src, const struct msg_codes_cand *c, int dir)
{
	size_t j = dir < 0 ? c->ti : c->tj;
	size_t line = src->tok[j].line;
	if (dir < 0 ? j == 0 : j + 1 >= src->ntok)
		return SIZE_MAX;
	j = dir < 0 ? j - 1 : j + 1;
	return src->tok[j].line == line ? j : SIZE_MAX;
}

static int msg_codes_capitalised(const struct msg_codes_src *src, size_t j)
{
	const struct msg_codes_tok *k = &src->tok[j];
	if (k->type != MSG_CODES_T_WORD || k->nchars < 2)
		return 0;
	uint32_t c;
	utf8_decode((const unsigned char *)src->t + k->s, k->e - k->s, &c);
	return utf8_lower(c) != c;
}

/*
 * Exclusions that need no label walk. 1 when the candidate is something
 * else: part of a URL, address or identifier, an amount, a date, a time, a
 * count, a telephone number by its form.
 */
static int msg_codes_excluded(struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	if (msg_codes_in_url_or_id(src, c))
		return 1;
	size_t b = msg_codes_neighbour(src, c, -1), a = msg_codes_neighbour(src, c, +1);
	if (b != SIZE_MAX) {
		int l = msg_codes_word_label(src, b);
		if (l == L_CUR)
			return 1;
		if (src->tok[b].type == MSG_CODES_T_IDEO && src->tok[b].last_cp == 0x7B2C) /* 第 */
			return 1;
	}
	if (a != SIZE_MAX) {
		const struct msg_codes_tok *k = &src->tok[a];
		int l = msg_codes_word_label(src, a);
		if (l == L_CUR || (k->type == MSG_CODES_T_PUNCT && (k->cp == '%' || k->cp == 0xFF05)))
			return 1;
		if (k->type == MSG_CODES_T_IDEO && k->s == c->e && msg_codes_cjk_unit(k->cp))
			return 1;
		if (l == L_UNIT && msg_codes_is_word(k))
			return 1;
	}
	if (msg_codes_phone_form(src, c))
		return 1;
	/* a year beside a month name or a copyright sign */
	if (!c->alnum && !c->grouped && c->vlen == 4) {
		int y = atoi(c->value);
		if (y >= 1900 && y <= 2099) {
			for (int dir = -1; dir <= 1; dir += 2) {
				size_t j = dir < 0 ? c->ti : c->tj;
				for (int steps = 0; steps < 4; steps++) {
					if (dir < 0 ? j == 0 : j + 1 >= src->ntok)
						break;
					j = dir < 0 ? j - 1 : j + 1;
					if (src->tok[j].line != src->tok[c->ti].line)
						break;
					if (msg_codes_word_label(src, j) == L_MONTH)
						return 1;
				}
			}
		}
	}
	return 0;
}

/* ZIP / postal code beside a city or state: "10115 Berlin", "CA 94107", "1012 AB". */
static int msg_codes_postal_form(const struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	if (c->alnum || c->grouped || c->vlen < 4 || c->vlen > 5)
		return 0;
	size_t a = msg_codes_neighbour(src, c, +1), b = msg_codes_neighbour(src, c, -1);
	if (a != SIZE_MAX && src->tok[a].type == MSG_CODES_T_WORD && src->tok[a].ascii) {
		if (msg_codes_capitalised(src, a) || (src->tok[a].upper && src->tok[a].nchars == 2))
			return 1;
	}
	if (b != SIZE_MAX && src->tok[b].type == MSG_CODES_T_WORD && src->tok[b].upper && src->tok[b].nchars == 2 &&
	    src->tok[b].ascii)
		return 1;
	return 0;
}

/* ---- context ---- */

/* Does a sentence end just before pos (". ", "! ", "? ", "。", "！", "？")? */
static int msg_codes_after_sentence(const char *t, size_t lo, size_t pos)
{
	if (pos >= lo + 2 && t[pos - 1] == ' ' && strchr(".!?", t[pos - 2]) != NULL)
		return 1;
	if (pos >= lo + 3) {
		const unsigned char *u = (const unsigned char *)t + pos - 3;
		if ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
		    (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F)))
			return 1;
	}
	return 0;
}

/* Length of a sentence end at i, or 0. */
static size_t msg_codes_sentence_end(const char *t, size_t i, size_t hi)
{
	if (strchr(".!?", t[i]) != NULL && t[i] != '\0' && (i + 1 >= hi || t[i + 1] == ' '))
		return 1;
	const unsigned char *u = (const unsigned char *)t + i;
	if (i + 3 <= hi && ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
	                    (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F))))
		return 3;
	return 0;
}

static void msg_codes_append_trimmed(struct buf *b, const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n == 0)
		return;
	if (b->len > 0)
		buf_append_byte(b, ' ');
	buf_append(b, s, n);
}

/*
 * i moved back to the start of the character it is in (not below lo): at
 * most 3 bytes, the continuation bytes one UTF-8 character can have. In
 * invalid text (a run of bytes 0x80-0xBF) the walk would otherwise reach
 * lo and the context would not be cut at all (found by fuzz_msg_codes).
 */
static size_t msg_codes_char_start(const char *t, size_t i, size_t lo)
{
	for (int k = 0; k < 3 && i > lo && ((unsigned char)t[i] & 0xC0) == 0x80; k++)
		i--;
	return i;
}

/*
 * The line the candidate is on (after the line above when that is where its
 * label is), cut to its sentence when longer than MSG_CODES_CONTEXT_MAX,
 * then to that many bytes around the candidate. Every scan is bounded.
 */
static char *msg_codes_context(const struct msg_codes_src *src, const struct msg_codes_cand *c, int with_prev)
{
	const char *t = src->t;
	size_t n = src->n;
	size_t lo = c->s > MSG_CODES_CONTEXT_MAX ? c->s - MSG_CODES_CONTEXT_MAX : 0;
	size_t hi = n - c->e > MSG_CODES_CONTEXT_MAX ? c->e + MSG_CODES_CONTEXT_MAX : n;
	size_t ls = c->s, le = c->e;
	while (ls > lo && t[ls - 1] != '\n')
		ls--;
	while (le < hi && t[le] != '\n')
		le++;
	int line_start = ls == 0 || t[ls - 1] == '\n';
	if (le - ls > MSG_CODES_CONTEXT_MAX) {
		size_t ss = c->s, se = c->e;
		while (ss > ls && !msg_codes_after_sentence(t, ls, ss))
			ss--;
		while (se < le) {
			size_t k = msg_codes_sentence_end(t, se, le);
			if (k) {
				se += k;
				break;
			}
			se++;
		}
		ls = ss;
		le = se;
	}
	if (le - ls > MSG_CODES_CONTEXT_MAX) {
		size_t clen = c->e - c->s < MSG_CODES_CONTEXT_MAX ? c->e - c->s : MSG_CODES_CONTEXT_MAX;
		size_t half = (MSG_CODES_CONTEXT_MAX - clen) / 2;
		size_t ns = c->s - ls > half ? c->s - half : ls;
		size_t ne = le - c->e > half ? c->e + half : le;
		ls = msg_codes_char_start(t, ns, ls);
		if (ne < n)
			ne = msg_codes_char_start(t, ne, c->e);
		le = ne;
	}
	struct buf b;
	buf_init(&b);
	if (with_prev && line_start && ls > 0) {
		size_t pe = ls - 1;
		size_t plo = pe > MSG_CODES_CONTEXT_MAX ? pe - MSG_CODES_CONTEXT_MAX : 0;
		while (pe > plo && (t[pe - 1] == '\n' || t[pe - 1] == '\r' || t[pe - 1] == ' '))
			pe--;
		size_t ps = pe;
		while (ps > plo && t[ps - 1] != '\n')
			ps--;
		if ((ps == 0 || t[ps - 1] == '\n') && pe - ps + (le - ls) < MSG_CODES_CONTEXT_MAX)
			msg_codes_append_trimmed(&b, t + ps, pe - ps);
	}
	msg_codes_append_trimmed(&b, t + ls, le - ls);
	buf_cstr(&b);
	char *out = utf8_copy_valid((const char *)b.data, b.len);
	buf_free(&b);
	return out;
}

/* ---- the whole ---- */

struct msg_codes_found {
	char *code;
	char *value;
	char *context;
	int points;
	size_t order;
};

struct msg_codes_run {
	struct msg_codes_index *ix;
	struct msg_codes_found *f;
	size_t n, cap;
	size_t order;
	int subject_word; /* the subject has a code word */
	char (*subject_values)[MSG_CODES_MAX_LEN + 1];
	size_t nsubject_values;
	size_t *slot; /* open addressing on value: index + 1 into f, 0 empty */
	size_t nslot;
};

static size_t *msg_codes_slot(struct msg_codes_run *run, const char *value)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	for (size_t i = (size_t)h & (run->nslot - 1);; i = (i + 1) & (run->nslot - 1)) {
		if (run->slot[i] == 0 || strcmp(run->f[run->slot[i] - 1].value, value) == 0)
			return &run->slot[i];
	}
}

static void msg_codes_src_init(struct msg_codes_src *src, const char *t, size_t max, const struct msg_codes_index *ix)
{
	memset(src, 0, sizeof *src);
	src->t = t;
	src->n = strnlen(t, max);
	src->ix = ix;
	buf_init(&src->fold);
	msg_codes_tokenize(src);
}

static void msg_codes_src_free(struct msg_codes_src *src)
{
	free(src->tok);
	buf_free(&src->fold);
}

static void msg_codes_add(struct msg_codes_run *run, const struct msg_codes_src *src, const struct msg_codes_cand *c,
                          int points, int with_prev)
{
	if ((run->n + 1) * 2 > run->nslot) {
		size_t old = run->nslot;
		size_t *olds = run->slot;
		run->nslot = old ? old * 2 : 16;
		run->slot = xcalloc(run->nslot, sizeof *run->slot);
		for (size_t i = 0; i < old; i++) {
			if (olds[i] != 0)
				*msg_codes_slot(run, run->f[olds[i] - 1].value) = olds[i];
		}
		free(olds);
	}
	size_t *slot = msg_codes_slot(run, c->value);
	if (*slot != 0) {
		struct msg_codes_found *f = &run->f[*slot - 1];
		if (points > f->points) {
			free(f->code);
			free(f->context);
			f->code = utf8_copy_valid(src->t + c->s, c->e - c->s);
			f->context = msg_codes_context(src, c, with_prev);
			f->points = points;
		}
		return;
	}
	if (run->n == run->cap) {
		run->cap = run->cap ? run->cap * 2 : 8;
		run->f = xrealloc(run->f, run->cap * sizeof *run->f);
	}
	struct msg_codes_found *f = &run->f[run->n++];
	f->code = utf8_copy_valid(src->t + c->s, c->e - c->s);
	f->value = xstrdup(c->value);
	f->context = msg_codes_context(src, c, with_prev);
	f->points = points;
	f->order = run->order++;
	*slot = run->n;
}

static int msg_codes_alone(const struct msg_codes_src *src, const struct msg_codes_cand *c, int *emphasis)
{
	size_t line = src->tok[c->ti].line;
	int alone = 1;
	for (size_t j = c->ti; alone && j > 0 && src->tok[j - 1].line == line; j--) {
		if (msg_codes_is_word(&src->tok[j - 1]))
			alone = 0;
	}
	for (size_t j = c->tj + 1; alone && j < src->ntok && src->tok[j].line == line; j++) {
		if (msg_codes_is_word(&src->tok[j]))
			alone = 0;
	}
	size_t b = msg_codes_neighbour(src, c, -1), a = msg_codes_neighbour(src, c, +1);
	*emphasis = b != SIZE_MAX && a != SIZE_MAX && src->tok[b].type == MSG_CODES_T_PUNCT &&
	            src->tok[a].type == MSG_CODES_T_PUNCT && src->tok[b].e == c->s && src->tok[a].s == c->e &&
	            msg_codes_emphasis_mark(src->tok[b].cp) && msg_codes_emphasis_mark(src->tok[a].cp);
	return alone;
}

/*
 * Every candidate of one source, scored. With score == 0 it only collects
 * values (for the subject's "contains the code" test).
 */
static void msg_codes_scan(struct msg_codes_run *run, const char *text, int is_subject, int collect_only)
{
	struct msg_codes_src src;
	msg_codes_src_init(&src, text, is_subject ? MSG_CODES_SUBJECT_MAX : MSG_CODES_SOURCE_MAX, run->ix);
	for (size_t i = 0; i < src.ntok; i++) {
		if (!msg_codes_eligible(&src.tok[i]))
			continue;
		struct msg_codes_cand c;
		int ok;
		size_t j = msg_codes_chain(&src, i, &c, &ok);
		i = j;
		if (!ok)
			continue;
		if (collect_only) {
			run->subject_values =
			        xrealloc(run->subject_values, (run->nsubject_values + 1) * sizeof *run->subject_values);
			memcpy(run->subject_values[run->nsubject_values++], c.value, c.vlen + 1);
			continue;
		}
		if (msg_codes_excluded(&src, &c))
			continue;
		struct msg_codes_near before = {0, MSG_CODES_FAR, MSG_CODES_FAR, MSG_CODES_FAR, 0};
		struct msg_codes_near after = {0, MSG_CODES_FAR, MSG_CODES_FAR, MSG_CODES_FAR, 0};
		msg_codes_walk(&src, &c, -1, &before);
		msg_codes_walk(&src, &c, +1, &after);
		if (before.promo || after.promo)
			continue;
		int code_d = before.code_d < after.code_d ? before.code_d : after.code_d;
		int id_d = before.id_d < after.id_d ? before.id_d : after.id_d;
		int phone_d = before.phone_d < after.phone_d ? before.phone_d : after.phone_d;
		if (id_d < code_d)
			continue;
		if (c.vlen >= 7 && !c.alnum && phone_d < code_d)
			continue;
		int label = before.code > after.code ? before.code : after.code;
		if (label == 0 && msg_codes_postal_form(&src, &c))
			continue;
		int emphasis;
		int alone = msg_codes_alone(&src, &c, &emphasis);
		if (c.alnum) {
			/* only right beside a code word */
			int near = before.code_d <= 2 * MSG_CODES_ALNUM_BEFORE ||
			           after.code_d <= 2 * MSG_CODES_ALNUM_AFTER + 1 || (alone && before.code_d < 200);
			if (!near)
				continue;
		}
		int points = label;
		if (alone)
			points += MSG_CODES_W_ALONE;
		if (emphasis)
			points += MSG_CODES_W_EMPHASIS;
		if (run->subject_word)
			points += MSG_CODES_W_SUBJECT_WORD;
		if (!is_subject) {
			for (size_t k = 0; k < run->nsubject_values; k++) {
				if (strcmp(run->subject_values[k], c.value) == 0) {
					points += MSG_CODES_W_SUBJECT_VALUE;
					break;
				}
			}
		}
		if (c.vlen == 6)
			points += MSG_CODES_W_LEN6;
		else if (c.vlen == 4 || c.vlen == 8)
			points += MSG_CODES_W_LEN48;
		else if (c.vlen == 5 || c.vlen == 7)
			points += MSG_CODES_W_LEN57;
		if (c.grouped)
			points += MSG_CODES_W_GROUPED;
		if (points > 100)
			points = 100;
		if (points < MSG_CODES_MIN_POINTS)
			continue;
		int with_prev = alone && before.code_d >= 100 && before.code_d < 200;
		msg_codes_add(run, &src, &c, points, with_prev);
	}
	msg_codes_src_free(&src);
}

/* Does the subject name a code? */
static int msg_codes_subject_word(const struct msg_codes_index *ix, const char *subject)
{
	struct msg_codes_src src;
	msg_codes_src_init(&src, subject, MSG_CODES_SUBJECT_MAX, ix);
	int found = 0;
	for (size_t j = 0; j < src.ntok && !found; j++) {
		if (!msg_codes_is_word(&src.tok[j]))
			continue;
		int l = msg_codes_label_at(&src, j, +1);
		found = l == L_CODE || l == L_WEAK;
	}
	msg_codes_src_free(&src);
	return found;
}

static int msg_codes_cmp(const void *a, const void *b)
{
	const struct msg_codes_found *x = a, *y = b;
	if (x->points != y->points)
		return y->points - x->points;
	return x->order < y->order ? -1 : x->order > y->order;
}

void msg_codes_extract(const char *subject, const char *text, const char *html_text, struct msg_codes *out)
{
	out->items = NULL;
	out->n = 0;
	struct msg_codes_run *run = xcalloc(1, sizeof *run);
	run->ix = msg_codes_index_new();
	if (subject != NULL) {
		run->subject_word = msg_codes_subject_word(run->ix, subject);
		msg_codes_scan(run, subject, 1, 1);
	}
	if (text != NULL)
		msg_codes_scan(run, text, 0, 0);
	if (html_text != NULL)
		msg_codes_scan(run, html_text, 0, 0);
	if (subject != NULL)
		msg_codes_scan(run, subject, 1, 0);
	if (run->n > 0) {
		qsort(run->f, run->n, sizeof *run->f, msg_codes_cmp);
		out->items = xcalloc(run->n, sizeof *out->items);
		for (size_t i = 0; i < run->n; i++) {
			out->items[i].code = run->f[i].code;
			out->items[i].value = run->f[i].value;
			out->items[i].context = run->f[i].context;
			out->items[i].score = run->f[i].points / 100.0;
		}
		out->n = run->n;
	}
	free(run->f);
	free(run->slot);
	free(run->subject_values);
	msg_codes_index_free(run->ix);
	free(run);
}

void msg_codes_free(struct msg_codes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].code);
		free(c->items[i].value);
		free(c->items[i].context);
	}
	free(c->items);
	c->items = NULL;
	c->n = 0;
}
