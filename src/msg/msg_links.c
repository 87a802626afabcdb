/*
 * msg_links: every URL in a message and what it is for. See msg_links.h.
 *
 * HTML goes through gumbo (an HTML5 parser); one walk of its tree yields the
 * visible text (msg_html_text) and the links with their place in that text.
 * Plain text is scanned for http(s):// and www. URLs. Each link then gets a
 * kind from msg_links_rules[]: features are found once per link (phrases in
 * the anchor text, in the URL, in the words around a generic anchor) and the
 * first rule whose features are all present decides.
 *
 * Promises: every string returned is valid UTF-8; the cost is linear in the
 * input (gumbo's tree builder is not: see msg_links_flatten).
 * Does not: resolve relative URLs (there is no base URL in mail), fetch
 * anything, evaluate CSS (text hidden with display:none is still text).
 */
#include "msg/msg_links.h"

#include <gumbo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

/*
 * Nesting kept when HTML is handed to gumbo. Its tree builder scans the stack
 * of open elements for every tag, so 20,000 nested <div> cost 0.5 s and
 * 200,000 cost 110 s; real mail stays far below 100 levels.
 */
#define MSG_LINKS_MAX_DEPTH 256
/* Bytes of anchor text kept (cut at a character boundary). */
#define MSG_LINKS_TEXT_MAX 300
/* Bytes of surrounding text read to classify a generic anchor or a bare URL. */
#define MSG_LINKS_CONTEXT_MAX 200
/* Bytes searched for the '>' closing an <https://...> in plain text. */
#define MSG_LINKS_ANGLE_MAX 4096

/* ---- characters (shared shape with msg_codes.c) ---- */

enum msg_links_cc {
	MSG_LINKS_CC_SPACE,
	MSG_LINKS_CC_INVISIBLE,
	MSG_LINKS_CC_PUNCT,
	MSG_LINKS_CC_DIGIT,
	MSG_LINKS_CC_LETTER,
	MSG_LINKS_CC_IDEO
};

/* The code point at p; a byte that does not start a valid sequence reads as U+FFFD, length 1. */
static uint32_t msg_links_cp(const char *p, size_t avail, size_t *len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t n = utf8_sequence_len(u, avail);
	*len = n ? n : 1;
	switch (n) {
	case 1:
		return u[0];
	case 2:
		return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
	case 3:
		return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
	case 4:
		return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
		       ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
	default:
		return 0xFFFD;
	}
}

static enum msg_links_cc msg_links_class(uint32_t c)
{
	if (c < 0x80) {
		if (c >= '0' && c <= '9')
			return MSG_LINKS_CC_DIGIT;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return MSG_LINKS_CC_LETTER;
		if (c <= ' ' || c == 0x7F)
			return MSG_LINKS_CC_SPACE;
		return MSG_LINKS_CC_PUNCT;
	}
	if (c < 0xA0 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202F || c == 0x205F || c == 0x3000)
		return MSG_LINKS_CC_SPACE;
	if (c == 0xAD || c == 0x34F || (c >= 0x200B && c <= 0x200F) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF ||
	    (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0000 && c <= 0xE007F))
		return MSG_LINKS_CC_INVISIBLE;
	if (c <= 0xBF || c == 0xD7 || c == 0xF7 || (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) ||
	    (c >= 0x20A0 && c <= 0x20CF) || (c >= 0x2100 && c <= 0x214F) || (c >= 0x2190 && c <= 0x2BFF) ||
	    (c >= 0x3001 && c <= 0x303F) || (c >= 0xFE30 && c <= 0xFE6F) || (c >= 0xFF01 && c <= 0xFF0F) ||
	    (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) ||
	    (c >= 0x1F000 && c <= 0x1FAFF) || c == 0xFFFD)
		return MSG_LINKS_CC_PUNCT;
	if (c >= 0xFF10 && c <= 0xFF19)
		return MSG_LINKS_CC_DIGIT;
	if ((c >= 0x0E00 && c <= 0x0E7F) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x2E80 && c <= 0x2FFF) ||
	    (c >= 0x3040 && c <= 0x31FF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
	    (c >= 0xA960 && c <= 0xA97F) || (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) ||
	    (c >= 0xFF66 && c <= 0xFFDC) || (c >= 0x20000 && c <= 0x3FFFF))
		return MSG_LINKS_CC_IDEO;
	return MSG_LINKS_CC_LETTER;
}

/* Lower case for the scripts the phrase tables use: Latin, Greek, Cyrillic, full-width forms. */
static uint32_t msg_links_lower(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
		return c | 1;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
		return (c & 1) ? c + 1 : c;
	if (c == 0x178)
		return 0xFF;
	if ((c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0xFF10 && c <= 0xFF19)
		return c - 0xFF10 + '0';
	if (c >= 0xFF21 && c <= 0xFF3A)
		return c - 0xFF21 + 'a';
	if (c >= 0xFF41 && c <= 0xFF5A)
		return c - 0xFF41 + 'a';
	return c;
}

static void msg_links_put_cp(struct buf *b, uint32_t c)
{
	uint8_t u[4];
	size_t n;
	if (c < 0x80) {
		u[0] = (uint8_t)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (uint8_t)(0xC0 | (c >> 6));
		u[1] = (uint8_t)(0x80 | (c & 0x3F));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (uint8_t)(0xE0 | (c >> 12));
		u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
		u[2] = (uint8_t)(0x80 | (c & 0x3F));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xF0 | (c >> 18));
		u[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
		u[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
		u[3] = (uint8_t)(0x80 | (c & 0x3F));
		n = 4;
	}
	buf_append(b, u, n);
}

/*
 * The form phrases are matched in: lower case, every run of spaces and
 * punctuation one space, invisible characters gone, a space at both ends.
 * "Reset your Password!" -> " reset your password ".
 */
static void msg_links_norm(const char *s, size_t n, struct buf *out)
{
	buf_reset(out);
	buf_append_byte(out, ' ');
	size_t i = 0;
	while (i < n) {
		size_t len;
		uint32_t c = msg_links_cp(s + i, n - i, &len);
		i += len;
		switch (msg_links_class(c)) {
		case MSG_LINKS_CC_INVISIBLE:
			break;
		case MSG_LINKS_CC_SPACE:
		case MSG_LINKS_CC_PUNCT:
			if (out->data[out->len - 1] != ' ')
				buf_append_byte(out, ' ');
			break;
		default:
			msg_links_put_cp(out, msg_links_lower(c));
		}
	}
	if (out->data[out->len - 1] != ' ')
		buf_append_byte(out, ' ');
	buf_cstr(out);
}

static int msg_links_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding, twice (tracking redirects carry the target URL encoded once more). */
static void msg_links_unpercent(const char *s, size_t n, struct buf *out)
{
	struct buf tmp;
	buf_init(&tmp);
	buf_reset(out);
	buf_append(out, s, n);
	for (int pass = 0; pass < 2; pass++) {
		if (out->len == 0 || memchr(out->data, '%', out->len) == NULL)
			break;
		buf_reset(&tmp);
		for (size_t i = 0; i < out->len; i++) {
			int hi, lo;
			if (out->data[i] == '%' && i + 2 < out->len && (hi = msg_links_hex(out->data[i + 1])) >= 0 &&
			    (lo = msg_links_hex(out->data[i + 2])) >= 0) {
				buf_append_byte(&tmp, (uint8_t)(hi * 16 + lo));
				i += 2;
			} else if (out->data[i] == '+') {
				buf_append_byte(&tmp, ' ');
			} else {
				buf_append_byte(&tmp, out->data[i]);
			}
		}
		buf_reset(out);
		buf_append(out, tmp.data, tmp.len);
	}
	buf_free(&tmp);
}

static int msg_links_has_letter(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return 1;
	}
	return 0;
}

/* Copy of s[0..n) cut to at most max bytes at a character boundary. */
static char *msg_links_cut(const char *s, size_t n, size_t max)
{
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return xstrndup(s, n);
}

/* A copy that is valid UTF-8 whatever the input was. */
static char *msg_links_valid_copy(const char *s, size_t n)
{
	if (utf8_valid(s, n))
		return xstrndup(s, n);
	return utf8_sanitize(s, n);
}

/* ---- the kind rule table ---- */

/* What a phrase says when it is found. */
enum msg_links_group {
	MSG_LINKS_G_RESET = 1,
	MSG_LINKS_G_VERIFY = 2,
	MSG_LINKS_G_LOGIN = 4,
	MSG_LINKS_G_UNSUB = 8,
	MSG_LINKS_G_MAGIC = 16, /* magic-link / passwordless sign-in */
	MSG_LINKS_G_AUTH = 32,  /* an authentication endpoint: auth, sso, session, callback */
	MSG_LINKS_G_TOKEN = 64, /* a credential in the URL: token, otp, code, key */
	MSG_LINKS_G_ORDER = 128 /* orders, invoices, bookings: "confirm" there is not an account */
};

/* Where a phrase is looked for. */
#define MSG_LINKS_W_TEXT 1 /* anchor text, image alt, and the words around generic anchors */
#define MSG_LINKS_W_URL  2 /* the URL, percent-decoded, without its scheme */

/* Features of one link: group bits shifted by where they were found. */
#define MSG_LINKS_F_TXT(g)  ((uint32_t)(g))
#define MSG_LINKS_F_URL(g)  ((uint32_t)(g) << 8)
#define MSG_LINKS_F_CTX(g)  ((uint32_t)(g) << 16)
#define MSG_LINKS_F_GENERIC (1u << 24) /* anchor text says nothing: "click here", "", the URL itself */
#define MSG_LINKS_F_IMG     (1u << 25)
#define MSG_LINKS_F_HEADER  (1u << 26)

/*
 * Phrases in normalised form (msg_links_norm): lower case, words separated by
 * one space. A phrase matches at the start of a word ("reset" matches
 * "resetting" but not "preset"); a trailing space demands the end of a word
 * ("baja " is not "bajar"). Phrases in scripts written without spaces (CJK,
 * kana, hangul) match anywhere.
 */
struct msg_links_phrase {
	const char *s;
	uint8_t group;
	uint8_t where;
};

#define P_TXT MSG_LINKS_W_TEXT
#define P_URL MSG_LINKS_W_URL
#define P_ALL (MSG_LINKS_W_TEXT | MSG_LINKS_W_URL)

static const struct msg_links_phrase msg_links_phrases[] = {
        /* unsubscribe */
        {"unsubscribe", MSG_LINKS_G_UNSUB, P_ALL},
        {"unsub", MSG_LINKS_G_UNSUB, P_URL},
        {"opt out", MSG_LINKS_G_UNSUB, P_ALL},
        {"optout", MSG_LINKS_G_UNSUB, P_ALL},
        {"stop receiving", MSG_LINKS_G_UNSUB, P_TXT},
        {"remove me", MSG_LINKS_G_UNSUB, P_TXT},
        {"abmelden", MSG_LINKS_G_UNSUB, P_ALL},
        {"abbestellen", MSG_LINKS_G_UNSUB, P_ALL},
        {"austragen", MSG_LINKS_G_UNSUB, P_TXT},
        {"désabonn", MSG_LINKS_G_UNSUB, P_ALL},
        {"desabonn", MSG_LINKS_G_UNSUB, P_ALL},
        {"désinscri", MSG_LINKS_G_UNSUB, P_ALL},
        {"desinscri", MSG_LINKS_G_UNSUB, P_ALL},
        {"darse de baja", MSG_LINKS_G_UNSUB, P_TXT},
        {"darte de baja", MSG_LINKS_G_UNSUB, P_TXT},
        {"dar de baja", MSG_LINKS_G_UNSUB, P_TXT},
        {"date de baja", MSG_LINKS_G_UNSUB, P_TXT},
        {"baja ", MSG_LINKS_G_UNSUB, P_ALL},
        {"cancelar suscripción", MSG_LINKS_G_UNSUB, P_TXT},
        {"cancelar la suscripción", MSG_LINKS_G_UNSUB, P_TXT},
        {"anular suscripción", MSG_LINKS_G_UNSUB, P_TXT},
        {"disiscri", MSG_LINKS_G_UNSUB, P_ALL},
        {"annulla iscrizione", MSG_LINKS_G_UNSUB, P_TXT},
        {"cancella iscrizione", MSG_LINKS_G_UNSUB, P_TXT},
        {"descadastr", MSG_LINKS_G_UNSUB, P_ALL},
        {"cancelar inscrição", MSG_LINKS_G_UNSUB, P_TXT},
        {"cancelar subscrição", MSG_LINKS_G_UNSUB, P_TXT},
        {"afmelden", MSG_LINKS_G_UNSUB, P_ALL},
        {"uitschrijven", MSG_LINKS_G_UNSUB, P_ALL},
        {"wypisz", MSG_LINKS_G_UNSUB, P_ALL},
        {"avregistrer", MSG_LINKS_G_UNSUB, P_ALL},
        {"avsluta prenumeration", MSG_LINKS_G_UNSUB, P_TXT},
        {"отписаться", MSG_LINKS_G_UNSUB, P_TXT},
        {"отписка", MSG_LINKS_G_UNSUB, P_TXT},
        {"отказаться от рассылки", MSG_LINKS_G_UNSUB, P_TXT},
        {"配信停止", MSG_LINKS_G_UNSUB, P_TXT},
        {"配信解除", MSG_LINKS_G_UNSUB, P_TXT},
        {"購読解除", MSG_LINKS_G_UNSUB, P_TXT},
        {"退订", MSG_LINKS_G_UNSUB, P_TXT},
        {"取消订阅", MSG_LINKS_G_UNSUB, P_TXT},
        {"수신거부", MSG_LINKS_G_UNSUB, P_TXT},
        {"수신 거부", MSG_LINKS_G_UNSUB, P_TXT},
        {"구독 취소", MSG_LINKS_G_UNSUB, P_TXT},

        /* password reset */
        {"reset", MSG_LINKS_G_RESET, P_ALL},
        {"passwordreset", MSG_LINKS_G_RESET, P_URL},
        {"pwreset", MSG_LINKS_G_RESET, P_URL},
        {"forgot", MSG_LINKS_G_RESET, P_ALL},
        {"recover", MSG_LINKS_G_RESET, P_ALL},
        {"new password", MSG_LINKS_G_RESET, P_ALL},
        {"newpassword", MSG_LINKS_G_RESET, P_URL},
        {"change password", MSG_LINKS_G_RESET, P_ALL},
        {"changepassword", MSG_LINKS_G_RESET, P_URL},
        {"change your password", MSG_LINKS_G_RESET, P_TXT},
        {"choose a new password", MSG_LINKS_G_RESET, P_TXT},
        {"set a new password", MSG_LINKS_G_RESET, P_TXT},
        {"account recovery", MSG_LINKS_G_RESET, P_TXT},
        {"passwort zurücksetzen", MSG_LINKS_G_RESET, P_TXT},
        {"kennwort zurücksetzen", MSG_LINKS_G_RESET, P_TXT},
        {"zurücksetzen", MSG_LINKS_G_RESET, P_ALL},
        {"zuruecksetzen", MSG_LINKS_G_RESET, P_URL},
        {"zurucksetzen", MSG_LINKS_G_RESET, P_URL},
        {"passwort vergessen", MSG_LINKS_G_RESET, P_URL},
        {"mot de passe oublie", MSG_LINKS_G_RESET, P_URL},
        {"wachtwoord vergeten", MSG_LINKS_G_RESET, P_ALL},
        {"passwort vergessen", MSG_LINKS_G_RESET, P_TXT},
        {"neues passwort", MSG_LINKS_G_RESET, P_TXT},
        {"passwort ändern", MSG_LINKS_G_RESET, P_TXT},
        {"réinitialis", MSG_LINKS_G_RESET, P_ALL},
        {"reinitialis", MSG_LINKS_G_RESET, P_ALL},
        {"mot de passe oublié", MSG_LINKS_G_RESET, P_TXT},
        {"nouveau mot de passe", MSG_LINKS_G_RESET, P_TXT},
        {"changer mon mot de passe", MSG_LINKS_G_RESET, P_TXT},
        {"restablecer", MSG_LINKS_G_RESET, P_ALL},
        {"recuperar contraseña", MSG_LINKS_G_RESET, P_TXT},
        {"nueva contraseña", MSG_LINKS_G_RESET, P_TXT},
        {"cambiar contraseña", MSG_LINKS_G_RESET, P_TXT},
        {"reimposta", MSG_LINKS_G_RESET, P_ALL},
        {"nuova password", MSG_LINKS_G_RESET, P_TXT},
        {"recupera password", MSG_LINKS_G_RESET, P_TXT},
        {"redefinir", MSG_LINKS_G_RESET, P_ALL},
        {"nova senha", MSG_LINKS_G_RESET, P_TXT},
        {"recuperar senha", MSG_LINKS_G_RESET, P_TXT},
        {"alterar senha", MSG_LINKS_G_RESET, P_TXT},
        {"wachtwoord herstellen", MSG_LINKS_G_RESET, P_TXT},
        {"wachtwoord opnieuw instellen", MSG_LINKS_G_RESET, P_TXT},
        {"nieuw wachtwoord", MSG_LINKS_G_RESET, P_TXT},
        {"zresetuj", MSG_LINKS_G_RESET, P_TXT},
        {"resetuj", MSG_LINKS_G_RESET, P_TXT},
        {"nowe hasło", MSG_LINKS_G_RESET, P_TXT},
        {"återställ", MSG_LINKS_G_RESET, P_TXT},
        {"nytt lösenord", MSG_LINKS_G_RESET, P_TXT},
        {"сбросить пароль", MSG_LINKS_G_RESET, P_TXT},
        {"сброс пароля", MSG_LINKS_G_RESET, P_TXT},
        {"восстановить пароль", MSG_LINKS_G_RESET, P_TXT},
        {"новый пароль", MSG_LINKS_G_RESET, P_TXT},
        {"パスワードを再設定", MSG_LINKS_G_RESET, P_TXT},
        {"パスワード再設定", MSG_LINKS_G_RESET, P_TXT},
        {"パスワードのリセット", MSG_LINKS_G_RESET, P_TXT},
        {"重置密码", MSG_LINKS_G_RESET, P_TXT},
        {"重设密码", MSG_LINKS_G_RESET, P_TXT},
        {"找回密码", MSG_LINKS_G_RESET, P_TXT},
        {"비밀번호 재설정", MSG_LINKS_G_RESET, P_TXT},

        /* verify an address or activate an account */
        {"verify", MSG_LINKS_G_VERIFY, P_ALL},
        {"verif", MSG_LINKS_G_VERIFY, P_URL},
        {"confirm", MSG_LINKS_G_VERIFY, P_URL},
        {"confirm ", MSG_LINKS_G_VERIFY, P_TXT},
        {"activate", MSG_LINKS_G_VERIFY, P_ALL},
        {"activation", MSG_LINKS_G_VERIFY, P_ALL},
        {"validate", MSG_LINKS_G_VERIFY, P_ALL},
        {"validation", MSG_LINKS_G_VERIFY, P_URL},
        {"yes subscribe me", MSG_LINKS_G_VERIFY, P_TXT},
        {"bestätig", MSG_LINKS_G_VERIFY, P_ALL},
        {"bestaetig", MSG_LINKS_G_VERIFY, P_URL},
        {"verifizier", MSG_LINKS_G_VERIFY, P_TXT},
        {"aktivier", MSG_LINKS_G_VERIFY, P_ALL},
        {"confirmer", MSG_LINKS_G_VERIFY, P_TXT},
        {"vérifier", MSG_LINKS_G_VERIFY, P_TXT},
        {"valider", MSG_LINKS_G_VERIFY, P_TXT},
        {"activer", MSG_LINKS_G_VERIFY, P_ALL},
        {"confirma", MSG_LINKS_G_VERIFY, P_TXT},
        {"verificar", MSG_LINKS_G_VERIFY, P_TXT},
        {"activar", MSG_LINKS_G_VERIFY, P_ALL},
        {"ativar", MSG_LINKS_G_VERIFY, P_ALL},
        {"confirme", MSG_LINKS_G_VERIFY, P_TXT},
        {"conferma", MSG_LINKS_G_VERIFY, P_ALL},
        {"verifica", MSG_LINKS_G_VERIFY, P_TXT},
        {"attiva", MSG_LINKS_G_VERIFY, P_ALL},
        {"bevestig", MSG_LINKS_G_VERIFY, P_ALL},
        {"verifieer", MSG_LINKS_G_VERIFY, P_TXT},
        {"activeer", MSG_LINKS_G_VERIFY, P_ALL},
        {"potwierdź", MSG_LINKS_G_VERIFY, P_TXT},
        {"potwierdz", MSG_LINKS_G_VERIFY, P_ALL},
        {"zweryfikuj", MSG_LINKS_G_VERIFY, P_TXT},
        {"aktywuj", MSG_LINKS_G_VERIFY, P_ALL},
        {"bekräfta", MSG_LINKS_G_VERIFY, P_ALL},
        {"bekrafta", MSG_LINKS_G_VERIFY, P_URL},
        {"verifiera", MSG_LINKS_G_VERIFY, P_TXT},
        {"aktivera", MSG_LINKS_G_VERIFY, P_ALL},
        {"подтверд", MSG_LINKS_G_VERIFY, P_TXT},
        {"podtverd", MSG_LINKS_G_VERIFY, P_URL},
        {"активир", MSG_LINKS_G_VERIFY, P_TXT},
        {"メールアドレスを確認", MSG_LINKS_G_VERIFY, P_TXT},
        {"メールアドレスの確認", MSG_LINKS_G_VERIFY, P_TXT},
        {"認証する", MSG_LINKS_G_VERIFY, P_TXT},
        {"本登録", MSG_LINKS_G_VERIFY, P_TXT},
        {"有効化", MSG_LINKS_G_VERIFY, P_TXT},
        {"验证邮箱", MSG_LINKS_G_VERIFY, P_TXT},
        {"验证电子邮件", MSG_LINKS_G_VERIFY, P_TXT},
        {"验证您的", MSG_LINKS_G_VERIFY, P_TXT},
        {"确认邮箱", MSG_LINKS_G_VERIFY, P_TXT},
        {"确认电子邮件", MSG_LINKS_G_VERIFY, P_TXT},
        {"激活", MSG_LINKS_G_VERIFY, P_TXT},
        {"이메일 인증", MSG_LINKS_G_VERIFY, P_TXT},
        {"인증하기", MSG_LINKS_G_VERIFY, P_TXT},

        /* sign in */
        {"sign in", MSG_LINKS_G_LOGIN, P_ALL},
        {"signin", MSG_LINKS_G_LOGIN, P_ALL},
        {"sign into", MSG_LINKS_G_LOGIN, P_TXT},
        {"sign me in", MSG_LINKS_G_LOGIN, P_TXT},
        {"log in", MSG_LINKS_G_LOGIN, P_ALL},
        {"login", MSG_LINKS_G_LOGIN, P_ALL},
        {"log me in", MSG_LINKS_G_LOGIN, P_TXT},
        {"logon", MSG_LINKS_G_LOGIN, P_URL},
        {"magic link", MSG_LINKS_G_LOGIN, P_TXT},
        {"anmelden", MSG_LINKS_G_LOGIN, P_ALL},
        {"einloggen", MSG_LINKS_G_LOGIN, P_ALL},
        {"se connecter", MSG_LINKS_G_LOGIN, P_TXT},
        {"me connecter", MSG_LINKS_G_LOGIN, P_TXT},
        {"connectez vous", MSG_LINKS_G_LOGIN, P_TXT},
        {"connexion", MSG_LINKS_G_LOGIN, P_ALL},
        {"iniciar sesión", MSG_LINKS_G_LOGIN, P_TXT},
        {"inicia sesión", MSG_LINKS_G_LOGIN, P_TXT},
        {"iniciar sesion", MSG_LINKS_G_LOGIN, P_ALL},
        {"acceder", MSG_LINKS_G_LOGIN, P_TXT},
        {"accedi", MSG_LINKS_G_LOGIN, P_ALL},
        {"fazer login", MSG_LINKS_G_LOGIN, P_TXT},
        {"entrar ", MSG_LINKS_G_LOGIN, P_TXT},
        {"inloggen", MSG_LINKS_G_LOGIN, P_ALL},
        {"aanmelden", MSG_LINKS_G_LOGIN, P_TXT},
        {"zaloguj", MSG_LINKS_G_LOGIN, P_ALL},
        {"logga in", MSG_LINKS_G_LOGIN, P_ALL},
        {"войти", MSG_LINKS_G_LOGIN, P_TXT},
        {"вход ", MSG_LINKS_G_LOGIN, P_TXT},
        {"ログイン", MSG_LINKS_G_LOGIN, P_TXT},
        {"サインイン", MSG_LINKS_G_LOGIN, P_TXT},
        {"登录", MSG_LINKS_G_LOGIN, P_TXT},
        {"登入", MSG_LINKS_G_LOGIN, P_TXT},
        {"로그인", MSG_LINKS_G_LOGIN, P_TXT},

        /* URL-only signals */
        {"magic", MSG_LINKS_G_MAGIC, P_URL},
        {"passwordless", MSG_LINKS_G_MAGIC, P_URL},
        {"auth ", MSG_LINKS_G_AUTH, P_URL},
        {"authenticat", MSG_LINKS_G_AUTH, P_URL},
        {"sso ", MSG_LINKS_G_AUTH, P_URL},
        {"session", MSG_LINKS_G_AUTH, P_URL},
        {"callback", MSG_LINKS_G_AUTH, P_URL},
        {"token", MSG_LINKS_G_TOKEN, P_URL},
        {"otp ", MSG_LINKS_G_TOKEN, P_URL},
        {"code ", MSG_LINKS_G_TOKEN, P_URL},
        {"key ", MSG_LINKS_G_TOKEN, P_URL},
        {"nonce", MSG_LINKS_G_TOKEN, P_URL},

        /* orders and bookings: their "confirm" is not an address verification */
        {"order", MSG_LINKS_G_ORDER, P_ALL},
        {"invoice", MSG_LINKS_G_ORDER, P_ALL},
        {"receipt", MSG_LINKS_G_ORDER, P_ALL},
        {"booking", MSG_LINKS_G_ORDER, P_ALL},
        {"reservation", MSG_LINKS_G_ORDER, P_ALL},
        {"purchase", MSG_LINKS_G_ORDER, P_ALL},
        {"shipment", MSG_LINKS_G_ORDER, P_ALL},
        {"tracking", MSG_LINKS_G_ORDER, P_ALL},
        {"bestellung", MSG_LINKS_G_ORDER, P_ALL},
        {"commande", MSG_LINKS_G_ORDER, P_ALL},
        {"pedido", MSG_LINKS_G_ORDER, P_ALL},
        {"ordine", MSG_LINKS_G_ORDER, P_ALL},
        {"encomenda", MSG_LINKS_G_ORDER, P_ALL},
        {"bestelling", MSG_LINKS_G_ORDER, P_ALL},
        {"zamówieni", MSG_LINKS_G_ORDER, P_TXT},
        {"заказ", MSG_LINKS_G_ORDER, P_TXT},
        {"注文", MSG_LINKS_G_ORDER, P_TXT},
        {"订单", MSG_LINKS_G_ORDER, P_TXT},
};

/* Anchor texts that say nothing about where they lead; the words around them are read instead. */
static const char *const msg_links_generic[] = {
        "click here",
        "here",
        "click",
        "this link",
        "link",
        "the link",
        "open",
        "open link",
        "continue",
        "button",
        "go",
        "hier",
        "hier klicken",
        "klicken sie hier",
        "diesen link",
        "link öffnen",
        "ici",
        "cliquez ici",
        "cliquez",
        "ce lien",
        "aquí",
        "aqui",
        "haz clic aquí",
        "haga clic aquí",
        "este enlace",
        "enlace",
        "qui",
        "clicca qui",
        "questo link",
        "clique aqui",
        "este link",
        "klik hier",
        "deze link",
        "tutaj",
        "kliknij tutaj",
        "här",
        "klicka här",
        "здесь",
        "сюда",
        "по ссылке",
        "ссылке",
        "ссылка",
        "こちら",
        "ここ",
        "こちらをクリック",
        "点击这里",
        "这里",
        "点击此处",
        "此处",
        "여기",
        "여기를 클릭",
};

#define F_TXT MSG_LINKS_F_TXT
#define F_URL MSG_LINKS_F_URL
#define F_CTX MSG_LINKS_F_CTX

/*
 * In order; the first rule whose `all` features are all present and none of
 * whose `none` features is present gives the kind. Anchor text comes before
 * the URL because it is what the reader is told the link does (a magic link
 * may well point at /verify?type=magiclink); the surrounding words are read
 * only for generic anchors and bare URLs. docs/ARCHITECTURE.md has this table.
 */
static const struct msg_links_rule {
	uint32_t all;
	uint32_t none;
	enum msg_link_kind kind;
} msg_links_rules[] = {
        {MSG_LINKS_F_IMG, 0, MSG_LINK_OTHER},
        {MSG_LINKS_F_HEADER, 0, MSG_LINK_UNSUBSCRIBE},
        {F_TXT(MSG_LINKS_G_UNSUB), 0, MSG_LINK_UNSUBSCRIBE},
        {F_TXT(MSG_LINKS_G_RESET), 0, MSG_LINK_RESET},
        {F_TXT(MSG_LINKS_G_VERIFY), F_TXT(MSG_LINKS_G_ORDER), MSG_LINK_VERIFY},
        {F_TXT(MSG_LINKS_G_LOGIN), 0, MSG_LINK_LOGIN},
        {F_URL(MSG_LINKS_G_UNSUB), 0, MSG_LINK_UNSUBSCRIBE},
        {F_URL(MSG_LINKS_G_MAGIC), 0, MSG_LINK_LOGIN},
        {F_URL(MSG_LINKS_G_RESET), 0, MSG_LINK_RESET},
        {F_URL(MSG_LINKS_G_VERIFY), F_URL(MSG_LINKS_G_ORDER), MSG_LINK_VERIFY},
        {F_URL(MSG_LINKS_G_LOGIN), 0, MSG_LINK_LOGIN},
        {F_URL(MSG_LINKS_G_AUTH) | F_URL(MSG_LINKS_G_TOKEN), 0, MSG_LINK_LOGIN},
        {MSG_LINKS_F_GENERIC | F_CTX(MSG_LINKS_G_UNSUB), 0, MSG_LINK_UNSUBSCRIBE},
        {MSG_LINKS_F_GENERIC | F_CTX(MSG_LINKS_G_RESET), 0, MSG_LINK_RESET},
        {MSG_LINKS_F_GENERIC | F_CTX(MSG_LINKS_G_VERIFY), F_CTX(MSG_LINKS_G_ORDER), MSG_LINK_VERIFY},
        {MSG_LINKS_F_GENERIC | F_CTX(MSG_LINKS_G_LOGIN), 0, MSG_LINK_LOGIN},
        {0, 0, MSG_LINK_OTHER},
};

#define MSG_LINKS_NPHRASES (sizeof msg_links_phrases / sizeof msg_links_phrases[0])

/*
 * Phrases by first byte, built once per extraction (a few hundred steps) so
 * that matching costs a few comparisons per word instead of a search per
 * phrase.
 */
struct msg_links_index {
	int16_t head[256];
	int16_t next[MSG_LINKS_NPHRASES];
	int16_t anywhere[MSG_LINKS_NPHRASES];
	size_t nanywhere;
	size_t len[MSG_LINKS_NPHRASES];
};

static void msg_links_index_build(struct msg_links_index *ix)
{
	memset(ix->head, 0xFF, sizeof ix->head);
	ix->nanywhere = 0;
	for (size_t i = MSG_LINKS_NPHRASES; i-- > 0;) {
		const unsigned char *s = (const unsigned char *)msg_links_phrases[i].s;
		ix->len[i] = strlen((const char *)s);
		if (s[0] >= 0xE0) {
			ix->anywhere[ix->nanywhere++] = (int16_t)i;
		} else {
			ix->next[i] = ix->head[s[0]];
			ix->head[s[0]] = (int16_t)i;
		}
	}
}

/* Group bits of the phrases (for `where`) found in the normalised string h. */
static uint32_t msg_links_match(const struct msg_links_index *ix, const struct buf *h, unsigned where)
{
	uint32_t groups = 0;
	const char *s = (const char *)h->data;
	size_t n = h->len;
	int wide = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if ((unsigned char)s[i] >= 0xE0)
			wide = 1;
		if (s[i] != ' ')
			continue;
		for (int16_t k = ix->head[(unsigned char)s[i + 1]]; k >= 0; k = ix->next[k]) {
			if ((msg_links_phrases[k].where & where) && ix->len[k] <= n - i - 1 &&
			    memcmp(s + i + 1, msg_links_phrases[k].s, ix->len[k]) == 0)
				groups |= msg_links_phrases[k].group;
		}
	}
	if (wide) {
		for (size_t j = 0; j < ix->nanywhere; j++) {
			int16_t k = ix->anywhere[j];
			if ((msg_links_phrases[k].where & where) && memmem(s, n, msg_links_phrases[k].s, ix->len[k]))
				groups |= msg_links_phrases[k].group;
		}
	}
	return groups;
}

static int msg_links_is_generic(const struct buf *h)
{
	const char *s = (const char *)h->data;
	if (h->len <= 2)
		return 1;
	if (strncmp(s, " http", 5) == 0 || strncmp(s, " www ", 5) == 0 || strncmp(s, " mailto ", 8) == 0)
		return 1;
	for (size_t i = 0; i < sizeof msg_links_generic / sizeof msg_links_generic[0]; i++) {
		size_t g = strlen(msg_links_generic[i]);
		if (h->len == g + 2 && memcmp(s + 1, msg_links_generic[i], g) == 0)
			return 1;
	}
	return 0;
}

/* Scratch space for classifying, reused across links. */
struct msg_links_cls {
	struct msg_links_index ix;
	struct buf norm;
	struct buf tmp;
};

/*
 * The words a generic anchor or a bare URL stands among: the text before it
 * on its line (back to the previous link), else the text after it on its
 * line (up to the next link), else the previous non-blank line if no link
 * is on it. t is the visible (or plain) text, [start, end) the link's span.
 */
static void msg_links_context(const char *t, size_t tlen, size_t start, size_t end, size_t prev_end, size_t next_start,
                              struct buf *out)
{
	buf_reset(out);
	if (start > tlen || end > tlen || end < start)
		return;
	size_t lim = start > MSG_LINKS_CONTEXT_MAX ? start - MSG_LINKS_CONTEXT_MAX : 0;
	size_t ls = start;
	while (ls > lim && t[ls - 1] != '\n')
		ls--;
	size_t b = (prev_end > ls && prev_end <= start) ? prev_end : ls;
	if (msg_links_has_letter(t + b, start - b)) {
		buf_append(out, t + b, start - b);
		return;
	}
	size_t elim = tlen - end > MSG_LINKS_CONTEXT_MAX ? end + MSG_LINKS_CONTEXT_MAX : tlen;
	if (next_start < elim && next_start >= end)
		elim = next_start;
	size_t e = end;
	while (e < elim && t[e] != '\n')
		e++;
	if (msg_links_has_letter(t + end, e - end)) {
		buf_append(out, t + end, e - end);
		return;
	}
	if (ls == 0 || t[ls - 1] != '\n')
		return;
	size_t pe = ls - 1; /* the '\n' ending the previous line */
	size_t plim = pe > MSG_LINKS_CONTEXT_MAX ? pe - MSG_LINKS_CONTEXT_MAX : 0;
	for (;;) {
		size_t ps = pe;
		while (ps > plim && t[ps - 1] != '\n')
			ps--;
		if (msg_links_has_letter(t + ps, pe - ps)) {
			if (prev_end <= ps)
				buf_append(out, t + ps, pe - ps);
			return;
		}
		if (ps <= plim || ps == 0)
			return;
		pe = ps - 1;
	}
}

/* The kind of a link whose normalised-anything lives in cls; ctx is read only for generic anchors. */
static enum msg_link_kind msg_links_classify(struct msg_links_cls *cls, const char *url, const char *text,
                                             const char *source, const char *ctx, size_t ctxlen)
{
	uint32_t f = 0;
	if (strcmp(source, "html:img") == 0)
		f |= MSG_LINKS_F_IMG;
	if (strcmp(source, "header:List-Unsubscribe") == 0)
		f |= MSG_LINKS_F_HEADER;

	msg_links_norm(text, strlen(text), &cls->norm);
	f |= F_TXT(msg_links_match(&cls->ix, &cls->norm, MSG_LINKS_W_TEXT));
	if (msg_links_is_generic(&cls->norm))
		f |= MSG_LINKS_F_GENERIC;

	/* The URL without its scheme: "https" says nothing, and "mailto" must not read as a word. */
	const char *u = url;
	const char *colon = strchr(url, ':');
	if (colon != NULL) {
		const char *p = url;
		while (p < colon && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '+' || *p == '-' ||
		                     *p == '.' || (*p >= '0' && *p <= '9')))
			p++;
		if (p == colon && p > url)
			u = colon + 1;
	}
	msg_links_unpercent(u, strlen(u), &cls->tmp);
	msg_links_norm((const char *)cls->tmp.data, cls->tmp.len, &cls->norm);
	f |= F_URL(msg_links_match(&cls->ix, &cls->norm, MSG_LINKS_W_URL));

	if ((f & MSG_LINKS_F_GENERIC) && ctx != NULL && ctxlen > 0) {
		msg_links_norm(ctx, ctxlen, &cls->norm);
		f |= F_CTX(msg_links_match(&cls->ix, &cls->norm, MSG_LINKS_W_TEXT));
	}
	for (size_t i = 0;; i++) {
		const struct msg_links_rule *r = &msg_links_rules[i];
		if ((f & r->all) == r->all && (f & r->none) == 0)
			return r->kind;
	}
}

/* ---- collection and de-duplication ---- */

struct msg_links_raw {
	char *url;
	char *text; /* NULL for anchors until their span is read */
	char *alt;  /* anchors: alt of the first image inside, for an anchor without text */
	const char *source;
	size_t start, end; /* span in the visible or plain text */
	int spanned;       /* 1 for anchors and text URLs; their spans mark where other links' context ends */
	enum msg_link_kind kind;
};

struct msg_links_rawv {
	struct msg_links_raw *v;
	size_t n, cap;
};

static struct msg_links_raw *msg_links_raw_add(struct msg_links_rawv *rv, char *url, const char *source)
{
	if (rv->n == rv->cap) {
		rv->cap = rv->cap ? rv->cap * 2 : 16;
		rv->v = xrealloc(rv->v, rv->cap * sizeof *rv->v);
	}
	struct msg_links_raw *r = &rv->v[rv->n++];
	memset(r, 0, sizeof *r);
	r->url = url;
	r->source = source;
	return r;
}

static void msg_links_rawv_free(struct msg_links_rawv *rv)
{
	for (size_t i = 0; i < rv->n; i++) {
		free(rv->v[i].url);
		free(rv->v[i].text);
		free(rv->v[i].alt);
	}
	free(rv->v);
}

/* Open addressing on (url, source): the output stays linear in the number of links. */
struct msg_links_set {
	size_t *slot; /* index + 1 into out->items; 0 is empty */
	size_t cap;
};

static uint64_t msg_links_hash(const char *url, const char *source)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (h ^ (uint64_t)(uintptr_t)source) * 1099511628211ull;
}

static size_t *msg_links_set_find(struct msg_links_set *s, const struct msg_links *out, const char *url,
                                  const char *source)
{
	size_t i = (size_t)msg_links_hash(url, source) & (s->cap - 1);
	for (;; i = (i + 1) & (s->cap - 1)) {
		if (s->slot[i] == 0)
			return &s->slot[i];
		const struct msg_link *l = &out->items[s->slot[i] - 1];
		if (l->source == source && strcmp(l->url, url) == 0)
			return &s->slot[i];
	}
}

/*
 * Moves the links of rv into out, keeping the first of each (url, source);
 * a later duplicate lends its text to a first one without text, and its
 * kind to a first one that came out as other.
 */
static void msg_links_emit(struct msg_links_rawv *rv, struct msg_links *out, struct msg_links_set *set, size_t *cap)
{
	for (size_t i = 0; i < rv->n; i++) {
		struct msg_links_raw *r = &rv->v[i];
		if ((out->n + 1) * 2 > set->cap) {
			size_t ncap = set->cap ? set->cap * 2 : 64;
			struct msg_links_set grown = {xcalloc(ncap, sizeof(size_t)), ncap};
			for (size_t k = 0; k < out->n; k++)
				*msg_links_set_find(&grown, out, out->items[k].url, out->items[k].source) = k + 1;
			free(set->slot);
			*set = grown;
		}
		size_t *slot = msg_links_set_find(set, out, r->url, r->source);
		if (*slot != 0) {
			struct msg_link *l = &out->items[*slot - 1];
			if (l->text[0] == '\0' && r->text != NULL && r->text[0] != '\0') {
				free(l->text);
				l->text = r->text;
				r->text = NULL;
			}
			if (l->kind == MSG_LINK_OTHER)
				l->kind = r->kind;
			continue;
		}
		if (out->n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			out->items = xrealloc(out->items, *cap * sizeof *out->items);
		}
		struct msg_link *l = &out->items[out->n];
		l->url = r->url;
		l->text = r->text != NULL ? r->text : xstrdup("");
		l->kind = r->kind;
		l->source = r->source;
		r->url = NULL;
		r->text = NULL;
		*slot = ++out->n;
	}
}

/* ---- URLs as found in attributes ---- */

/*
 * An attribute value as a browser would take it: C0 controls and spaces
 * trimmed at both ends, tabs and line breaks inside removed. NULL for what is
 * not a link: empty, a fragment of this document ("#top"), or a scheme that
 * carries code or data rather than an address (javascript:, vbscript:,
 * data:, cid: (a part of this message), about:).
 */
static char *msg_links_attr_url(const char *v)
{
	if (v == NULL)
		return NULL;
	size_t n = strlen(v);
	size_t b = 0;
	while (b < n && (unsigned char)v[b] <= ' ')
		b++;
	while (n > b && (unsigned char)v[n - 1] <= ' ')
		n--;
	if (b == n || v[b] == '#')
		return NULL;
	char *u = xmalloc(n - b + 1);
	size_t k = 0;
	for (size_t i = b; i < n; i++) {
		if (v[i] != '\t' && v[i] != '\n' && v[i] != '\r')
			u[k++] = v[i];
	}
	u[k] = '\0';
	static const char *const skip[] = {"javascript:", "vbscript:", "data:", "cid:", "about:"};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) {
		if (strncasecmp(u, skip[i], strlen(skip[i])) == 0) {
			free(u);
			return NULL;
		}
	}
	return u;
}

/* The first candidate of a srcset ("a.png 1x, b.png 2x" -> "a.png"). */
static char *msg_links_srcset_first(const char *v)
{
	if (v == NULL)
		return NULL;
	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r' || *v == '\f' || *v == ',')
		v++;
	size_t n = 0;
	while (v[n] != '\0' && v[n] != ' ' && v[n] != '\t' && v[n] != '\n' && v[n] != '\r' && v[n] != '\f')
		n++;
	while (n > 0 && v[n - 1] == ',')
		n--;
	if (n == 0)
		return NULL;
	char *s = xstrndup(v, n);
	char *u = msg_links_attr_url(s);
	free(s);
	return u;
}

/* Whitespace runs as one space, trimmed; for alt texts. */
static char *msg_links_collapse(const char *v)
{
	struct buf b;
	buf_init(&b);
	int space = 0;
	for (size_t i = 0; v[i] != '\0';) {
		size_t len;
		uint32_t c = msg_links_cp(v + i, strlen(v + i), &len);
		enum msg_links_cc cc = msg_links_class(c);
		if (cc == MSG_LINKS_CC_SPACE) {
			space = b.len > 0;
		} else if (cc != MSG_LINKS_CC_INVISIBLE) {
			if (space)
				buf_append_byte(&b, ' ');
			space = 0;
			buf_append(&b, v + i, len);
		}
		i += len;
	}
	char *s = msg_links_cut(b.len ? (const char *)b.data : "", b.len, MSG_LINKS_TEXT_MAX);
	buf_free(&b);
	return s;
}

/* ---- HTML: nesting kept within bounds before gumbo sees it ---- */

static int msg_links_tag_void(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_AREA:
	case GUMBO_TAG_BASE:
	case GUMBO_TAG_BASEFONT:
	case GUMBO_TAG_BGSOUND:
	case GUMBO_TAG_BR:
	case GUMBO_TAG_COL:
	case GUMBO_TAG_EMBED:
	case GUMBO_TAG_FRAME:
	case GUMBO_TAG_HR:
	case GUMBO_TAG_IMAGE:
	case GUMBO_TAG_IMG:
	case GUMBO_TAG_INPUT:
	case GUMBO_TAG_KEYGEN:
	case GUMBO_TAG_LINK:
	case GUMBO_TAG_META:
	case GUMBO_TAG_PARAM:
	case GUMBO_TAG_SOURCE:
	case GUMBO_TAG_TRACK:
	case GUMBO_TAG_WBR:
	case GUMBO_TAG_HTML:
	case GUMBO_TAG_HEAD:
	case GUMBO_TAG_BODY:
		return 1; /* html/head/body: opened once by the parser whatever the input says */
	default:
		return 0;
	}
}

/* Elements whose content is text up to their end tag. */
static int msg_links_tag_raw(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_STYLE:
	case GUMBO_TAG_XMP:
	case GUMBO_TAG_IFRAME:
	case GUMBO_TAG_NOEMBED:
	case GUMBO_TAG_NOFRAMES:
	case GUMBO_TAG_TEXTAREA:
	case GUMBO_TAG_TITLE:
		return 1;
	default:
		return 0;
	}
}

static int msg_links_tag_formatting(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_A:
	case GUMBO_TAG_B:
	case GUMBO_TAG_BIG:
	case GUMBO_TAG_CODE:
	case GUMBO_TAG_EM:
	case GUMBO_TAG_FONT:
	case GUMBO_TAG_I:
	case GUMBO_TAG_NOBR:
	case GUMBO_TAG_S:
	case GUMBO_TAG_SMALL:
	case GUMBO_TAG_STRIKE:
	case GUMBO_TAG_STRONG:
	case GUMBO_TAG_TT:
	case GUMBO_TAG_U:
		return 1;
	default:
		return 0;
	}
}

/* HTML's "special" elements: an end tag of any other element never closes across one. */
static int msg_links_tag_special(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_ADDRESS:
	case GUMBO_TAG_APPLET:
	case GUMBO_TAG_AREA:
	case GUMBO_TAG_ARTICLE:
	case GUMBO_TAG_ASIDE:
	case GUMBO_TAG_BASE:
	case GUMBO_TAG_BASEFONT:
	case GUMBO_TAG_BGSOUND:
	case GUMBO_TAG_BLOCKQUOTE:
	case GUMBO_TAG_BODY:
	case GUMBO_TAG_BR:
	case GUMBO_TAG_BUTTON:
	case GUMBO_TAG_CAPTION:
	case GUMBO_TAG_CENTER:
	case GUMBO_TAG_COL:
	case GUMBO_TAG_COLGROUP:
	case GUMBO_TAG_DD:
	case GUMBO_TAG_DETAILS:
	case GUMBO_TAG_DIR:
	case GUMBO_TAG_DIV:
	case GUMBO_TAG_DL:
	case GUMBO_TAG_DT:
	case GUMBO_TAG_EMBED:
	case GUMBO_TAG_FIELDSET:
	case GUMBO_TAG_FIGCAPTION:
	case GUMBO_TAG_FIGURE:
	case GUMBO_TAG_FOOTER:
	case GUMBO_TAG_FORM:
	case GUMBO_TAG_FRAME:
	case GUMBO_TAG_FRAMESET:
	case GUMBO_TAG_H1:
	case GUMBO_TAG_H2:
	case GUMBO_TAG_H3:
	case GUMBO_TAG_H4:
	case GUMBO_TAG_H5:
	case GUMBO_TAG_H6:
	case GUMBO_TAG_HEAD:
	case GUMBO_TAG_HEADER:
	case GUMBO_TAG_HGROUP:
	case GUMBO_TAG_HR:
	case GUMBO_TAG_HTML:
	case GUMBO_TAG_IFRAME:
	case GUMBO_TAG_IMG:
	case GUMBO_TAG_INPUT:
	case GUMBO_TAG_KEYGEN:
	case GUMBO_TAG_LI:
	case GUMBO_TAG_LINK:
	case GUMBO_TAG_LISTING:
	case GUMBO_TAG_MAIN:
	case GUMBO_TAG_MARQUEE:
	case GUMBO_TAG_MENU:
	case GUMBO_TAG_META:
	case GUMBO_TAG_NAV:
	case GUMBO_TAG_NOEMBED:
	case GUMBO_TAG_NOFRAMES:
	case GUMBO_TAG_NOSCRIPT:
	case GUMBO_TAG_OBJECT:
	case GUMBO_TAG_OL:
	case GUMBO_TAG_P:
	case GUMBO_TAG_PARAM:
	case GUMBO_TAG_PLAINTEXT:
	case GUMBO_TAG_PRE:
	case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_SECTION:
	case GUMBO_TAG_SELECT:
	case GUMBO_TAG_SOURCE:
	case GUMBO_TAG_STYLE:
	case GUMBO_TAG_SUMMARY:
	case GUMBO_TAG_TABLE:
	case GUMBO_TAG_TBODY:
	case GUMBO_TAG_TD:
	case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_TEXTAREA:
	case GUMBO_TAG_TFOOT:
	case GUMBO_TAG_TH:
	case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TITLE:
	case GUMBO_TAG_TR:
	case GUMBO_TAG_TRACK:
	case GUMBO_TAG_UL:
	case GUMBO_TAG_WBR:
	case GUMBO_TAG_XMP:
	case GUMBO_TAG_MI:
	case GUMBO_TAG_MO:
	case GUMBO_TAG_MN:
	case GUMBO_TAG_MS:
	case GUMBO_TAG_MTEXT:
	case GUMBO_TAG_ANNOTATION_XML:
	case GUMBO_TAG_FOREIGNOBJECT:
	case GUMBO_TAG_DESC:
		return 1;
	default:
		return 0;
	}
}

/* Where an end tag's search for its element stops in HTML's tree builder (made wider, never narrower). */
static int msg_links_tag_boundary(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_APPLET:
	case GUMBO_TAG_CAPTION:
	case GUMBO_TAG_HTML:
	case GUMBO_TAG_TABLE:
	case GUMBO_TAG_TD:
	case GUMBO_TAG_TH:
	case GUMBO_TAG_MARQUEE:
	case GUMBO_TAG_OBJECT:
	case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_OL:
	case GUMBO_TAG_UL:
	case GUMBO_TAG_BUTTON:
	case GUMBO_TAG_SELECT:
	case GUMBO_TAG_SVG:
	case GUMBO_TAG_MATH:
	case GUMBO_TAG_FOREIGNOBJECT:
	case GUMBO_TAG_DESC:
	case GUMBO_TAG_MI:
	case GUMBO_TAG_MO:
	case GUMBO_TAG_MN:
	case GUMBO_TAG_MS:
	case GUMBO_TAG_MTEXT:
	case GUMBO_TAG_ANNOTATION_XML:
		return 1;
	default:
		return 0;
	}
}

/* Start tags that close an open element of their own kind sitting on top ("<li>a<li>b"). */
static int msg_links_tag_closes_same(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_P:
	case GUMBO_TAG_LI:
	case GUMBO_TAG_DT:
	case GUMBO_TAG_DD:
	case GUMBO_TAG_OPTION:
	case GUMBO_TAG_TR:
	case GUMBO_TAG_TD:
	case GUMBO_TAG_TH:
		return 1;
	default:
		return 0;
	}
}

struct msg_links_open {
	GumboTag tag;
	uint32_t name; /* hash of the name, for unknown tags */
};

struct msg_links_depth {
	struct msg_links_open stack[MSG_LINKS_MAX_DEPTH + 1];
	size_t n;
	size_t detached; /* formatting elements closed under others: the parser reopens them */
	size_t detached_by_tag[GUMBO_TAG_LAST + 1];
};

static size_t msg_links_depth_of(const struct msg_links_depth *d)
{
	return d->n + d->detached;
}

/* Pops stack[i..]; formatting elements popped by another's end tag stay counted (they are reconstructed). */
static void msg_links_depth_pop_to(struct msg_links_depth *d, size_t i)
{
	for (size_t k = d->n; k-- > i + 1;) {
		if (msg_links_tag_formatting(d->stack[k].tag)) {
			d->detached++;
			d->detached_by_tag[d->stack[k].tag]++;
		}
	}
	d->n = i;
}

static int msg_links_same(const struct msg_links_open *o, GumboTag tag, uint32_t name)
{
	return o->tag == tag && (tag != GUMBO_TAG_UNKNOWN || o->name == name);
}

static void msg_links_depth_end(struct msg_links_depth *d, GumboTag tag, uint32_t name)
{
	/*
	 * An end tag of a special element closes up to its element unless a
	 * scope boundary is in the way; any other end tag (formatting ones go
	 * through the adoption agency, which may reshuffle but does not shrink
	 * the stack) closes only when no special element is in the way.
	 */
	int special = msg_links_tag_special(tag);
	for (size_t i = d->n; i-- > 0;) {
		if (msg_links_same(&d->stack[i], tag, name)) {
			msg_links_depth_pop_to(d, i);
			return;
		}
		GumboTag t = d->stack[i].tag;
		if (special ? msg_links_tag_boundary(t) : msg_links_tag_special(t))
			break;
	}
	if (tag != GUMBO_TAG_UNKNOWN && d->detached_by_tag[tag] > 0) {
		d->detached_by_tag[tag]--;
		d->detached--;
	}
}

/* 1 when the start tag is kept, 0 when it has to go to keep the depth bounded. */
static int msg_links_depth_start(struct msg_links_depth *d, GumboTag tag, uint32_t name)
{
	if (msg_links_tag_void(tag) || msg_links_tag_raw(tag))
		return 1;
	if (d->n > 0 && msg_links_tag_closes_same(tag) &&
	    (d->stack[d->n - 1].tag == tag ||
	     ((tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH) &&
	      (d->stack[d->n - 1].tag == GUMBO_TAG_TD || d->stack[d->n - 1].tag == GUMBO_TAG_TH))))
		d->n--;
	if (tag == GUMBO_TAG_A) {
		/* <a> closes an open <a> (the adoption agency) when nothing special is in between. */
		for (size_t i = d->n; i-- > 0;) {
			if (d->stack[i].tag == GUMBO_TAG_A) {
				msg_links_depth_pop_to(d, i);
				break;
			}
			if (msg_links_tag_special(d->stack[i].tag))
				break;
		}
		/*
		 * Anchors are kept beyond the bound: past it every other start tag
		 * is dropped, so each <a> closes the one before and they cannot pile up.
		 */
		if (d->n > MSG_LINKS_MAX_DEPTH)
			return 0;
	} else if (msg_links_depth_of(d) >= MSG_LINKS_MAX_DEPTH) {
		return 0;
	}
	d->stack[d->n].tag = tag;
	d->stack[d->n].name = name;
	d->n++;
	return 1;
}

static size_t msg_links_skip_comment(const char *s, size_t n, size_t i)
{
	/* s[i..] starts with "<!--"; ends at "-->" or "--!>", and "<!-->" / "<!--->" end at once. */
	size_t j = i + 4;
	if (j < n && s[j] == '>')
		return j + 1;
	if (j + 1 < n && s[j] == '-' && s[j + 1] == '>')
		return j + 2;
	for (; j + 2 < n; j++) {
		if (s[j] == '-' && s[j + 1] == '-') {
			if (s[j + 2] == '>')
				return j + 3;
			if (j + 3 < n && s[j + 2] == '!' && s[j + 3] == '>')
				return j + 4;
		}
	}
	return n;
}

/* Position after a tag's '>' (attribute values in quotes may hold '>'), or n. */
static size_t msg_links_skip_attrs(const char *s, size_t n, size_t j)
{
	while (j < n) {
		char c = s[j];
		if (c == '>')
			return j + 1;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '/') {
			j++;
			continue;
		}
		/* attribute name (a leading '=' belongs to it) */
		j++;
		while (j < n && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' && s[j] != '\f' &&
		       s[j] != '/' && s[j] != '>' && s[j] != '=')
			j++;
		size_t k = j;
		while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r' || s[k] == '\f'))
			k++;
		if (k >= n || s[k] != '=')
			continue;
		k++;
		while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r' || s[k] == '\f'))
			k++;
		if (k < n && (s[k] == '"' || s[k] == '\'')) {
			const char *q = memchr(s + k + 1, s[k], n - k - 1);
			if (q == NULL)
				return n;
			j = (size_t)(q - s) + 1;
		} else {
			while (k < n && s[k] != ' ' && s[k] != '\t' && s[k] != '\n' && s[k] != '\r' && s[k] != '\f' &&
			       s[k] != '>')
				k++;
			j = k;
		}
	}
	return n;
}

/* Position of the "</name" that ends a raw-text element's content, or n. */
static size_t msg_links_skip_raw(const char *s, size_t n, size_t j, const char *name, size_t nlen)
{
	for (; j + 2 + nlen <= n; j++) {
		const char *lt = memchr(s + j, '<', n - j);
		if (lt == NULL)
			return n;
		j = (size_t)(lt - s);
		if (j + 2 + nlen > n)
			return n;
		if (s[j + 1] == '/' && strncasecmp(s + j + 2, name, nlen) == 0) {
			char c = j + 2 + nlen < n ? s[j + 2 + nlen] : '>';
			if (c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')
				return j;
		}
	}
	return n;
}

/*
 * gumbo 0.10's tree builder costs O(depth) per tag. This pass follows the
 * tags with a deliberately pessimistic model of the parser's stack of open
 * elements (it pops less than the parser would, and counts formatting
 * elements the parser may reopen) and drops the start tags that would take
 * it past MSG_LINKS_MAX_DEPTH. Text, links and images are all kept; only
 * structure beyond the bound is lost. Returns NULL when nothing was dropped
 * (the common case: no copy), else the copy to parse.
 */
static char *msg_links_flatten(const char *s, size_t n, size_t *outlen)
{
	struct msg_links_depth *d = xcalloc(1, sizeof *d);
	struct buf out;
	buf_init(&out);
	size_t copied = 0;
	int dropped = 0;
	size_t i = 0;
	while (i < n) {
		const char *lt = memchr(s + i, '<', n - i);
		if (lt == NULL)
			break;
		i = (size_t)(lt - s);
		if (i + 1 >= n)
			break;
		char c = s[i + 1];
		if (c == '!') {
			if (i + 3 < n && s[i + 2] == '-' && s[i + 3] == '-') {
				i = msg_links_skip_comment(s, n, i);
			} else {
				const char *gt = memchr(s + i, '>', n - i);
				i = gt ? (size_t)(gt - s) + 1 : n;
			}
			continue;
		}
		if (c == '?') {
			const char *gt = memchr(s + i, '>', n - i);
			i = gt ? (size_t)(gt - s) + 1 : n;
			continue;
		}
		int end = c == '/';
		size_t ns = i + 1 + (size_t)end;
		if (ns >= n || !((s[ns] >= 'a' && s[ns] <= 'z') || (s[ns] >= 'A' && s[ns] <= 'Z'))) {
			if (end) { /* "</ " and the like: a bogus comment up to '>' */
				const char *gt = memchr(s + i, '>', n - i);
				i = gt ? (size_t)(gt - s) + 1 : n;
			} else {
				i++;
			}
			continue;
		}
		size_t ne = ns;
		while (ne < n && s[ne] != ' ' && s[ne] != '\t' && s[ne] != '\n' && s[ne] != '\r' && s[ne] != '\f' &&
		       s[ne] != '/' && s[ne] != '>')
			ne++;
		GumboTag tag = gumbo_tagn_enum(s + ns, (unsigned)(ne - ns));
		uint32_t name = 2166136261u;
		if (tag == GUMBO_TAG_UNKNOWN) {
			for (size_t k = ns; k < ne; k++) {
				char lc = (s[k] >= 'A' && s[k] <= 'Z') ? (char)(s[k] + 32) : s[k];
				name = (name ^ (unsigned char)lc) * 16777619u;
			}
		}
		size_t te = msg_links_skip_attrs(s, n, ne);
		if (end) {
			msg_links_depth_end(d, tag, name);
			i = te;
			continue;
		}
		if (tag == GUMBO_TAG_PLAINTEXT)
			break; /* the rest of the document is text */
		if (!msg_links_depth_start(d, tag, name)) {
			buf_append(&out, s + copied, i - copied);
			copied = te;
			dropped = 1;
			i = te;
			continue;
		}
		i = te;
		if (msg_links_tag_raw(tag))
			i = msg_links_skip_raw(s, n, i, s + ns, ne - ns);
	}
	free(d);
	if (!dropped) {
		buf_free(&out);
		return NULL;
	}
	buf_append(&out, s + copied, n - copied);
	*outlen = out.len;
	buf_cstr(&out);
	return (char *)buf_steal(&out, outlen);
}

/* ---- HTML: one walk for visible text and links ---- */

struct msg_links_walk {
	struct buf text;
	int pending;                  /* 0 nothing, 1 a space, 2 a line break before the next visible character */
	int pre;                      /* inside <pre>: line breaks in text are kept */
	struct msg_links_rawv *links; /* NULL when only the text is wanted */
};

static void msg_links_walk_break(struct msg_links_walk *w)
{
	if (w->text.len > 0 && w->text.data[w->text.len - 1] != '\n')
		w->pending = 2;
}

static void msg_links_walk_text(struct msg_links_walk *w, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t len;
		uint32_t c = msg_links_cp(s + i, n - i, &len);
		enum msg_links_cc cc = msg_links_class(c);
		if (cc == MSG_LINKS_CC_SPACE) {
			if (w->pre && c == '\n')
				msg_links_walk_break(w);
			else if (w->text.len > 0 && w->pending == 0 && w->text.data[w->text.len - 1] != '\n')
				w->pending = 1;
		} else if (cc != MSG_LINKS_CC_INVISIBLE) {
			if (w->pending == 2)
				buf_append_byte(&w->text, '\n');
			else if (w->pending == 1)
				buf_append_byte(&w->text, ' ');
			w->pending = 0;
			buf_append(&w->text, s + i, len);
		}
		i += len;
	}
}

static int msg_links_tag_hidden(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_HEAD:
	case GUMBO_TAG_TITLE:
	case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_STYLE:
	case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_NOSCRIPT:
	case GUMBO_TAG_IFRAME:
	case GUMBO_TAG_NOEMBED:
	case GUMBO_TAG_NOFRAMES:
		return 1;
	default:
		return 0;
	}
}

/* Elements that start and end a line of visible text. */
static int msg_links_tag_block(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_ADDRESS:
	case GUMBO_TAG_ARTICLE:
	case GUMBO_TAG_ASIDE:
	case GUMBO_TAG_BLOCKQUOTE:
	case GUMBO_TAG_CAPTION:
	case GUMBO_TAG_CENTER:
	case GUMBO_TAG_DD:
	case GUMBO_TAG_DETAILS:
	case GUMBO_TAG_DIR:
	case GUMBO_TAG_DIV:
	case GUMBO_TAG_DL:
	case GUMBO_TAG_DT:
	case GUMBO_TAG_FIELDSET:
	case GUMBO_TAG_FIGCAPTION:
	case GUMBO_TAG_FIGURE:
	case GUMBO_TAG_FOOTER:
	case GUMBO_TAG_FORM:
	case GUMBO_TAG_H1:
	case GUMBO_TAG_H2:
	case GUMBO_TAG_H3:
	case GUMBO_TAG_H4:
	case GUMBO_TAG_H5:
	case GUMBO_TAG_H6:
	case GUMBO_TAG_HEADER:
	case GUMBO_TAG_HGROUP:
	case GUMBO_TAG_HR:
	case GUMBO_TAG_LEGEND:
	case GUMBO_TAG_LI:
	case GUMBO_TAG_LISTING:
	case GUMBO_TAG_MAIN:
	case GUMBO_TAG_MENU:
	case GUMBO_TAG_NAV:
	case GUMBO_TAG_OL:
	case GUMBO_TAG_OPTION:
	case GUMBO_TAG_P:
	case GUMBO_TAG_PLAINTEXT:
	case GUMBO_TAG_PRE:
	case GUMBO_TAG_SECTION:
	case GUMBO_TAG_SUMMARY:
	case GUMBO_TAG_TABLE:
	case GUMBO_TAG_TBODY:
	case GUMBO_TAG_TFOOT:
	case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TR:
	case GUMBO_TAG_UL:
	case GUMBO_TAG_XMP:
		return 1;
	default:
		return 0;
	}
}

static const char *msg_links_attr(const GumboElement *e, const char *name)
{
	const GumboAttribute *a = gumbo_get_attribute(&e->attributes, name);
	return a != NULL ? a->value : NULL;
}

/* Entering an element: links are noted; returns the index of an anchor opened here, or -1. */
static long msg_links_walk_enter(struct msg_links_walk *w, const GumboElement *e, long anchor)
{
	if (e->tag == GUMBO_TAG_BR) {
		msg_links_walk_break(w);
		return -1;
	}
	if (msg_links_tag_block(e->tag))
		msg_links_walk_break(w);
	if (e->tag == GUMBO_TAG_TD || e->tag == GUMBO_TAG_TH) {
		if (w->text.len > 0 && w->pending == 0 && w->text.data[w->text.len - 1] != '\n')
			w->pending = 1;
	}
	if (e->tag == GUMBO_TAG_PRE || e->tag == GUMBO_TAG_LISTING)
		w->pre++;
	if (w->links == NULL)
		return -1;
	if (e->tag == GUMBO_TAG_A) {
		char *url = msg_links_attr_url(msg_links_attr(e, "href"));
		if (url == NULL)
			return -1;
		/* a line break due before the anchor goes first, so that its span starts its line */
		if (w->pending == 2) {
			buf_append_byte(&w->text, '\n');
			w->pending = 0;
		}
		struct msg_links_raw *r = msg_links_raw_add(w->links, url, "html:a");
		r->start = w->text.len;
		r->spanned = 1;
		return (long)(w->links->n - 1);
	}
	if (e->tag == GUMBO_TAG_AREA) {
		char *url = msg_links_attr_url(msg_links_attr(e, "href"));
		if (url != NULL) {
			const char *alt = msg_links_attr(e, "alt");
			struct msg_links_raw *r = msg_links_raw_add(w->links, url, "html:area");
			r->text = msg_links_collapse(alt ? alt : "");
			r->start = r->end = w->text.len;
		}
		return -1;
	}
	if (e->tag == GUMBO_TAG_IMG || e->tag == GUMBO_TAG_IMAGE) {
		const char *alt = msg_links_attr(e, "alt");
		if (anchor >= 0 && alt != NULL && w->links->v[anchor].alt == NULL) {
			char *a = msg_links_collapse(alt);
			if (a[0] != '\0')
				w->links->v[anchor].alt = a;
			else
				free(a);
		}
		char *url = msg_links_attr_url(msg_links_attr(e, "src"));
		if (url == NULL)
			url = msg_links_srcset_first(msg_links_attr(e, "srcset"));
		if (url != NULL) {
			struct msg_links_raw *r = msg_links_raw_add(w->links, url, "html:img");
			r->text = msg_links_collapse(alt ? alt : "");
			r->start = r->end = w->text.len;
		}
	}
	return -1;
}

static void msg_links_walk_leave(struct msg_links_walk *w, const GumboElement *e, long opened)
{
	if (msg_links_tag_block(e->tag))
		msg_links_walk_break(w);
	if (e->tag == GUMBO_TAG_PRE || e->tag == GUMBO_TAG_LISTING)
		w->pre--;
	if (opened >= 0)
		w->links->v[opened].end = w->text.len;
}

struct msg_links_frame {
	const GumboNode *node;
	unsigned int next;
	long opened; /* anchor opened by this element, or -1 */
	long anchor; /* innermost open anchor, or -1 */
};

/* Depth-first, with an explicit stack: no recursion however the tree looks. */
static void msg_links_walk_tree(struct msg_links_walk *w, const GumboNode *root)
{
	size_t cap = 64, n = 0;
	struct msg_links_frame *st = xmalloc(cap * sizeof *st);
	st[n++] = (struct msg_links_frame){root, 0, -1, -1};
	while (n > 0) {
		struct msg_links_frame *f = &st[n - 1];
		const GumboNode *node = f->node;
		const GumboVector *children;
		if (node->type == GUMBO_NODE_DOCUMENT) {
			children = &node->v.document.children;
		} else {
			children = &node->v.element.children;
		}
		if (f->next >= children->length) {
			if (node->type == GUMBO_NODE_ELEMENT)
				msg_links_walk_leave(w, &node->v.element, f->opened);
			n--;
			continue;
		}
		const GumboNode *c = children->data[f->next++];
		long anchor = f->anchor;
		switch (c->type) {
		case GUMBO_NODE_TEXT:
		case GUMBO_NODE_CDATA:
		case GUMBO_NODE_WHITESPACE:
			msg_links_walk_text(w, c->v.text.text);
			break;
		case GUMBO_NODE_ELEMENT: {
			if (msg_links_tag_hidden(c->v.element.tag))
				break;
			long opened = msg_links_walk_enter(w, &c->v.element, anchor);
			if (n == cap) {
				cap *= 2;
				st = xrealloc(st, cap * sizeof *st);
			}
			st[n++] = (struct msg_links_frame){c, 0, opened, opened >= 0 ? opened : anchor};
			break;
		}
		default: /* comments, templates */
			break;
		}
	}
	free(st);
}

static void msg_links_walk_html(struct msg_links_walk *w, const char *html)
{
	size_t n = strlen(html);
	size_t flen = 0;
	char *flat = msg_links_flatten(html, n, &flen);
	GumboOptions opt = kGumboDefaultOptions;
	opt.max_errors = 0; /* we never read them; do not spend memory on them */
	GumboOutput *g = gumbo_parse_with_options(&opt, flat ? flat : html, flat ? flen : n);
	msg_links_walk_tree(w, g->document);
	gumbo_destroy_output(&opt, g);
	free(flat);
	while (w->text.len > 0 && w->text.data[w->text.len - 1] == '\n')
		w->text.len--;
	buf_cstr(&w->text);
}

char *msg_html_text(const char *html)
{
	struct msg_links_walk w = {.pending = 0, .pre = 0, .links = NULL};
	buf_init(&w.text);
	if (html != NULL)
		msg_links_walk_html(&w, html);
	buf_cstr(&w.text);
	return (char *)buf_steal(&w.text, NULL);
}

/* ---- plain text ---- */

/* May a URL in plain text go on over the character c? */
static int msg_links_url_char(uint32_t c)
{
	if (c < 0x80)
		return c > ' ' && c != 0x7F && c != '<' && c != '>' && c != '"' && c != '`';
	enum msg_links_cc cc = msg_links_class(c);
	return cc == MSG_LINKS_CC_LETTER || cc == MSG_LINKS_CC_DIGIT;
}

static int msg_links_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Trailing punctuation that ends a sentence rather than a URL; closing brackets only when unbalanced. */
static size_t msg_links_trim_url(const char *u, size_t n)
{
	for (;;) {
		if (n == 0)
			return 0;
		char c = u[n - 1];
		if (strchr(".,:;!?'\"*_~", c) != NULL) {
			n--;
			continue;
		}
		char open = c == ')' ? '(' : c == ']' ? '[' : c == '}' ? '{' : 0;
		if (open) {
			long depth = 0;
			for (size_t i = 0; i < n; i++)
				depth += (u[i] == open) - (u[i] == c);
			if (depth < 0) {
				n--;
				continue;
			}
		}
		return n;
	}
}

/*
 * http://, https:// and www. URLs in plain text. <https://...> takes
 * everything up to '>' with whitespace removed (RFC 3986 appendix C); a bare
 * URL ends at whitespace, '<', '>', '"', or a character of a script written
 * without spaces (so Japanese text right after a URL is not taken in), and
 * loses trailing sentence punctuation.
 */
static void msg_links_scan_text(const char *t, struct msg_links_rawv *rv)
{
	size_t n = strlen(t);
	size_t i = 0;
	while (i < n) {
		const char *p = t + i;
		size_t plen = 0;
		if ((*p == 'h' || *p == 'H') && (i == 0 || !msg_links_alnum(t[i - 1]))) {
			if (strncasecmp(p, "https://", 8) == 0)
				plen = 8;
			else if (strncasecmp(p, "http://", 7) == 0)
				plen = 7;
		} else if ((*p == 'w' || *p == 'W') && strncasecmp(p, "www.", 4) == 0 && i + 4 < n &&
		           msg_links_alnum(t[i + 4]) &&
		           (i == 0 || !(msg_links_alnum(t[i - 1]) || strchr("./@-_:", t[i - 1]) != NULL))) {
			plen = 4;
		}
		if (plen == 0) {
			i++;
			continue;
		}
		size_t s = i, e;
		char *url = NULL;
		if (i > 0 && t[i - 1] == '<') {
			size_t lim = n - i > MSG_LINKS_ANGLE_MAX ? i + MSG_LINKS_ANGLE_MAX : n;
			size_t k = i;
			while (k < lim && t[k] != '>' && t[k] != '<')
				k++;
			if (k < lim && t[k] == '>') {
				struct buf b;
				buf_init(&b);
				for (size_t j = i; j < k; j++) {
					if ((unsigned char)t[j] > ' ')
						buf_append_byte(&b, (uint8_t)t[j]);
				}
				url = msg_links_valid_copy(b.len ? (const char *)b.data : "", b.len);
				buf_free(&b);
				e = k;
			}
		}
		if (url == NULL) {
			e = i + plen;
			while (e < n) {
				size_t len;
				uint32_t c = msg_links_cp(t + e, n - e, &len);
				if (!msg_links_url_char(c))
					break;
				e += len;
			}
			e = s + msg_links_trim_url(t + s, e - s);
			if (e > s + plen &&
			    (msg_links_alnum(t[s + plen]) || (unsigned char)t[s + plen] >= 0x80 || t[s + plen] == '['))
				url = msg_links_valid_copy(t + s, e - s);
		}
		if (url == NULL || url[plen] == '\0') {
			free(url);
			i = s + plen;
			continue;
		}
		struct msg_links_raw *r = msg_links_raw_add(rv, url, "text");
		r->start = s;
		r->end = e;
		r->spanned = 1;
		i = e > s + plen ? e : s + plen;
	}
}

/* ---- List-Unsubscribe (RFC 2369): <...> items, http(s) and mailto ---- */

static void msg_links_scan_header(const char *h, struct msg_links_rawv *rv)
{
	const char *p = h;
	for (;;) {
		const char *lt = strchr(p, '<');
		if (lt == NULL)
			return;
		const char *gt = strchr(lt + 1, '>');
		if (gt == NULL)
			return;
		struct buf b;
		buf_init(&b);
		for (const char *q = lt + 1; q < gt; q++) {
			if ((unsigned char)*q > ' ')
				buf_append_byte(&b, (uint8_t)*q);
		}
		buf_cstr(&b);
		const char *u = (const char *)b.data;
		if (strncasecmp(u, "https://", 8) == 0 || strncasecmp(u, "http://", 7) == 0 ||
		    strncasecmp(u, "mailto:", 7) == 0)
			msg_links_raw_add(rv, msg_links_valid_copy(u, b.len), "header:List-Unsubscribe");
		buf_free(&b);
		p = gt + 1;
	}
}

/* ---- the whole ---- */

/* Kinds for links whose spans lie in t (visible or plain text); context read for generic ones. */
static void msg_links_classify_all(struct msg_links_cls *cls, struct msg_links_rawv *rv, const char *t)
{
	size_t tlen = t != NULL ? strlen(t) : 0;
	/* next_start[i]: start of the next spanned link after i (a backward pass) */
	size_t *next = xmalloc((rv->n + 1) * sizeof *next);
	size_t after = SIZE_MAX;
	for (size_t i = rv->n; i-- > 0;) {
		next[i] = after;
		if (rv->v[i].spanned)
			after = rv->v[i].start;
	}
	size_t prev_end = 0;
	struct buf ctx;
	buf_init(&ctx);
	for (size_t i = 0; i < rv->n; i++) {
		struct msg_links_raw *r = &rv->v[i];
		if (r->text == NULL) {
			/* an anchor: its visible text, else the alt of an image inside */
			size_t s = r->start, e = r->end <= tlen ? r->end : tlen;
			while (s < e && (t[s] == ' ' || t[s] == '\n'))
				s++;
			while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\n'))
				e--;
			if (s < e) {
				char *x = msg_links_cut(t + s, e - s, MSG_LINKS_TEXT_MAX);
				for (char *q = x; *q; q++) {
					if (*q == '\n')
						*q = ' ';
				}
				r->text = x;
			} else {
				r->text = r->alt != NULL ? r->alt : xstrdup("");
				r->alt = NULL;
			}
		}
		if (t != NULL && r->spanned)
			msg_links_context(t, tlen, r->start, r->end, prev_end, next[i], &ctx);
		else
			buf_reset(&ctx);
		r->kind = msg_links_classify(cls, r->url, r->text, r->source, (const char *)ctx.data, ctx.len);
		if (r->spanned)
			prev_end = r->end;
	}
	buf_free(&ctx);
	free(next);
}

void msg_links_extract(const char *html, const char *text, const char *list_unsubscribe, struct msg_links *out)
{
	out->items = NULL;
	out->n = 0;
	size_t cap = 0;
	struct msg_links_set set = {NULL, 0};
	struct msg_links_cls *cls = xmalloc(sizeof *cls);
	msg_links_index_build(&cls->ix);
	buf_init(&cls->norm);
	buf_init(&cls->tmp);

	if (html != NULL) {
		struct msg_links_rawv rv = {NULL, 0, 0};
		struct msg_links_walk w = {.pending = 0, .pre = 0, .links = &rv};
		buf_init(&w.text);
		msg_links_walk_html(&w, html);
		msg_links_classify_all(cls, &rv, (const char *)w.text.data);
		msg_links_emit(&rv, out, &set, &cap);
		msg_links_rawv_free(&rv);
		buf_free(&w.text);
	}
	if (text != NULL) {
		struct msg_links_rawv rv = {NULL, 0, 0};
		msg_links_scan_text(text, &rv);
		for (size_t i = 0; i < rv.n; i++)
			rv.v[i].text = xstrdup("");
		msg_links_classify_all(cls, &rv, text);
		msg_links_emit(&rv, out, &set, &cap);
		msg_links_rawv_free(&rv);
	}
	if (list_unsubscribe != NULL) {
		struct msg_links_rawv rv = {NULL, 0, 0};
		msg_links_scan_header(list_unsubscribe, &rv);
		for (size_t i = 0; i < rv.n; i++)
			rv.v[i].text = xstrdup("");
		msg_links_classify_all(cls, &rv, NULL);
		msg_links_emit(&rv, out, &set, &cap);
		msg_links_rawv_free(&rv);
	}
	free(set.slot);
	buf_free(&cls->norm);
	buf_free(&cls->tmp);
	free(cls);
}

void msg_links_free(struct msg_links *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].url);
		free(l->items[i].text);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static const char *const msg_links_kind_names[] = {
        [MSG_LINK_RESET] = "reset", [MSG_LINK_VERIFY] = "verify",
        [MSG_LINK_LOGIN] = "login", [MSG_LINK_UNSUBSCRIBE] = "unsubscribe",
        [MSG_LINK_OTHER] = "other",
};

const char *msg_link_kind_name(enum msg_link_kind kind)
{
	if ((unsigned)kind > MSG_LINK_OTHER)
		return "other";
	return msg_links_kind_names[kind];
}

int msg_link_kind_parse(const char *name, enum msg_link_kind *out)
{
	if (name == NULL)
		return -1;
	for (int k = MSG_LINK_RESET; k <= MSG_LINK_OTHER; k++) {
		if (strcasecmp(name, msg_links_kind_names[k]) == 0) {
			*out = (enum msg_link_kind)k;
			return 0;
		}
	}
	return -1;
}
