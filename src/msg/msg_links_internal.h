/*
 * msg_links_internal: what the files of msg_links share and nothing else
 * includes.
 *
 *   msg_links.c          the whole: the HTML walk (visible text, links and
 *                        their place in it), plain text and List-Unsubscribe
 *                        scanning, de-duplication
 *   msg_links_kinds.c    what a link is for: the phrase and rule tables, the
 *                        words around a link, the kinds' names
 *   msg_links_flatten.c  HTML nesting kept within bounds before gumbo parses it
 */
#ifndef MAILSCOPE_MSG_LINKS_INTERNAL_H
#define MAILSCOPE_MSG_LINKS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/utf8.h"
#include "msg/msg_links.h"

struct buf;

/* utf8_class() as links read it (msg_links.c). */
enum utf8_cc msg_links_class(uint32_t c);

/* ---- msg_links_kinds.c ---- */

/* Scratch space for classifying: the phrase index and buffers, reused across the links of one extraction. */
struct msg_links_cls;

struct msg_links_cls *msg_links_cls_new(void);
void msg_links_cls_free(struct msg_links_cls *cls);
/*
 * The kind of one link; source is one of the static strings of struct
 * msg_link. ctx (ctxlen bytes, may be NULL) holds the words around the link
 * (msg_links_context), read only when its anchor text says nothing.
 */
enum msg_link_kind msg_links_classify(struct msg_links_cls *cls, const char *url, const char *text, const char *source,
                                      const char *ctx, size_t ctxlen);
/* The words around the link at [start, end) of the text t, into out (see msg_links_kinds.c). */
void msg_links_context(const char *t, size_t tlen, size_t start, size_t end, size_t prev_end, size_t next_start,
                       struct buf *out);

/* ---- msg_links_flatten.c ---- */

/*
 * html[0..n) with the start tags that nest deeper than gumbo can afford
 * dropped: NULL when nothing was dropped (the common case: no copy), else
 * the copy to parse and its length in *outlen.
 */
char *msg_links_flatten(const char *html, size_t n, size_t *outlen);

#endif
