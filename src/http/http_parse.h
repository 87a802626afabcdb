/*
 * http_parse: pure functions over the bytes a request brings, and over the
 * names a message puts into a response header: the path (percent-decoded
 * segments) and route patterns, whole numbers in query values, the Host
 * header, and an attachment's file name and type for Content-Disposition and
 * Content-Type. No I/O and no server state, so tests/fuzz/fuzz_http_parse.c
 * can throw anything at them.
 */
#ifndef MAILSCOPE_HTTP_PARSE_H
#define MAILSCOPE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Octets of UTF-8 kept of an attachment's name for filename*: ample for a name, bounded for a header. */
#define HTTP_PARSE_FILENAME_UTF8_MAX 200

/*
 * Splits a path ("/api/v1/messages/ID") at '/' into at most max segments,
 * each percent-decoded (the caller frees each). Empty segments are skipped.
 * Returns -1, with nothing left to free, when the path does not start with
 * '/', has more than max segments, or a segment decodes to a NUL.
 */
int http_parse_path(const char *path, char **segs, size_t max, size_t *nsegs);
/*
 * Does a route pattern ("/api/v1/messages/STAR/raw", STAR being '*', which
 * matches one segment) match the segments? The segments matched by '*' go
 * to parts (at most maxparts). 1 or 0.
 */
int http_parse_route(const char *pattern, char *const *segs, size_t nsegs, const char **parts, size_t maxparts,
                     size_t *nparts);
/* A query value as a whole number in [min, max]: digits only. 0, or -1. */
int http_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out);
/* Does a Host header ("127.0.0.1:8025", "[::1]:8025", "localhost", "x.localhost") name loopback? */
int http_parse_host_local(const char *host);
/*
 * An attachment's name for filename="...": printable ASCII without quotes,
 * slashes, backslashes or ';' (one '_' per other character), no trailing
 * dots or spaces; "attachment" when nothing is left. Always NUL-terminated.
 */
void http_parse_filename_ascii(const char *name, char *out, size_t outlen);
/*
 * The same name for filename*=UTF-8''... (RFC 6266, RFC 5987): the sender's
 * UTF-8 without controls, path separators or bidi controls (each becomes
 * '_'), at most HTTP_PARSE_FILENAME_UTF8_MAX octets cut at a character,
 * percent-encoded. NULL when nothing usable is left. Caller frees.
 */
char *http_parse_filename_utf8(const char *name);
/* A content type safe to send back: "type/subtype" of token characters, else application/octet-stream. */
const char *http_parse_content_type(const char *ct);

#endif
