/*
 * probe_task: the checks of one address × port, each on its own connection
 * so that one cannot spoil another (a refused MAIL, a cancelled AUTH, a
 * broken handshake), all started as soon as what they need is known:
 *
 *   after the mode:       TLS 1.0 .. 1.3 one by one; MAIL, RSET and "AUTH mech"
 *                         cancelled with "*" before STARTTLS; STARTTLS and NOOP
 *                         in one write; one whole submission per client
 *                         configuration (smtp_submit) that can be tried
 *                         without a ClientHello to a plaintext port.
 *   after EHLO inside TLS: AUTH with each offered mechanism mailscope speaks
 *                         (credentials given); MAIL FROM:<>, RCPT TO, RSET
 *                         (--rcpt given).
 *
 * A task first opens its channel (plaintext up to EHLO; STARTTLS up to the
 * EHLO inside TLS; implicit TLS up to the EHLO after the greeting), then does
 * its own work and QUITs. Secrets go out only inside TLS. Nothing here sends
 * DATA, and RCPT only for --rcpt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "probe/probe_run_internal.h"

enum {
	CH_CONNECT,
	CH_TLS_IMPLICIT,
	CH_BANNER,
	CH_EHLO,
	CH_STARTTLS,
	CH_TLS,
	CH_EHLO_TLS,
	CH_QUIT,
	ENF_MAIL,
	ENF_RSET,
	ENF_AUTH,
	ENF_AUTH_CANCEL,
	INJ_STARTTLS,
	INJ_TLS,
	INJ_QUIT,
	AUTH_AUTH,
	RCPT_AUTH,
	RCPT_MAIL,
	RCPT_RCPT,
	RCPT_RSET,
};

static const char *const probe_version_tags[PROBE_TLS_VERSION__COUNT] = {"tls1.0", "tls1.1", "tls1.2", "tls1.3"};

static void probe_task_step(struct smtp_client *c, void *arg);

/* ---- the channel ---- */

static void probe_task_quit(struct probe_task *k)
{
	if (!smtp_client_connected(k->c)) {
		probe_task_end(k);
		return;
	}
	k->state = CH_QUIT;
	smtp_client_command(k->c, "quit", "QUIT", probe_task_step, k);
}

static void probe_task_ehlo(struct probe_task *k, int state)
{
	char line[300];
	snprintf(line, sizeof line, "EHLO %s", k->t->run->o->ehlo_name);
	k->state = state;
	smtp_client_command(k->c, state == CH_EHLO ? "ehlo" : "ehlo_tls", line, probe_task_step, k);
}

static void probe_task_start(struct probe_task *k)
{
	k->state = CH_CONNECT;
	smtp_client_connect(k->c, "connect", (struct sockaddr *)&k->t->addr, k->t->addrlen, probe_task_step, k);
}

static struct probe_task *probe_task_open(struct probe_target *t, enum probe_task_kind kind, enum probe_channel ch,
                                          const char *tag, struct tls_client *tls)
{
	struct probe_task *k = probe_task_new(t, kind, tag, tls);
	k->channel = ch;
	return k;
}

/* ---- each check's own work, once its channel is open ---- */

static void probe_enforce_auth(struct probe_task *k)
{
	/* Cancelled at once: the server's answer to "AUTH mech" is the fact, no secret is ever sent. */
	char mech[64] = "PLAIN", line[100];
	const char *offered = k->t->auth_mechs_plain;
	if (offered[0] != '\0')
		snprintf(mech, sizeof mech, "%.*s", (int)strcspn(offered, " "), offered);
	snprintf(line, sizeof line, "AUTH %s", mech);
	k->state = ENF_AUTH;
	smtp_client_command(k->c, "auth_before_tls", line, probe_task_step, k);
}

static void probe_rcpt_mail(struct probe_task *k)
{
	k->state = RCPT_MAIL;
	smtp_client_command(k->c, "mail", "MAIL FROM:<>", probe_task_step, k);
}

static void probe_task_ready(struct probe_task *k)
{
	const struct probe_run_options *o = k->t->run->o;
	switch (k->kind) {
	case PROBE_TASK_ENFORCE:
		k->state = ENF_MAIL;
		smtp_client_command(k->c, "mail_before_tls", "MAIL FROM:<>", probe_task_step, k);
		return;
	case PROBE_TASK_INJECTION: {
		static const char both[] = "STARTTLS\r\nNOOP\r\n";
		smtp_client_write_raw(k->c, both, sizeof both - 1);
		k->state = INJ_STARTTLS;
		smtp_client_read_reply(k->c, "starttls", 0, probe_task_step, k);
		return;
	}
	case PROBE_TASK_AUTH:
		k->state = AUTH_AUTH;
		smtp_client_auth(k->c, "auth", (enum smtp_auth_mech)k->mech, o->user, o->password, probe_task_step, k);
		return;
	case PROBE_TASK_RCPT:
		if (k->mech >= 0) {
			k->state = RCPT_AUTH;
			smtp_client_auth(k->c, "auth", (enum smtp_auth_mech)k->mech, o->user, o->password,
			                 probe_task_step, k);
			return;
		}
		probe_rcpt_mail(k);
		return;
	default:
		probe_task_quit(k);
		return;
	}
}

/* A TLS version task's handshake ended. */
static void probe_version_done(struct probe_task *k, const struct smtp_client_step *st)
{
	enum probe_tri *v = &k->t->p->tls.versions[k->version];
	*v = st->error == SMTP_CLIENT_OK ? PROBE_ACCEPTED : PROBE_REFUSED;
	if (st->error != SMTP_CLIENT_OK || k->channel == PROBE_CHANNEL_IMPLICIT) {
		/* Implicit TLS: nothing needs saying; the close_notify ends it before the greeting. */
		probe_task_end(k);
		return;
	}
	probe_task_quit(k);
}

static void probe_injection_tls(struct probe_task *k, const struct smtp_client_step *st)
{
	struct probe_port_facts *p = k->t->p;
	const char *line = "";
	if (st->error != SMTP_CLIENT_OK) {
		/* A "250" where the ClientHello's answer should be: the NOOP was answered in plaintext. */
		if (smtp_client_tls_answer(k->c, &line) == SMTP_CLIENT_TLS_ANSWER_NOT_TLS &&
		    strncmp(line, "250", 3) == 0)
			p->injection = PROBE_INJECTION_VULNERABLE;
		probe_task_end(k);
		return;
	}
	if (smtp_client_discarded_before_tls(k->c) > 0) {
		p->injection = PROBE_INJECTION_VULNERABLE;
		probe_task_quit(k);
		return;
	}
	/* The first reply inside TLS: 221 to our QUIT is safe; a 250 first is the NOOP, executed after the handshake.
	 */
	k->state = INJ_QUIT;
	smtp_client_command(k->c, "quit", "QUIT", probe_task_step, k);
}

static void probe_task_work(struct probe_task *k, const struct smtp_client_step *st)
{
	struct probe_port_facts *p = k->t->p;
	int ok = st->error == SMTP_CLIENT_OK;
	switch (k->state) {
	case ENF_MAIL:
		probe_reply_from_step(&p->mail_before_tls, st);
		if (ok && st->code / 100 == 2) {
			k->state = ENF_RSET;
			smtp_client_command(k->c, "rset", "RSET", probe_task_step, k);
			return;
		}
		if (!ok) {
			probe_task_end(k);
			return;
		}
		probe_enforce_auth(k);
		return;
	case ENF_RSET:
		if (!ok) {
			probe_task_end(k);
			return;
		}
		probe_enforce_auth(k);
		return;
	case ENF_AUTH:
		probe_reply_from_step(&p->auth_before_tls, st);
		if (ok && st->code == 334) {
			k->state = ENF_AUTH_CANCEL;
			smtp_client_command(k->c, "auth_cancel", "*", probe_task_step, k);
			return;
		}
		probe_task_quit(k);
		return;
	case ENF_AUTH_CANCEL:
		probe_task_quit(k);
		return;
	case INJ_STARTTLS:
		if (ok && st->code == 220) {
			k->state = INJ_TLS;
			smtp_client_start_tls(k->c, "tls", probe_task_step, k);
			return;
		}
		probe_task_quit(k);
		return;
	case INJ_TLS:
		probe_injection_tls(k, st);
		return;
	case INJ_QUIT:
		if (ok && st->code == 250)
			p->injection = PROBE_INJECTION_VULNERABLE;
		else if (ok && st->code == 221)
			p->injection = PROBE_INJECTION_SAFE;
		probe_task_end(k);
		return;
	case AUTH_AUTH:
		probe_reply_from_step(&p->auth[k->auth_index].reply, st);
		if (p->timings_ms.auth < 0)
			p->timings_ms.auth = (int)st->ms;
		probe_task_quit(k);
		return;
	case RCPT_AUTH:
		if (ok && st->code / 100 == 2)
			probe_rcpt_mail(k);
		else
			probe_task_quit(k);
		return;
	case RCPT_MAIL:
		if (ok && st->code / 100 == 2) {
			char line[600];
			snprintf(line, sizeof line, "RCPT TO:<%s>", k->t->run->o->rcpt);
			k->state = RCPT_RCPT;
			smtp_client_command(k->c, "rcpt", line, probe_task_step, k);
			return;
		}
		probe_task_quit(k);
		return;
	case RCPT_RCPT:
		probe_reply_from_step(&p->rcpt, st);
		if (!ok) {
			probe_task_end(k);
			return;
		}
		k->state = RCPT_RSET;
		smtp_client_command(k->c, "rset", "RSET", probe_task_step, k);
		return;
	case RCPT_RSET:
	default:
		probe_task_quit(k);
		return;
	}
}

static void probe_task_step(struct smtp_client *c, void *arg)
{
	struct probe_task *k = arg;
	const struct smtp_client_step *st = smtp_client_last(c);
	int ok = st->error == SMTP_CLIENT_OK;

	switch (k->state) {
	case CH_CONNECT:
		if (!ok) {
			probe_task_end(k);
		} else if (k->channel == PROBE_CHANNEL_IMPLICIT) {
			k->state = CH_TLS_IMPLICIT;
			smtp_client_start_tls(c, "tls", probe_task_step, k);
		} else {
			k->state = CH_BANNER;
			smtp_client_read_reply(c, "banner", 0, probe_task_step, k);
		}
		return;
	case CH_TLS_IMPLICIT:
	case CH_TLS:
		if (k->kind == PROBE_TASK_VERSION) {
			probe_version_done(k, st);
		} else if (!ok) {
			probe_task_end(k);
		} else if (k->state == CH_TLS_IMPLICIT) {
			k->state = CH_BANNER;
			smtp_client_read_reply(c, "banner", 0, probe_task_step, k);
		} else {
			probe_task_ehlo(k, CH_EHLO_TLS);
		}
		return;
	case CH_BANNER:
		if (ok && st->code == 220)
			probe_task_ehlo(k, CH_EHLO);
		else if (ok)
			probe_task_quit(k);
		else
			probe_task_end(k);
		return;
	case CH_EHLO:
		if (!ok || st->code != 250) {
			probe_task_quit(k);
		} else if (k->channel == PROBE_CHANNEL_STARTTLS) {
			k->state = CH_STARTTLS;
			smtp_client_command(c, "starttls", "STARTTLS", probe_task_step, k);
		} else {
			probe_task_ready(k);
		}
		return;
	case CH_STARTTLS:
		if (ok && st->code == 220) {
			k->state = CH_TLS;
			smtp_client_start_tls(c, "tls", probe_task_step, k);
		} else {
			probe_task_quit(k);
		}
		return;
	case CH_EHLO_TLS:
		if (ok && st->code == 250)
			probe_task_ready(k);
		else
			probe_task_quit(k);
		return;
	case CH_QUIT:
		probe_task_end(k);
		return;
	default:
		probe_task_work(k, st);
		return;
	}
}

/* ---- client configurations, each as a whole submission ---- */

/* Why a certificate fails for a client that verifies, or NULL when it verifies. */
static char *probe_cert_reason(const struct smtp_client *c)
{
	const struct tls_client_facts *tf = smtp_client_tls(c);
	if (tf == NULL || tf->verified)
		return NULL;
	if (!tf->cert.present)
		return xstrdup("the server sent no certificate");
	if (!tf->cert.chain_valid)
		return xstrdup(tf->cert.verify_text[0] ? tf->cert.verify_text : "certificate chain does not verify");
	return xasprintf("hostname mismatch: the certificate is not valid for %s", tf->cert.checked_name);
}

static int probe_submit_ran(const struct smtp_client *c, const char *name)
{
	size_t n;
	const struct smtp_client_step *s = smtp_client_steps(c, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return 1;
	return 0;
}

static enum probe_symptom probe_submit_symptom(struct probe_task *k, const struct smtp_submit_result *res,
                                               struct smtp_client *c)
{
	const struct smtp_client_step *st = smtp_client_last(c);
	enum smtp_client_error e = st != NULL ? st->error : SMTP_CLIENT_ERR_STATE;
	struct probe_reply r = {.code = res->reply_code, .text = res->error};
	snprintf(r.enhanced, sizeof r.enhanced, "%s", res->reply_enhanced);
	switch (res->failed_stage) {
	case SMTP_STAGE_CONNECT:
		return e == SMTP_CLIENT_ERR_REFUSED   ? PROBE_SYMPTOM_CONNECTION_REFUSED
		       : e == SMTP_CLIENT_ERR_TIMEOUT ? PROBE_SYMPTOM_CONNECTION_TIMEOUT
		       : e == SMTP_CLIENT_ERR_RESET   ? PROBE_SYMPTOM_CONNECTION_RESET
		                                      : PROBE_SYMPTOM_UNREACHABLE;
	case SMTP_STAGE_BANNER:
		if (res->reply_code != 0)
			return PROBE_SYMPTOM_GREETING_REFUSED;
		return e == SMTP_CLIENT_ERR_PROTOCOL  ? PROBE_SYMPTOM_NOT_SMTP
		       : e == SMTP_CLIENT_ERR_TIMEOUT ? PROBE_SYMPTOM_BANNER_TIMEOUT
		                                      : PROBE_SYMPTOM_CONNECTION_RESET;
	case SMTP_STAGE_EHLO:
		return PROBE_SYMPTOM_GREETING_REFUSED;
	case SMTP_STAGE_TLS:
		if (k->config == PROBE_CLIENT_STARTTLS && !probe_submit_ran(c, "starttls"))
			return PROBE_SYMPTOM_STARTTLS_NOT_OFFERED;
		if (res->reply_code != 0)
			return PROBE_SYMPTOM_STARTTLS_REFUSED;
		if (smtp_client_tls_answer(c, NULL) == SMTP_CLIENT_TLS_ANSWER_NOT_TLS)
			return PROBE_SYMPTOM_WRONG_VERSION_NUMBER;
		return e == SMTP_CLIENT_ERR_TIMEOUT ? PROBE_SYMPTOM_TLS_TIMEOUT : PROBE_SYMPTOM_TLS_HANDSHAKE_FAILED;
	case SMTP_STAGE_AUTH:
		if (!probe_submit_ran(c, "auth"))
			return PROBE_SYMPTOM_AUTH_NOT_OFFERED;
		return probe_reply_demands_tls(&r) ? PROBE_SYMPTOM_MUST_ISSUE_STARTTLS : PROBE_SYMPTOM_AUTH_FAILED;
	default:
		return probe_reply_demands_tls(&r) ? PROBE_SYMPTOM_MUST_ISSUE_STARTTLS : PROBE_SYMPTOM_MAIL_REFUSED;
	}
}

static void probe_submit_done(struct smtp_submit *s, void *arg)
{
	struct probe_task *k = arg;
	struct probe_target *t = k->t;
	struct probe_client_obs *obs = &t->p->client[k->config];
	const struct smtp_submit_result *res = smtp_submit_result(s);
	struct smtp_client *c = smtp_submit_client(s);
	char *cert = res->tls_handshakes > 0 ? probe_cert_reason(c) : NULL;

	if (cert != NULL) {
		/* A client that verifies stops at the handshake, whatever came after it here. */
		probe_client_obs_set(obs, PROBE_SYMPTOM_CERT_VERIFY_FAILED, cert);
	} else if (res->ok) {
		/* Without TLS and with credentials a client would AUTH in the clear, which probe never does:
		 * what it meets then is inferred from the enforcement checks. */
		if (!(k->config == PROBE_CLIENT_NONE && t->run->o->user != NULL))
			probe_client_obs_set(obs, PROBE_SYMPTOM_WORKS, NULL);
	} else {
		enum probe_symptom sym = probe_submit_symptom(k, res, c);
		int keep = 1;
		if (k->config == PROBE_CLIENT_NONE && t->run->o->user != NULL && res->failed_stage >= SMTP_STAGE_MAIL)
			keep = sym == PROBE_SYMPTOM_MUST_ISSUE_STARTTLS;
		if (keep)
			probe_client_obs_set(obs, sym, res->error);
	}
	free(cert);
	probe_task_end(k);
}

static void probe_trace_submit(void *arg, enum smtp_client_dir dir, const char *text, size_t len)
{
	struct probe_task *k = arg;
	const struct probe_run_options *o = k->t->run->o;
	o->trace(o->trace_arg, k->tag, dir, text, len);
}

static void probe_submit_start(struct probe_target *t, enum probe_client_tls config)
{
	static const char *const tags[PROBE_CLIENT__COUNT] = {"client none", "client starttls", "client implicit"};
	static const enum smtp_tls_mode modes[PROBE_CLIENT__COUNT] = {SMTP_TLS_NONE, SMTP_TLS_STARTTLS,
	                                                              SMTP_TLS_IMPLICIT};
	struct probe_run_ctx *r = t->run;
	const struct probe_run_options *o = r->o;
	struct probe_task *k = probe_task_new(t, PROBE_TASK_SUBMIT, tags[config], NULL);
	int creds = o->user != NULL && config != PROBE_CLIENT_NONE;
	k->config = config;
	struct smtp_client_config cc = {
	        .base = r->base,
	        .tls = r->tls,
	        .servername = t->servername,
	        .timeout_ms = r->timeout_ms,
	        .transcript = o->trace != NULL ? probe_trace_submit : NULL,
	        .transcript_arg = k,
	};
	/* Up to AUTH with credentials, else up to the EHLO inside TLS; without TLS up to MAIL FROM:<>. */
	struct smtp_submit_plan plan = {
	        .addr = (struct sockaddr *)&t->addr,
	        .addrlen = t->addrlen,
	        .tls = modes[config],
	        .ehlo_name = o->ehlo_name,
	        .user = creds ? o->user : NULL,
	        .password = creds ? o->password : NULL,
	        .auth_mech = -1,
	        .mail_from = "",
	        .quit_after = config == PROBE_CLIENT_NONE ? SMTP_STAGE_MAIL : SMTP_STAGE_AUTH,
	};
	k->submit = smtp_submit_start(&cc, &plan, probe_submit_done, k);
}

/* ---- starting the checks ---- */

static void probe_versions_start(struct probe_target *t, enum probe_channel ch)
{
	for (int v = 0; v < PROBE_TLS_VERSION__COUNT; v++) {
		struct probe_task *k =
		        probe_task_open(t, PROBE_TASK_VERSION, ch, probe_version_tags[v], t->run->tls_version[v]);
		k->version = v;
		probe_task_start(k);
	}
}

void probe_tasks_after_mode(struct probe_target *t)
{
	struct probe_port_facts *p = t->p;
	struct probe_run_ctx *r = t->run;
	switch (p->mode) {
	case PROBE_MODE_STARTTLS:
		probe_versions_start(t, PROBE_CHANNEL_STARTTLS);
		probe_task_start(probe_task_open(t, PROBE_TASK_ENFORCE, PROBE_CHANNEL_PLAIN, "enforcement", r->tls));
		probe_task_start(probe_task_open(t, PROBE_TASK_INJECTION, PROBE_CHANNEL_PLAIN, "injection", r->tls));
		probe_submit_start(t, PROBE_CLIENT_NONE);
		probe_submit_start(t, PROBE_CLIENT_STARTTLS);
		break;
	case PROBE_MODE_PLAINTEXT:
		if (p->banner.code != 220)
			break;
		probe_task_start(probe_task_open(t, PROBE_TASK_ENFORCE, PROBE_CHANNEL_PLAIN, "enforcement", r->tls));
		probe_submit_start(t, PROBE_CLIENT_NONE);
		if (r->o->rcpt != NULL)
			probe_task_start(probe_task_open(t, PROBE_TASK_RCPT, PROBE_CHANNEL_PLAIN, "rcpt", r->tls));
		break;
	case PROBE_MODE_IMPLICIT_TLS:
		probe_versions_start(t, PROBE_CHANNEL_IMPLICIT);
		if (p->tls.outcome == PROBE_TLS_OK)
			probe_submit_start(t, PROBE_CLIENT_IMPLICIT_TLS);
		break;
	default:
		break;
	}
}

void probe_tasks_after_tls_ehlo(struct probe_target *t)
{
	struct probe_port_facts *p = t->p;
	struct probe_run_ctx *r = t->run;
	const struct probe_run_options *o = r->o;
	enum probe_channel ch = p->mode == PROBE_MODE_IMPLICIT_TLS ? PROBE_CHANNEL_IMPLICIT : PROBE_CHANNEL_STARTTLS;
	char mechs[300];
	int preferred = -1;

	probe_ehlo_auth_mechanisms(&p->ehlo_after_tls, mechs, sizeof mechs);
	for (const char *m = mechs; o->user != NULL && *m;) {
		size_t n = strcspn(m, " ");
		enum smtp_auth_mech mech;
		/* Mechanisms mailscope cannot speak (XOAUTH2, SCRAM-*, GSSAPI) are not tested, so not reported. */
		if (smtp_auth_mech_parse(m, n, &mech) == 0) {
			char name[32], tag[48];
			snprintf(name, sizeof name, "%s", smtp_auth_mech_name(mech));
			snprintf(tag, sizeof tag, "auth %s", name);
			struct probe_task *k = probe_task_open(t, PROBE_TASK_AUTH, ch, tag, r->tls);
			k->mech = (int)mech;
			k->auth_index = p->n_auth;
			probe_port_add_auth(p, name);
			if (preferred < 0 || (int)mech < preferred)
				preferred = (int)mech;
			probe_task_start(k);
		}
		m += n;
		while (*m == ' ')
			m++;
	}
	if (o->rcpt != NULL) {
		struct probe_task *k = probe_task_open(t, PROBE_TASK_RCPT, ch, "rcpt", r->tls);
		k->mech = preferred;
		probe_task_start(k);
	}
}
