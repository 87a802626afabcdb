/*
 * msg_links_flatten: HTML nesting kept within bounds before gumbo parses it.
 * Part of msg_links (see msg_links_internal.h).
 *
 * gumbo 0.10's tree builder scans its stack of open elements for every tag,
 * so its cost grows with the nesting depth. This pass reads the tags only
 * (no tree; linear time), follows a deliberately pessimistic model of that
 * stack, and drops the start tags that would take it past
 * MSG_LINKS_MAX_DEPTH.
 *
 * Promises: text, links and images are all kept, only structure beyond the
 * bound is lost; input within the bound is not copied. Does not: build a
 * tree or decide anything else about the HTML.
 */
#include <gumbo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "msg/msg_links_internal.h"

/*
 * Nesting kept when HTML is handed to gumbo. Its tree builder scans the stack
 * of open elements for every tag, so 20,000 nested <div> cost 0.5 s and
 * 200,000 cost 110 s; real mail stays far below 100 levels.
 */
#define MSG_LINKS_MAX_DEPTH 256

static int msg_links_tag_void(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_AREA:
	case GUMBO_TAG_BASE:
	case GUMBO_TAG_BASEFONT:
	case GUMBO_TAG_BGSOUND:
	case GUMBO_TAG_BR:
	case GUMBO_TAG_COL:
	case GUMBO_TAG_EMBED:
	case GUMBO_TAG_FRAME:
	case GUMBO_TAG_HR:
	case GUMBO_TAG_IMAGE:
	case GUMBO_TAG_IMG:
	case GUMBO_TAG_INPUT:
	case GUMBO_TAG_KEYGEN:
	case GUMBO_TAG_LINK:
	case GUMBO_TAG_META:
	case GUMBO_TAG_PARAM:
	case GUMBO_TAG_SOURCE:
	case GUMBO_TAG_TRACK:
	case GUMBO_TAG_WBR:
	case GUMBO_TAG_HTML:
	case GUMBO_TAG_HEAD:
	case GUMBO_TAG_BODY:
		return 1; /* html/head/body: opened once by the parser whatever the input says */
	default:
		return 0;
	}
}

/* Elements whose content is text up to their end tag. */
static int msg_links_tag_raw(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_STYLE:
	case GUMBO_TAG_XMP:
	case GUMBO_TAG_IFRAME:
	case GUMBO_TAG_NOEMBED:
	case GUMBO_TAG_NOFRAMES:
	case GUMBO_TAG_TEXTAREA:
	case GUMBO_TAG_TITLE:
		return 1;
	default:
		return 0;
	}
}

static int msg_links_tag_formatting(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_A:
	case GUMBO_TAG_B:
	case GUMBO_TAG_BIG:
	case GUMBO_TAG_CODE:
	case GUMBO_TAG_EM:
	case GUMBO_TAG_FONT:
	case GUMBO_TAG_I:
	case GUMBO_TAG_NOBR:
	case GUMBO_TAG_S:
	case GUMBO_TAG_SMALL:
	case GUMBO_TAG_STRIKE:
	case GUMBO_TAG_STRONG:
	case GUMBO_TAG_TT:
	case GUMBO_TAG_U:
		return 1;
	default:
		return 0;
	}
}

/* HTML's "special" elements: an end tag of any other element never closes across one. */
static int msg_links_tag_special(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_ADDRESS:
	case GUMBO_TAG_APPLET:
	case GUMBO_TAG_AREA:
	case GUMBO_TAG_ARTICLE:
	case GUMBO_TAG_ASIDE:
	case GUMBO_TAG_BASE:
	case GUMBO_TAG_BASEFONT:
	case GUMBO_TAG_BGSOUND:
	case GUMBO_TAG_BLOCKQUOTE:
	case GUMBO_TAG_BODY:
	case GUMBO_TAG_BR:
	case GUMBO_TAG_BUTTON:
	case GUMBO_TAG_CAPTION:
	case GUMBO_TAG_CENTER:
	case GUMBO_TAG_COL:
	case GUMBO_TAG_COLGROUP:
	case GUMBO_TAG_DD:
	case GUMBO_TAG_DETAILS:
	case GUMBO_TAG_DIR:
	case GUMBO_TAG_DIV:
	case GUMBO_TAG_DL:
	case GUMBO_TAG_DT:
	case GUMBO_TAG_EMBED:
	case GUMBO_TAG_FIELDSET:
	case GUMBO_TAG_FIGCAPTION:
	case GUMBO_TAG_FIGURE:
	case GUMBO_TAG_FOOTER:
	case GUMBO_TAG_FORM:
	case GUMBO_TAG_FRAME:
	case GUMBO_TAG_FRAMESET:
	case GUMBO_TAG_H1:
	case GUMBO_TAG_H2:
	case GUMBO_TAG_H3:
	case GUMBO_TAG_H4:
	case GUMBO_TAG_H5:
	case GUMBO_TAG_H6:
	case GUMBO_TAG_HEAD:
	case GUMBO_TAG_HEADER:
	case GUMBO_TAG_HGROUP:
	case GUMBO_TAG_HR:
	case GUMBO_TAG_HTML:
	case GUMBO_TAG_IFRAME:
	case GUMBO_TAG_IMG:
	case GUMBO_TAG_INPUT:
	case GUMBO_TAG_KEYGEN:
	case GUMBO_TAG_LI:
	case GUMBO_TAG_LINK:
	case GUMBO_TAG_LISTING:
	case GUMBO_TAG_MAIN:
	case GUMBO_TAG_MARQUEE:
	case GUMBO_TAG_MENU:
	case GUMBO_TAG_META:
	case GUMBO_TAG_NAV:
	case GUMBO_TAG_NOEMBED:
	case GUMBO_TAG_NOFRAMES:
	case GUMBO_TAG_NOSCRIPT:
	case GUMBO_TAG_OBJECT:
	case GUMBO_TAG_OL:
	case GUMBO_TAG_P:
	case GUMBO_TAG_PARAM:
	case GUMBO_TAG_PLAINTEXT:
	case GUMBO_TAG_PRE:
	case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_SECTION:
	case GUMBO_TAG_SELECT:
	case GUMBO_TAG_SOURCE:
	case GUMBO_TAG_STYLE:
	case GUMBO_TAG_SUMMARY:
	case GUMBO_TAG_TABLE:
	case GUMBO_TAG_TBODY:
	case GUMBO_TAG_TD:
	case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_TEXTAREA:
	case GUMBO_TAG_TFOOT:
	case GUMBO_TAG_TH:
	case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TITLE:
	case GUMBO_TAG_TR:
	case GUMBO_TAG_TRACK:
	case GUMBO_TAG_UL:
	case GUMBO_TAG_WBR:
	case GUMBO_TAG_XMP:
	case GUMBO_TAG_MI:
	case GUMBO_TAG_MO:
	case GUMBO_TAG_MN:
	case GUMBO_TAG_MS:
	case GUMBO_TAG_MTEXT:
	case GUMBO_TAG_ANNOTATION_XML:
	case GUMBO_TAG_FOREIGNOBJECT:
	case GUMBO_TAG_DESC:
		return 1;
	default:
		return 0;
	}
}

/* Where an end tag's search for its element stops in HTML's tree builder (made wider, never narrower). */
static int msg_links_tag_boundary(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_APPLET:
	case GUMBO_TAG_CAPTION:
	case GUMBO_TAG_HTML:
	case GUMBO_TAG_TABLE:
	case GUMBO_TAG_TD:
	case GUMBO_TAG_TH:
	case GUMBO_TAG_MARQUEE:
	case GUMBO_TAG_OBJECT:
	case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_OL:
	case GUMBO_TAG_UL:
	case GUMBO_TAG_BUTTON:
	case GUMBO_TAG_SELECT:
	case GUMBO_TAG_SVG:
	case GUMBO_TAG_MATH:
	case GUMBO_TAG_FOREIGNOBJECT:
	case GUMBO_TAG_DESC:
	case GUMBO_TAG_MI:
	case GUMBO_TAG_MO:
	case GUMBO_TAG_MN:
	case GUMBO_TAG_MS:
	case GUMBO_TAG_MTEXT:
	case GUMBO_TAG_ANNOTATION_XML:
		return 1;
	default:
		return 0;
	}
}

/* Start tags that close an open element of their own kind sitting on top ("<li>a<li>b"). */
static int msg_links_tag_closes_same(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_P:
	case GUMBO_TAG_LI:
	case GUMBO_TAG_DT:
	case GUMBO_TAG_DD:
	case GUMBO_TAG_OPTION:
	case GUMBO_TAG_TR:
	case GUMBO_TAG_TD:
	case GUMBO_TAG_TH:
		return 1;
	default:
		return 0;
	}
}

struct msg_links_open {
	GumboTag tag;
	uint32_t name; /* hash of the name, for unknown tags */
};

struct msg_links_depth {
	struct msg_links_open stack[MSG_LINKS_MAX_DEPTH + 1];
	size_t n;
	size_t detached; /* formatting elements closed under others: the parser reopens them */
	size_t detached_by_tag[GUMBO_TAG_LAST + 1];
};

static size_t msg_links_depth_of(const struct msg_links_depth *d)
{
	return d->n + d->detached;
}

/* Pops stack[i..]; formatting elements popped by another's end tag stay counted (they are reconstructed). */
static void msg_links_depth_pop_to(struct msg_links_depth *d, size_t i)
{
	for (size_t k = d->n; k-- > i + 1;) {
		if (msg_links_tag_formatting(d->stack[k].tag)) {
			d->detached++;
			d->detached_by_tag[d->stack[k].tag]++;
		}
	}
	d->n = i;
}

static int msg_links_same(const struct msg_links_open *o, GumboTag tag, uint32_t name)
{
	return o->tag == tag && (tag != GUMBO_TAG_UNKNOWN || o->name == name);
}

static void msg_links_depth_end(struct msg_links_depth *d, GumboTag tag, uint32_t name)
{
	/*
	 * An end tag of a special element closes up to its element unless a
	 * scope boundary is in the way; any other end tag (formatting ones go
	 * through the adoption agency, which may reshuffle but does not shrink
	 * the stack) closes only when no special element is in the way.
	 */
	int special = msg_links_tag_special(tag);
	for (size_t i = d->n; i-- > 0;) {
		if (msg_links_same(&d->stack[i], tag, name)) {
			msg_links_depth_pop_to(d, i);
			return;
		}
		GumboTag t = d->stack[i].tag;
		if (special ? msg_links_tag_boundary(t) : msg_links_tag_special(t))
			break;
	}
	if (tag != GUMBO_TAG_UNKNOWN && d->detached_by_tag[tag] > 0) {
		d->detached_by_tag[tag]--;
		d->detached--;
	}
}

/* 1 when the start tag is kept, 0 when it has to go to keep the depth bounded. */
static int msg_links_depth_start(struct msg_links_depth *d, GumboTag tag, uint32_t name)
{
	if (msg_links_tag_void(tag) || msg_links_tag_raw(tag))
		return 1;
	if (d->n > 0 && msg_links_tag_closes_same(tag) &&
	    (d->stack[d->n - 1].tag == tag ||
	     ((tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH) &&
	      (d->stack[d->n - 1].tag == GUMBO_TAG_TD || d->stack[d->n - 1].tag == GUMBO_TAG_TH))))
		d->n--;
	if (tag == GUMBO_TAG_A) {
		/* <a> closes an open <a> (the adoption agency) when nothing special is in between. */
		for (size_t i = d->n; i-- > 0;) {
			if (d->stack[i].tag == GUMBO_TAG_A) {
				msg_links_depth_pop_to(d, i);
				break;
			}
			if (msg_links_tag_special(d->stack[i].tag))
				break;
		}
		/*
		 * Anchors are kept beyond the bound: past it every other start tag
		 * is dropped, so each <a> closes the one before and they cannot pile up.
		 */
		if (d->n > MSG_LINKS_MAX_DEPTH)
			return 0;
	} else if (msg_links_depth_of(d) >= MSG_LINKS_MAX_DEPTH) {
		return 0;
	}
	d->stack[d->n].tag = tag;
	d->stack[d->n].name = name;
	d->n++;
	return 1;
}

static size_t msg_links_skip_comment(const char *s, size_t n, size_t i)
{
	/* s[i..] starts with "<!--"; ends at "-->" or "--!>", and "<!-->" / "<!--->" end at once. */
	size_t j = i + 4;
	if (j < n && s[j] == '>')
		return j + 1;
	if (j + 1 < n && s[j] == '-' && s[j + 1] == '>')
		return j + 2;
	for (; j + 2 < n; j++) {
		if (s[j] == '-' && s[j + 1] == '-') {
			if (s[j + 2] == '>')
				return j + 3;
			if (j + 3 < n && s[j + 2] == '!' && s[j + 3] == '>')
				return j + 4;
		}
	}
	return n;
}

/* Position after a tag's '>' (attribute values in quotes may hold '>'), or n. */
static size_t msg_links_skip_attrs(const char *s, size_t n, size_t j)
{
	while (j < n) {
		char c = s[j];
		if (c == '>')
			return j + 1;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '/') {
			j++;
			continue;
		}
		/* attribute name (a leading '=' belongs to it) */
		j++;
		while (j < n && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' && s[j] != '\f' &&
		       s[j] != '/' && s[j] != '>' && s[j] != '=')
			j++;
		size_t k = j;
		while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r' || s[k] == '\f'))
			k++;
		if (k >= n || s[k] != '=')
			continue;
		k++;
		while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r' || s[k] == '\f'))
			k++;
		if (k < n && (s[k] == '"' || s[k] == '\'')) {
			const char *q = memchr(s + k + 1, s[k], n - k - 1);
			if (q == NULL)
				return n;
			j = (size_t)(q - s) + 1;
		} else {
			while (k < n && s[k] != ' ' && s[k] != '\t' && s[k] != '\n' && s[k] != '\r' && s[k] != '\f' &&
			       s[k] != '>')
				k++;
			j = k;
		}
	}
	return n;
}

/* Position of the "</name" that ends a raw-text element's content, or n. */
static size_t msg_links_skip_raw(const char *s, size_t n, size_t j, const char *name, size_t nlen)
{
	for (; j + 2 + nlen <= n; j++) {
		const char *lt = memchr(s + j, '<', n - j);
		if (lt == NULL)
			return n;
		j = (size_t)(lt - s);
		if (j + 2 + nlen > n)
			return n;
		if (s[j + 1] == '/' && strncasecmp(s + j + 2, name, nlen) == 0) {
			char c = j + 2 + nlen < n ? s[j + 2 + nlen] : '>';
			if (c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')
				return j;
		}
	}
	return n;
}

/*
 * gumbo 0.10's tree builder costs O(depth) per tag. This pass follows the
 * tags with a deliberately pessimistic model of the parser's stack of open
 * elements (it pops less than the parser would, and counts formatting
 * elements the parser may reopen) and drops the start tags that would take
 * it past MSG_LINKS_MAX_DEPTH. Text, links and images are all kept; only
 * structure beyond the bound is lost. Returns NULL when nothing was dropped
 * (the common case: no copy), else the copy to parse.
 */
char *msg_links_flatten(const char *s, size_t n, size_t *outlen)
{
	struct msg_links_depth *d = xcalloc(1, sizeof *d);
	struct buf out;
	buf_init(&out);
	size_t copied = 0;
	int dropped = 0;
	size_t i = 0;
	while (i < n) {
		const char *lt = memchr(s + i, '<', n - i);
		if (lt == NULL)
			break;
		i = (size_t)(lt - s);
		if (i + 1 >= n)
			break;
		char c = s[i + 1];
		if (c == '!') {
			if (i + 3 < n && s[i + 2] == '-' && s[i + 3] == '-') {
				i = msg_links_skip_comment(s, n, i);
			} else {
				const char *gt = memchr(s + i, '>', n - i);
				i = gt ? (size_t)(gt - s) + 1 : n;
			}
			continue;
		}
		if (c == '?') {
			const char *gt = memchr(s + i, '>', n - i);
			i = gt ? (size_t)(gt - s) + 1 : n;
			continue;
		}
		int end = c == '/';
		size_t ns = i + 1 + (size_t)end;
		if (ns >= n || !((s[ns] >= 'a' && s[ns] <= 'z') || (s[ns] >= 'A' && s[ns] <= 'Z'))) {
			if (end) { /* "</ " and the like: a bogus comment up to '>' */
				const char *gt = memchr(s + i, '>', n - i);
				i = gt ? (size_t)(gt - s) + 1 : n;
			} else {
				i++;
			}
			continue;
		}
		size_t ne = ns;
		while (ne < n && s[ne] != ' ' && s[ne] != '\t' && s[ne] != '\n' && s[ne] != '\r' && s[ne] != '\f' &&
		       s[ne] != '/' && s[ne] != '>')
			ne++;
		GumboTag tag = gumbo_tagn_enum(s + ns, (unsigned)(ne - ns));
		uint32_t name = 2166136261u;
		if (tag == GUMBO_TAG_UNKNOWN) {
			for (size_t k = ns; k < ne; k++) {
				char lc = (s[k] >= 'A' && s[k] <= 'Z') ? (char)(s[k] + 32) : s[k];
				name = (name ^ (unsigned char)lc) * 16777619u;
			}
		}
		size_t te = msg_links_skip_attrs(s, n, ne);
		if (end) {
			msg_links_depth_end(d, tag, name);
			i = te;
			continue;
		}
		if (tag == GUMBO_TAG_PLAINTEXT)
			break; /* the rest of the document is text */
		if (!msg_links_depth_start(d, tag, name)) {
			buf_append(&out, s + copied, i - copied);
			copied = te;
			dropped = 1;
			i = te;
			continue;
		}
		i = te;
		if (msg_links_tag_raw(tag))
			i = msg_links_skip_raw(s, n, i, s + ns, ne - ns);
	}
	free(d);
	if (!dropped) {
		buf_free(&out);
		return NULL;
	}
	buf_append(&out, s + copied, n - copied);
	*outlen = out.len;
	buf_cstr(&out);
	return (char *)buf_steal(&out, outlen);
}
