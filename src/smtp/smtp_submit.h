/*
 * smtp_submit: one whole submission on an smtp_client, as a state machine:
 * connect → [implicit TLS] → banner → EHLO (HELO when EHLO is refused) →
 * [STARTTLS → TLS → EHLO] → [AUTH] → per message: MAIL, RCPT..., DATA →
 * QUIT. `mailscope send` runs one (or, in load mode, many at once on one
 * loop); probe can run one per client configuration it wants to try.
 *
 * TLS modes:
 *  - none: plaintext; STARTTLS is not used even when offered.
 *  - starttls: STARTTLS must be offered and work, else the tls stage fails.
 *  - implicit: TLS from the first byte (RFC 8314).
 *  - auto: implicit when the port is 465 or 1465; otherwise wait up to
 *    auto_banner_ms for a plaintext banner: none arrives → a new connection
 *    with implicit TLS; a banner arrives → STARTTLS when EHLO offers it,
 *    else plaintext (noted in the transcript).
 *
 * Stages (enum smtp_stage) name where a submission failed; they are what
 * `send` turns into exit codes. quit_after ends a conversation successfully
 * after a stage: connect (close at once), banner, ehlo, tls, auth, mail,
 * rcpt (QUIT is sent except after connect and after an implicit-TLS
 * handshake that saw no banner yet).
 *
 * A recipient refused while another is accepted does not stop the message:
 * it goes to those accepted and the result says rcpt_refused. Every stage
 * that gets an unexpected reply sends QUIT (when the connection is still
 * there) before the submission ends.
 */
#ifndef MAILSCOPE_SMTP_SUBMIT_H
#define MAILSCOPE_SMTP_SUBMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"

enum smtp_tls_mode { SMTP_TLS_NONE, SMTP_TLS_STARTTLS, SMTP_TLS_IMPLICIT, SMTP_TLS_AUTO };
/* "none", "starttls", "implicit", "auto" */
const char *smtp_tls_mode_name(enum smtp_tls_mode m);
int smtp_tls_mode_parse(const char *s, enum smtp_tls_mode *out);

enum smtp_stage {
	SMTP_STAGE_CONNECT,
	SMTP_STAGE_BANNER,
	SMTP_STAGE_EHLO,
	SMTP_STAGE_TLS,
	SMTP_STAGE_AUTH,
	SMTP_STAGE_MAIL,
	SMTP_STAGE_RCPT,
	SMTP_STAGE_DATA,
	SMTP_STAGE__COUNT /* as quit_after: run to the end */
};
/* "connect", "banner", "ehlo", "tls", "auth", "mail", "rcpt", "data" */
const char *smtp_stage_name(enum smtp_stage s);
int smtp_stage_parse(const char *s, enum smtp_stage *out);

/* Ports where auto means implicit TLS (RFC 8314 and mailscope's own sandbox default). */
#define SMTP_SUBMIT_IMPLICIT_PORT       465
#define SMTP_SUBMIT_IMPLICIT_PORT_LOCAL 1465
/* How long auto waits for a plaintext banner before it tries implicit TLS. */
#define SMTP_SUBMIT_AUTO_BANNER_MS 2000

struct smtp_submit_plan {
	const struct sockaddr *addr; /* where to connect; copied */
	socklen_t addrlen;
	enum smtp_tls_mode tls;
	int64_t auto_banner_ms; /* 0 = SMTP_SUBMIT_AUTO_BANNER_MS */
	const char *ehlo_name;  /* the name sent in EHLO/HELO */
	const char *user;       /* NULL: no AUTH */
	const char *password;   /* with user; never shown */
	int auth_mech;          /* enum smtp_auth_mech, or -1: the first of PLAIN, LOGIN, CRAM-MD5 the server offers */
	const char *mail_from;  /* the envelope sender, "" for <> */
	const char *const *rcpts; /* envelope recipients */
	size_t nrcpts;
	const uint8_t *wire; /* the message as smtp_data_stuff made it; referenced, must outlive the submission */
	size_t wire_len;
	size_t message_size;        /* the message's size before stuffing, for MAIL ... SIZE= */
	int eight_bit;              /* the message has octets over 127 (BODY=8BITMIME when offered) */
	int smtputf8;               /* an address is not ASCII (SMTPUTF8 needed) */
	unsigned messages;          /* messages on this connection (0 = 1) */
	enum smtp_stage quit_after; /* SMTP_STAGE__COUNT: the whole conversation */
	const char *insecure_note;  /* noted after each handshake when the TLS client does not verify; NULL: none */
};

/* One message of the conversation. */
struct smtp_submit_message {
	int delivered;
	int64_t latency_ms; /* MAIL to the reply after the data */
	char queue_id[128]; /* from the final 250, "" when none could be read */
	unsigned rcpt_refused;
};

struct smtp_submit_result {
	int ok;                       /* everything asked for happened (quit_after counts as success) */
	enum smtp_stage failed_stage; /* when !ok */
	char *error;                  /* when !ok: what went wrong, in words, with the server's reply; owned */
	int reply_code;               /* the failing reply, 0 when the failure was not a reply */
	char reply_enhanced[SMTP_REPLY_ENHANCED_MAX];
	enum smtp_tls_mode tls_used; /* none, starttls or implicit: what the conversation ended up with */
	int tls_handshakes;          /* completed handshakes */
	int rcpt_refused;            /* some recipient was refused (the message went to the others) */
	struct smtp_ehlo ehlo;       /* the first EHLO's keywords (zeroed when HELO was used or none came) */
	struct smtp_ehlo ehlo_tls;   /* after STARTTLS */
	int used_helo;
	enum smtp_auth_mech auth_mech; /* when AUTH was done */
	int auth_done;
	struct smtp_submit_message *messages;
	unsigned nmessages; /* messages attempted */
	unsigned delivered;
};

struct smtp_submit;
typedef void (*smtp_submit_cb)(struct smtp_submit *s, void *arg);

/*
 * Starts a submission; cb runs once when it is over (from the loop). The
 * plan's strings and the wire must stay valid until then; addr is copied.
 */
struct smtp_submit *smtp_submit_start(const struct smtp_client_config *cc, const struct smtp_submit_plan *plan,
                                      smtp_submit_cb cb, void *arg);
/* Safe in the callback. */
void smtp_submit_free(struct smtp_submit *s);
const struct smtp_submit_result *smtp_submit_result(const struct smtp_submit *s);
/* The client, for its steps, TLS facts and timings. */
struct smtp_client *smtp_submit_client(const struct smtp_submit *s);

#endif
