/*
 * msg_codes_internal: what the files of msg_codes share and nothing else
 * includes.
 *
 *   msg_codes.c        the whole: tokens, candidates, exclusions, scoring,
 *                      context, ranking
 *   msg_codes_words.c  the words that say what a number is (the label table
 *                      in many languages, its index, the label at a token),
 *                      CJK counters, emphasis marks
 */
#ifndef MAILSCOPE_MSG_CODES_INTERNAL_H
#define MAILSCOPE_MSG_CODES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* The label table filed for lookups (msg_codes_words.c); built once per extraction. */
struct msg_codes_index;

/* What a label says about a number near it. */
enum msg_codes_lclass {
	MSG_CODES_L_CODE,  /* code, OTP, PIN, Bestätigungscode, 验证码 ... */
	MSG_CODES_L_WEAK,  /* verification, security, token: a code word when nothing better is near */
	MSG_CODES_L_ID,    /* order, invoice, ticket, account, tracking, postcode, total ...: drops when nearer */
	MSG_CODES_L_PROMO, /* coupon, voucher, discount, %: drops a candidate on its line */
	MSG_CODES_L_PHONE, /* tel, phone: drops 7+ digits when nearer than a code word */
	MSG_CODES_L_UNIT,  /* minutes, days, points: the number counts something */
	MSG_CODES_L_MONTH, /* month names, copyright: a year next to them is a date */
	MSG_CODES_L_CURRENCY,
	MSG_CODES_L_NONE
};

/* Short names, for the label table and the rules that read labels. */
#define L_CODE  MSG_CODES_L_CODE
#define L_WEAK  MSG_CODES_L_WEAK
#define L_ID    MSG_CODES_L_ID
#define L_PROMO MSG_CODES_L_PROMO
#define L_PHONE MSG_CODES_L_PHONE
#define L_UNIT  MSG_CODES_L_UNIT
#define L_MONTH MSG_CODES_L_MONTH
#define L_CUR   MSG_CODES_L_CURRENCY

/* ---- tokens (msg_codes.c) ---- */

enum msg_codes_ttype { MSG_CODES_T_NUM, MSG_CODES_T_WORD, MSG_CODES_T_ALNUM, MSG_CODES_T_IDEO, MSG_CODES_T_PUNCT };

struct msg_codes_tok {
	size_t s, e; /* bytes in the source */
	size_t line;
	size_t nchars;    /* NUM: digits; WORD/ALNUM: characters */
	uint32_t cp;      /* PUNCT: the mark; IDEO: the first character */
	uint32_t last_cp; /* IDEO: the last character */
	uint8_t type;
	uint8_t ascii;             /* only ASCII letters and digits */
	uint8_t upper;             /* no lower-case ASCII letter */
	uint8_t fullwidth;         /* NUM of full-width digits */
	int8_t label;              /* best single-word label class; -2 not computed yet */
	int8_t label_before;       /* label of a phrase ending here (read leftwards); -2 not computed yet */
	int8_t label_after;        /* label of a phrase starting here */
	size_t fold_off, fold_len; /* lower-case copy in src->fold, once computed (fold_len SIZE_MAX: not yet) */
};

struct msg_codes_src {
	const char *t;
	size_t n;
	struct msg_codes_tok *tok;
	size_t ntok, cap;
	struct buf fold;
	const struct msg_codes_index *ix;
};

int msg_codes_is_word(const struct msg_codes_tok *k);

/* ---- labels (msg_codes_words.c) ---- */

struct msg_codes_index *msg_codes_index_new(void);
void msg_codes_index_free(struct msg_codes_index *ix);
/* Best single-word label of token j (punctuation included: #, %, ©, currency signs), or MSG_CODES_L_NONE. */
int msg_codes_word_label(struct msg_codes_src *src, size_t j);
/* The label at word token j, a phrase of several words read leftwards (dir -1) or rightwards (+1) first. */
int msg_codes_label_at(struct msg_codes_src *src, size_t j, int dir);
/* A CJK character that counts or dates what stands before it (年, 月, 日, 個, 円 ...). */
int msg_codes_cjk_unit(uint32_t c);
/* A mark that sets a code apart on both sides: *, _, brackets, quotes, 「」【】. */
int msg_codes_emphasis_mark(uint32_t c);

#endif
