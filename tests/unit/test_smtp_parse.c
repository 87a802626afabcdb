/*
 * test_smtp_parse: unit tests for src/smtp/smtp_parse.c, the pure SMTP
 * command-line parser. Cases follow RFC 5321 (commands, paths, limits),
 * RFC 1870, 3030, 3461, 4954, 6152 and 6531, using the RFCs' own examples
 * where they have them, plus the malformed input real clients send.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "smtp/smtp_parse.h"

/* ---- helpers ---- */

/* Reasons go into SMTP replies: non-empty printable ASCII, no CR/LF. */
static void assert_reason_clean(const char *reason, size_t cap)
{
	size_t n = strnlen(reason, cap);

	assert_true(n > 0);
	assert_true(n < cap);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)reason[i] < 0x20 || (unsigned char)reason[i] > 0x7e)
			fail_msg("reason \"%s\" has byte 0x%02x", reason, (unsigned char)reason[i]);
}

static void parse_ok(const char *line, struct smtp_command *cmd)
{
	struct smtp_parse_error err;

	if (smtp_parse_command(line, strlen(line), cmd, &err) != 0)
		fail_msg("\"%s\" was refused: %s", line, err.reason);
	assert_int_equal(err.status, SMTP_PARSE_OK);
	assert_string_equal(err.reason, "");
}

/* Expect `line` (len bytes) to fail with status `want`; returns the reason. */
static const char *parse_fails_len(const char *line, size_t len, enum smtp_parse_status want, struct smtp_command *cmd,
                                   struct smtp_parse_error *err)
{
	int rc = smtp_parse_command(line, len, cmd, err);

	if (rc != -1 || err->status != want)
		fail_msg("\"%.*s\": rc %d status %d (%s), want status %d", (int)(len > 200 ? 200 : len), line, rc,
		         err->status, err->reason, want);
	assert_reason_clean(err->reason, sizeof err->reason);
	/* Whatever failed, the string fields stay readable. */
	assert_non_null(cmd->arg);
	assert_non_null(cmd->path.address);
	return err->reason;
}

static struct smtp_command scratch_cmd;
static struct smtp_parse_error scratch_err;

static const char *parse_fails(const char *line, enum smtp_parse_status want)
{
	return parse_fails_len(line, strlen(line), want, &scratch_cmd, &scratch_err);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void mail_params_ok(const char *line, struct smtp_command *cmd, struct smtp_mail_params *mp)
{
	struct smtp_param_error perr;

	parse_ok(line, cmd);
	if (smtp_parse_mail_params(cmd, mp, &perr) != 0)
		fail_msg("\"%s\": params refused: %s", line, perr.reason);
	assert_int_equal(perr.status, SMTP_PARAM_OK);
}

static const char *mail_params_fail(const char *line, enum smtp_param_status want)
{
	static struct smtp_param_error perr;
	struct smtp_mail_params mp;

	parse_ok(line, &scratch_cmd);
	if (smtp_parse_mail_params(&scratch_cmd, &mp, &perr) != -1 || perr.status != want)
		fail_msg("\"%s\": status %d (%s), want %d", line, perr.status, perr.reason, want);
	assert_reason_clean(perr.reason, sizeof perr.reason);
	return perr.reason;
}

static void rcpt_params_ok(const char *line, struct smtp_command *cmd, struct smtp_rcpt_params *rp)
{
	struct smtp_param_error perr;

	parse_ok(line, cmd);
	if (smtp_parse_rcpt_params(cmd, rp, &perr) != 0)
		fail_msg("\"%s\": params refused: %s", line, perr.reason);
}

static const char *rcpt_params_fail(const char *line, enum smtp_param_status want)
{
	static struct smtp_param_error perr;
	struct smtp_rcpt_params rp;

	parse_ok(line, &scratch_cmd);
	if (smtp_parse_rcpt_params(&scratch_cmd, &rp, &perr) != -1 || perr.status != want)
		fail_msg("\"%s\": status %d (%s), want %d", line, perr.status, perr.reason, want);
	assert_reason_clean(perr.reason, sizeof perr.reason);
	return perr.reason;
}

/* n copies of ch at dst, NUL-terminated; returns dst. */
static char *fill(char *dst, char ch, size_t n)
{
	memset(dst, ch, n);
	dst[n] = '\0';
	return dst;
}

/* A valid domain of exactly n octets: 9-letter labels separated by dots. */
static char *make_domain(char *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (i % 10 == 9 && i != n - 1) ? '.' : 'a';
	dst[n] = '\0';
	return dst;
}

/* ---- verbs ---- */

static void test_every_verb(void **state)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
		const char *arg;
	} cases[] = {
	        {"HELO relay.example.org", SMTP_VERB_HELO, "relay.example.org"},
	        {"EHLO bar.com", SMTP_VERB_EHLO, "bar.com"}, /* RFC 5321 D.1 */
	        {"MAIL FROM:<Smith@bar.com>", SMTP_VERB_MAIL, "FROM:<Smith@bar.com>"},
	        {"RCPT TO:<Jones@foo.com>", SMTP_VERB_RCPT, "TO:<Jones@foo.com>"},
	        {"DATA", SMTP_VERB_DATA, ""},
	        {"BDAT 86 LAST", SMTP_VERB_BDAT, "86 LAST"},
	        {"RSET", SMTP_VERB_RSET, ""},
	        {"NOOP", SMTP_VERB_NOOP, ""},
	        {"QUIT", SMTP_VERB_QUIT, ""},
	        {"VRFY Smith", SMTP_VERB_VRFY, "Smith"},
	        {"EXPN Example-People", SMTP_VERB_EXPN, "Example-People"},
	        {"HELP", SMTP_VERB_HELP, ""},
	        {"STARTTLS", SMTP_VERB_STARTTLS, ""},
	        {"AUTH PLAIN", SMTP_VERB_AUTH, "PLAIN"},
	};
	struct smtp_command cmd;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse_ok(cases[i].line, &cmd);
		assert_int_equal(cmd.verb, cases[i].verb);
		assert_string_equal(cmd.arg, cases[i].arg);
		assert_true(strncmp(cases[i].line, smtp_verb_name(cmd.verb), strlen(smtp_verb_name(cmd.verb))) == 0);
	}
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
	assert_string_equal(smtp_verb_name(SMTP_VERB__COUNT), "UNKNOWN");
	assert_string_equal(smtp_verb_name((enum smtp_verb) - 1), "UNKNOWN");
}

static void test_verbs_case_insensitive(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("ehlo client.example", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_EHLO);
	parse_ok("Mail From:<a@example.com>", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
	assert_string_equal(cmd.path.address, "a@example.com");
	parse_ok("rCpT tO:<b@example.com>", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_RCPT);
	parse_ok("data", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_DATA);
	parse_ok("StartTls", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_STARTTLS);
	parse_ok("bdat 10 last", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_BDAT);
	assert_true(cmd.bdat_last);
	parse_ok("quit", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_QUIT);
}

static void test_unknown_verbs(void **state)
{
	(void)state;
	/* A verb must be followed by a space or the end of the line. */
	parse_fails("MAILX FROM:<a@example.com>", SMTP_PARSE_UNKNOWN_COMMAND);
	assert_int_equal(scratch_cmd.verb, SMTP_VERB_UNKNOWN);
	assert_contains(parse_fails("DATAX", SMTP_PARSE_UNKNOWN_COMMAND), "DATAX");
	parse_fails("DAT", SMTP_PARSE_UNKNOWN_COMMAND);
	parse_fails("MAIL\tFROM:<a@example.com>", SMTP_PARSE_UNKNOWN_COMMAND);
	parse_fails(" MAIL FROM:<a@example.com>", SMTP_PARSE_UNKNOWN_COMMAND);
	assert_contains(parse_fails("", SMTP_PARSE_UNKNOWN_COMMAND), "Empty");
	/* An HTTP request on the SMTP port: the verb is safe to name. */
	assert_string_equal(parse_fails("GET / HTTP/1.1", SMTP_PARSE_UNKNOWN_COMMAND), "Command not recognized: GET");
	/* A TLS ClientHello and 8-bit junk are never echoed. */
	assert_string_equal(parse_fails("\x16\x03\x01\x02\x00", SMTP_PARSE_UNKNOWN_COMMAND), "Command not recognized");
	assert_string_equal(parse_fails("M\xc3\xa4IL FROM:<a@b>", SMTP_PARSE_UNKNOWN_COMMAND),
	                    "Command not recognized");
	assert_string_equal(parse_fails("XYZZY\r", SMTP_PARSE_UNKNOWN_COMMAND), "Command not recognized");
}

static void test_commands_without_argument(void **state)
{
	static const char *const bad[] = {"DATA x", "RSET now", "QUIT please", "STARTTLS TLSv1.3"};
	static const char *const reasons[] = {"Syntax: DATA", "Syntax: RSET", "Syntax: QUIT", "Syntax: STARTTLS"};
	struct smtp_command cmd;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(parse_fails(bad[i], SMTP_PARSE_SYNTAX), reasons[i]);
		/* The verb is still named, so the session can count errors. */
		assert_int_not_equal(scratch_cmd.verb, SMTP_VERB_UNKNOWN);
	}
	/* Trailing whitespace is not an argument. */
	parse_ok("DATA   ", &cmd);
	assert_string_equal(cmd.arg, "");
	parse_ok("QUIT \t", &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_QUIT);
}

static void test_helo_ehlo(void **state)
{
	struct smtp_command cmd;

	(void)state;
	assert_string_equal(parse_fails("EHLO", SMTP_PARSE_SYNTAX), "Syntax: EHLO hostname");
	assert_string_equal(parse_fails("HELO    ", SMTP_PARSE_SYNTAX), "Syntax: HELO hostname");
	parse_ok("EHLO   mail.example.com  ", &cmd);
	assert_string_equal(cmd.arg, "mail.example.com");
	/* Lenient: real clients send names with underscores. */
	parse_ok("HELO my_laptop.local", &cmd);
	assert_string_equal(cmd.arg, "my_laptop.local");
	parse_ok("EHLO [192.0.2.1]", &cmd);
	parse_ok("EHLO [IPv6:2001:db8::1]", &cmd);
	parse_ok("EHLO b\xc3\xbc"
	         "cher.example",
	         &cmd);
	parse_fails("EHLO bad\x01name", SMTP_PARSE_SYNTAX);
	parse_fails("EHLO bad\tname", SMTP_PARSE_SYNTAX);
	parse_fails("EHLO \xff\xfe", SMTP_PARSE_BAD_UTF8);
}

static void test_vrfy_expn_noop_help(void **state)
{
	struct smtp_command cmd;

	(void)state;
	assert_string_equal(parse_fails("VRFY", SMTP_PARSE_SYNTAX), "Syntax: VRFY address");
	assert_string_equal(parse_fails("EXPN ", SMTP_PARSE_SYNTAX), "Syntax: EXPN mailing-list");
	parse_ok("VRFY Crispin", &cmd); /* RFC 5321 3.5.3 */
	assert_string_equal(cmd.arg, "Crispin");
	parse_ok("VRFY <user@example.com> SMTPUTF8", &cmd);
	parse_fails("VRFY a\x7f", SMTP_PARSE_SYNTAX);
	parse_ok("NOOP", &cmd);
	parse_ok("NOOP anything at all", &cmd);
	assert_string_equal(cmd.arg, "anything at all");
	parse_ok("HELP MAIL", &cmd);
	assert_string_equal(cmd.arg, "MAIL");
}

static void test_auth(void **state)
{
	struct smtp_command cmd;
	const char *reason;

	(void)state;
	assert_contains(parse_fails("AUTH", SMTP_PARSE_SYNTAX), "AUTH mechanism");
	parse_ok("AUTH LOGIN", &cmd);
	parse_ok("AUTH SCRAM-SHA-256", &cmd);
	parse_ok("AUTH PLAIN AGFsaWNlAHNlY3JldA==", &cmd);
	assert_string_equal(cmd.arg, "PLAIN AGFsaWNlAHNlY3JldA==");
	parse_ok("AUTH PLAIN =", &cmd); /* RFC 4954 4: empty initial response */
	parse_fails("AUTH PL@IN", SMTP_PARSE_SYNTAX);
	parse_fails("AUTH ABCDEFGHIJKLMNOPQRSTU", SMTP_PARSE_SYNTAX); /* 21 characters */
	parse_ok("AUTH ABCDEFGHIJKLMNOPQRST", &cmd);
	/* Two words of response: refused without quoting the secret. */
	reason = parse_fails("AUTH PLAIN c2VjcmV0 c2VjcmV0", SMTP_PARSE_SYNTAX);
	assert_null(strstr(reason, "c2VjcmV0"));
}

static void test_bdat(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("BDAT 86 LAST", &cmd); /* RFC 3030 4.2 */
	assert_int_equal(cmd.bdat_size, 86);
	assert_true(cmd.bdat_last);
	parse_ok("BDAT 0 LAST", &cmd);
	assert_int_equal(cmd.bdat_size, 0);
	assert_true(cmd.bdat_last);
	parse_ok("BDAT 69", &cmd);
	assert_int_equal(cmd.bdat_size, 69);
	assert_false(cmd.bdat_last);
	parse_ok("BDAT 100000  last ", &cmd);
	assert_int_equal(cmd.bdat_size, 100000);
	assert_true(cmd.bdat_last);
	parse_ok("BDAT 18446744073709551615", &cmd);
	assert_true(cmd.bdat_size == UINT64_MAX);
	assert_contains(parse_fails("BDAT 18446744073709551616", SMTP_PARSE_SYNTAX), "too large");
	assert_string_equal(parse_fails("BDAT", SMTP_PARSE_SYNTAX), "Syntax: BDAT size [LAST]");
	parse_fails("BDAT -1", SMTP_PARSE_SYNTAX);
	parse_fails("BDAT +1", SMTP_PARSE_SYNTAX);
	parse_fails("BDAT 1x", SMTP_PARSE_SYNTAX);
	parse_fails("BDAT 0x10", SMTP_PARSE_SYNTAX);
	parse_fails("BDAT LAST", SMTP_PARSE_SYNTAX);
	parse_fails("BDAT 10 FIRST", SMTP_PARSE_SYNTAX);
	parse_fails("BDAT 10 LAST x", SMTP_PARSE_SYNTAX);
	parse_fails("BDAT 10 LASTX", SMTP_PARSE_SYNTAX);
}

/* ---- MAIL FROM / RCPT TO ---- */

static void test_mail_basic(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("MAIL FROM:<Smith@bar.com>", &cmd); /* RFC 5321 D.1 */
	assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
	assert_string_equal(cmd.path.local, "Smith");
	assert_string_equal(cmd.path.domain, "bar.com");
	assert_string_equal(cmd.path.address, "Smith@bar.com");
	assert_true(cmd.path.bracketed);
	assert_false(cmd.path.null || cmd.path.postmaster || cmd.path.has_route || cmd.path.non_ascii);
	assert_int_equal(cmd.nparams, 0);
	/* Domain case is preserved; the store lower-cases later. */
	parse_ok("RCPT TO:<Jones@Foo.COM>", &cmd);
	assert_string_equal(cmd.path.domain, "Foo.COM");
	/* Every string points into the command itself. */
	assert_true(cmd.path.address >= cmd.storage_ && cmd.path.address < cmd.storage_ + sizeof cmd.storage_);
	assert_true(cmd.path.local >= cmd.storage_ && cmd.path.local < cmd.storage_ + sizeof cmd.storage_);
	assert_true(cmd.arg >= cmd.storage_ && cmd.arg < cmd.storage_ + sizeof cmd.storage_);
}

static void test_mail_space_before_path(void **state)
{
	struct smtp_command cmd;

	(void)state;
	/* Common client bug: a space after the colon. Accepted. */
	parse_ok("MAIL FROM: <a@example.com>", &cmd);
	assert_string_equal(cmd.path.address, "a@example.com");
	parse_ok("RCPT TO:   <b@example.com>   NOTIFY=NEVER  ", &cmd);
	assert_string_equal(cmd.path.address, "b@example.com");
	assert_int_equal(cmd.nparams, 1);
	parse_ok("MAIL  FROM:<a@example.com>", &cmd);
	assert_string_equal(cmd.arg, "FROM:<a@example.com>");
	parse_ok("mail from:<a@example.com>", &cmd);
}

static void test_mail_rcpt_missing_keyword(void **state)
{
	(void)state;
	assert_string_equal(parse_fails("MAIL", SMTP_PARSE_SYNTAX), "Syntax: MAIL FROM:<address>");
	assert_int_equal(scratch_cmd.verb, SMTP_VERB_MAIL);
	parse_fails("MAIL TO:<a@example.com>", SMTP_PARSE_SYNTAX);
	parse_fails("MAIL FROM <a@example.com>", SMTP_PARSE_SYNTAX);
	parse_fails("MAIL FROM :<a@example.com>", SMTP_PARSE_SYNTAX);
	parse_fails("MAIL FRO:<a@example.com>", SMTP_PARSE_SYNTAX);
	assert_string_equal(parse_fails("MAIL FROM:", SMTP_PARSE_SYNTAX), "Syntax: MAIL FROM:<address>");
	assert_string_equal(parse_fails("MAIL FROM:   ", SMTP_PARSE_SYNTAX), "Syntax: MAIL FROM:<address>");
	assert_string_equal(parse_fails("RCPT", SMTP_PARSE_SYNTAX), "Syntax: RCPT TO:<address>");
	parse_fails("RCPT FROM:<a@example.com>", SMTP_PARSE_SYNTAX);
	assert_int_equal(scratch_cmd.verb, SMTP_VERB_RCPT);
}

static void test_null_path(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("MAIL FROM:<>", &cmd);
	assert_true(cmd.path.null);
	assert_true(cmd.path.bracketed);
	assert_string_equal(cmd.path.address, "");
	assert_string_equal(cmd.path.local, "");
	assert_string_equal(cmd.path.domain, "");
	parse_ok("MAIL FROM:<> SIZE=0", &cmd);
	assert_true(cmd.path.null);
	assert_int_equal(cmd.nparams, 1);
	assert_string_equal(cmd.params[0].keyword, "SIZE");
	assert_string_equal(cmd.params[0].value, "0");
	assert_contains(parse_fails("RCPT TO:<>", SMTP_PARSE_BAD_RECIPIENT), "<>");
	parse_fails("MAIL FROM:<>x", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<>>", SMTP_PARSE_BAD_SENDER);
}

static void test_postmaster(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("RCPT TO:<postmaster>", &cmd);
	assert_true(cmd.path.postmaster);
	assert_string_equal(cmd.path.address, "postmaster");
	assert_string_equal(cmd.path.local, "postmaster");
	assert_string_equal(cmd.path.domain, "");
	/* Case-insensitive (RFC 5321 4.5.1); kept as sent. */
	parse_ok("RCPT TO:<PostMaster>", &cmd);
	assert_true(cmd.path.postmaster);
	assert_string_equal(cmd.path.address, "PostMaster");
	parse_ok("RCPT TO:postmaster", &cmd);
	assert_true(cmd.path.postmaster);
	assert_false(cmd.path.bracketed);
	parse_ok("RCPT TO:<postmaster> NOTIFY=NEVER", &cmd);
	assert_true(cmd.path.postmaster);
	assert_int_equal(cmd.nparams, 1);
	/* With a domain it is an ordinary address. */
	parse_ok("RCPT TO:<postmaster@example.com>", &cmd);
	assert_false(cmd.path.postmaster);
	assert_string_equal(cmd.path.domain, "example.com");
	assert_contains(parse_fails("MAIL FROM:<postmaster>", SMTP_PARSE_BAD_SENDER), "domain");
	parse_fails("RCPT TO:<postmastr>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<@relay.example:postmaster>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<\"postmaster\">", SMTP_PARSE_BAD_RECIPIENT);
}

static void test_quoted_local_part(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("MAIL FROM:<\"john doe\"@example.com>", &cmd);
	assert_string_equal(cmd.path.local, "\"john doe\"");
	assert_string_equal(cmd.path.domain, "example.com");
	assert_string_equal(cmd.path.address, "\"john doe\"@example.com");
	/* quoted-pairSMTP: an escaped quote and an escaped backslash */
	parse_ok("RCPT TO:<\"john\\\"doe\\\\\"@example.com>", &cmd);
	assert_string_equal(cmd.path.local, "\"john\\\"doe\\\\\"");
	/* '>' and '@' inside quotes do not end anything */
	parse_ok("RCPT TO:<\"a>b@c\"@example.com> NOTIFY=NEVER", &cmd);
	assert_string_equal(cmd.path.local, "\"a>b@c\"");
	assert_int_equal(cmd.nparams, 1);
	parse_ok("RCPT TO:<\"\"@example.com>", &cmd);
	assert_string_equal(cmd.path.local, "\"\"");
	/* bare, with a space inside the quotes */
	parse_ok("MAIL FROM:\"john doe\"@example.com SIZE=10", &cmd);
	assert_false(cmd.path.bracketed);
	assert_string_equal(cmd.path.local, "\"john doe\"");
	assert_int_equal(cmd.nparams, 1);
	assert_contains(parse_fails("MAIL FROM:<\"john@example.com>", SMTP_PARSE_BAD_SENDER), "Unterminated");
	parse_fails("MAIL FROM:<\"john\\\"@example.com>", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<\"a\x01\"@example.com>", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<\"a\\\x01\"@example.com>", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<\"a\"b@example.com>", SMTP_PARSE_BAD_SENDER);
	assert_contains(parse_fails("MAIL FROM:<\"a\\", SMTP_PARSE_BAD_SENDER), "Unterminated");
	parse_fails("MAIL FROM:<a\"b\"@example.com>", SMTP_PARSE_BAD_SENDER);
}

static void test_dot_string_local_part(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("MAIL FROM:<first.middle.last@example.com>", &cmd);
	parse_ok("MAIL FROM:<!#$%&'*+-/=?^_`{|}~@example.com>", &cmd);
	assert_string_equal(cmd.path.local, "!#$%&'*+-/=?^_`{|}~");
	parse_ok("MAIL FROM:<user+tag@example.com>", &cmd);
	assert_contains(parse_fails("MAIL FROM:<.a@example.com>", SMTP_PARSE_BAD_SENDER), "starts with a dot");
	assert_contains(parse_fails("MAIL FROM:<a.@example.com>", SMTP_PARSE_BAD_SENDER), "ends with a dot");
	assert_contains(parse_fails("MAIL FROM:<a..b@example.com>", SMTP_PARSE_BAD_SENDER), "two dots");
	parse_fails("MAIL FROM:<a b@example.com>", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<a(comment)@example.com>", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<a,b@example.com>", SMTP_PARSE_BAD_SENDER);
	assert_contains(parse_fails("MAIL FROM:<@example.com>", SMTP_PARSE_BAD_SENDER), "Missing local part");
	assert_contains(parse_fails("MAIL FROM:<a@>", SMTP_PARSE_BAD_SENDER), "Missing domain");
	assert_contains(parse_fails("RCPT TO:<user>", SMTP_PARSE_BAD_RECIPIENT), "no domain");
	assert_contains(parse_fails("MAIL FROM:<a@example.com", SMTP_PARSE_BAD_SENDER), "'>'");
	assert_contains(parse_fails("MAIL FROM:<a@example.com SIZE=10", SMTP_PARSE_BAD_SENDER), "'>'");
	assert_contains(parse_fails("MAIL FROM:<user", SMTP_PARSE_BAD_SENDER), "'>'");
	assert_contains(parse_fails("MAIL FROM:<user@[192.0.2.1]", SMTP_PARSE_BAD_SENDER), "'>'");
	parse_fails("MAIL FROM:<a@b@example.com>", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<<a@example.com>>", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:<a@example.com>SIZE=10", SMTP_PARSE_BAD_SENDER);
}

static void test_source_route(void **state)
{
	struct smtp_command cmd;

	(void)state;
	/* RFC 5321 4.1.1.3 */
	parse_ok("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>", &cmd);
	assert_true(cmd.path.has_route);
	assert_string_equal(cmd.path.address, "userc@d.bar.org");
	assert_string_equal(cmd.path.local, "userc");
	assert_string_equal(cmd.path.domain, "d.bar.org");
	parse_ok("MAIL FROM:<@relay.example:user@example.com> SIZE=1", &cmd);
	assert_true(cmd.path.has_route);
	assert_string_equal(cmd.path.address, "user@example.com");
	assert_int_equal(cmd.nparams, 1);
	parse_fails("RCPT TO:<@hosta.int,userc@d.bar.org>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<@:userc@d.bar.org>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<@hosta.int,@:userc@d.bar.org>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<@bad_host.int:userc@d.bar.org>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<@hosta.int:>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<@hosta.int,@jkl.org>", SMTP_PARSE_BAD_RECIPIENT);
	assert_contains(parse_fails("RCPT TO:<@hosta.int:@d.bar.org>", SMTP_PARSE_BAD_RECIPIENT), "Missing local part");
	/* Routes only exist inside <>. */
	parse_fails("RCPT TO:@hosta.int:userc@d.bar.org", SMTP_PARSE_BAD_RECIPIENT);
}

static void test_domains(void **state)
{
	struct smtp_command cmd;
	char line[600], label[80];

	(void)state;
	parse_ok("RCPT TO:<a@localhost>", &cmd);
	parse_ok("RCPT TO:<a@xn--bcher-kva.example>", &cmd);
	parse_ok("RCPT TO:<a@123.example>", &cmd);
	parse_ok("RCPT TO:<a@ex-am-ple.com>", &cmd);
	snprintf(line, sizeof line, "RCPT TO:<a@%s.example>", fill(label, 'l', 63));
	parse_ok(line, &cmd);
	snprintf(line, sizeof line, "RCPT TO:<a@%s.example>", fill(label, 'l', 64));
	assert_contains(parse_fails(line, SMTP_PARSE_BAD_RECIPIENT), "63");
	assert_contains(parse_fails("RCPT TO:<a@-example.com>", SMTP_PARSE_BAD_RECIPIENT), "hyphen");
	parse_fails("RCPT TO:<a@example-.com>", SMTP_PARSE_BAD_RECIPIENT);
	assert_contains(parse_fails("RCPT TO:<a@example.com.>", SMTP_PARSE_BAD_RECIPIENT), "Empty label");
	parse_fails("RCPT TO:<a@.example.com>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<a@example..com>", SMTP_PARSE_BAD_RECIPIENT);
	assert_contains(parse_fails("RCPT TO:<a@exa_mple.com>", SMTP_PARSE_BAD_RECIPIENT), "Underscore");
	parse_fails("RCPT TO:<a@exa!mple.com>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("RCPT TO:<a@exa mple.com>", SMTP_PARSE_BAD_RECIPIENT);
	parse_fails("MAIL FROM:a@example.com>", SMTP_PARSE_BAD_SENDER);
}

static void test_address_literals(void **state)
{
	static const char *const good[] = {
	        "[192.0.2.1]",
	        "[0.0.0.0]",
	        "[255.255.255.255]",
	        "[1.2.3.004]",
	        "[IPv6:2001:db8::1]",
	        "[ipv6:2001:DB8::1]",
	        "[IPv6:::1]",
	        "[IPv6:::]",
	        "[IPv6:2001:db8:0:0:0:0:2:1]",
	        "[IPv6:::ffff:192.0.2.1]",
	        "[IPv6:1:2:3:4:5:6:192.0.2.1]",
	        "[IPv6:1:2:3:4:5:6:7::]",
	        "[IPv6:fe80::]",
	        "[x-tag:some-content]",
	        "[Tag2:a.b.c]",
	};
	static const char *const bad[] = {
	        "[256.1.1.1]",
	        "[1.2.3]",
	        "[1.2.3.4.5]",
	        "[1234.1.1.1]",
	        "[1.2.3.]",
	        "[.1.2.3]",
	        "[1..2.3]",
	        "[IPv6:1:2:3:4:5:6:7:8:9]",
	        "[IPv6:1::2::3]",
	        "[IPv6:12345::1]",
	        "[IPv6:2001:db8::g]",
	        "[IPv6:2001:db8::1g]",
	        "[IPv6:1:2:3:4:5:6:7:192.0.2.1]",
	        "[IPv6:1:]",
	        "[IPv6:]",
	        "[IPv6::1]",
	        "[IPv6:1:2:3:4:5:6:7]",
	        "[IPv6:1.2.3.4::]",
	        "[IPv6:::256.0.0.1]",
	        "[IPv6:1:2:3:4:5:6:7:8::]",
	        "[]",
	        "[example.com]",
	        "[tag:]",
	        "[-:x]",
	        "[ta_g:x]",
	        "[tag:a b]",
	        "[tag:a\\b]",
	};
	struct smtp_command cmd;
	char line[200];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(line, sizeof line, "RCPT TO:<user@%s>", good[i]);
		parse_ok(line, &cmd);
		assert_string_equal(cmd.path.domain, good[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(line, sizeof line, "MAIL FROM:<user@%s>", bad[i]);
		parse_fails(line, SMTP_PARSE_BAD_SENDER);
	}
	assert_contains(parse_fails("MAIL FROM:<user@[192.0.2.1>", SMTP_PARSE_BAD_SENDER), "Unterminated");
	parse_fails("MAIL FROM:<user@[192.0.2.1]x>", SMTP_PARSE_BAD_SENDER);
	parse_ok("MAIL FROM:user@[192.0.2.1] SIZE=5", &cmd);
	assert_string_equal(cmd.path.domain, "[192.0.2.1]");
}

/* Our IPv6 literal check must agree with the C library's parser. */
static void test_ipv6_agrees_with_inet_pton(void **state)
{
	static const char *const cases[] = {
	        "::",
	        "::1",
	        "1::",
	        "1::1",
	        "2001:db8::1",
	        "2001:0db8:0000:0000:0000:ff00:0042:8329",
	        "1:2:3:4:5:6:7:8",
	        "1:2:3:4:5:6:7::",
	        "::2:3:4:5:6:7:8",
	        "1:2:3:4:5:6::8",
	        "1:2:3:4:5:6:7:8:9",
	        "1::2::3",
	        ":1::",
	        "1::2:",
	        "12345::",
	        "g::",
	        ":::",
	        "1:::2",
	        "::ffff:1.2.3.4",
	        "1:2:3:4:5:6:1.2.3.4",
	        "::1.2.3.4",
	        "1::1.2.3.4",
	        "1:2:3:4:5:6:7:1.2.3.4",
	        "1.2.3.4",
	        "::1.2.3",
	        "::1.2.3.4.5",
	        "::256.1.1.1",
	        "1.2.3.4::",
	        "::1.2.3.4:1",
	        "",
	        ":",
	        "1",
	        "1:2:3:4:5:6:7:8::",
	        "::1:2:3:4:5:6:7",
	        "::1:2:3:4:5:6:7:8",
	        "abcd:ef01:2345:6789:ABCD:EF01:2345:6789",
	};
	struct smtp_command cmd;
	struct smtp_parse_error err;
	unsigned char buf[16];
	char line[200];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int ours, libc;

		snprintf(line, sizeof line, "RCPT TO:<a@[IPv6:%s]>", cases[i]);
		ours = smtp_parse_command(line, strlen(line), &cmd, &err) == 0;
		libc = inet_pton(AF_INET6, cases[i], buf) == 1;
		if (ours != libc)
			fail_msg("IPv6 \"%s\": ours %d, inet_pton %d", cases[i], ours, libc);
	}
}

static void test_bare_address(void **state)
{
	struct smtp_command cmd;

	(void)state;
	parse_ok("MAIL FROM:user@example.com", &cmd);
	assert_false(cmd.path.bracketed);
	assert_string_equal(cmd.path.address, "user@example.com");
	assert_string_equal(cmd.path.local, "user");
	assert_string_equal(cmd.path.domain, "example.com");
	parse_ok("RCPT TO:user@example.com NOTIFY=SUCCESS", &cmd);
	assert_false(cmd.path.bracketed);
	assert_int_equal(cmd.nparams, 1);
	parse_ok("MAIL FROM: user@example.com", &cmd);
	parse_fails("MAIL FROM:user", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:@example.com", SMTP_PARSE_BAD_SENDER);
	parse_fails("MAIL FROM:user@", SMTP_PARSE_BAD_SENDER);
}

static void test_utf8_addresses(void **state)
{
	struct smtp_command cmd;
	struct smtp_mail_params mp;

	(void)state;
	/* RFC 6531 SMTPUTF8: UTF-8 local part and U-label domain. */
	mail_params_ok(
	        "MAIL FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a> SMTPUTF8", &cmd,
	        &mp);
	assert_true(cmd.path.non_ascii);
	assert_true(mp.smtputf8);
	assert_string_equal(cmd.path.local, "\xe7\x94\xa8\xe6\x88\xb7");
	assert_string_equal(cmd.path.domain, "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a");
	parse_ok("RCPT TO:<\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae@example.com>", &cmd);
	assert_true(cmd.path.non_ascii);
	parse_ok("RCPT TO:<user@b\xc3\xbc"
	         "cher.example>",
	         &cmd);
	assert_true(cmd.path.non_ascii);
	parse_ok("RCPT TO:<\"Jos\xc3\xa9 Garc\xc3\xad"
	         "a\"@example.com>",
	         &cmd);
	assert_true(cmd.path.non_ascii);
	parse_ok("RCPT TO:<plain@example.com>", &cmd);
	assert_false(cmd.path.non_ascii);
	/* overlong '/', surrogate, truncated, above U+10FFFF, lone continuation */
	assert_contains(parse_fails("MAIL FROM:<\xc0\xafx@example.com>", SMTP_PARSE_BAD_UTF8), "UTF-8");
	parse_fails("MAIL FROM:<\xed\xa0\x80@example.com>", SMTP_PARSE_BAD_UTF8);
	parse_fails("MAIL FROM:<a@ex\xc3>", SMTP_PARSE_BAD_UTF8);
	parse_fails("MAIL FROM:a@ex\xc3", SMTP_PARSE_BAD_UTF8); /* cut at end of line */
	parse_fails("MAIL FROM:a\xe2\x82", SMTP_PARSE_BAD_UTF8);
	parse_fails("RCPT TO:<\xf4\x90\x80\x80@example.com>", SMTP_PARSE_BAD_UTF8);
	parse_fails("RCPT TO:<a\x80@example.com>", SMTP_PARSE_BAD_UTF8);
	parse_fails("RCPT TO:<a@\xe0\x80\x80.example>", SMTP_PARSE_BAD_UTF8);
	parse_fails("RCPT TO:<\"\xff\"@example.com>", SMTP_PARSE_BAD_UTF8);
	/* a quoted pair covers ASCII only */
	parse_fails("RCPT TO:<\"\\\xc3\xa9\"@example.com>", SMTP_PARSE_BAD_RECIPIENT);
}

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid(NULL, 0));
	assert_true(utf8_valid("plain ascii", 11));
	assert_true(utf8_valid("a\0b", 3));
	assert_true(utf8_valid("\xc2\x80", 2));          /* U+0080 */
	assert_true(utf8_valid("\xdf\xbf", 2));          /* U+07FF */
	assert_true(utf8_valid("\xe0\xa0\x80", 3));      /* U+0800 */
	assert_true(utf8_valid("\xed\x9f\xbf", 3));      /* U+D7FF */
	assert_true(utf8_valid("\xee\x80\x80", 3));      /* U+E000 */
	assert_true(utf8_valid("\xef\xbf\xbf", 3));      /* U+FFFF */
	assert_true(utf8_valid("\xf0\x90\x80\x80", 4));  /* U+10000 */
	assert_true(utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
	assert_false(utf8_valid("\xc0\x80", 2));         /* overlong NUL */
	assert_false(utf8_valid("\xc1\xbf", 2));         /* overlong */
	assert_false(utf8_valid("\xe0\x9f\xbf", 3));     /* overlong */
	assert_false(utf8_valid("\xf0\x8f\xbf\xbf", 4)); /* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));     /* U+D800 */
	assert_false(utf8_valid("\xed\xbf\xbf", 3));     /* U+DFFF */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* U+110000 */
	assert_false(utf8_valid("\xf5\x80\x80\x80", 4));
	assert_false(utf8_valid("\xff", 1));
	assert_false(utf8_valid("\x80", 1));
	assert_false(utf8_valid("\xe2\x82", 2));         /* truncated */
	assert_false(utf8_valid("\xe2\x82\xac", 2));     /* cut by len */
	assert_true(utf8_valid("\xe2\x82\xac", 3));      /* EURO SIGN */
	assert_false(utf8_valid("\xe2\x28\xa1", 3));     /* bad continuation */
	assert_false(utf8_valid("\xe2\x82\x28", 3));     /* bad third byte */
	assert_false(utf8_valid("\xf0\x90\x80\x28", 4)); /* bad fourth byte */
	assert_false(utf8_valid(NULL, 1));
}

static void test_length_limits(void **state)
{
	struct smtp_command cmd;
	char line[1200], local[80], domain[300];
	const char *reason;

	(void)state;
	/* Local part: 64 octets pass, 65 do not (RFC 5321 4.5.3.1.1). */
	snprintf(line, sizeof line, "RCPT TO:<%s@example.com>", fill(local, 'l', 64));
	parse_ok(line, &cmd);
	assert_int_equal(strlen(cmd.path.local), 64);
	snprintf(line, sizeof line, "RCPT TO:<%s@example.com>", fill(local, 'l', 65));
	reason = parse_fails(line, SMTP_PARSE_PATH_TOO_LONG);
	assert_contains(reason, "64");
	assert_contains(reason, "4.5.3.1.1");
	/* Quotes count: 62 characters in quotes are 64 octets. */
	snprintf(line, sizeof line, "RCPT TO:<\"%s\"@example.com>", fill(local, 'q', 62));
	parse_ok(line, &cmd);
	snprintf(line, sizeof line, "RCPT TO:<\"%s\"@example.com>", fill(local, 'q', 63));
	parse_fails(line, SMTP_PARSE_PATH_TOO_LONG);

	/* Whole path: 256 octets pass, 257 do not (RFC 5321 4.5.3.1.3). */
	snprintf(line, sizeof line, "RCPT TO:<%s@%s>", fill(local, 'l', 64), make_domain(domain, 189));
	parse_ok(line, &cmd);
	assert_int_equal(strlen(cmd.path.address), 254);
	snprintf(line, sizeof line, "RCPT TO:<%s@%s>", fill(local, 'l', 64), make_domain(domain, 190));
	reason = parse_fails(line, SMTP_PARSE_PATH_TOO_LONG);
	assert_contains(reason, "256");
	assert_contains(reason, "4.5.3.1.3");
	/* The route counts towards the path. */
	snprintf(line, sizeof line, "RCPT TO:<@%s:%s@%s>", make_domain(domain, 10), fill(local, 'l', 54),
	         "example.com");
	parse_ok(line, &cmd);
	snprintf(line, sizeof line, "RCPT TO:<@%s:%s@%s>", make_domain(domain, 200), fill(local, 'l', 54),
	         "example.com");
	parse_fails(line, SMTP_PARSE_PATH_TOO_LONG);

	/* Domain: a 255-octet domain is within its own limit, so only the
	 * path limit trips; at 256 the domain limit is the one named
	 * (RFC 5321 4.5.3.1.2). */
	snprintf(line, sizeof line, "RCPT TO:<a@%s>", make_domain(domain, 255));
	assert_contains(parse_fails(line, SMTP_PARSE_PATH_TOO_LONG), "4.5.3.1.3");
	snprintf(line, sizeof line, "RCPT TO:<a@%s>", make_domain(domain, 256));
	reason = parse_fails(line, SMTP_PARSE_PATH_TOO_LONG);
	assert_contains(reason, "255");
	assert_contains(reason, "4.5.3.1.2");
	/* Bare address of 256 octets passes, 257 does not. */
	snprintf(line, sizeof line, "MAIL FROM:%s@%s", fill(local, 'l', 64), make_domain(domain, 191));
	parse_ok(line, &cmd);
	snprintf(line, sizeof line, "MAIL FROM:%s@%s", fill(local, 'l', 64), make_domain(domain, 192));
	parse_fails(line, SMTP_PARSE_PATH_TOO_LONG);
}

static void test_line_length_limit(void **state)
{
	static char line[100000];
	struct smtp_command cmd;
	struct smtp_parse_error err;

	(void)state;
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'x', sizeof line - 5);
	assert_int_equal(smtp_parse_command(line, SMTP_COMMAND_LINE_MAX, &cmd, &err), 0);
	assert_int_equal(strlen(cmd.arg), SMTP_COMMAND_LINE_MAX - 5);
	assert_contains(parse_fails_len(line, SMTP_COMMAND_LINE_MAX + 1, SMTP_PARSE_SYNTAX, &cmd, &err), "too long");
	assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
	parse_fails_len(line, sizeof line, SMTP_PARSE_SYNTAX, &cmd, &err);
}

/* The longest legal MAIL line, with the longest path and parameters filling
 * the rest: every piece must fit in the command's own storage. */
static void test_longest_mail_line(void **state)
{
	struct smtp_command cmd;
	struct smtp_mail_params mp;
	char line[SMTP_COMMAND_LINE_MAX + 1], local[80], domain[300], envid[120], auth[200];
	int n;

	(void)state;
	n = snprintf(line, sizeof line, "MAIL FROM:<%s@%s> ENVID=%s AUTH=%s", fill(local, 'l', 64),
	             make_domain(domain, 189), fill(envid, 'E', 100), fill(auth, 'a', 133));
	assert_int_equal(n, SMTP_COMMAND_LINE_MAX);
	mail_params_ok(line, &cmd, &mp);
	assert_int_equal(strlen(cmd.path.local), 64);
	assert_int_equal(strlen(cmd.path.domain), 189);
	assert_int_equal(strlen(mp.envid), 100);
	assert_int_equal(strlen(mp.auth), 133);
	assert_int_equal(strlen(cmd.arg), SMTP_COMMAND_LINE_MAX - 5);

	/* The same with many short parameters instead. */
	n = snprintf(line, sizeof line, "MAIL FROM:<%s@%s>", local, domain);
	for (int i = 0; i < SMTP_MAX_PARAMS; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, " X%d=%s", i, fill(envid, 'v', 10));
	parse_ok(line, &cmd);
	assert_int_equal(cmd.nparams, SMTP_MAX_PARAMS);
	assert_string_equal(cmd.params[15].keyword, "X15");
	assert_string_equal(cmd.params[15].value, "vvvvvvvvvv");
}

/* ---- parameters ---- */

static void test_params_split(void **state)
{
	struct smtp_command cmd;
	char line[400];
	int n;

	(void)state;
	parse_ok("MAIL FROM:<a@example.com>   size=100    SMTPUTF8   BODY=8BITMIME  ", &cmd);
	assert_int_equal(cmd.nparams, 3);
	assert_string_equal(cmd.params[0].keyword, "size"); /* as sent */
	assert_string_equal(cmd.params[0].value, "100");
	assert_string_equal(cmd.params[1].keyword, "SMTPUTF8");
	assert_null(cmd.params[1].value);
	assert_string_equal(cmd.params[2].value, "8BITMIME");
	assert_string_equal(cmd.arg, "FROM:<a@example.com>   size=100    SMTPUTF8   BODY=8BITMIME");
	parse_ok("MAIL FROM:<a@example.com> SIZE=", &cmd);
	assert_string_equal(cmd.params[0].value, "");
	parse_ok("RCPT TO:<a@example.com> X-VENDOR=\xc3\xa9t\xc3\xa9", &cmd);
	parse_ok("RCPT TO:<a@example.com> X-9=a;b<c", &cmd);

	parse_fails("MAIL FROM:<a@example.com> =100", SMTP_PARSE_SYNTAX);
	parse_fails("MAIL FROM:<a@example.com> -X=1", SMTP_PARSE_SYNTAX);
	parse_fails("MAIL FROM:<a@example.com> X_Y=1", SMTP_PARSE_SYNTAX);
	assert_contains(parse_fails("MAIL FROM:<a@example.com> AUTH=a=b", SMTP_PARSE_SYNTAX), "+3D");
	parse_fails("MAIL FROM:<a@example.com> X=\x01", SMTP_PARSE_SYNTAX);
	parse_fails("MAIL FROM:<a@example.com> SIZE=1\tBODY=7BIT", SMTP_PARSE_SYNTAX);
	parse_fails("MAIL FROM:<a@example.com> X=\xff", SMTP_PARSE_BAD_UTF8);
	parse_fails("MAIL FROM:<a@example.com> \xc3\xa9=1", SMTP_PARSE_SYNTAX);

	n = snprintf(line, sizeof line, "MAIL FROM:<a@example.com>");
	for (int i = 0; i <= SMTP_MAX_PARAMS; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, " X%d", i);
	assert_contains(parse_fails(line, SMTP_PARSE_SYNTAX), "Too many");
}

static void test_mail_params(void **state)
{
	struct smtp_command cmd;
	struct smtp_mail_params mp;

	(void)state;
	mail_params_ok("MAIL FROM:<ned@thor.innosoft.com> SIZE=500000", &cmd, &mp); /* RFC 1870 */
	assert_true(mp.has_size);
	assert_int_equal(mp.size, 500000);
	assert_int_equal(mp.body, SMTP_BODY_NONE);
	mail_params_ok("MAIL FROM:<foo@bar.com> BODY=8BITMIME", &cmd, &mp); /* RFC 6152 */
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	mail_params_ok("MAIL FROM:<Sam@Random.com> BODY=BINARYMIME", &cmd, &mp); /* RFC 3030 */
	assert_int_equal(mp.body, SMTP_BODY_BINARYMIME);
	mail_params_ok("MAIL FROM:<a@example.com> body=7bit", &cmd, &mp);
	assert_int_equal(mp.body, SMTP_BODY_7BIT);
	mail_params_ok("MAIL FROM:<Alice@Pure-Heart.ORG> RET=HDRS ENVID=QQ314159", &cmd, &mp); /* RFC 3461 */
	assert_int_equal(mp.ret, SMTP_RET_HDRS);
	assert_string_equal(mp.envid, "QQ314159");
	mail_params_ok("MAIL FROM:<a@example.com> RET=full ENVID=id+2Bwith+3Dsigns", &cmd, &mp);
	assert_int_equal(mp.ret, SMTP_RET_FULL);
	mail_params_ok("MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com", &cmd, &mp); /* RFC 4954 5 */
	assert_string_equal(mp.auth, "e+3Dmc2@example.com");
	assert_string_equal(cmd.path.local, "e=mc2");
	mail_params_ok("MAIL FROM:<a@example.com> AUTH=<>", &cmd, &mp);
	assert_string_equal(mp.auth, "<>");
	mail_params_ok("MAIL FROM:<a@example.com> SIZE=18446744073709551615 SMTPUTF8", &cmd, &mp);
	assert_true(mp.size == UINT64_MAX);
	assert_true(mp.smtputf8);
	/* A keyword repeated with the same value is accepted (Python's smtplib sends SMTPUTF8 twice). */
	mail_params_ok("MAIL FROM:<a@example.com> SMTPUTF8 BODY=8BITMIME SMTPUTF8 BODY=8BITMIME", &cmd, &mp);
	assert_true(mp.smtputf8);
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	mail_params_ok("MAIL FROM:<a@example.com>", &cmd, &mp);
	assert_false(mp.has_size);
	assert_null(mp.envid);
	assert_null(mp.auth);
	assert_int_equal(mp.ret, SMTP_RET_NONE);
}

static void test_mail_param_errors(void **state)
{
	char line[300], envid[120];

	(void)state;
	assert_string_equal(mail_params_fail("MAIL FROM:<a@b.example> SIZE", SMTP_PARAM_INVALID),
	                    "SIZE parameter needs a number");
	mail_params_fail("MAIL FROM:<a@b.example> SIZE=", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> SIZE=abc", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> SIZE=-1", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> SIZE=1k", SMTP_PARAM_INVALID);
	assert_contains(mail_params_fail("MAIL FROM:<a@b.example> SIZE=18446744073709551616", SMTP_PARAM_INVALID),
	                "too large");
	assert_contains(mail_params_fail("MAIL FROM:<a@b.example> SIZE=1 size=2", SMTP_PARAM_INVALID), "Conflicting");
	mail_params_fail("MAIL FROM:<a@b.example> BODY=9BIT", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> BODY", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> BODY=7BIT BODY=8BITMIME", SMTP_PARAM_INVALID);
	assert_contains(mail_params_fail("MAIL FROM:<a@b.example> SMTPUTF8=yes", SMTP_PARAM_INVALID), "no value");
	mail_params_fail("MAIL FROM:<a@b.example> RET=ALL", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> RET", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> RET=FULL RET=HDRS", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> ENVID=a ENVID=b", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> ENVID=", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> ENVID", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> ENVID=a+2", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> ENVID=a+2b", SMTP_PARAM_INVALID); /* lower-case hex */
	mail_params_fail("MAIL FROM:<a@b.example> ENVID=a+", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> ENVID=\xc3\xa9", SMTP_PARAM_INVALID);
	snprintf(line, sizeof line, "MAIL FROM:<a@b.example> ENVID=%s", fill(envid, 'e', 100));
	parse_ok(line, &scratch_cmd);
	{
		struct smtp_mail_params mp;
		struct smtp_param_error perr;
		assert_int_equal(smtp_parse_mail_params(&scratch_cmd, &mp, &perr), 0);
	}
	snprintf(line, sizeof line, "MAIL FROM:<a@b.example> ENVID=%s", fill(envid, 'e', 101));
	assert_contains(mail_params_fail(line, SMTP_PARAM_INVALID), "100");
	mail_params_fail("MAIL FROM:<a@b.example> AUTH", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> AUTH=", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> AUTH=a+zz", SMTP_PARAM_INVALID);
	mail_params_fail("MAIL FROM:<a@b.example> AUTH=<> AUTH=a@b.example", SMTP_PARAM_INVALID);
	assert_string_equal(mail_params_fail("MAIL FROM:<a@b.example> XFOO=1", SMTP_PARAM_UNKNOWN),
	                    "Unsupported MAIL parameter XFOO");
	mail_params_fail("MAIL FROM:<a@b.example> NOTIFY=NEVER", SMTP_PARAM_UNKNOWN);
	mail_params_fail("MAIL FROM:<a@b.example> SIZE=1 ORCPT=rfc822;a@b", SMTP_PARAM_UNKNOWN);
	/* A long unknown keyword is not echoed whole. */
	assert_string_equal(mail_params_fail("MAIL FROM:<a@b.example> XAVERYLONGUNKNOWNKEYWORD", SMTP_PARAM_UNKNOWN),
	                    "Unsupported MAIL parameter");
}

static void test_rcpt_params(void **state)
{
	/* RFC 3461 section 9 (example), the RCPT commands of the first client */
	static const struct {
		const char *line;
		unsigned notify;
		const char *orcpt;
	} cases[] = {
	        {"RCPT TO:<Bob@Big-Bucks.COM> NOTIFY=SUCCESS ORCPT=rfc822;Bob@Big-Bucks.COM", SMTP_NOTIFY_SUCCESS,
	         "rfc822;Bob@Big-Bucks.COM"},
	        {"RCPT TO:<Carol@Ivory.EDU> NOTIFY=FAILURE ORCPT=rfc822;Carol@Ivory.EDU", SMTP_NOTIFY_FAILURE,
	         "rfc822;Carol@Ivory.EDU"},
	        {"RCPT TO:<Dana@Ivory.EDU> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Dana@Ivory.EDU",
	         SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, "rfc822;Dana@Ivory.EDU"},
	        {"RCPT TO:<Eric@Bombs.AF.MIL> NOTIFY=FAILURE ORCPT=rfc822;Eric@Bombs.AF.MIL", SMTP_NOTIFY_FAILURE,
	         "rfc822;Eric@Bombs.AF.MIL"},
	        {"RCPT TO:<Fred@Bombs.AF.MIL> NOTIFY=NEVER", SMTP_NOTIFY_NEVER, NULL},
	        {"RCPT TO:<George@Tax-ME.GOV> NOTIFY=FAILURE ORCPT=rfc822;George@Tax-ME.GOV", SMTP_NOTIFY_FAILURE,
	         "rfc822;George@Tax-ME.GOV"},
	        {"RCPT TO:<a@example.com> notify=delay,success,failure",
	         SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, NULL},
	        {"RCPT TO:<a@example.com> ORCPT=rfc822;a+2Bb@example.com", 0, "rfc822;a+2Bb@example.com"},
	        {"RCPT TO:<a@example.com> ORCPT=utf-8;\xe7\x94\xa8\xe6\x88\xb7@example.com", 0,
	         "utf-8;\xe7\x94\xa8\xe6\x88\xb7@example.com"},
	        {"RCPT TO:<a@example.com>", 0, NULL},
	};
	struct smtp_command cmd;
	struct smtp_rcpt_params rp;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rcpt_params_ok(cases[i].line, &cmd, &rp);
		assert_int_equal(rp.notify, cases[i].notify);
		if (cases[i].orcpt == NULL)
			assert_null(rp.orcpt);
		else
			assert_string_equal(rp.orcpt, cases[i].orcpt);
	}
}

static void test_rcpt_param_errors(void **state)
{
	struct smtp_command cmd;
	struct smtp_rcpt_params rp;
	struct smtp_param_error perr;
	char orcpt[600];

	(void)state;
	mail_params_fail("MAIL FROM:<a@b.example> NOTIFY", SMTP_PARAM_UNKNOWN);
	rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=", SMTP_PARAM_INVALID);
	assert_contains(rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", SMTP_PARAM_INVALID),
	                "NOTIFY=NEVER cannot be combined");
	rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=FAILURE,NEVER", SMTP_PARAM_INVALID);
	assert_contains(rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=SUCCESS,success", SMTP_PARAM_INVALID), "twice");
	rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=SUCCESS,,FAILURE", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=SUCCESS,", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=,SUCCESS", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=ALWAYS", SMTP_PARAM_INVALID);
	assert_contains(rcpt_params_fail("RCPT TO:<a@b.example> NOTIFY=NEVER NOTIFY=FAILURE", SMTP_PARAM_INVALID),
	                "Conflicting NOTIFY");
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT=rfc822", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT=;a@b.example", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT=rfc822;", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT=rfc(822;a@b.example", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT=rfc822;a+zzb.example", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT=rfc822;\xc3\xa9@b.example", SMTP_PARAM_INVALID);
	rcpt_params_fail("RCPT TO:<a@b.example> ORCPT=rfc822;a@b ORCPT=rfc822;c@d", SMTP_PARAM_INVALID);
	assert_string_equal(rcpt_params_fail("RCPT TO:<a@b.example> SIZE=10", SMTP_PARAM_UNKNOWN),
	                    "Unsupported RCPT parameter SIZE");

	/* ORCPT length limit (RFC 3461 4.2): 500 pass, 501 do not. A 512
	 * octet line cannot carry that much, so build the command by hand. */
	parse_ok("RCPT TO:<a@b.example> ORCPT=x", &cmd);
	memcpy(orcpt, "rfc822;", 7);
	fill(orcpt + 7, 'o', 493);
	cmd.params[0].value = orcpt;
	assert_int_equal(smtp_parse_rcpt_params(&cmd, &rp, &perr), 0);
	fill(orcpt + 7, 'o', 494);
	assert_int_equal(smtp_parse_rcpt_params(&cmd, &rp, &perr), -1);
	assert_int_equal(perr.status, SMTP_PARAM_INVALID);
	assert_contains(perr.reason, "500");
	/* Invalid UTF-8 only reaches here through a hand-built command. */
	cmd.params[0].value = "utf-8;\xff@b.example";
	assert_int_equal(smtp_parse_rcpt_params(&cmd, &rp, &perr), -1);
	/* NULL err is allowed */
	assert_int_equal(smtp_parse_rcpt_params(&cmd, &rp, NULL), -1);
	/* A hand-built parameter without a keyword is refused, not followed. */
	cmd.params[0].keyword = NULL;
	assert_int_equal(smtp_parse_rcpt_params(&cmd, &rp, &perr), -1);
	assert_int_equal(perr.status, SMTP_PARAM_INVALID);
	{
		struct smtp_mail_params mp;
		assert_int_equal(smtp_parse_mail_params(&cmd, &mp, &perr), -1);
		assert_int_equal(perr.status, SMTP_PARAM_INVALID);
	}
}

/* ---- bytes that must never get through ---- */

static void test_nul_byte(void **state)
{
	static const char mail[] = "MAIL FROM:<a\0b@example.com>";
	static const char noop[] = "NOOP \0";
	static const char data[] = "DATA\0";
	struct smtp_command cmd;
	struct smtp_parse_error err;

	(void)state;
	assert_contains(parse_fails_len(mail, sizeof mail - 1, SMTP_PARSE_NUL, &cmd, &err), "NUL");
	assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
	parse_fails_len(noop, sizeof noop - 1, SMTP_PARSE_NUL, &cmd, &err);
	assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
	parse_fails_len(data, sizeof data - 1, SMTP_PARSE_NUL, &cmd, &err);
	parse_fails_len("\0", 1, SMTP_PARSE_NUL, &cmd, &err);
}

static void test_error_and_null_arguments(void **state)
{
	struct smtp_command cmd;
	struct smtp_parse_error err;

	(void)state;
	assert_int_equal(smtp_parse_command("QUIT", 4, &cmd, NULL), 0);
	assert_int_equal(smtp_parse_command("MAIL FROM:<a@@b>", 16, &cmd, NULL), -1);
	assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
	parse_fails_len(NULL, 0, SMTP_PARSE_UNKNOWN_COMMAND, &cmd, &err);
	parse_fails_len(NULL, 5, SMTP_PARSE_SYNTAX, &cmd, &err);
	/* A failed parse leaves readable empty strings behind. */
	parse_fails_len("RCPT TO:<a@-b>", 14, SMTP_PARSE_BAD_RECIPIENT, &cmd, &err);
	assert_string_equal(cmd.path.local, "");
	assert_string_equal(cmd.path.domain, "");
	assert_int_equal(cmd.nparams, 0);
	/* A command can be reused: nothing of the previous parse remains. */
	parse_ok("MAIL FROM:<a@example.com> SIZE=1", &cmd);
	parse_ok("RSET", &cmd);
	assert_int_equal(cmd.nparams, 0);
	assert_string_equal(cmd.path.address, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_verb),
	        cmocka_unit_test(test_verbs_case_insensitive),
	        cmocka_unit_test(test_unknown_verbs),
	        cmocka_unit_test(test_commands_without_argument),
	        cmocka_unit_test(test_helo_ehlo),
	        cmocka_unit_test(test_vrfy_expn_noop_help),
	        cmocka_unit_test(test_auth),
	        cmocka_unit_test(test_bdat),
	        cmocka_unit_test(test_mail_basic),
	        cmocka_unit_test(test_mail_space_before_path),
	        cmocka_unit_test(test_mail_rcpt_missing_keyword),
	        cmocka_unit_test(test_null_path),
	        cmocka_unit_test(test_postmaster),
	        cmocka_unit_test(test_quoted_local_part),
	        cmocka_unit_test(test_dot_string_local_part),
	        cmocka_unit_test(test_source_route),
	        cmocka_unit_test(test_domains),
	        cmocka_unit_test(test_address_literals),
	        cmocka_unit_test(test_ipv6_agrees_with_inet_pton),
	        cmocka_unit_test(test_bare_address),
	        cmocka_unit_test(test_utf8_addresses),
	        cmocka_unit_test(test_utf8_valid),
	        cmocka_unit_test(test_length_limits),
	        cmocka_unit_test(test_line_length_limit),
	        cmocka_unit_test(test_longest_mail_line),
	        cmocka_unit_test(test_params_split),
	        cmocka_unit_test(test_mail_params),
	        cmocka_unit_test(test_mail_param_errors),
	        cmocka_unit_test(test_rcpt_params),
	        cmocka_unit_test(test_rcpt_param_errors),
	        cmocka_unit_test(test_nul_byte),
	        cmocka_unit_test(test_error_and_null_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
