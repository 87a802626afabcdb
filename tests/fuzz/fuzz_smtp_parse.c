/*
 * fuzz_smtp_parse: libFuzzer target for src/smtp/smtp_parse.c. Feeds the
 * input as one command line (any length, any bytes) to smtp_parse_command()
 * and, for a parsed MAIL or RCPT, to the parameter interpreters. Besides
 * memory errors it checks what the header promises: reasons are printable
 * ASCII, every string lies in the command's storage, paths respect the RFC
 * 5321 limits. It also compares utf8_valid() with an independent
 * decoder and the address-literal checks with inet_pton().
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                                               \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			abort();                                                                                       \
	} while (0)

static void fuzz_check_reason(const char *reason, size_t cap)
{
	size_t n = strnlen(reason, cap);

	FUZZ_CHECK(n > 0 && n < cap);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)reason[i] >= 0x20 && (unsigned char)reason[i] <= 0x7e);
}

/* s is a NUL-terminated string inside the command's storage. */
static size_t fuzz_check_in_storage(const struct smtp_command *cmd, const char *s)
{
	const char *lo = cmd->storage_, *hi = cmd->storage_ + sizeof cmd->storage_;

	FUZZ_CHECK(s != NULL && s >= lo && s < hi);
	FUZZ_CHECK(memchr(s, '\0', (size_t)(hi - s)) != NULL);
	return strlen(s);
}

/* UTF-8 validity by decoding to code points: a different method from the
 * one under test (which checks byte ranges). */
static int fuzz_utf8_reference(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp, min;
		size_t len;

		if (p[i] < 0x80) {
			i++;
			continue;
		} else if ((p[i] & 0xe0) == 0xc0) {
			len = 2, cp = p[i] & 0x1f, min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3, cp = p[i] & 0x0f, min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			len = 4, cp = p[i] & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static int fuzz_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static void fuzz_check_path(const struct smtp_command *cmd)
{
	const struct smtp_path *path = &cmd->path;
	size_t local = fuzz_check_in_storage(cmd, path->local);
	size_t domain = fuzz_check_in_storage(cmd, path->domain);
	size_t address = fuzz_check_in_storage(cmd, path->address);

	if (path->null) {
		FUZZ_CHECK(cmd->verb == SMTP_VERB_MAIL && path->bracketed);
		FUZZ_CHECK(local == 0 && domain == 0 && address == 0);
		return;
	}
	FUZZ_CHECK(utf8_valid(path->address, address));
	FUZZ_CHECK(path->non_ascii == fuzz_has_8bit(path->address));
	FUZZ_CHECK(local >= 1 && local <= SMTP_LOCAL_PART_MAX);
	FUZZ_CHECK(address <= SMTP_PATH_MAX);
	if (path->postmaster) {
		FUZZ_CHECK(cmd->verb == SMTP_VERB_RCPT && domain == 0 && address == local);
		FUZZ_CHECK(strcasecmp(path->address, "postmaster") == 0);
		return;
	}
	FUZZ_CHECK(domain >= 1 && domain <= SMTP_DOMAIN_MAX);
	FUZZ_CHECK(address == local + 1 + domain);
	FUZZ_CHECK(memcmp(path->address, path->local, local) == 0 && path->address[local] == '@');
	FUZZ_CHECK(strcmp(path->address + local + 1, path->domain) == 0);
}

/* Does a dotted (IPv4) part of s start with a 0 followed by a digit? RFC
 * 5321's Snum allows that ("001"); inet_pton refuses it. */
static int fuzz_ipv4_leading_zero(const char *s)
{
	const char *dot = strchr(s, '.');

	if (dot == NULL)
		return 0;
	/* The IPv4 part starts after the last ':' before the first '.'. */
	for (const char *p = dot; p > s && p[-1] != ':'; p--)
		dot = p - 1;
	for (const char *p = dot; *p != '\0'; p++)
		if (*p == '0' && (p == dot || p[-1] == '.') && p[1] >= '0' && p[1] <= '9')
			return 1;
	return 0;
}

/* A parsed "[IPv6:...]" or "[a.b.c.d]" must be an address inet_pton takes. */
static void fuzz_check_literal(const char *domain)
{
	char inner[SMTP_DOMAIN_MAX + 1];
	unsigned char buf[16];
	size_t n = strlen(domain);

	if (n < 2 || domain[0] != '[')
		return;
	memcpy(inner, domain + 1, n - 2);
	inner[n - 2] = '\0';
	if (fuzz_ipv4_leading_zero(inner))
		return;
	if (strncasecmp(inner, "IPv6:", 5) == 0)
		FUZZ_CHECK(inet_pton(AF_INET6, inner + 5, buf) == 1);
	else if (strchr(inner, ':') == NULL)
		FUZZ_CHECK(inet_pton(AF_INET, inner, buf) == 1);
}

/* Differential: the input as the inside of an address literal, against
 * inet_pton, both ways (IPv6 with the tag, IPv4 without). */
static void fuzz_literal_differential(const uint8_t *data, size_t size)
{
	char line[128], text[65];
	unsigned char buf[16];
	struct smtp_command cmd;
	int n, ours, libc;

	if (size > 64 || memchr(data, '\0', size) != NULL || memchr(data, ']', size) != NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (fuzz_ipv4_leading_zero(text))
		return;
	n = snprintf(line, sizeof line, "RCPT TO:<a@[IPv6:%s]>", text);
	ours = smtp_parse_command(line, (size_t)n, &cmd, NULL) == 0;
	libc = inet_pton(AF_INET6, text, buf) == 1;
	FUZZ_CHECK(ours == libc);
	if (memchr(data, ':', size) == NULL) {
		n = snprintf(line, sizeof line, "RCPT TO:<a@[%s]>", text);
		ours = smtp_parse_command(line, (size_t)n, &cmd, NULL) == 0;
		libc = inet_pton(AF_INET, text, buf) == 1;
		FUZZ_CHECK(ours == libc);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_command cmd;
	struct smtp_parse_error err;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	struct smtp_param_error perr;
	int rc;

	FUZZ_CHECK(utf8_valid((const char *)data, size) == fuzz_utf8_reference(data, size));
	fuzz_literal_differential(data, size);

	memset(&err, 0xa5, sizeof err);
	rc = smtp_parse_command((const char *)data, size, &cmd, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(strcmp(smtp_verb_name(cmd.verb), "") != 0);
	fuzz_check_in_storage(&cmd, cmd.arg);
	if (rc != 0) {
		FUZZ_CHECK(err.status != SMTP_PARSE_OK);
		fuzz_check_reason(err.reason, sizeof err.reason);
		if (size > SMTP_COMMAND_LINE_MAX)
			FUZZ_CHECK(err.status == SMTP_PARSE_SYNTAX);
		return 0;
	}
	FUZZ_CHECK(err.status == SMTP_PARSE_OK && err.reason[0] == '\0');
	FUZZ_CHECK(size <= SMTP_COMMAND_LINE_MAX && memchr(data, '\0', size) == NULL);
	FUZZ_CHECK(cmd.verb != SMTP_VERB_UNKNOWN);
	FUZZ_CHECK(strlen(cmd.arg) <= size);
	FUZZ_CHECK(cmd.nparams <= SMTP_MAX_PARAMS);
	for (size_t i = 0; i < cmd.nparams; i++) {
		fuzz_check_in_storage(&cmd, cmd.params[i].keyword);
		if (cmd.params[i].value != NULL)
			fuzz_check_in_storage(&cmd, cmd.params[i].value);
	}

	if (cmd.verb == SMTP_VERB_MAIL || cmd.verb == SMTP_VERB_RCPT) {
		fuzz_check_path(&cmd);
		fuzz_check_literal(cmd.path.domain);
	}
	if (cmd.verb == SMTP_VERB_MAIL) {
		memset(&perr, 0xa5, sizeof perr);
		if (smtp_parse_mail_params(&cmd, &mp, &perr) == 0) {
			FUZZ_CHECK(perr.status == SMTP_PARAM_OK);
			if (mp.envid != NULL)
				FUZZ_CHECK(fuzz_check_in_storage(&cmd, mp.envid) <= SMTP_ENVID_MAX);
			if (mp.auth != NULL)
				fuzz_check_in_storage(&cmd, mp.auth);
		} else {
			FUZZ_CHECK(perr.status == SMTP_PARAM_UNKNOWN || perr.status == SMTP_PARAM_INVALID);
			fuzz_check_reason(perr.reason, sizeof perr.reason);
		}
	} else if (cmd.verb == SMTP_VERB_RCPT) {
		memset(&perr, 0xa5, sizeof perr);
		if (smtp_parse_rcpt_params(&cmd, &rp, &perr) == 0) {
			FUZZ_CHECK(perr.status == SMTP_PARAM_OK);
			FUZZ_CHECK(rp.notify == 0 || rp.notify == SMTP_NOTIFY_NEVER ||
			           (rp.notify & SMTP_NOTIFY_NEVER) == 0);
			if (rp.orcpt != NULL)
				FUZZ_CHECK(fuzz_check_in_storage(&cmd, rp.orcpt) <= SMTP_ORCPT_MAX);
		} else {
			FUZZ_CHECK(perr.status == SMTP_PARAM_UNKNOWN || perr.status == SMTP_PARAM_INVALID);
			fuzz_check_reason(perr.reason, sizeof perr.reason);
		}
	} else if (cmd.verb == SMTP_VERB_BDAT) {
		FUZZ_CHECK(cmd.bdat_last == 0 || cmd.bdat_last == 1);
	}
	return 0;
}
