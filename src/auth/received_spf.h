/*
 * received_spf: the Received-SPF header field (RFC 7208 9.1) of one SPF
 * outcome. Pure: the outcome and the envelope in, text out.
 *
 *   Received-SPF: pass (mailscope: domain of alice@example.com designates
 *   	192.0.2.1 as permitted sender) client-ip=192.0.2.1;
 *   	envelope-from="alice@example.com"; helo=mx.example.com;
 *   	receiver=mailscope; identity=mailfrom; mechanism="ip4:192.0.2.0/24";
 *
 * The result word, a comment in words, then the key-value pairs client-ip,
 * envelope-from ("" for a null reverse-path), helo (when given), receiver,
 * identity (mailfrom or helo), mechanism (pass, fail, softfail and
 * neutral: the term that matched, or "default" when none did) and problem
 * (permerror and temperror: the reason). A value that is not a dot-atom
 * is a quoted-string (so addresses and IPv6 addresses are quoted); control
 * characters in outside text become spaces or '?', so the result is one
 * field whatever the domains and addresses hold.
 */
#ifndef MAILSCOPE_AUTH_RECEIVED_SPF_H
#define MAILSCOPE_AUTH_RECEIVED_SPF_H

struct spf_outcome;

/* Lines are folded to this width, counting "Received-SPF: " (RFC 5322 2.1.1). */
#define RECEIVED_SPF_FOLD_COLUMNS 78

struct received_spf_input {
	const struct spf_outcome *spf; /* required */
	const char *client_ip;         /* the address checked */
	const char *mail_from;         /* MAIL FROM; NULL or "": the null reverse-path */
	const char *helo;              /* NULL: not given (left out) */
	const char *receiver;          /* the checking host; NULL: "mailscope" */
};

/*
 * The field's value (without "Received-SPF: "). fold: folded with "\r\n\t"
 * between words so that lines stay within RECEIVED_SPF_FOLD_COLUMNS where
 * a word allows it (never inside a quoted-string), else one line. Caller
 * frees.
 */
char *received_spf_build(const struct received_spf_input *in, int fold);

#endif
