/*
 * utf8: validation (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF) and repair of text that must be valid UTF-8 (JSON output), and
 * the character-level helpers the message scanners share (msg_links,
 * msg_codes): decoding one code point, encoding one, a character class for
 * cutting text into words, and lower case.
 *
 * Does not: know Unicode's full tables. The classes and lower case cover
 * what mail in Latin, Greek, Cyrillic and CJK scripts needs for matching
 * words; anything else is a letter and is its own lower case.
 */
#ifndef MAILSCOPE_CORE_UTF8_H
#define MAILSCOPE_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Length of the valid sequence at p (1..4), or 0 if p does not start one. */
size_t utf8_sequence_len(const unsigned char *p, size_t avail);
int utf8_valid(const char *s, size_t len);
/* A copy with every invalid byte replaced by U+FFFD; caller frees. */
char *utf8_sanitize(const char *s, size_t len);
/* A NUL-terminated copy of s[0..len) that is valid UTF-8: s itself when it is, else utf8_sanitize(). */
char *utf8_copy_valid(const char *s, size_t len);

/*
 * The code point at p into *cp and its length in bytes (1..4). A byte that
 * does not start a valid sequence reads as U+FFFD of length 1, so a loop
 * over any bytes always moves on. Returns 0 (and U+FFFD) only when avail is 0.
 */
size_t utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp);
/* Appends cp (at most U+10FFFF; what utf8_decode gave) in UTF-8. */
void utf8_append(struct buf *b, uint32_t cp);

/* What a code point is when text is cut into words. */
enum utf8_cc {
	UTF8_CC_SPACE,     /* C0 and C1 controls, DEL, the spaces of every width */
	UTF8_CC_INVISIBLE, /* soft hyphen, zero-width characters, BOM, variation selectors, tags */
	UTF8_CC_PUNCT,     /* punctuation and symbols (currency, arrows, emoji), U+FFFD */
	UTF8_CC_DIGIT,     /* 0-9 and full-width digits */
	UTF8_CC_LETTER,    /* the rest: letters of scripts that separate words with spaces */
	UTF8_CC_IDEO       /* scripts written without spaces: CJK, kana, hangul, Thai */
};

enum utf8_cc utf8_class(uint32_t cp);
/*
 * Lower case for Latin-1, Latin Extended-A, Greek and Cyrillic capitals;
 * full-width Latin letters become ASCII lower case. Digits (full-width ones
 * included) and everything else come back unchanged.
 */
uint32_t utf8_lower(uint32_t cp);
/*
 * The bidirectional embeddings, overrides, isolates and marks (U+202A-U+202E,
 * U+2066-U+2069, U+200E, U+200F, U+061C): valid text that makes a line read
 * differently from its bytes, so every place that shows outside text to a
 * person escapes or refuses them.
 */
int utf8_is_bidi_control(uint32_t cp);

#endif
