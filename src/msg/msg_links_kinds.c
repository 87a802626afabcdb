/*
 * msg_links_kinds: what a link is for (reset, verify, login, unsubscribe,
 * other). Part of msg_links (see msg_links.h, msg_links_internal.h).
 *
 * A link's features are found once: phrases of msg_links_phrases[] in its
 * anchor text, in its URL (percent-decoded, without the scheme) and, when
 * the anchor text says nothing ("click here", the URL itself), in the words
 * around it. The first row of msg_links_rules[] whose features are all
 * present gives the kind. Phrases are compared in a normal form
 * (msg_links_norm), so case, punctuation and invisible characters do not
 * matter. docs/ARCHITECTURE.md has the rule table.
 *
 * Promises: the cost is linear in the text looked at, of which at most
 * MSG_LINKS_CONTEXT_MAX bytes around a link. Does not: follow or fetch the
 * URL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_links_internal.h"

/* Bytes of surrounding text read to classify a generic anchor or a bare URL. */
#define MSG_LINKS_CONTEXT_MAX 200

/* ---- the normal form ---- */

/* utf8_lower(), and full-width digits as ASCII ones. */
static uint32_t msg_links_fold(uint32_t c)
{
	if (c >= 0xFF10 && c <= 0xFF19)
		return c - 0xFF10 + '0';
	return utf8_lower(c);
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
		uint32_t c;
		size_t len = utf8_decode((const unsigned char *)s + i, n - i, &c);
		i += len;
		switch (msg_links_class(c)) {
		case UTF8_CC_INVISIBLE:
			break;
		case UTF8_CC_SPACE:
		case UTF8_CC_PUNCT:
			if (out->data[out->len - 1] != ' ')
				buf_append_byte(out, ' ');
			break;
		default:
			utf8_append(out, msg_links_fold(c));
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

struct msg_links_cls {
	struct msg_links_index ix;
	struct buf norm;
	struct buf tmp;
};

struct msg_links_cls *msg_links_cls_new(void)
{
	struct msg_links_cls *cls = xmalloc(sizeof *cls);
	msg_links_index_build(&cls->ix);
	buf_init(&cls->norm);
	buf_init(&cls->tmp);
	return cls;
}

void msg_links_cls_free(struct msg_links_cls *cls)
{
	buf_free(&cls->norm);
	buf_free(&cls->tmp);
	free(cls);
}

/*
 * The words a generic anchor or a bare URL stands among: the text before it
 * on its line (back to the previous link), else the text after it on its
 * line (up to the next link), else the previous non-blank line if no link
 * is on it. t is the visible (or plain) text, [start, end) the link's span.
 */
void msg_links_context(const char *t, size_t tlen, size_t start, size_t end, size_t prev_end, size_t next_start,
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
enum msg_link_kind msg_links_classify(struct msg_links_cls *cls, const char *url, const char *text, const char *source,
                                      const char *ctx, size_t ctxlen)
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

/* ---- names ---- */

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
