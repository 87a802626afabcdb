/*
 * spf_macro: RFC 7208 section 7 macro strings. See spf_macro.h.
 *
 * One scanner serves every function: it walks the string token by token
 * (literal byte, %%, %_, %-, %{...}) and, when it is given values, appends
 * the expansion. So the syntax that is checked when a record is parsed is
 * exactly the syntax that is expanded later.
 */
#include "auth/spf_macro.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

static const char spf_macro_delims[] = ".-+,/_=";

struct spf_macro_scan {
	const char *s;
	size_t len;
	enum spf_macro_kind kind;
	const struct spf_macro_vars *vars; /* NULL: check only */
	struct buf *out;
	char *err;
	size_t errlen;
	char uses; /* spf_macro_uses: the letter looked for, or 0 */
	int used;
	int last_expand;      /* the last token was a macro-expand */
	size_t literal_start; /* where the trailing literal run starts */
};

/* "WHAT at offset N": every message names the place. */
static int spf_macro_fail(struct spf_macro_scan *m, const char *what, size_t at)
{
	if (m->err && m->errlen)
		snprintf(m->err, m->errlen, "%s at offset %zu", what, at);
	return -1;
}

static int spf_macro_letter_ok(char c, enum spf_macro_kind kind)
{
	c = (char)tolower((unsigned char)c);
	if (strchr("slodipvh", c) != NULL && c != '\0')
		return 1;
	return kind != SPF_MACRO_DOMAIN && c != '\0' && strchr("crt", c) != NULL;
}

static const char *spf_macro_value(const struct spf_macro_vars *v, char letter, char *tbuf, size_t tlen)
{
	const char *s = NULL;
	switch (tolower((unsigned char)letter)) {
	case 's':
		s = v->s;
		break;
	case 'l':
		s = v->l;
		break;
	case 'o':
		s = v->o;
		break;
	case 'd':
		s = v->d;
		break;
	case 'i':
		s = v->i;
		break;
	case 'p':
		s = v->p;
		break;
	case 'v':
		s = v->v;
		break;
	case 'h':
		s = v->h;
		break;
	case 'c':
		s = v->c;
		break;
	case 'r':
		s = v->r;
		break;
	case 't':
		snprintf(tbuf, tlen, "%" PRId64, v->t);
		s = tbuf;
		break;
	}
	return s ? s : "";
}

static int spf_macro_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends value transformed by keep (0: all), reverse and the delimiter set; URL-escaped when escape. */
static void spf_macro_transform(struct buf *out, const char *value, size_t keep, int reverse, const char *delims,
                                int escape)
{
	size_t vlen = strlen(value), nparts = 1;
	for (size_t i = 0; i < vlen; i++)
		if (strchr(delims, value[i]) != NULL)
			nparts++;
	size_t *starts = xcalloc(nparts, sizeof *starts), *lens = xcalloc(nparts, sizeof *lens);
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= vlen; i++) {
		if (i == vlen || strchr(delims, value[i]) != NULL) {
			starts[k] = start;
			lens[k] = i - start;
			k++;
			start = i + 1;
		}
	}
	size_t first = keep > 0 && keep < nparts ? nparts - keep : 0;
	int wrote = 0;
	/* Parts in order (or reversed), keeping the right-most `keep` of that order. */
	for (size_t n = first; n < nparts; n++) {
		size_t idx = reverse ? nparts - 1 - n : n;
		if (wrote++)
			buf_append_byte(out, '.');
		const char *p = value + starts[idx];
		for (size_t j = 0; j < lens[idx]; j++) {
			unsigned char c = (unsigned char)p[j];
			if (escape && !spf_macro_unreserved(c))
				buf_printf(out, "%%%02X", c);
			else
				buf_append_byte(out, c);
		}
	}
	free(starts);
	free(lens);
}

/* One %{...} starting at s[i] == '%' and s[i+1] == '{'; *next is after the '}'. */
static int spf_macro_expand_one(struct spf_macro_scan *m, size_t i, size_t *next)
{
	const char *s = m->s;
	size_t j = i + 2;
	if (j >= m->len)
		return spf_macro_fail(m, "unterminated macro", i);
	char letter = s[j];
	if (!spf_macro_letter_ok(letter, m->kind)) {
		if (letter != '\0' && strchr("crtCRT", letter) != NULL)
			return spf_macro_fail(m, "macro letters c, r and t are allowed only in explanations", j);
		return spf_macro_fail(m, "unknown macro letter", j);
	}
	if (m->uses && tolower((unsigned char)letter) == m->uses)
		m->used = 1;
	j++;
	size_t keep = 0;
	int have_digits = 0;
	while (j < m->len && isdigit((unsigned char)s[j])) {
		if (keep <= SPF_MACRO_PARTS_MAX)
			keep = keep * 10 + (size_t)(s[j] - '0');
		have_digits = 1;
		j++;
	}
	if (have_digits && keep == 0)
		return spf_macro_fail(m, "a macro's part count must not be 0", i);
	int reverse = 0;
	if (j < m->len && (s[j] == 'r' || s[j] == 'R')) {
		reverse = 1;
		j++;
	}
	char delims[sizeof spf_macro_delims] = "";
	size_t nd = 0;
	while (j < m->len && s[j] != '\0' && strchr(spf_macro_delims, s[j]) != NULL) {
		if (strchr(delims, s[j]) == NULL && nd + 1 < sizeof delims) {
			delims[nd++] = s[j];
			delims[nd] = '\0';
		}
		j++;
	}
	if (j >= m->len || s[j] != '}')
		return spf_macro_fail(m, "malformed macro (expected '}')", i);
	*next = j + 1;
	if (m->vars) {
		char tbuf[32];
		const char *value = spf_macro_value(m->vars, letter, tbuf, sizeof tbuf);
		if (strlen(value) > SPF_MACRO_OUT_MAX)
			return spf_macro_fail(m, "macro value too long", i);
		spf_macro_transform(m->out, value, keep, reverse, nd ? delims : ".", isupper((unsigned char)letter));
	}
	return 0;
}

static int spf_macro_run(struct spf_macro_scan *m)
{
	size_t i = 0, base = m->out ? m->out->len : 0;
	m->last_expand = 0;
	m->literal_start = 0;
	while (i < m->len) {
		unsigned char c = (unsigned char)m->s[i];
		size_t next = i + 1;
		if (c == '%') {
			char n = i + 1 < m->len ? m->s[i + 1] : '\0';
			if (i + 1 >= m->len)
				return spf_macro_fail(m, "'%' at the end (write %% for a percent sign)", i);
			if (n == '{') {
				if (spf_macro_expand_one(m, i, &next) != 0)
					return -1;
			} else if (n == '%' || n == '_' || n == '-') {
				next = i + 2;
				if (m->out)
					buf_append_str(m->out, n == '%' ? "%" : n == '_' ? " " : "%20");
			} else {
				return spf_macro_fail(m, "'%' not followed by '{', '%', '_' or '-'", i);
			}
			m->last_expand = 1;
			m->literal_start = next;
		} else if ((c >= 0x21 && c <= 0x7e) || (c == ' ' && m->kind == SPF_MACRO_EXPLAIN)) {
			if (m->out)
				buf_append_byte(m->out, c);
			m->last_expand = 0;
		} else {
			return spf_macro_fail(
			        m, c == ' ' ? "space" : "byte that is not visible ASCII (SPF is 7-bit text)", i);
		}
		if (m->out && m->out->len - base > SPF_MACRO_OUT_MAX)
			return spf_macro_fail(m, "expansion longer than the limit", i);
		i = next;
	}
	return 0;
}

int spf_macro_check(const char *s, size_t len, enum spf_macro_kind kind, char *err, size_t errlen)
{
	struct spf_macro_scan m = {.s = s, .len = len, .kind = kind, .err = err, .errlen = errlen};
	return spf_macro_run(&m);
}

int spf_macro_expand(const char *s, size_t len, enum spf_macro_kind kind, const struct spf_macro_vars *v,
                     struct buf *out, char *err, size_t errlen)
{
	struct spf_macro_scan m = {
	        .s = s, .len = len, .kind = kind, .vars = v, .out = out, .err = err, .errlen = errlen};
	size_t before = out->len;
	if (spf_macro_run(&m) != 0) {
		out->len = before;
		return -1;
	}
	buf_cstr(out);
	return 0;
}

int spf_macro_uses(const char *s, size_t len, char letter)
{
	struct spf_macro_scan m = {.s = s, .len = len, .kind = SPF_MACRO_EXPLAIN, .uses = (char)tolower(letter)};
	spf_macro_run(&m);
	return m.used;
}

int spf_macro_ends_with_expand(const char *s, size_t len, size_t *literal_start)
{
	struct spf_macro_scan m = {.s = s, .len = len, .kind = SPF_MACRO_EXPLAIN};
	spf_macro_run(&m);
	if (literal_start)
		*literal_start = m.literal_start;
	return m.last_expand;
}
