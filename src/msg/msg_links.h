/*
 * msg_links: every URL in a message and what it is for. Pure.
 *
 * HTML is parsed with a real HTML5 parser (gumbo), never with regular
 * expressions: a href of <a> and <area>, src of <img>, with the anchor's
 * visible text (or the image's alt). Plain text is scanned for http(s) URLs
 * with the usual trailing-punctuation rules. The List-Unsubscribe header adds
 * its URLs (RFC 2369, RFC 8058). Each link gets a kind from a documented rule
 * table (msg_links.c and docs/ARCHITECTURE.md): reset, verify, login,
 * unsubscribe, other.
 */
#ifndef MAILSCOPE_MSG_LINKS_H
#define MAILSCOPE_MSG_LINKS_H

#include <stddef.h>

enum msg_link_kind { MSG_LINK_RESET, MSG_LINK_VERIFY, MSG_LINK_LOGIN, MSG_LINK_UNSUBSCRIBE, MSG_LINK_OTHER };

struct msg_link {
	char *url;          /* as found (entities decoded), UTF-8 */
	char *text;         /* anchor text, image alt, or "" */
	enum msg_link_kind kind;
	const char *source; /* static: "html:a", "html:area", "html:img", "text", "header:List-Unsubscribe" */
};

struct msg_links {
	struct msg_link *items; /* in document order: HTML first, then text, then the header */
	size_t n;
};

/* Any argument may be NULL. Duplicates (same URL and source) are kept once. */
void msg_links_extract(const char *html, const char *text, const char *list_unsubscribe, struct msg_links *out);
void msg_links_free(struct msg_links *l);
const char *msg_link_kind_name(enum msg_link_kind kind);
/* "reset" -> MSG_LINK_RESET ...; -1 for an unknown name. */
int msg_link_kind_parse(const char *name, enum msg_link_kind *out);

/*
 * The visible text of an HTML document (no script/style/head; block
 * elements and <br> become line breaks; entities decoded). Caller frees.
 */
char *msg_html_text(const char *html);

#endif
