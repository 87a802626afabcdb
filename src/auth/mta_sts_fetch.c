/*
 * mta_sts_fetch: the MTA-STS policy over HTTPS (RFC 8461 3.3) with
 * libcurl. See mta_sts.h.
 *
 * The host name is resolved by the caller through mailscope's own DNS
 * interface and handed to libcurl with CURLOPT_RESOLVE, so the URL (and
 * with it SNI and certificate name verification) stays
 * https://mta-sts.<domain>/ while the addresses come from the DNS-cache
 * file or libunbound like every other answer of the check. A redirect is a
 * failure (3.3: "MUST NOT follow"), as is any status but 200 and a body
 * over MTA_STS_MAX_POLICY bytes (the transfer stops there).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/mta_sts.h"
#include "core/buf.h"
#include "core/xmalloc.h"

struct mta_sts_sink {
	struct buf body;
	int too_big;
};

static size_t mta_sts_on_data(char *p, size_t size, size_t n, void *arg)
{
	struct mta_sts_sink *s = arg;
	size_t len = size * n;
	if (s->body.len + len > MTA_STS_MAX_POLICY) {
		s->too_big = 1;
		return 0; /* stops the transfer: CURLE_WRITE_ERROR */
	}
	buf_append(&s->body, p, len);
	return len;
}

void mta_sts_fetch(const struct mta_sts_fetch_request *req, struct mta_sts_fetch_result *out)
{
	memset(out, 0, sizeof *out);
	int port = req->port > 0 ? req->port : 443;
	char host[300];
	snprintf(host, sizeof host, "mta-sts.%s", req->domain);
	out->url = port == 443 ? xasprintf("https://%s/.well-known/mta-sts.txt", host)
	                       : xasprintf("https://%s:%d/.well-known/mta-sts.txt", host, port);
	if (req->naddrs == 0) {
		out->error = xasprintf("%s has no A or AAAA record: the policy cannot be fetched", host);
		return;
	}
	struct buf resolve;
	buf_init(&resolve);
	buf_printf(&resolve, "%s:%d:", host, port);
	for (size_t i = 0; i < req->naddrs; i++)
		buf_printf(&resolve, strchr(req->addrs[i], ':') ? "%s[%s]" : "%s%s", i ? "," : "", req->addrs[i]);
	buf_cstr(&resolve);
	struct curl_slist *resolve_list = curl_slist_append(NULL, (const char *)resolve.data);
	buf_free(&resolve);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	if (h == NULL || resolve_list == NULL) {
		out->error = xstrdup("libcurl could not be set up");
		curl_slist_free_all(resolve_list);
		if (h)
			curl_easy_cleanup(h);
		return;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	struct mta_sts_sink sink;
	buf_init(&sink.body);
	sink.too_big = 0;
	curl_easy_setopt(h, CURLOPT_URL, out->url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, resolve_list);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	/* The policy comes from the domain's own server: a proxy would change what is checked. */
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : 10000;
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE, (long)MTA_STS_MAX_POLICY);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mailscope check domain");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mta_sts_on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	char *ip = NULL;
	if (curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && ip[0])
		out->address = xstrdup(ip);
	char *ctype = NULL;
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype)
		out->content_type = xstrdup(ctype);
	if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		out->error = xasprintf("the policy is larger than %d bytes", MTA_STS_MAX_POLICY);
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
	           rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_SSL_CERTPROBLEM) {
		out->error = xasprintf("TLS: %s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else if (rc != CURLE_OK) {
		out->error = xasprintf("%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else if (out->status >= 300 && out->status < 400) {
		out->error =
		        xasprintf("HTTP %ld: a redirect, which senders must not follow (RFC 8461 3.3)", out->status);
	} else if (out->status != 200) {
		out->error = xasprintf("HTTP %ld instead of 200", out->status);
	} else {
		out->ok = 1;
	}
	buf_cstr(&sink.body);
	out->body = (char *)buf_steal(&sink.body, &out->len);
	curl_easy_cleanup(h);
	curl_slist_free_all(resolve_list);
}

void mta_sts_fetch_result_free(struct mta_sts_fetch_result *r)
{
	free(r->url);
	free(r->address);
	free(r->body);
	free(r->content_type);
	free(r->error);
	memset(r, 0, sizeof *r);
}
