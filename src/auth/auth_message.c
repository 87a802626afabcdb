/* auth_message: see auth_message.h. */
#include "auth/auth_message.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/arc.h"
#include "auth/authres.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/dns.h"
#include "auth/received_spf.h"
#include "auth/spf.h"
#include "core/json_text.h"
#include "core/xmalloc.h"

struct auth_message_check {
	struct dns_resolver *resolver;
	uint8_t *msg;
	size_t len;
	char *ip, *helo, *mail_from, *authserv_id;
	int timeout_ms, fold;
	auth_message_done_cb cb;
	void *arg;
	/* Pending checks (NULL once their callback ran). */
	struct spf_check *spf_check;
	struct dkim_check *dkim_check;
	struct dmarc_check *dmarc_check;
	struct arc_check *arc_check;
	int spf_done, dkim_done;
	char *from_err; /* why the From: domain is unusable, or NULL */
	struct auth_message_result *res;
};

static char *auth_message_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void auth_message_result_free(struct auth_message_result *m)
{
	if (m == NULL)
		return;
	spf_outcome_free(m->spf);
	dkim_outcome_free(m->dkim);
	dmarc_outcome_free(m->dmarc);
	arc_outcome_free(m->arc);
	free(m->authres);
	free(m->received_spf);
	json_decref(m->findings);
	free(m);
}

static void auth_message_check_free(struct auth_message_check *c)
{
	free(c->msg);
	free(c->ip);
	free(c->helo);
	free(c->mail_from);
	free(c->authserv_id);
	free(c->from_err);
	auth_message_result_free(c->res);
	free(c);
}

void auth_message_cancel(struct auth_message_check *c)
{
	if (c == NULL)
		return;
	if (c->spf_check)
		spf_check_cancel(c->spf_check);
	if (c->dkim_check)
		dkim_check_cancel(c->dkim_check);
	if (c->dmarc_check)
		dmarc_check_cancel(c->dmarc_check);
	if (c->arc_check)
		arc_check_cancel(c->arc_check);
	auth_message_check_free(c);
}

static void auth_message_findings(struct auth_message_result *m)
{
	json_t *f = m->findings;
	if (m->spf == NULL)
		json_array_append_new(f, json_string("SPF not checked: the envelope is not in the file; give --ip ADDR "
		                                     "and --mail-from ADDR (and --helo NAME)"));
	else if (m->spf->result != SPF_RESULT_PASS)
		json_array_append_new(f, json_sprintf("SPF %s for %s: %s", spf_result_name(m->spf->result),
		                                      m->spf->domain ? m->spf->domain : "?",
		                                      m->spf->explanation ? m->spf->explanation
		                                      : m->spf->reason    ? m->spf->reason
		                                                          : ""));
	if (m->dkim->n == 0)
		json_array_append_new(f, json_string("no DKIM signature: sign outgoing mail with the From: domain"));
	for (size_t i = 0; i < m->dkim->n; i++) {
		const struct dkim_sig_result *s = &m->dkim->sigs[i];
		if (s->result != DKIM_RESULT_PASS)
			json_array_append_new(f,
			                      json_sprintf("DKIM d=%s s=%s: %s (%s): %s", s->domain ? s->domain : "?",
			                                   s->selector ? s->selector : "?", dkim_result_name(s->result),
			                                   s->code, s->reason ? s->reason : ""));
		else if (s->has_l)
			json_array_append_new(f, json_sprintf("DKIM d=%s s=%s signs only the first %llu of %llu body "
			                                      "octets (l=): anything appended still passes; sign "
			                                      "without l=",
			                                      s->domain, s->selector, (unsigned long long)s->l,
			                                      (unsigned long long)s->body_length));
		if (s->testing)
			json_array_append_new(f, json_sprintf("DKIM key %s._domainkey.%s is in testing mode (t=y): "
			                                      "receivers may ignore its signatures",
			                                      s->selector, s->domain));
	}
	for (size_t i = 0; i < m->dmarc->nfindings; i++)
		json_array_append_new(f, json_string(m->dmarc->findings[i]));
	if (m->arc->result == ARC_RESULT_FAIL)
		json_array_append_new(f, json_sprintf("ARC chain fails (set i=%u): %s; receivers will not trust the "
		                                      "results of the earlier hops",
		                                      m->arc->instance, m->arc->reason ? m->arc->reason : ""));
}

json_t *auth_message_json(const struct auth_message_result *m)
{
	json_t *spf = m->spf ? spf_outcome_json(m->spf)
	                     : json_pack("{s:s, s:b, s:n, s:n, s:i, s:s}", "result", "none", "checked", 0, "domain",
	                                 "explanation", "lookups", 0, "reason",
	                                 "not checked: give --ip and --mail-from (the envelope is not in the file)");
	json_t *arc = arc_outcome_json(m->arc);
	json_object_set_new(arc, "checked", json_true());
	/* json_text: the fields hold outside bytes (From: domain, MAIL FROM) that need not be UTF-8. */
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:O}", "spf", spf, "dkim", dkim_outcome_json(m->dkim), "dmarc",
	                 dmarc_outcome_json(m->dmarc), "arc", arc, "authentication_results", json_text(m->authres),
	                 "received_spf", json_text(m->received_spf), "findings", m->findings);
}

/* DMARC and ARC are in: the fields and the findings, then the callback (which owns the result). */
static void auth_message_finish(struct auth_message_check *c)
{
	if (c->dmarc_check || c->arc_check || !c->res->dmarc || !c->res->arc)
		return;
	struct auth_message_result *m = c->res;
	struct authres_input ain = {
	        .authserv_id = c->authserv_id, .spf = m->spf, .dkim = m->dkim, .dmarc = m->dmarc, .arc = m->arc};
	m->authres = authres_build(&ain, c->fold);
	if (m->spf) {
		struct received_spf_input in = {.spf = m->spf,
		                                .client_ip = c->ip,
		                                .mail_from = c->mail_from,
		                                .helo = c->helo,
		                                .receiver = c->authserv_id};
		m->received_spf = received_spf_build(&in, c->fold);
	}
	auth_message_findings(m);
	c->res = NULL;
	auth_message_done_cb cb = c->cb;
	void *arg = c->arg;
	auth_message_check_free(c);
	cb(m, arg);
}

static void auth_message_dmarc_done(struct dmarc_outcome *o, void *arg)
{
	struct auth_message_check *c = arg;
	c->dmarc_check = NULL;
	if (c->from_err) {
		/* The check said "no usable From: domain"; the parser knows why. */
		free(o->reason);
		o->reason = c->from_err;
		c->from_err = NULL;
	}
	c->res->dmarc = o;
	auth_message_finish(c);
}

/* SPF and DKIM are in: DMARC from both. */
static void auth_message_start_dmarc(struct auth_message_check *c)
{
	if (!c->spf_done || !c->dkim_done)
		return;
	struct auth_message_result *m = c->res;
	char *from = NULL;
	char ferr[256] = "";
	if (dmarc_from_domain(c->msg, c->len, &from, ferr, sizeof ferr) != 0 || from == NULL)
		c->from_err = xstrdup(ferr);
	struct dmarc_request req = {.from_domain = from,
	                            .spf = m->spf ? m->spf->result : SPF_RESULT_NONE,
	                            .spf_domain = m->spf ? m->spf->domain : NULL,
	                            .dkim = m->dkim,
	                            .timeout_ms = c->timeout_ms};
	c->dmarc_check = dmarc_check_start(c->resolver, &req, auth_message_dmarc_done, c);
	free(from);
}

static void auth_message_spf_done(struct spf_outcome *o, void *arg)
{
	struct auth_message_check *c = arg;
	c->spf_check = NULL;
	c->res->spf = o;
	c->spf_done = 1;
	auth_message_start_dmarc(c);
}

static void auth_message_dkim_done(struct dkim_outcome *o, void *arg)
{
	struct auth_message_check *c = arg;
	c->dkim_check = NULL;
	c->res->dkim = o;
	c->dkim_done = 1;
	auth_message_start_dmarc(c);
}

static void auth_message_arc_done(struct arc_outcome *o, void *arg)
{
	struct auth_message_check *c = arg;
	c->arc_check = NULL;
	c->res->arc = o;
	auth_message_finish(c);
}

struct auth_message_check *auth_message_start(struct dns_resolver *r, const struct auth_message_request *req,
                                              auth_message_done_cb cb, void *arg)
{
	struct auth_message_check *c = xcalloc(1, sizeof *c);
	c->resolver = r;
	c->msg = xmalloc(req->len ? req->len : 1);
	if (req->len)
		memcpy(c->msg, req->msg, req->len);
	c->len = req->len;
	c->ip = auth_message_dup(req->ip);
	c->helo = auth_message_dup(req->helo);
	c->mail_from = auth_message_dup(req->mail_from);
	c->authserv_id = auth_message_dup(req->authserv_id);
	c->timeout_ms = req->timeout_ms;
	c->fold = req->fold;
	c->cb = cb;
	c->arg = arg;
	c->res = xcalloc(1, sizeof *c->res);
	c->res->findings = json_array();
	int have_identity = (req->mail_from && req->mail_from[0]) || (req->helo && req->helo[0]);
	/* Every check below calls back from the loop, never from its start: c stays whole until they run. */
	if (req->ip && have_identity) {
		struct spf_request sreq = {
		        .ip = c->ip, .helo = c->helo, .mail_from = c->mail_from, .timeout_ms = c->timeout_ms};
		c->spf_check = spf_check_start(r, &sreq, auth_message_spf_done, c);
	} else {
		c->spf_done = 1;
	}
	struct dkim_request dreq = {.msg = c->msg, .len = c->len, .timeout_ms = c->timeout_ms};
	c->dkim_check = dkim_check_start(r, &dreq, auth_message_dkim_done, c);
	struct arc_request areq = {.msg = c->msg, .len = c->len, .timeout_ms = c->timeout_ms};
	c->arc_check = arc_check_start(r, &areq, auth_message_arc_done, c);
	return c;
}

static void auth_message_sync_done(struct auth_message_result *m, void *arg)
{
	*(struct auth_message_result **)arg = m;
}

struct auth_message_result *auth_message_sync(struct dns_resolver *r, const struct auth_message_request *req)
{
	struct auth_message_result *m = NULL;
	struct auth_message_check *c = auth_message_start(r, req, auth_message_sync_done, &m);
	struct event_base *base = dns_resolver_base(r);
	while (m == NULL)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	if (m == NULL) {
		/* Cannot happen while the checks' deadlines are pending; never spin. */
		auth_message_cancel(c);
		return NULL;
	}
	return m;
}
