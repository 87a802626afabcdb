/*
 * http_parse: pure parsing for the HTTP side. See http_parse.h.
 */
#include "http/http_parse.h"

#include <ctype.h>
#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "http/http_server.h"

int http_parse_path(const char *path, char **segs, size_t max, size_t *nsegs)
{
	*nsegs = 0;
	const char *p = path;
	if (*p != '/')
		return -1;
	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *dec = NULL;
		if (*nsegs < max) {
			char *raw = xstrndup(p, n);
			size_t dlen = 0;
			dec = evhttp_uridecode(raw, 0, &dlen);
			free(raw);
			if (dec != NULL && strlen(dec) != dlen) { /* %00 in a path segment */
				free(dec);
				dec = NULL;
			}
		}
		if (dec == NULL) {
			while (*nsegs > 0)
				free(segs[--*nsegs]);
			return -1;
		}
		segs[(*nsegs)++] = dec;
		p += n;
	}
	return 0;
}

int http_parse_route(const char *pattern, char *const *segs, size_t nsegs, const char **parts, size_t maxparts,
                     size_t *nparts)
{
	*nparts = 0;
	size_t i = 0;
	const char *p = pattern;
	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, "/");
		if (i >= nsegs)
			return 0;
		if (n == 1 && *p == '*') {
			if (*nparts == maxparts)
				return 0;
			parts[(*nparts)++] = segs[i];
		} else if (strlen(segs[i]) != n || strncmp(p, segs[i], n) != 0) {
			return 0;
		}
		i++;
		p += n;
	}
	return i == nsegs;
}

int http_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	if (*text < '0' || *text > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (*end != '\0' || errno == ERANGE || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int http_parse_host_local(const char *host)
{
	char name[256];
	const char *end;
	if (*host == '[') {
		host++;
		end = strchr(host, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return 0;
	} else {
		end = strchr(host, ':');
		if (end == NULL)
			end = host + strlen(host);
	}
	size_t n = (size_t)(end - host);
	if (n == 0 || n >= sizeof name)
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	static const char suffix[] = ".localhost";
	size_t k = sizeof suffix - 1;
	return http_host_is_loopback(name) || (n > k && strcasecmp(name + n - k, suffix) == 0);
}

void http_parse_filename_ascii(const char *name, char *out, size_t outlen)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p && o + 1 < outlen; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '/' && *p != ';')
			out[o++] = (char)*p;
		else if (*p >= 0x80 && (p[1] & 0xc0) != 0x80)
			out[o++] = '_'; /* one underscore per non-ASCII character */
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.'))
		o--;
	out[o] = '\0';
	if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		snprintf(out, outlen, "attachment");
}

/* Characters a download name never gets: controls, path separators, and bidi controls that disguise an extension. */
static int http_parse_filename_refused(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == '/' || cp == '\\' || utf8_is_bidi_control(cp) ||
	       cp == 0xfffd;
}

char *http_parse_filename_utf8(const char *name)
{
	struct buf b;
	buf_init(&b);
	size_t len = strlen(name);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		i += utf8_decode((const unsigned char *)name + i, len - i, &cp);
		if (http_parse_filename_refused(cp))
			cp = '_';
		size_t before = b.len;
		utf8_append(&b, cp);
		if (b.len > HTTP_PARSE_FILENAME_UTF8_MAX) {
			b.len = before;
			break;
		}
	}
	while (b.len > 0 && (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '.'))
		b.len--;
	char *enc = NULL;
	if (b.len > 0 && !(b.len == 1 && b.data[0] == '_'))
		enc = evhttp_uriencode((const char *)b.data, (ev_ssize_t)b.len, 0);
	buf_free(&b);
	return enc;
}

const char *http_parse_content_type(const char *ct)
{
	if (ct == NULL || strlen(ct) > 100 || strchr(ct, '/') == NULL)
		return "application/octet-stream";
	for (const char *p = ct; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/.+-_", *p))
			return "application/octet-stream";
	return ct;
}
