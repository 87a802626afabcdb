/*
 * msg_links: every URL in a message and what it is for. See msg_links.h.
 *
 * HTML goes through gumbo (an HTML5 parser); one walk of its tree yields the
 * visible text (msg_html_text) and the links with their place in that text.
 * Plain text is scanned for http(s):// and www. URLs. Each link then gets a
 * kind from msg_links_rules[] (msg_links_kinds.c): features are found once
 * per link (phrases in the anchor text, in the URL, in the words around a
 * generic anchor) and the first rule whose features are all present decides.
 * The files of msg_links: msg_links_internal.h.
 *
 * Promises: every string returned is valid UTF-8; the cost is linear in the
 * input (gumbo's tree builder is not: see msg_links_flatten.c).
 * Does not: resolve relative URLs (there is no base URL in mail), fetch
 * anything, evaluate CSS (text hidden with display:none is still text).
 */
#include "msg/msg_links.h"

#include <gumbo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_links_internal.h"

/* Bytes of anchor text kept (cut at a character boundary). */
#define MSG_LINKS_TEXT_MAX 300
/* Bytes searched for the '>' closing an <https://...> in plain text. */
#define MSG_LINKS_ANGLE_MAX 4096

/* ---- characters (decoding, classes and lower case: core/utf8.h) ---- */

/*
 * utf8_class(), except that U+FFE0..U+FFEE (full-width signs such as ￥ and
 * ￡) read as letters, as links have always read them: a bare URL runs on
 * over them, and a phrase right after one is not at the start of a word.
 * msg_codes reads them as punctuation (utf8_class).
 */
enum utf8_cc msg_links_class(uint32_t c)
{
	if (c >= 0xFFE0 && c <= 0xFFEE)
		return UTF8_CC_LETTER;
	return utf8_class(c);
}

/* Copy of s[0..n) cut to at most max bytes at a character boundary. */
static char *msg_links_cut(const char *s, size_t n, size_t max)
{
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return xstrndup(s, n);
}

/* ---- collection and de-duplication ---- */

struct msg_links_raw {
	char *url;
	char *text; /* NULL for anchors until their span is read */
	char *alt;  /* anchors: alt of the first image inside, for an anchor without text */
	const char *source;
	size_t start, end; /* span in the visible or plain text */
	int spanned;       /* 1 for anchors and text URLs; their spans mark where other links' context ends */
	enum msg_link_kind kind;
};

struct msg_links_rawv {
	struct msg_links_raw *v;
	size_t n, cap;
};

static struct msg_links_raw *msg_links_raw_add(struct msg_links_rawv *rv, char *url, const char *source)
{
	if (rv->n == rv->cap) {
		rv->cap = rv->cap ? rv->cap * 2 : 16;
		rv->v = xrealloc(rv->v, rv->cap * sizeof *rv->v);
	}
	struct msg_links_raw *r = &rv->v[rv->n++];
	memset(r, 0, sizeof *r);
	r->url = url;
	r->source = source;
	return r;
}

static void msg_links_rawv_free(struct msg_links_rawv *rv)
{
	for (size_t i = 0; i < rv->n; i++) {
		free(rv->v[i].url);
		free(rv->v[i].text);
		free(rv->v[i].alt);
	}
	free(rv->v);
}

/* Open addressing on (url, source): the output stays linear in the number of links. */
struct msg_links_set {
	size_t *slot; /* index + 1 into out->items; 0 is empty */
	size_t cap;
};

static uint64_t msg_links_hash(const char *url, const char *source)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (h ^ (uint64_t)(uintptr_t)source) * 1099511628211ull;
}

static size_t *msg_links_set_find(struct msg_links_set *s, const struct msg_links *out, const char *url,
                                  const char *source)
{
	size_t i = (size_t)msg_links_hash(url, source) & (s->cap - 1);
	for (;; i = (i + 1) & (s->cap - 1)) {
		if (s->slot[i] == 0)
			return &s->slot[i];
		const struct msg_link *l = &out->items[s->slot[i] - 1];
		if (l->source == source && strcmp(l->url, url) == 0)
			return &s->slot[i];
	}
}

/*
 * Moves the links of rv into out, keeping the first of each (url, source);
 * a later duplicate lends its text to a first one without text, and its
 * kind to a first one that came out as other.
 */
static void msg_links_emit(struct msg_links_rawv *rv, struct msg_links *out, struct msg_links_set *set, size_t *cap)
{
	for (size_t i = 0; i < rv->n; i++) {
		struct msg_links_raw *r = &rv->v[i];
		if ((out->n + 1) * 2 > set->cap) {
			size_t ncap = set->cap ? set->cap * 2 : 64;
			struct msg_links_set grown = {xcalloc(ncap, sizeof(size_t)), ncap};
			for (size_t k = 0; k < out->n; k++)
				*msg_links_set_find(&grown, out, out->items[k].url, out->items[k].source) = k + 1;
			free(set->slot);
			*set = grown;
		}
		size_t *slot = msg_links_set_find(set, out, r->url, r->source);
		if (*slot != 0) {
			struct msg_link *l = &out->items[*slot - 1];
			if (l->text[0] == '\0' && r->text != NULL && r->text[0] != '\0') {
				free(l->text);
				l->text = r->text;
				r->text = NULL;
			}
			if (l->kind == MSG_LINK_OTHER)
				l->kind = r->kind;
			continue;
		}
		if (out->n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			out->items = xrealloc(out->items, *cap * sizeof *out->items);
		}
		struct msg_link *l = &out->items[out->n];
		l->url = r->url;
		l->text = r->text != NULL ? r->text : xstrdup("");
		l->kind = r->kind;
		l->source = r->source;
		r->url = NULL;
		r->text = NULL;
		*slot = ++out->n;
	}
}

/* ---- URLs as found in attributes ---- */

/*
 * An attribute value as a browser would take it: C0 controls and spaces
 * trimmed at both ends, tabs and line breaks inside removed. NULL for what is
 * not a link: empty, a fragment of this document ("#top"), or a scheme that
 * carries code or data rather than an address (javascript:, vbscript:,
 * data:, cid: (a part of this message), about:).
 */
static char *msg_links_attr_url(const char *v)
{
	if (v == NULL)
		return NULL;
	size_t n = strlen(v);
	size_t b = 0;
	while (b < n && (unsigned char)v[b] <= ' ')
		b++;
	while (n > b && (unsigned char)v[n - 1] <= ' ')
		n--;
	if (b == n || v[b] == '#')
		return NULL;
	char *u = xmalloc(n - b + 1);
	size_t k = 0;
	for (size_t i = b; i < n; i++) {
		if (v[i] != '\t' && v[i] != '\n' && v[i] != '\r')
			u[k++] = v[i];
	}
	u[k] = '\0';
	static const char *const skip[] = {"javascript:", "vbscript:", "data:", "cid:", "about:"};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) {
		if (strncasecmp(u, skip[i], strlen(skip[i])) == 0) {
			free(u);
			return NULL;
		}
	}
	return u;
}

/* The first candidate of a srcset ("a.png 1x, b.png 2x" -> "a.png"). */
static char *msg_links_srcset_first(const char *v)
{
	if (v == NULL)
		return NULL;
	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r' || *v == '\f' || *v == ',')
		v++;
	size_t n = 0;
	while (v[n] != '\0' && v[n] != ' ' && v[n] != '\t' && v[n] != '\n' && v[n] != '\r' && v[n] != '\f')
		n++;
	while (n > 0 && v[n - 1] == ',')
		n--;
	if (n == 0)
		return NULL;
	char *s = xstrndup(v, n);
	char *u = msg_links_attr_url(s);
	free(s);
	return u;
}

/* Whitespace runs as one space, trimmed; for alt texts. */
static char *msg_links_collapse(const char *v)
{
	struct buf b;
	buf_init(&b);
	int space = 0;
	for (size_t i = 0; v[i] != '\0';) {
		uint32_t c;
		size_t len = utf8_decode((const unsigned char *)v + i, strlen(v + i), &c);
		enum utf8_cc cc = msg_links_class(c);
		if (cc == UTF8_CC_SPACE) {
			space = b.len > 0;
		} else if (cc != UTF8_CC_INVISIBLE) {
			if (space)
				buf_append_byte(&b, ' ');
			space = 0;
			buf_append(&b, v + i, len);
		}
		i += len;
	}
	char *s = msg_links_cut(b.len ? (const char *)b.data : "", b.len, MSG_LINKS_TEXT_MAX);
	buf_free(&b);
	return s;
}

/* ---- HTML: one walk for visible text and links ---- */

struct msg_links_walk {
	struct buf text;
	int pending;                  /* 0 nothing, 1 a space, 2 a line break before the next visible character */
	int pre;                      /* inside <pre>: line breaks in text are kept */
	struct msg_links_rawv *links; /* NULL when only the text is wanted */
};

static void msg_links_walk_break(struct msg_links_walk *w)
{
	if (w->text.len > 0 && w->text.data[w->text.len - 1] != '\n')
		w->pending = 2;
}

static void msg_links_walk_text(struct msg_links_walk *w, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		uint32_t c;
		size_t len = utf8_decode((const unsigned char *)s + i, n - i, &c);
		enum utf8_cc cc = msg_links_class(c);
		if (cc == UTF8_CC_SPACE) {
			if (w->pre && c == '\n')
				msg_links_walk_break(w);
			else if (w->text.len > 0 && w->pending == 0 && w->text.data[w->text.len - 1] != '\n')
				w->pending = 1;
		} else if (cc != UTF8_CC_INVISIBLE) {
			if (w->pending == 2)
				buf_append_byte(&w->text, '\n');
			else if (w->pending == 1)
				buf_append_byte(&w->text, ' ');
			w->pending = 0;
			buf_append(&w->text, s + i, len);
		}
		i += len;
	}
}

static int msg_links_tag_hidden(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_HEAD:
	case GUMBO_TAG_TITLE:
	case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_STYLE:
	case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_NOSCRIPT:
	case GUMBO_TAG_IFRAME:
	case GUMBO_TAG_NOEMBED:
	case GUMBO_TAG_NOFRAMES:
		return 1;
	default:
		return 0;
	}
}

/* Elements that start and end a line of visible text. */
static int msg_links_tag_block(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_ADDRESS:
	case GUMBO_TAG_ARTICLE:
	case GUMBO_TAG_ASIDE:
	case GUMBO_TAG_BLOCKQUOTE:
	case GUMBO_TAG_CAPTION:
	case GUMBO_TAG_CENTER:
	case GUMBO_TAG_DD:
	case GUMBO_TAG_DETAILS:
	case GUMBO_TAG_DIR:
	case GUMBO_TAG_DIV:
	case GUMBO_TAG_DL:
	case GUMBO_TAG_DT:
	case GUMBO_TAG_FIELDSET:
	case GUMBO_TAG_FIGCAPTION:
	case GUMBO_TAG_FIGURE:
	case GUMBO_TAG_FOOTER:
	case GUMBO_TAG_FORM:
	case GUMBO_TAG_H1:
	case GUMBO_TAG_H2:
	case GUMBO_TAG_H3:
	case GUMBO_TAG_H4:
	case GUMBO_TAG_H5:
	case GUMBO_TAG_H6:
	case GUMBO_TAG_HEADER:
	case GUMBO_TAG_HGROUP:
	case GUMBO_TAG_HR:
	case GUMBO_TAG_LEGEND:
	case GUMBO_TAG_LI:
	case GUMBO_TAG_LISTING:
	case GUMBO_TAG_MAIN:
	case GUMBO_TAG_MENU:
	case GUMBO_TAG_NAV:
	case GUMBO_TAG_OL:
	case GUMBO_TAG_OPTION:
	case GUMBO_TAG_P:
	case GUMBO_TAG_PLAINTEXT:
	case GUMBO_TAG_PRE:
	case GUMBO_TAG_SECTION:
	case GUMBO_TAG_SUMMARY:
	case GUMBO_TAG_TABLE:
	case GUMBO_TAG_TBODY:
	case GUMBO_TAG_TFOOT:
	case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TR:
	case GUMBO_TAG_UL:
	case GUMBO_TAG_XMP:
		return 1;
	default:
		return 0;
	}
}

static const char *msg_links_attr(const GumboElement *e, const char *name)
{
	const GumboAttribute *a = gumbo_get_attribute(&e->attributes, name);
	return a != NULL ? a->value : NULL;
}

/* Entering an element: links are noted; returns the index of an anchor opened here, or -1. */
static long msg_links_walk_enter(struct msg_links_walk *w, const GumboElement *e, long anchor)
{
	if (e->tag == GUMBO_TAG_BR) {
		msg_links_walk_break(w);
		return -1;
	}
	if (msg_links_tag_block(e->tag))
		msg_links_walk_break(w);
	if (e->tag == GUMBO_TAG_TD || e->tag == GUMBO_TAG_TH) {
		if (w->text.len > 0 && w->pending == 0 && w->text.data[w->text.len - 1] != '\n')
			w->pending = 1;
	}
	if (e->tag == GUMBO_TAG_PRE || e->tag == GUMBO_TAG_LISTING)
		w->pre++;
	if (w->links == NULL)
		return -1;
	if (e->tag == GUMBO_TAG_A) {
		char *url = msg_links_attr_url(msg_links_attr(e, "href"));
		if (url == NULL)
			return -1;
		/* a line break due before the anchor goes first, so that its span starts its line */
		if (w->pending == 2) {
			buf_append_byte(&w->text, '\n');
			w->pending = 0;
		}
		struct msg_links_raw *r = msg_links_raw_add(w->links, url, "html:a");
		r->start = w->text.len;
		r->spanned = 1;
		return (long)(w->links->n - 1);
	}
	if (e->tag == GUMBO_TAG_AREA) {
		char *url = msg_links_attr_url(msg_links_attr(e, "href"));
		if (url != NULL) {
			const char *alt = msg_links_attr(e, "alt");
			struct msg_links_raw *r = msg_links_raw_add(w->links, url, "html:area");
			r->text = msg_links_collapse(alt ? alt : "");
			r->start = r->end = w->text.len;
		}
		return -1;
	}
	if (e->tag == GUMBO_TAG_IMG || e->tag == GUMBO_TAG_IMAGE) {
		const char *alt = msg_links_attr(e, "alt");
		if (anchor >= 0 && alt != NULL && w->links->v[anchor].alt == NULL) {
			char *a = msg_links_collapse(alt);
			if (a[0] != '\0')
				w->links->v[anchor].alt = a;
			else
				free(a);
		}
		char *url = msg_links_attr_url(msg_links_attr(e, "src"));
		if (url == NULL)
			url = msg_links_srcset_first(msg_links_attr(e, "srcset"));
		if (url != NULL) {
			struct msg_links_raw *r = msg_links_raw_add(w->links, url, "html:img");
			r->text = msg_links_collapse(alt ? alt : "");
			r->start = r->end = w->text.len;
		}
	}
	return -1;
}

static void msg_links_walk_leave(struct msg_links_walk *w, const GumboElement *e, long opened)
{
	if (msg_links_tag_block(e->tag))
		msg_links_walk_break(w);
	if (e->tag == GUMBO_TAG_PRE || e->tag == GUMBO_TAG_LISTING)
		w->pre--;
	if (opened >= 0)
		w->links->v[opened].end = w->text.len;
}

struct msg_links_frame {
	const GumboNode *node;
	unsigned int next;
	long opened; /* anchor opened by this element, or -1 */
	long anchor; /* innermost open anchor, or -1 */
};

/* Depth-first, with an explicit stack: no recursion however the tree looks. */
static void msg_links_walk_tree(struct msg_links_walk *w, const GumboNode *root)
{
	size_t cap = 64, n = 0;
	struct msg_links_frame *st = xmalloc(cap * sizeof *st);
	st[n++] = (struct msg_links_frame){root, 0, -1, -1};
	while (n > 0) {
		struct msg_links_frame *f = &st[n - 1];
		const GumboNode *node = f->node;
		const GumboVector *children;
		if (node->type == GUMBO_NODE_DOCUMENT) {
			children = &node->v.document.children;
		} else {
			children = &node->v.element.children;
		}
		if (f->next >= children->length) {
			if (node->type == GUMBO_NODE_ELEMENT)
				msg_links_walk_leave(w, &node->v.element, f->opened);
			n--;
			continue;
		}
		const GumboNode *c = children->data[f->next++];
		long anchor = f->anchor;
		switch (c->type) {
		case GUMBO_NODE_TEXT:
		case GUMBO_NODE_CDATA:
		case GUMBO_NODE_WHITESPACE:
			msg_links_walk_text(w, c->v.text.text);
			break;
		case GUMBO_NODE_ELEMENT: {
			if (msg_links_tag_hidden(c->v.element.tag))
				break;
			long opened = msg_links_walk_enter(w, &c->v.element, anchor);
			if (n == cap) {
				cap *= 2;
				st = xrealloc(st, cap * sizeof *st);
			}
			st[n++] = (struct msg_links_frame){c, 0, opened, opened >= 0 ? opened : anchor};
			break;
		}
		default: /* comments, templates */
			break;
		}
	}
	free(st);
}

static void msg_links_walk_html(struct msg_links_walk *w, const char *html)
{
	size_t n = strlen(html);
	size_t flen = 0;
	char *flat = msg_links_flatten(html, n, &flen);
	GumboOptions opt = kGumboDefaultOptions;
	opt.max_errors = 0; /* we never read them; do not spend memory on them */
	GumboOutput *g = gumbo_parse_with_options(&opt, flat ? flat : html, flat ? flen : n);
	msg_links_walk_tree(w, g->document);
	gumbo_destroy_output(&opt, g);
	free(flat);
	while (w->text.len > 0 && w->text.data[w->text.len - 1] == '\n')
		w->text.len--;
	buf_cstr(&w->text);
}

char *msg_html_text(const char *html)
{
	struct msg_links_walk w = {.pending = 0, .pre = 0, .links = NULL};
	buf_init(&w.text);
	if (html != NULL)
		msg_links_walk_html(&w, html);
	buf_cstr(&w.text);
	return (char *)buf_steal(&w.text, NULL);
}

/* ---- plain text ---- */

/* May a URL in plain text go on over the character c? */
static int msg_links_url_char(uint32_t c)
{
	if (c < 0x80)
		return c > ' ' && c != 0x7F && c != '<' && c != '>' && c != '"' && c != '`';
	enum utf8_cc cc = msg_links_class(c);
	return cc == UTF8_CC_LETTER || cc == UTF8_CC_DIGIT;
}

static int msg_links_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Trailing punctuation that ends a sentence rather than a URL; closing brackets only when unbalanced. */
static size_t msg_links_trim_url(const char *u, size_t n)
{
	for (;;) {
		if (n == 0)
			return 0;
		char c = u[n - 1];
		if (strchr(".,:;!?'\"*_~", c) != NULL) {
			n--;
			continue;
		}
		char open = c == ')' ? '(' : c == ']' ? '[' : c == '}' ? '{' : 0;
		if (open) {
			long depth = 0;
			for (size_t i = 0; i < n; i++)
				depth += (u[i] == open) - (u[i] == c);
			if (depth < 0) {
				n--;
				continue;
			}
		}
		return n;
	}
}

/*
 * http://, https:// and www. URLs in plain text. <https://...> takes
 * everything up to '>' with whitespace removed (RFC 3986 appendix C); a bare
 * URL ends at whitespace, '<', '>', '"', or a character of a script written
 * without spaces (so Japanese text right after a URL is not taken in), and
 * loses trailing sentence punctuation.
 */
static void msg_links_scan_text(const char *t, struct msg_links_rawv *rv)
{
	size_t n = strlen(t);
	size_t i = 0;
	while (i < n) {
		const char *p = t + i;
		size_t plen = 0;
		if ((*p == 'h' || *p == 'H') && (i == 0 || !msg_links_alnum(t[i - 1]))) {
			if (strncasecmp(p, "https://", 8) == 0)
				plen = 8;
			else if (strncasecmp(p, "http://", 7) == 0)
				plen = 7;
		} else if ((*p == 'w' || *p == 'W') && strncasecmp(p, "www.", 4) == 0 && i + 4 < n &&
		           msg_links_alnum(t[i + 4]) &&
		           (i == 0 || !(msg_links_alnum(t[i - 1]) || strchr("./@-_:", t[i - 1]) != NULL))) {
			plen = 4;
		}
		if (plen == 0) {
			i++;
			continue;
		}
		size_t s = i, e;
		char *url = NULL;
		if (i > 0 && t[i - 1] == '<') {
			size_t lim = n - i > MSG_LINKS_ANGLE_MAX ? i + MSG_LINKS_ANGLE_MAX : n;
			size_t k = i;
			while (k < lim && t[k] != '>' && t[k] != '<')
				k++;
			if (k < lim && t[k] == '>') {
				struct buf b;
				buf_init(&b);
				for (size_t j = i; j < k; j++) {
					if ((unsigned char)t[j] > ' ')
						buf_append_byte(&b, (uint8_t)t[j]);
				}
				url = utf8_copy_valid(b.len ? (const char *)b.data : "", b.len);
				buf_free(&b);
				e = k;
			}
		}
		if (url == NULL) {
			e = i + plen;
			while (e < n) {
				uint32_t c;
				size_t len = utf8_decode((const unsigned char *)t + e, n - e, &c);
				if (!msg_links_url_char(c))
					break;
				e += len;
			}
			e = s + msg_links_trim_url(t + s, e - s);
			if (e > s + plen &&
			    (msg_links_alnum(t[s + plen]) || (unsigned char)t[s + plen] >= 0x80 || t[s + plen] == '['))
				url = utf8_copy_valid(t + s, e - s);
		}
		if (url == NULL || url[plen] == '\0') {
			free(url);
			i = s + plen;
			continue;
		}
		struct msg_links_raw *r = msg_links_raw_add(rv, url, "text");
		r->start = s;
		r->end = e;
		r->spanned = 1;
		i = e > s + plen ? e : s + plen;
	}
}

/* ---- List-Unsubscribe (RFC 2369): <...> items, http(s) and mailto ---- */

static void msg_links_scan_header(const char *h, struct msg_links_rawv *rv)
{
	const char *p = h;
	for (;;) {
		const char *lt = strchr(p, '<');
		if (lt == NULL)
			return;
		const char *gt = strchr(lt + 1, '>');
		if (gt == NULL)
			return;
		struct buf b;
		buf_init(&b);
		for (const char *q = lt + 1; q < gt; q++) {
			if ((unsigned char)*q > ' ')
				buf_append_byte(&b, (uint8_t)*q);
		}
		buf_cstr(&b);
		const char *u = (const char *)b.data;
		if (strncasecmp(u, "https://", 8) == 0 || strncasecmp(u, "http://", 7) == 0 ||
		    strncasecmp(u, "mailto:", 7) == 0)
			msg_links_raw_add(rv, utf8_copy_valid(u, b.len), "header:List-Unsubscribe");
		buf_free(&b);
		p = gt + 1;
	}
}

/* ---- the whole ---- */

/* Kinds for links whose spans lie in t (visible or plain text); context read for generic ones. */
static void msg_links_classify_all(struct msg_links_cls *cls, struct msg_links_rawv *rv, const char *t)
{
	size_t tlen = t != NULL ? strlen(t) : 0;
	/* next_start[i]: start of the next spanned link after i (a backward pass) */
	size_t *next = xmalloc((rv->n + 1) * sizeof *next);
	size_t after = SIZE_MAX;
	for (size_t i = rv->n; i-- > 0;) {
		next[i] = after;
		if (rv->v[i].spanned)
			after = rv->v[i].start;
	}
	size_t prev_end = 0;
	struct buf ctx;
	buf_init(&ctx);
	for (size_t i = 0; i < rv->n; i++) {
		struct msg_links_raw *r = &rv->v[i];
		if (r->text == NULL) {
			/* an anchor: its visible text, else the alt of an image inside */
			size_t s = r->start, e = r->end <= tlen ? r->end : tlen;
			while (s < e && (t[s] == ' ' || t[s] == '\n'))
				s++;
			while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\n'))
				e--;
			if (s < e) {
				char *x = msg_links_cut(t + s, e - s, MSG_LINKS_TEXT_MAX);
				for (char *q = x; *q; q++) {
					if (*q == '\n')
						*q = ' ';
				}
				r->text = x;
			} else {
				r->text = r->alt != NULL ? r->alt : xstrdup("");
				r->alt = NULL;
			}
		}
		if (t != NULL && r->spanned)
			msg_links_context(t, tlen, r->start, r->end, prev_end, next[i], &ctx);
		else
			buf_reset(&ctx);
		r->kind = msg_links_classify(cls, r->url, r->text, r->source, (const char *)ctx.data, ctx.len);
		if (r->spanned)
			prev_end = r->end;
	}
	buf_free(&ctx);
	free(next);
}

void msg_links_extract(const char *html, const char *text, const char *list_unsubscribe, struct msg_links *out)
{
	out->items = NULL;
	out->n = 0;
	size_t cap = 0;
	struct msg_links_set set = {NULL, 0};
	struct msg_links_cls *cls = msg_links_cls_new();

	if (html != NULL) {
		struct msg_links_rawv rv = {NULL, 0, 0};
		struct msg_links_walk w = {.pending = 0, .pre = 0, .links = &rv};
		buf_init(&w.text);
		msg_links_walk_html(&w, html);
		msg_links_classify_all(cls, &rv, (const char *)w.text.data);
		msg_links_emit(&rv, out, &set, &cap);
		msg_links_rawv_free(&rv);
		buf_free(&w.text);
	}
	if (text != NULL) {
		struct msg_links_rawv rv = {NULL, 0, 0};
		msg_links_scan_text(text, &rv);
		for (size_t i = 0; i < rv.n; i++)
			rv.v[i].text = xstrdup("");
		msg_links_classify_all(cls, &rv, text);
		msg_links_emit(&rv, out, &set, &cap);
		msg_links_rawv_free(&rv);
	}
	if (list_unsubscribe != NULL) {
		struct msg_links_rawv rv = {NULL, 0, 0};
		msg_links_scan_header(list_unsubscribe, &rv);
		for (size_t i = 0; i < rv.n; i++)
			rv.v[i].text = xstrdup("");
		msg_links_classify_all(cls, &rv, NULL);
		msg_links_emit(&rv, out, &set, &cap);
		msg_links_rawv_free(&rv);
	}
	free(set.slot);
	msg_links_cls_free(cls);
}

void msg_links_free(struct msg_links *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].url);
		free(l->items[i].text);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
