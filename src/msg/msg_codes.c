/*
 * msg_codes: one-time codes in a message, ranked. See msg_codes.h.
 *
 * Each source (the text body, the visible text of the HTML body, the
 * subject) is cut into tokens: digit runs, words (Latin, Greek, Cyrillic;
 * letters and digits together), runs of ideographic script (CJK, kana,
 * hangul: no spaces there, so a code word is found inside the run) and
 * single punctuation marks. Candidates are digit runs, grouped digits and,
 * next to a code word, alphanumeric tokens. A candidate is dropped by the
 * exclusion rules (dates, amounts, phone numbers, labelled numbers ...) and
 * otherwise scored by msg_codes_weights; what scores under
 * MSG_CODES_MIN_SCORE is left out. docs/ARCHITECTURE.md has both tables.
 *
 * Promises: strings are valid UTF-8, values are ASCII letters and digits,
 * the cost is linear in the input. Does not: read HTML (callers pass
 * msg_html_text), guess codes spelled out in words, or look into images.
 */
#include "msg/msg_codes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

/* A candidate scoring under this (in points of 100) is not reported. */
#define MSG_CODES_MIN_POINTS 30
/* Words searched either side of a candidate for a label. */
#define MSG_CODES_WINDOW 8
/* An ID label (order, invoice ...) labels a number only this close. */
#define MSG_CODES_ID_REACH 3
/* Tokens (punctuation included) a label walk may pass over in all: bounds the work per candidate. */
#define MSG_CODES_WALK_STEPS 48
/* Bytes looked at around a candidate for URLs, identifiers and telephone numbers. */
#define MSG_CODES_RUN_MAX   128
#define MSG_CODES_PHONE_MAX 32
/* A line of at most this many words that ends in a label labels the line below. */
#define MSG_CODES_LABEL_LINE_WORDS 3
/* An alphanumeric token is a candidate only with a code word this close (words before / after). */
#define MSG_CODES_ALNUM_BEFORE 4
#define MSG_CODES_ALNUM_AFTER  3
/*
 * Bytes of each source read (subject, text, HTML text): one-time codes sit at
 * the top of short messages, and the token array costs about 64 bytes per word.
 */
#define MSG_CODES_SOURCE_MAX  (1024 * 1024)
#define MSG_CODES_SUBJECT_MAX 2048
/* Bytes of context kept. */
#define MSG_CODES_CONTEXT_MAX 200
#define MSG_CODES_MIN_LEN     4
#define MSG_CODES_MAX_LEN     10

/*
 * Score, in points of 100: the label term is the best one found, the others
 * add up. The largest possible sum is 100, so score = points / 100.
 */
enum {
	MSG_CODES_W_BEFORE_NEAR = 40, /* code word 1-3 words before, same line */
	MSG_CODES_W_BEFORE_FAR = 30,  /* 4-8 words before */
	MSG_CODES_W_AFTER_NEAR = 35,  /* 1-3 words after ("123456 is your code") */
	MSG_CODES_W_AFTER_FAR = 25,
	MSG_CODES_W_PREV_NEAR = 35, /* at the end of the line above ("Your code:" / "123456") */
	MSG_CODES_W_PREV_FAR = 25,
	MSG_CODES_W_NEXT = 25,    /* on the line below */
	MSG_CODES_W_ALONE = 15,   /* alone on its line (HTML codes sit in their own block) */
	MSG_CODES_W_EMPHASIS = 5, /* *123456*, [123456], 「123456」 */
	MSG_CODES_W_SUBJECT_VALUE = 15,
	MSG_CODES_W_SUBJECT_WORD = 10,
	MSG_CODES_W_LEN6 = 10,
	MSG_CODES_W_LEN48 = 6,
	MSG_CODES_W_LEN57 = 4,
	MSG_CODES_W_GROUPED = 5, /* 123-456, 123 456: a code laid out to be typed */
};
/* A weak code word (verification, security, token ...) earns half. */

/* ---- characters (same shape as msg_links.c) ---- */

enum msg_codes_cc {
	MSG_CODES_CC_SPACE,
	MSG_CODES_CC_INVISIBLE,
	MSG_CODES_CC_PUNCT,
	MSG_CODES_CC_DIGIT,
	MSG_CODES_CC_LETTER,
	MSG_CODES_CC_IDEO
};

static uint32_t msg_codes_cp(const char *p, size_t avail, size_t *len)
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

static enum msg_codes_cc msg_codes_class(uint32_t c)
{
	if (c < 0x80) {
		if (c >= '0' && c <= '9')
			return MSG_CODES_CC_DIGIT;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return MSG_CODES_CC_LETTER;
		if (c <= ' ' || c == 0x7F)
			return MSG_CODES_CC_SPACE;
		return MSG_CODES_CC_PUNCT;
	}
	if (c < 0xA0 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202F || c == 0x205F || c == 0x3000)
		return MSG_CODES_CC_SPACE;
	if (c == 0xAD || c == 0x34F || (c >= 0x200B && c <= 0x200F) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF ||
	    (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0000 && c <= 0xE007F))
		return MSG_CODES_CC_INVISIBLE;
	if (c <= 0xBF || c == 0xD7 || c == 0xF7 || (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) ||
	    (c >= 0x20A0 && c <= 0x20CF) || (c >= 0x2100 && c <= 0x214F) || (c >= 0x2190 && c <= 0x2BFF) ||
	    (c >= 0x3001 && c <= 0x303F) || (c >= 0xFE30 && c <= 0xFE6F) || (c >= 0xFF01 && c <= 0xFF0F) ||
	    (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) ||
	    (c >= 0xFFE0 && c <= 0xFFEE) || (c >= 0x1F000 && c <= 0x1FAFF) || c == 0xFFFD)
		return MSG_CODES_CC_PUNCT;
	if (c >= 0xFF10 && c <= 0xFF19)
		return MSG_CODES_CC_DIGIT;
	if ((c >= 0x0E00 && c <= 0x0E7F) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x2E80 && c <= 0x2FFF) ||
	    (c >= 0x3040 && c <= 0x31FF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
	    (c >= 0xA960 && c <= 0xA97F) || (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) ||
	    (c >= 0xFF66 && c <= 0xFFDC) || (c >= 0x20000 && c <= 0x3FFFF))
		return MSG_CODES_CC_IDEO;
	return MSG_CODES_CC_LETTER;
}

static uint32_t msg_codes_lower(uint32_t c)
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
	if (c >= 0xFF21 && c <= 0xFF3A)
		return c - 0xFF21 + 'a';
	if (c >= 0xFF41 && c <= 0xFF5A)
		return c - 0xFF41 + 'a';
	return c;
}

static void msg_codes_put_cp(struct buf *b, uint32_t c)
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

static int msg_codes_is_currency(uint32_t c)
{
	return c == '$' || (c >= 0xA2 && c <= 0xA5) || (c >= 0x20A0 && c <= 0x20CF) || c == 0xFFE0 || c == 0xFFE1 ||
	       c == 0xFFE5 || c == 0xFFE6;
}

/* ---- labels: the words around a number that say what it is ---- */

enum msg_codes_lclass {
	MSG_CODES_L_CODE,  /* code, OTP, PIN, Bestätigungscode, 验证码 ... */
	MSG_CODES_L_WEAK,  /* verification, security, token: a code word when nothing better is near */
	MSG_CODES_L_ID,    /* order, invoice, ticket, account, tracking, postcode, total ...: drops when nearer */
	MSG_CODES_L_PROMO, /* coupon, voucher, discount, %: drops a candidate on its line */
	MSG_CODES_L_PHONE, /* tel, phone: drops 7+ digits when nearer than a code word */
	MSG_CODES_L_UNIT,  /* minutes, days, points: the number counts something */
	MSG_CODES_L_MONTH, /* month names, copyright: a year next to them is a date */
	MSG_CODES_L_CURRENCY,
	MSG_CODES_L_NONE
};

enum msg_codes_lmode {
	MSG_CODES_M_EQ,  /* the whole word */
	MSG_CODES_M_PRE, /* the start of a word: "bestell" in "Bestellnummer" */
	MSG_CODES_M_SUF, /* the end of a word: "code" in "Sicherheitscode" */
	MSG_CODES_M_ANY  /* anywhere in a run of ideographic script: 验证码 in 您的验证码是 */
};

struct msg_codes_label {
	const char *s; /* lower case; words separated by one space (then every word must match whole) */
	uint8_t cls;
	uint8_t mode;
};

#define L_CODE  MSG_CODES_L_CODE
#define L_WEAK  MSG_CODES_L_WEAK
#define L_ID    MSG_CODES_L_ID
#define L_PROMO MSG_CODES_L_PROMO
#define L_PHONE MSG_CODES_L_PHONE
#define L_UNIT  MSG_CODES_L_UNIT
#define L_MONTH MSG_CODES_L_MONTH
#define L_CUR   MSG_CODES_L_CURRENCY
#define M_EQ    MSG_CODES_M_EQ
#define M_PRE   MSG_CODES_M_PRE
#define M_SUF   MSG_CODES_M_SUF
#define M_ANY   MSG_CODES_M_ANY

/*
 * When several labels match one word, a phrase of several words wins, then
 * a whole-word match, then the longest label, then an ending: so
 * "Gutscheincode" is a voucher (gutschein, 9 bytes, beats code, 4) and
 * "Kontobestätigungscode" a code word.
 */
static const struct msg_codes_label msg_codes_labels[] = {
        /* code words */
        {"code", L_CODE, M_SUF},
        {"codes", L_CODE, M_SUF},
        {"passcode", L_CODE, M_EQ},
        {"otp", L_CODE, M_EQ},
        {"totp", L_CODE, M_EQ},
        {"pin", L_CODE, M_EQ},
        {"tan", L_CODE, M_EQ},
        {"2fa", L_CODE, M_EQ},
        {"mfa", L_CODE, M_EQ},
        {"one time password", L_CODE, M_EQ},
        {"one time code", L_CODE, M_EQ},
        {"one time pin", L_CODE, M_EQ},
        {"einmalpasswort", L_CODE, M_EQ},
        {"einmalkennwort", L_CODE, M_EQ},
        {"usage unique", L_CODE, M_EQ},
        {"código", L_CODE, M_EQ},
        {"codigo", L_CODE, M_EQ},
        {"códigos", L_CODE, M_EQ},
        {"codice", L_CODE, M_EQ},
        {"codici", L_CODE, M_EQ},
        {"kod", L_CODE, M_SUF},
        {"koden", L_CODE, M_SUF},
        {"kodu", L_CODE, M_EQ},
        {"kody", L_CODE, M_EQ},
        {"kodem", L_CODE, M_EQ},
        {"код", L_CODE, M_PRE},
        {"验证码", L_CODE, M_ANY},
        {"驗證碼", L_CODE, M_ANY},
        {"校验码", L_CODE, M_ANY},
        {"动态码", L_CODE, M_ANY},
        {"确认码", L_CODE, M_ANY},
        {"认证码", L_CODE, M_ANY},
        {"安全码", L_CODE, M_ANY},
        {"登录码", L_CODE, M_ANY},
        {"コード", L_CODE, M_ANY},
        {"認証番号", L_CODE, M_ANY},
        {"ワンタイムパスワード", L_CODE, M_ANY},
        {"인증번호", L_CODE, M_ANY},
        {"인증 번호", L_CODE, M_EQ},
        {"코드", L_CODE, M_ANY},
        {"verification", L_WEAK, M_EQ},
        {"verify", L_WEAK, M_EQ},
        {"vérification", L_WEAK, M_EQ},
        {"verificación", L_WEAK, M_EQ},
        {"verificação", L_WEAK, M_EQ},
        {"verifica", L_WEAK, M_EQ},
        {"verificatie", L_WEAK, M_EQ},
        {"weryfikac", L_WEAK, M_PRE},
        {"verifiering", L_WEAK, M_PRE},
        {"подтвержд", L_WEAK, M_PRE},
        {"проверочн", L_WEAK, M_PRE},
        {"security", L_WEAK, M_EQ},
        {"one time", L_WEAK, M_EQ},
        {"onetime", L_WEAK, M_EQ},
        {"token", L_WEAK, M_EQ},
        {"authentication", L_WEAK, M_EQ},
        {"authenticator", L_WEAK, M_EQ},
        {"認証", L_WEAK, M_ANY},
        {"验证", L_WEAK, M_ANY},
        {"인증", L_WEAK, M_ANY},

        /* numbers that identify something else */
        {"order", L_ID, M_EQ},
        {"orders", L_ID, M_EQ},
        {"invoice", L_ID, M_PRE},
        {"receipt", L_ID, M_EQ},
        {"ticket", L_ID, M_PRE},
        {"account", L_ID, M_EQ},
        {"acct", L_ID, M_EQ},
        {"reference", L_ID, M_EQ},
        {"ref", L_ID, M_EQ},
        {"booking", L_ID, M_EQ},
        {"reservation", L_ID, M_EQ},
        {"confirmation number", L_ID, M_EQ},
        {"transaction", L_ID, M_PRE},
        {"customer", L_ID, M_EQ},
        {"member", L_ID, M_PRE},
        {"case", L_ID, M_EQ},
        {"claim", L_ID, M_EQ},
        {"policy", L_ID, M_EQ},
        {"contract", L_ID, M_EQ},
        {"id", L_ID, M_EQ},
        {"sku", L_ID, M_EQ},
        {"item", L_ID, M_EQ},
        {"article", L_ID, M_EQ},
        {"serial", L_ID, M_EQ},
        {"model", L_ID, M_EQ},
        {"version", L_ID, M_EQ},
        {"build", L_ID, M_EQ},
        {"tracking", L_ID, M_EQ},
        {"shipment", L_ID, M_EQ},
        {"parcel", L_ID, M_EQ},
        {"package", L_ID, M_EQ},
        {"consignment", L_ID, M_EQ},
        {"waybill", L_ID, M_EQ},
        {"awb", L_ID, M_EQ},
        {"error", L_ID, M_EQ},
        {"status", L_ID, M_EQ},
        {"flight", L_ID, M_EQ},
        {"seat", L_ID, M_EQ},
        {"room", L_ID, M_EQ},
        {"page", L_ID, M_EQ},
        {"nr", L_ID, M_EQ},
        {"total", L_ID, M_EQ},
        {"subtotal", L_ID, M_EQ},
        {"amount", L_ID, M_EQ},
        {"price", L_ID, M_EQ},
        {"balance", L_ID, M_EQ},
        {"qty", L_ID, M_EQ},
        {"quantity", L_ID, M_EQ},
        {"postcode", L_ID, M_EQ},
        {"post code", L_ID, M_EQ},
        {"zip", L_ID, M_EQ},
        {"zipcode", L_ID, M_EQ},
        {"zip code", L_ID, M_EQ},
        {"postal", L_ID, M_EQ},
        {"postal code", L_ID, M_EQ},
        {"barcode", L_ID, M_EQ},
        {"qr code", L_ID, M_EQ},
        {"error code", L_ID, M_EQ},
        {"area code", L_ID, M_EQ},
        {"country code", L_ID, M_EQ},
        {"product code", L_ID, M_EQ},
        {"booking code", L_ID, M_EQ},
        {"bestell", L_ID, M_PRE},
        {"rechnung", L_ID, M_PRE},
        {"auftrag", L_ID, M_PRE},
        {"kunden", L_ID, M_PRE},
        {"referenz", L_ID, M_PRE},
        {"buchung", L_ID, M_PRE},
        {"sendung", L_ID, M_PRE},
        {"paket", L_ID, M_PRE},
        {"vorgang", L_ID, M_PRE},
        {"artikel", L_ID, M_PRE},
        {"vertrag", L_ID, M_PRE},
        {"konto", L_ID, M_PRE},
        {"mitglied", L_ID, M_PRE},
        {"betrag", L_ID, M_EQ},
        {"summe", L_ID, M_EQ},
        {"gesamt", L_ID, M_PRE},
        {"preis", L_ID, M_EQ},
        {"plz", L_ID, M_EQ},
        {"postleitzahl", L_ID, M_EQ},
        {"commande", L_ID, M_EQ},
        {"facture", L_ID, M_EQ},
        {"reçu", L_ID, M_EQ},
        {"réservation", L_ID, M_EQ},
        {"référence", L_ID, M_EQ},
        {"client", L_ID, M_EQ},
        {"dossier", L_ID, M_EQ},
        {"montant", L_ID, M_EQ},
        {"prix", L_ID, M_EQ},
        {"colis", L_ID, M_EQ},
        {"suivi", L_ID, M_EQ},
        {"code postal", L_ID, M_EQ},
        {"pedido", L_ID, M_EQ},
        {"factura", L_ID, M_EQ},
        {"recibo", L_ID, M_EQ},
        {"reserva", L_ID, M_EQ},
        {"referencia", L_ID, M_EQ},
        {"cliente", L_ID, M_EQ},
        {"importe", L_ID, M_EQ},
        {"precio", L_ID, M_EQ},
        {"envío", L_ID, M_EQ},
        {"envio", L_ID, M_EQ},
        {"seguimiento", L_ID, M_EQ},
        {"código postal", L_ID, M_EQ},
        {"ordine", L_ID, M_EQ},
        {"fattura", L_ID, M_EQ},
        {"ricevuta", L_ID, M_EQ},
        {"prenotazione", L_ID, M_EQ},
        {"riferimento", L_ID, M_EQ},
        {"importo", L_ID, M_EQ},
        {"prezzo", L_ID, M_EQ},
        {"spedizione", L_ID, M_EQ},
        {"tracciamento", L_ID, M_EQ},
        {"cap", L_ID, M_EQ},
        {"fatura", L_ID, M_EQ},
        {"referência", L_ID, M_EQ},
        {"encomenda", L_ID, M_EQ},
        {"valor", L_ID, M_EQ},
        {"preço", L_ID, M_EQ},
        {"rastreamento", L_ID, M_EQ},
        {"cep", L_ID, M_EQ},
        {"bestel", L_ID, M_PRE},
        {"factuur", L_ID, M_EQ},
        {"reservering", L_ID, M_EQ},
        {"referentie", L_ID, M_EQ},
        {"klant", L_ID, M_PRE},
        {"bedrag", L_ID, M_EQ},
        {"prijs", L_ID, M_EQ},
        {"zending", L_ID, M_EQ},
        {"pakket", L_ID, M_EQ},
        {"zamówieni", L_ID, M_PRE},
        {"faktura", L_ID, M_EQ},
        {"przesył", L_ID, M_PRE},
        {"kwota", L_ID, M_EQ},
        {"cena", L_ID, M_EQ},
        {"beställning", L_ID, M_PRE},
        {"kvitto", L_ID, M_EQ},
        {"bokning", L_ID, M_EQ},
        {"belopp", L_ID, M_EQ},
        {"pris", L_ID, M_EQ},
        {"заказ", L_ID, M_PRE},
        {"счет", L_ID, M_PRE},
        {"счёт", L_ID, M_PRE},
        {"сумма", L_ID, M_EQ},
        {"цена", L_ID, M_EQ},
        {"трек", L_ID, M_PRE},
        {"посылк", L_ID, M_PRE},
        {"отправлени", L_ID, M_PRE},
        {"договор", L_ID, M_PRE},
        {"клиент", L_ID, M_PRE},
        {"бронировани", L_ID, M_PRE},
        {"индекс", L_ID, M_EQ},
        {"注文", L_ID, M_ANY},
        {"お問い合わせ番号", L_ID, M_ANY},
        {"追跡番号", L_ID, M_ANY},
        {"伝票番号", L_ID, M_ANY},
        {"予約番号", L_ID, M_ANY},
        {"会員番号", L_ID, M_ANY},
        {"請求", L_ID, M_ANY},
        {"金額", L_ID, M_ANY},
        {"合計", L_ID, M_ANY},
        {"価格", L_ID, M_ANY},
        {"郵便番号", L_ID, M_ANY},
        {"订单", L_ID, M_ANY},
        {"运单", L_ID, M_ANY},
        {"快递单号", L_ID, M_ANY},
        {"发票", L_ID, M_ANY},
        {"金额", L_ID, M_ANY},
        {"价格", L_ID, M_ANY},
        {"合计", L_ID, M_ANY},
        {"总计", L_ID, M_ANY},
        {"会员", L_ID, M_ANY},
        {"邮编", L_ID, M_ANY},
        {"주문", L_ID, M_ANY},
        {"송장", L_ID, M_ANY},
        {"금액", L_ID, M_ANY},
        {"결제", L_ID, M_ANY},

        /* promotions */
        {"promo", L_PROMO, M_PRE},
        {"coupon", L_PROMO, M_PRE},
        {"voucher", L_PROMO, M_PRE},
        {"discount", L_PROMO, M_PRE},
        {"gift", L_PROMO, M_PRE},
        {"referral", L_PROMO, M_EQ},
        {"rabatt", L_PROMO, M_PRE},
        {"gutschein", L_PROMO, M_PRE},
        {"aktionscode", L_PROMO, M_EQ},
        {"réduction", L_PROMO, M_EQ},
        {"remise", L_PROMO, M_EQ},
        {"descuento", L_PROMO, M_PRE},
        {"cupón", L_PROMO, M_EQ},
        {"cupon", L_PROMO, M_PRE},
        {"sconto", L_PROMO, M_EQ},
        {"buono", L_PROMO, M_EQ},
        {"desconto", L_PROMO, M_EQ},
        {"cupom", L_PROMO, M_EQ},
        {"korting", L_PROMO, M_PRE},
        {"kupon", L_PROMO, M_PRE},
        {"rabat", L_PROMO, M_PRE},
        {"скидк", L_PROMO, M_PRE},
        {"промокод", L_PROMO, M_PRE},
        {"купон", L_PROMO, M_PRE},
        {"优惠", L_PROMO, M_ANY},
        {"折扣", L_PROMO, M_ANY},
        {"割引", L_PROMO, M_ANY},
        {"クーポン", L_PROMO, M_ANY},
        {"할인", L_PROMO, M_ANY},
        {"쿠폰", L_PROMO, M_ANY},

        /* telephone */
        {"tel", L_PHONE, M_EQ},
        {"phone", L_PHONE, M_PRE},
        {"telephone", L_PHONE, M_EQ},
        {"telefon", L_PHONE, M_PRE},
        {"téléphone", L_PHONE, M_EQ},
        {"teléfono", L_PHONE, M_EQ},
        {"telefono", L_PHONE, M_EQ},
        {"telefone", L_PHONE, M_EQ},
        {"telefoon", L_PHONE, M_EQ},
        {"call", L_PHONE, M_EQ},
        {"fax", L_PHONE, M_EQ},
        {"mobile", L_PHONE, M_EQ},
        {"mobil", L_PHONE, M_EQ},
        {"hotline", L_PHONE, M_EQ},
        {"whatsapp", L_PHONE, M_EQ},
        {"тел", L_PHONE, M_EQ},
        {"телефон", L_PHONE, M_PRE},
        {"電話", L_PHONE, M_ANY},
        {"电话", L_PHONE, M_ANY},
        {"手机", L_PHONE, M_ANY},
        {"전화", L_PHONE, M_ANY},

        /* units: "1440 minutes", "2500 points" */
        {"min", L_UNIT, M_EQ},
        {"mins", L_UNIT, M_EQ},
        {"minute", L_UNIT, M_PRE},
        {"minuto", L_UNIT, M_PRE},
        {"minuti", L_UNIT, M_EQ},
        {"minut", L_UNIT, M_PRE},
        {"минут", L_UNIT, M_PRE},
        {"hour", L_UNIT, M_PRE},
        {"hours", L_UNIT, M_EQ},
        {"hrs", L_UNIT, M_EQ},
        {"stunde", L_UNIT, M_PRE},
        {"heure", L_UNIT, M_PRE},
        {"hora", L_UNIT, M_PRE},
        {"ore", L_UNIT, M_EQ},
        {"uur", L_UNIT, M_EQ},
        {"godzin", L_UNIT, M_PRE},
        {"timmar", L_UNIT, M_EQ},
        {"час", L_UNIT, M_PRE},
        {"day", L_UNIT, M_PRE},
        {"tage", L_UNIT, M_PRE},
        {"jour", L_UNIT, M_PRE},
        {"días", L_UNIT, M_EQ},
        {"dias", L_UNIT, M_EQ},
        {"giorni", L_UNIT, M_EQ},
        {"dagen", L_UNIT, M_EQ},
        {"dni", L_UNIT, M_EQ},
        {"dagar", L_UNIT, M_EQ},
        {"дн", L_UNIT, M_PRE},
        {"second", L_UNIT, M_PRE},
        {"sekunde", L_UNIT, M_PRE},
        {"seconde", L_UNIT, M_PRE},
        {"segundo", L_UNIT, M_PRE},
        {"секунд", L_UNIT, M_PRE},
        {"week", L_UNIT, M_PRE},
        {"month", L_UNIT, M_PRE},
        {"year", L_UNIT, M_PRE},
        {"point", L_UNIT, M_PRE},
        {"punkte", L_UNIT, M_EQ},
        {"points", L_UNIT, M_EQ},
        {"credits", L_UNIT, M_EQ},
        {"miles", L_UNIT, M_EQ},
        {"km", L_UNIT, M_EQ},
        {"kg", L_UNIT, M_EQ},
        {"mb", L_UNIT, M_EQ},
        {"gb", L_UNIT, M_EQ},
        {"items", L_UNIT, M_EQ},
        {"pcs", L_UNIT, M_EQ},
        {"users", L_UNIT, M_EQ},
        {"subscribers", L_UNIT, M_EQ},
        {"readers", L_UNIT, M_EQ},
        {"people", L_UNIT, M_EQ},

        /* currencies written as words or codes */
        {"usd", L_CUR, M_EQ},
        {"eur", L_CUR, M_EQ},
        {"euro", L_CUR, M_PRE},
        {"gbp", L_CUR, M_EQ},
        {"chf", L_CUR, M_EQ},
        {"jpy", L_CUR, M_EQ},
        {"cny", L_CUR, M_EQ},
        {"rmb", L_CUR, M_EQ},
        {"rub", L_CUR, M_EQ},
        {"inr", L_CUR, M_EQ},
        {"brl", L_CUR, M_EQ},
        {"mxn", L_CUR, M_EQ},
        {"cad", L_CUR, M_EQ},
        {"aud", L_CUR, M_EQ},
        {"sek", L_CUR, M_EQ},
        {"nok", L_CUR, M_EQ},
        {"dkk", L_CUR, M_EQ},
        {"pln", L_CUR, M_EQ},
        {"kr", L_CUR, M_EQ},
        {"zł", L_CUR, M_EQ},
        {"zl", L_CUR, M_EQ},
        {"dollar", L_CUR, M_PRE},
        {"руб", L_CUR, M_PRE},
        {"円", L_CUR, M_ANY},
        {"元", L_CUR, M_ANY},
        {"원", L_CUR, M_ANY},

        /* months (a year beside one is a date) and copyright lines */
        {"jan", L_MONTH, M_PRE},
        {"feb", L_MONTH, M_PRE},
        {"mar", L_MONTH, M_PRE},
        {"mär", L_MONTH, M_PRE},
        {"apr", L_MONTH, M_PRE},
        {"may", L_MONTH, M_EQ},
        {"mai", L_MONTH, M_EQ},
        {"maj", L_MONTH, M_EQ},
        {"mayo", L_MONTH, M_EQ},
        {"maio", L_MONTH, M_EQ},
        {"maggio", L_MONTH, M_EQ},
        {"mei", L_MONTH, M_EQ},
        {"maa", L_MONTH, M_PRE},
        {"jun", L_MONTH, M_PRE},
        {"jul", L_MONTH, M_PRE},
        {"aug", L_MONTH, M_PRE},
        {"sep", L_MONTH, M_PRE},
        {"oct", L_MONTH, M_PRE},
        {"okt", L_MONTH, M_PRE},
        {"nov", L_MONTH, M_PRE},
        {"dec", L_MONTH, M_PRE},
        {"dez", L_MONTH, M_PRE},
        {"déc", L_MONTH, M_PRE},
        {"janv", L_MONTH, M_PRE},
        {"févr", L_MONTH, M_PRE},
        {"avr", L_MONTH, M_PRE},
        {"juin", L_MONTH, M_EQ},
        {"juil", L_MONTH, M_PRE},
        {"août", L_MONTH, M_EQ},
        {"ene", L_MONTH, M_PRE},
        {"abr", L_MONTH, M_PRE},
        {"ago", L_MONTH, M_PRE},
        {"set", L_MONTH, M_PRE},
        {"dic", L_MONTH, M_PRE},
        {"gen", L_MONTH, M_PRE},
        {"giu", L_MONTH, M_PRE},
        {"lug", L_MONTH, M_PRE},
        {"ott", L_MONTH, M_PRE},
        {"fev", L_MONTH, M_PRE},
        {"fév", L_MONTH, M_PRE},
        {"out", L_MONTH, M_PRE},
        {"dez", L_MONTH, M_PRE},
        {"sty", L_MONTH, M_PRE},
        {"lut", L_MONTH, M_PRE},
        {"kwi", L_MONTH, M_PRE},
        {"cze", L_MONTH, M_PRE},
        {"lip", L_MONTH, M_PRE},
        {"sie", L_MONTH, M_PRE},
        {"wrz", L_MONTH, M_PRE},
        {"paź", L_MONTH, M_PRE},
        {"lis", L_MONTH, M_PRE},
        {"gru", L_MONTH, M_PRE},
        {"январ", L_MONTH, M_PRE},
        {"феврал", L_MONTH, M_PRE},
        {"март", L_MONTH, M_PRE},
        {"апрел", L_MONTH, M_PRE},
        {"мая", L_MONTH, M_EQ},
        {"май", L_MONTH, M_EQ},
        {"июн", L_MONTH, M_PRE},
        {"июл", L_MONTH, M_PRE},
        {"август", L_MONTH, M_PRE},
        {"сентябр", L_MONTH, M_PRE},
        {"октябр", L_MONTH, M_PRE},
        {"ноябр", L_MONTH, M_PRE},
        {"декабр", L_MONTH, M_PRE},
        {"copyright", L_MONTH, M_EQ},
};

#define MSG_CODES_NLABELS (sizeof msg_codes_labels / sizeof msg_codes_labels[0])

/* Labels by first byte (whole words and starts), last byte (endings), or neither (ideographic). */
struct msg_codes_index {
	int16_t head[256];
	int16_t tail[256];
	int16_t next[MSG_CODES_NLABELS];
	int16_t any[MSG_CODES_NLABELS];
	size_t nany;
	int16_t multi[MSG_CODES_NLABELS];
	size_t nmulti;
	uint16_t len[MSG_CODES_NLABELS];
	/* phrases of several words, split once: offsets and lengths of up to 4 words */
	uint8_t nwords[MSG_CODES_NLABELS];
	uint8_t woff[MSG_CODES_NLABELS][4];
	uint8_t wlen[MSG_CODES_NLABELS][4];
};

static void msg_codes_index_build(struct msg_codes_index *ix)
{
	memset(ix->head, 0xFF, sizeof ix->head);
	memset(ix->tail, 0xFF, sizeof ix->tail);
	ix->nany = ix->nmulti = 0;
	for (size_t i = MSG_CODES_NLABELS; i-- > 0;) {
		const struct msg_codes_label *l = &msg_codes_labels[i];
		size_t n = strlen(l->s);
		ix->len[i] = (uint16_t)n;
		if (strchr(l->s, ' ') != NULL) {
			ix->multi[ix->nmulti++] = (int16_t)i;
			size_t nw = 0;
			for (size_t p = 0; p < n && nw < 4;) {
				size_t q = p;
				while (q < n && l->s[q] != ' ')
					q++;
				ix->woff[i][nw] = (uint8_t)p;
				ix->wlen[i][nw++] = (uint8_t)(q - p);
				p = q + 1;
			}
			ix->nwords[i] = (uint8_t)nw;
		} else if (l->mode == M_ANY) {
			ix->any[ix->nany++] = (int16_t)i;
		} else if (l->mode == M_SUF) {
			unsigned char b = (unsigned char)l->s[n - 1];
			ix->next[i] = ix->tail[b];
			ix->tail[b] = (int16_t)i;
		} else {
			unsigned char b = (unsigned char)l->s[0];
			ix->next[i] = ix->head[b];
			ix->head[b] = (int16_t)i;
		}
	}
}

/* ---- tokens ---- */

enum msg_codes_ttype { MSG_CODES_T_NUM, MSG_CODES_T_WORD, MSG_CODES_T_ALNUM, MSG_CODES_T_IDEO, MSG_CODES_T_PUNCT };

struct msg_codes_tok {
	size_t s, e; /* bytes in the source */
	size_t line;
	size_t nchars;    /* NUM: digits; WORD/ALNUM: characters */
	uint32_t cp;      /* PUNCT: the mark; IDEO: the first character */
	uint32_t last_cp; /* IDEO: the last character */
	uint8_t type;
	uint8_t ascii;             /* only ASCII letters and digits */
	uint8_t upper;             /* no lower-case ASCII letter */
	uint8_t fullwidth;         /* NUM of full-width digits */
	int8_t label;              /* best single-word label class; -2 not computed yet */
	int8_t label_before;       /* label of a phrase ending here (read leftwards); -2 not computed yet */
	int8_t label_after;        /* label of a phrase starting here */
	size_t fold_off, fold_len; /* lower-case copy in src->fold, once computed (fold_len SIZE_MAX: not yet) */
};

struct msg_codes_src {
	const char *t;
	size_t n;
	struct msg_codes_tok *tok;
	size_t ntok, cap;
	struct buf fold;
	const struct msg_codes_index *ix;
};

static void msg_codes_tok_add(struct msg_codes_src *src, const struct msg_codes_tok *t)
{
	if (src->ntok == src->cap) {
		src->cap = src->cap ? src->cap * 2 : 256;
		src->tok = xrealloc(src->tok, src->cap * sizeof *src->tok);
	}
	src->tok[src->ntok++] = *t;
}

static void msg_codes_tokenize(struct msg_codes_src *src)
{
	const char *t = src->t;
	size_t n = src->n, i = 0, line = 0;
	while (i < n) {
		size_t len;
		uint32_t c = msg_codes_cp(t + i, n - i, &len);
		enum msg_codes_cc cc = msg_codes_class(c);
		struct msg_codes_tok k;
		memset(&k, 0, sizeof k);
		k.s = i;
		k.line = line;
		k.label = k.label_before = k.label_after = -2;
		k.fold_len = SIZE_MAX;
		if (c == '\n') {
			line++;
			i += len;
			continue;
		}
		if (cc == MSG_CODES_CC_SPACE || cc == MSG_CODES_CC_INVISIBLE) {
			i += len;
			continue;
		}
		if (cc == MSG_CODES_CC_PUNCT) {
			k.type = MSG_CODES_T_PUNCT;
			k.cp = c;
			i += len;
		} else if (cc == MSG_CODES_CC_IDEO) {
			k.type = MSG_CODES_T_IDEO;
			k.cp = c;
			do {
				k.last_cp = c;
				k.nchars++;
				i += len;
				if (i >= n)
					break;
				c = msg_codes_cp(t + i, n - i, &len);
			} while (msg_codes_class(c) == MSG_CODES_CC_IDEO);
		} else if (c >= 0xFF10 && c <= 0xFF19) {
			k.type = MSG_CODES_T_NUM;
			k.fullwidth = 1;
			do {
				k.nchars++;
				i += len;
				if (i >= n)
					break;
				c = msg_codes_cp(t + i, n - i, &len);
			} while (c >= 0xFF10 && c <= 0xFF19);
		} else {
			int digits = 0, letters = 0;
			k.ascii = 1;
			k.upper = 1;
			for (;;) {
				if (c >= '0' && c <= '9') {
					digits = 1;
				} else {
					letters = 1;
					if (c >= 0x80)
						k.ascii = 0;
					if (c >= 'a' && c <= 'z')
						k.upper = 0;
				}
				k.nchars++;
				i += len;
				if (i >= n)
					break;
				c = msg_codes_cp(t + i, n - i, &len);
				if (!((c >= '0' && c <= '9') || msg_codes_class(c) == MSG_CODES_CC_LETTER))
					break;
			}
			k.type = !letters ? MSG_CODES_T_NUM : digits ? MSG_CODES_T_ALNUM : MSG_CODES_T_WORD;
		}
		k.e = i;
		msg_codes_tok_add(src, &k);
	}
}

static int msg_codes_is_word(const struct msg_codes_tok *k)
{
	return k->type != MSG_CODES_T_PUNCT;
}

/* The lower-case form of token j (kept in src->fold). */
static const char *msg_codes_folded(struct msg_codes_src *src, size_t j, size_t *len)
{
	struct msg_codes_tok *k = &src->tok[j];
	if (k->fold_len == SIZE_MAX) {
		k->fold_off = src->fold.len;
		for (size_t i = k->s; i < k->e;) {
			size_t l;
			uint32_t c = msg_codes_cp(src->t + i, k->e - i, &l);
			msg_codes_put_cp(&src->fold, msg_codes_lower(c));
			i += l;
		}
		k->fold_len = src->fold.len - k->fold_off;
	}
	*len = k->fold_len;
	return (const char *)src->fold.data + k->fold_off;
}

static int msg_codes_rank(const struct msg_codes_label *l, size_t len)
{
	return (l->mode == M_EQ) * 100000 + (int)len * 2 + (l->mode == M_SUF);
}

/* Best single-word label of token j, or MSG_CODES_L_NONE. */
static int msg_codes_word_label(struct msg_codes_src *src, size_t j)
{
	struct msg_codes_tok *k = &src->tok[j];
	if (k->label != -2)
		return k->label;
	int best = MSG_CODES_L_NONE, best_rank = -1;
	if (k->type == MSG_CODES_T_PUNCT) {
		if (k->cp == '#' || k->cp == 0x2116)
			best = L_ID;
		else if (k->cp == '%' || k->cp == 0xFF05)
			best = L_PROMO;
		else if (k->cp == 0xA9)
			best = L_MONTH;
		else if (msg_codes_is_currency(k->cp))
			best = L_CUR;
		k->label = (int8_t)best;
		return best;
	}
	size_t n;
	const char *w = msg_codes_folded(src, j, &n);
	const struct msg_codes_index *ix = src->ix;
	if (n > 0) {
		for (int16_t i = ix->head[(unsigned char)w[0]]; i >= 0; i = ix->next[i]) {
			const struct msg_codes_label *l = &msg_codes_labels[i];
			size_t ln = ix->len[i];
			if (ln > n || memcmp(w, l->s, ln) != 0 || (l->mode == M_EQ && ln != n))
				continue;
			int r = msg_codes_rank(l, ln);
			if (r > best_rank) {
				best_rank = r;
				best = l->cls;
			}
		}
		for (int16_t i = ix->tail[(unsigned char)w[n - 1]]; i >= 0; i = ix->next[i]) {
			const struct msg_codes_label *l = &msg_codes_labels[i];
			size_t ln = ix->len[i];
			if (ln > n || memcmp(w + n - ln, l->s, ln) != 0)
				continue;
			int r = msg_codes_rank(l, ln);
			if (r > best_rank) {
				best_rank = r;
				best = l->cls;
			}
		}
	}
	if (k->type == MSG_CODES_T_IDEO) {
		for (size_t a = 0; a < ix->nany; a++) {
			const struct msg_codes_label *l = &msg_codes_labels[ix->any[a]];
			size_t ln = ix->len[ix->any[a]];
			if (memmem(w, n, l->s, ln) == NULL)
				continue;
			int r = msg_codes_rank(l, ln);
			if (r > best_rank) {
				best_rank = r;
				best = l->cls;
			}
		}
	}
	k->label = (int8_t)best;
	return best;
}

/* The word token before (dir -1) or after (dir +1) j on the same line, or SIZE_MAX. */
static size_t msg_codes_word_step(const struct msg_codes_src *src, size_t j, int dir)
{
	size_t line = src->tok[j].line;
	for (size_t k = j, steps = 0; steps < 8; steps++) {
		if (dir < 0) {
			if (k == 0)
				return SIZE_MAX;
			k--;
		} else {
			if (k + 1 >= src->ntok)
				return SIZE_MAX;
			k++;
		}
		if (src->tok[k].line != line)
			return SIZE_MAX;
		if (msg_codes_is_word(&src->tok[k]))
			return k;
	}
	return SIZE_MAX;
}

/*
 * The label at word token j: the longest phrase of several words ending at j
 * (dir -1, read leftwards) or starting at j (dir +1) if one matches, else the
 * word's own label.
 */
static int msg_codes_label_at(struct msg_codes_src *src, size_t j, int dir)
{
	int8_t *memo = dir < 0 ? &src->tok[j].label_before : &src->tok[j].label_after;
	if (*memo != -2)
		return *memo;
	const struct msg_codes_index *ix = src->ix;
	int best = -1;
	size_t best_len = 0;
	for (size_t m = 0; m < ix->nmulti; m++) {
		/* folding other words may move src->fold: take the pointer afresh */
		size_t n0;
		const char *f0 = msg_codes_folded(src, j, &n0);
		size_t li = (size_t)ix->multi[m];
		const char *ls = msg_codes_labels[li].s;
		size_t nw = ix->nwords[li];
		size_t first = dir < 0 ? nw - 1 : 0;
		if (ix->len[li] <= best_len || ix->wlen[li][first] != n0 ||
		    memcmp(f0, ls + ix->woff[li][first], n0) != 0)
			continue;
		size_t k = j;
		int ok = 1;
		for (size_t w = 1; w < nw && ok; w++) {
			size_t wi = dir < 0 ? nw - 1 - w : w;
			k = msg_codes_word_step(src, k, dir);
			if (k == SIZE_MAX) {
				ok = 0;
				break;
			}
			size_t n;
			const char *f = msg_codes_folded(src, k, &n);
			ok = n == ix->wlen[li][wi] && memcmp(f, ls + ix->woff[li][wi], n) == 0;
		}
		if (ok) {
			best = msg_codes_labels[li].cls;
			best_len = ix->len[li];
		}
	}
	*memo = (int8_t)(best >= 0 ? best : msg_codes_word_label(src, j));
	return *memo;
}

/* ---- candidates ---- */

struct msg_codes_cand {
	size_t ti, tj; /* first and last token */
	size_t s, e;   /* bytes */
	char value[MSG_CODES_MAX_LEN + 1];
	size_t vlen;
	int grouped;
	int alnum;
};

/* What a label walk found on one side of a candidate. */
struct msg_codes_near {
	int code;   /* best label points for a code word, 0 when none */
	int code_d; /* its effective distance (for comparing with exclusions) */
	int id_d;   /* nearest ID label, INT32_MAX when none */
	int phone_d;
	int promo;
};

#define MSG_CODES_FAR 1000000

static void msg_codes_note_code(struct msg_codes_near *nr, int cls, int pts, int eff)
{
	if (cls == L_WEAK)
		pts /= 2;
	if (pts > nr->code)
		nr->code = pts;
	if (eff < nr->code_d)
		nr->code_d = eff;
}

/*
 * Walks from the candidate outwards over at most MSG_CODES_WINDOW words; a
 * walk leftwards may go on into the line above when nothing precedes the
 * candidate on its own line, a walk rightwards into the line below when
 * nothing follows it.
 */
static void msg_codes_walk(struct msg_codes_src *src, const struct msg_codes_cand *c, int dir,
                           struct msg_codes_near *nr)
{
	size_t line = src->tok[c->ti].line;
	size_t j = dir < 0 ? c->ti : c->tj;
	int words = 0, crossed = 0, own_words = 0;
	size_t cross_line_words = 0;
	for (int steps = 0; steps < MSG_CODES_WALK_STEPS; steps++) {
		if (dir < 0) {
			if (j == 0)
				return;
			j--;
		} else {
			if (j + 1 >= src->ntok)
				return;
			j++;
		}
		const struct msg_codes_tok *k = &src->tok[j];
		if (k->line != line) {
			if (crossed || own_words > 0)
				return;
			size_t gap = dir < 0 ? line - k->line : k->line - line;
			if (gap > 2)
				return;
			crossed = 1;
			line = k->line;
			words = 0;
			/* words on that line: a short one is a label line ("Order number:") */
			cross_line_words = 0;
			for (size_t q = j, qs = 0; qs < MSG_CODES_WALK_STEPS; qs++) {
				if (msg_codes_is_word(&src->tok[q]))
					cross_line_words++;
				if (dir < 0) {
					if (q == 0 || src->tok[q - 1].line != line)
						break;
					q--;
				} else {
					if (q + 1 >= src->ntok || src->tok[q + 1].line != line)
						break;
					q++;
				}
				if (cross_line_words > MSG_CODES_LABEL_LINE_WORDS)
					break;
			}
		}
		int cls;
		if (msg_codes_is_word(k)) {
			words++;
			if (!crossed)
				own_words++;
			if (words > MSG_CODES_WINDOW)
				return;
			cls = msg_codes_label_at(src, j, dir);
		} else {
			cls = msg_codes_word_label(src, j);
		}
		int d = words > 0 ? words : 1;
		int eff;
		int pts;
		if (!crossed) {
			eff = dir < 0 ? 2 * d : 2 * d + 1;
			if (dir < 0)
				pts = d <= 3 ? MSG_CODES_W_BEFORE_NEAR : MSG_CODES_W_BEFORE_FAR;
			else
				pts = d <= 3 ? MSG_CODES_W_AFTER_NEAR : MSG_CODES_W_AFTER_FAR;
		} else {
			eff = (dir < 0 ? 100 : 200) + d;
			if (dir < 0)
				pts = d <= 3 ? MSG_CODES_W_PREV_NEAR : MSG_CODES_W_PREV_FAR;
			else
				pts = MSG_CODES_W_NEXT;
		}
		switch (cls) {
		case L_CODE:
		case L_WEAK:
			msg_codes_note_code(nr, cls, pts, eff);
			break;
		case L_ID:
			if (crossed ? cross_line_words <= MSG_CODES_LABEL_LINE_WORDS : d <= MSG_CODES_ID_REACH) {
				if (eff < nr->id_d)
					nr->id_d = eff;
			}
			break;
		case L_PHONE:
			if (crossed ? cross_line_words <= MSG_CODES_LABEL_LINE_WORDS : d <= MSG_CODES_ID_REACH) {
				if (eff < nr->phone_d)
					nr->phone_d = eff;
			}
			break;
		case L_PROMO:
			if (!crossed)
				nr->promo = 1;
			break;
		default:
			break;
		}
	}
}

/* Letters that only end a number ("20th", "10min") or a word with a number ("SPRING2026") are not codes. */
static int msg_codes_alnum_shape(const char *s, size_t n)
{
	int digits = 0, letters = 0, lower = 0, transitions = 0, run = 0, maxrun = 0;
	int prev = -1;
	for (size_t i = 0; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9';
		if (d) {
			digits++;
			run = 0;
		} else {
			letters++;
			if (s[i] >= 'a' && s[i] <= 'z')
				lower = 1;
			if (++run > maxrun)
				maxrun = run;
		}
		if (prev >= 0 && prev != d)
			transitions++;
		prev = d;
	}
	if (!digits || !letters || maxrun >= 5)
		return 0;
	if (lower && transitions < 3)
		return 0;
	return 1;
}

static int msg_codes_eligible(const struct msg_codes_tok *k)
{
	if (k->type == MSG_CODES_T_NUM)
		return 1;
	if ((k->type == MSG_CODES_T_ALNUM || k->type == MSG_CODES_T_WORD) && k->ascii)
		return k->type == MSG_CODES_T_ALNUM || (k->upper && k->nchars <= 5);
	return 0;
}

/* One space between two tokens: ' ', no-break space, thin space, narrow no-break space. */
static int msg_codes_one_space(const struct msg_codes_src *src, size_t a, size_t b)
{
	const char *t = src->t;
	size_t gs = src->tok[a].e, ge = src->tok[b].s;
	if (ge - gs == 1)
		return t[gs] == ' ';
	if (ge - gs == 2)
		return (unsigned char)t[gs] == 0xC2 && (unsigned char)t[gs + 1] == 0xA0;
	if (ge - gs == 3)
		return (unsigned char)t[gs] == 0xE2 && (unsigned char)t[gs + 1] == 0x80 &&
		       ((unsigned char)t[gs + 2] == 0x89 || (unsigned char)t[gs + 2] == 0xAF);
	return 0;
}

static int msg_codes_is_hyphen(const struct msg_codes_tok *k)
{
	return k->type == MSG_CODES_T_PUNCT && (k->cp == '-' || k->cp == 0x2010 || k->cp == 0x2011);
}

static void msg_codes_value_append(struct msg_codes_cand *c, const struct msg_codes_src *src, size_t j)
{
	const struct msg_codes_tok *k = &src->tok[j];
	for (size_t i = k->s; i < k->e && c->vlen < MSG_CODES_MAX_LEN;) {
		size_t len;
		uint32_t cp = msg_codes_cp(src->t + i, k->e - i, &len);
		if (cp >= 0xFF10 && cp <= 0xFF19)
			cp = cp - 0xFF10 + '0';
		c->value[c->vlen++] = (char)cp;
		i += len;
	}
	c->value[c->vlen] = '\0';
}

/*
 * Chains of tokens joined by one separator: "123 456", "12-34-56",
 * "K7P-4QX". A chain is one candidate when its groups are equally long
 * (2-4 digits, or 3-5 characters with letters) and 4-10 characters in all;
 * otherwise (a phone number, a date, "INV-2026-0042") none of it is.
 */
static size_t msg_codes_chain(const struct msg_codes_src *src, size_t i, struct msg_codes_cand *c, int *ok)
{
	size_t idx[MSG_CODES_MAX_LEN + 2];
	size_t n = 0, j = i;
	int sep = 0, too_long = 0;
	idx[n++] = i;
	for (;;) {
		const struct msg_codes_tok *a = &src->tok[j];
		if (j + 2 < src->ntok && (sep == 0 || sep == '-') && msg_codes_is_hyphen(&src->tok[j + 1]) &&
		    src->tok[j + 1].s == a->e && src->tok[j + 2].s == src->tok[j + 1].e &&
		    msg_codes_eligible(&src->tok[j + 2])) {
			sep = '-';
			j += 2;
		} else if (j + 1 < src->ntok && (sep == 0 || sep == ' ') && a->type == MSG_CODES_T_NUM &&
		           src->tok[j + 1].type == MSG_CODES_T_NUM && src->tok[j + 1].line == a->line &&
		           msg_codes_one_space(src, j, j + 1)) {
			sep = ' ';
			j += 1;
		} else {
			break;
		}
		if (n < MSG_CODES_MAX_LEN + 2)
			idx[n++] = j;
		else
			too_long = 1;
	}
	*ok = 0;
	memset(c, 0, sizeof *c);
	c->ti = i;
	c->tj = j;
	c->s = src->tok[i].s;
	c->e = src->tok[j].e;
	if (too_long)
		return j;
	const struct msg_codes_tok *f = &src->tok[i];
	if (n == 1) {
		if (f->type == MSG_CODES_T_NUM && f->nchars >= MSG_CODES_MIN_LEN && f->nchars <= MSG_CODES_MAX_LEN) {
			msg_codes_value_append(c, src, i);
			*ok = 1;
		} else if (f->type == MSG_CODES_T_ALNUM && f->nchars >= MSG_CODES_MIN_LEN &&
		           f->nchars <= MSG_CODES_MAX_LEN && msg_codes_alnum_shape(src->t + f->s, f->e - f->s)) {
			msg_codes_value_append(c, src, i);
			c->alnum = 1;
			*ok = 1;
		}
		return j;
	}
	size_t glen = f->nchars, total = 0;
	int all_num = 1;
	for (size_t k = 0; k < n; k++) {
		const struct msg_codes_tok *g = &src->tok[idx[k]];
		if (g->nchars != glen)
			return j;
		if (g->type != MSG_CODES_T_NUM)
			all_num = 0;
		total += g->nchars;
	}
	if (total < MSG_CODES_MIN_LEN || total > MSG_CODES_MAX_LEN)
		return j;
	if (all_num ? (glen < 2 || glen > 4) : (glen < 3 || glen > 5 || sep != '-'))
		return j;
	for (size_t k = 0; k < n; k++)
		msg_codes_value_append(c, src, idx[k]);
	if (!all_num) {
		int digits = 0, letters = 0;
		for (size_t k = 0; k < c->vlen; k++) {
			if (c->value[k] >= '0' && c->value[k] <= '9')
				digits = 1;
			else
				letters = 1;
		}
		if (!digits || !letters)
			return j;
		c->alnum = 1;
	}
	c->grouped = 1;
	*ok = 1;
	return j;
}

static int msg_codes_ascii_alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Characters that put a number inside an address, a URL, an amount or an identifier. */
static int msg_codes_in_url_or_id(const struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	const char *t = src->t;
	size_t rs = c->s, re = c->e;
	size_t lo = c->s > MSG_CODES_RUN_MAX ? c->s - MSG_CODES_RUN_MAX : 0;
	size_t hi = src->n - c->e > MSG_CODES_RUN_MAX ? c->e + MSG_CODES_RUN_MAX : src->n;
	while (rs > lo && (unsigned char)t[rs - 1] > ' ' && (unsigned char)t[rs - 1] < 0x7F)
		rs--;
	while (re < hi && (unsigned char)t[re] > ' ' && (unsigned char)t[re] < 0x7F)
		re++;
	for (size_t k = rs; k < re; k++) {
		if (k >= c->s && k < c->e)
			continue;
		char ch = t[k];
		if (strchr("/\\@=&#%+$~|^", ch) != NULL)
			return 1;
		if (ch == '?' && k + 1 < re)
			return 1;
	}
	/* joined to more digits or letters: 12.50, 1,234, 2026-11-28, 12:30, v1.2345 */
	if (c->s >= 2) {
		char p = t[c->s - 1], q = t[c->s - 2];
		if ((strchr("-./,", p) != NULL && msg_codes_ascii_alnum(q)) || (p == ':' && q >= '0' && q <= '9'))
			return 1;
	}
	if (c->e + 1 < src->n) {
		char p = t[c->e], q = t[c->e + 1];
		if (strchr("-./,:", p) != NULL && msg_codes_ascii_alnum(q))
			return 1;
	}
	return 0;
}

/* A telephone number by its form: "+49 30 1234567", "(030) 1234567", "(555) 123-4567". */
static int msg_codes_phone_form(const struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	const char *t = src->t;
	size_t k = c->s;
	size_t lo = c->s > MSG_CODES_PHONE_MAX ? c->s - MSG_CODES_PHONE_MAX : 0;
	int paren = 0;
	while (k > lo) {
		char ch = t[k - 1];
		if (ch == '\n' || !((ch >= '0' && ch <= '9') || strchr(" +-().", ch) != NULL))
			break;
		if (ch == ' ' && k >= 2 && t[k - 2] == ' ')
			break;
		if (ch == ')')
			paren = 1;
		k--;
	}
	while (k < c->s && t[k] == ' ')
		k++;
	if (k < c->s && t[k] == '+' && k + 1 < src->n && t[k + 1] >= '0' && t[k + 1] <= '9')
		return 1;
	if (paren && k < c->s && t[k] == '(')
		return 1;
	return 0;
}

/* The token next to the candidate on its line (dir -1 before, +1 after), or SIZE_MAX. */
static size_t msg_codes_neighbour(const struct msg_codes_src *src, const struct msg_codes_cand *c, int dir)
{
	size_t j = dir < 0 ? c->ti : c->tj;
	size_t line = src->tok[j].line;
	if (dir < 0 ? j == 0 : j + 1 >= src->ntok)
		return SIZE_MAX;
	j = dir < 0 ? j - 1 : j + 1;
	return src->tok[j].line == line ? j : SIZE_MAX;
}

static int msg_codes_cjk_unit(uint32_t c)
{
	static const uint32_t units[] = {0x5E74, 0x6708, 0x65E5, 0x6642, 0x65F6, 0x5206, 0x79D2, 0x53F7, 0x865F,
	                                 0x5186, 0x5143, 0x6B73, 0x5C81, 0x500B, 0x4E2A, 0x4EF6, 0x70B9, 0x4EBA,
	                                 0x540D, 0x56DE, 0x6B21, 0x9031, 0x5468, 0xB144, 0xC6D4, 0xC77C, 0xC2DC,
	                                 0xBD84, 0xCD08, 0xC6D0, 0xAC1C, 0xBA85, 0xBC88, 0xD68C};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (units[i] == c)
			return 1;
	}
	return 0;
}

static int msg_codes_capitalised(const struct msg_codes_src *src, size_t j)
{
	const struct msg_codes_tok *k = &src->tok[j];
	if (k->type != MSG_CODES_T_WORD || k->nchars < 2)
		return 0;
	size_t len;
	uint32_t c = msg_codes_cp(src->t + k->s, k->e - k->s, &len);
	return msg_codes_lower(c) != c;
}

/*
 * Exclusions that need no label walk. 1 when the candidate is something
 * else: part of a URL, address or identifier, an amount, a date, a time, a
 * count, a telephone number by its form.
 */
static int msg_codes_excluded(struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	if (msg_codes_in_url_or_id(src, c))
		return 1;
	size_t b = msg_codes_neighbour(src, c, -1), a = msg_codes_neighbour(src, c, +1);
	if (b != SIZE_MAX) {
		int l = msg_codes_word_label(src, b);
		if (l == L_CUR)
			return 1;
		if (src->tok[b].type == MSG_CODES_T_IDEO && src->tok[b].last_cp == 0x7B2C) /* 第 */
			return 1;
	}
	if (a != SIZE_MAX) {
		const struct msg_codes_tok *k = &src->tok[a];
		int l = msg_codes_word_label(src, a);
		if (l == L_CUR || (k->type == MSG_CODES_T_PUNCT && (k->cp == '%' || k->cp == 0xFF05)))
			return 1;
		if (k->type == MSG_CODES_T_IDEO && k->s == c->e && msg_codes_cjk_unit(k->cp))
			return 1;
		if (l == L_UNIT && msg_codes_is_word(k))
			return 1;
	}
	if (msg_codes_phone_form(src, c))
		return 1;
	/* a year beside a month name or a copyright sign */
	if (!c->alnum && !c->grouped && c->vlen == 4) {
		int y = atoi(c->value);
		if (y >= 1900 && y <= 2099) {
			for (int dir = -1; dir <= 1; dir += 2) {
				size_t j = dir < 0 ? c->ti : c->tj;
				for (int steps = 0; steps < 4; steps++) {
					if (dir < 0 ? j == 0 : j + 1 >= src->ntok)
						break;
					j = dir < 0 ? j - 1 : j + 1;
					if (src->tok[j].line != src->tok[c->ti].line)
						break;
					if (msg_codes_word_label(src, j) == L_MONTH)
						return 1;
				}
			}
		}
	}
	return 0;
}

/* ZIP / postal code beside a city or state: "10115 Berlin", "CA 94107", "1012 AB". */
static int msg_codes_postal_form(const struct msg_codes_src *src, const struct msg_codes_cand *c)
{
	if (c->alnum || c->grouped || c->vlen < 4 || c->vlen > 5)
		return 0;
	size_t a = msg_codes_neighbour(src, c, +1), b = msg_codes_neighbour(src, c, -1);
	if (a != SIZE_MAX && src->tok[a].type == MSG_CODES_T_WORD && src->tok[a].ascii) {
		if (msg_codes_capitalised(src, a) || (src->tok[a].upper && src->tok[a].nchars == 2))
			return 1;
	}
	if (b != SIZE_MAX && src->tok[b].type == MSG_CODES_T_WORD && src->tok[b].upper && src->tok[b].nchars == 2 &&
	    src->tok[b].ascii)
		return 1;
	return 0;
}

static int msg_codes_emphasis_mark(uint32_t c)
{
	return c == '*' || c == '_' || c == '[' || c == ']' || c == '"' || c == '\'' || c == 0x300C || c == 0x300D ||
	       c == 0x3010 || c == 0x3011 || c == 0x300E || c == 0x300F || c == 0xAB || c == 0xBB || c == 0x201C ||
	       c == 0x201D || c == 0xFF3B || c == 0xFF3D;
}

/* ---- context ---- */

/* Does a sentence end just before pos (". ", "! ", "? ", "。", "！", "？")? */
static int msg_codes_after_sentence(const char *t, size_t lo, size_t pos)
{
	if (pos >= lo + 2 && t[pos - 1] == ' ' && strchr(".!?", t[pos - 2]) != NULL)
		return 1;
	if (pos >= lo + 3) {
		const unsigned char *u = (const unsigned char *)t + pos - 3;
		if ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
		    (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F)))
			return 1;
	}
	return 0;
}

/* Length of a sentence end at i, or 0. */
static size_t msg_codes_sentence_end(const char *t, size_t i, size_t hi)
{
	if (strchr(".!?", t[i]) != NULL && t[i] != '\0' && (i + 1 >= hi || t[i + 1] == ' '))
		return 1;
	const unsigned char *u = (const unsigned char *)t + i;
	if (i + 3 <= hi && ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
	                    (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F))))
		return 3;
	return 0;
}

static void msg_codes_append_trimmed(struct buf *b, const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n == 0)
		return;
	if (b->len > 0)
		buf_append_byte(b, ' ');
	buf_append(b, s, n);
}

/* i moved back to the start of the character it is in (not below lo). */
static size_t msg_codes_char_start(const char *t, size_t i, size_t lo)
{
	while (i > lo && ((unsigned char)t[i] & 0xC0) == 0x80)
		i--;
	return i;
}

/*
 * The line the candidate is on (after the line above when that is where its
 * label is), cut to its sentence when longer than MSG_CODES_CONTEXT_MAX,
 * then to that many bytes around the candidate. Every scan is bounded.
 */
static char *msg_codes_context(const struct msg_codes_src *src, const struct msg_codes_cand *c, int with_prev)
{
	const char *t = src->t;
	size_t n = src->n;
	size_t lo = c->s > MSG_CODES_CONTEXT_MAX ? c->s - MSG_CODES_CONTEXT_MAX : 0;
	size_t hi = n - c->e > MSG_CODES_CONTEXT_MAX ? c->e + MSG_CODES_CONTEXT_MAX : n;
	size_t ls = c->s, le = c->e;
	while (ls > lo && t[ls - 1] != '\n')
		ls--;
	while (le < hi && t[le] != '\n')
		le++;
	int line_start = ls == 0 || t[ls - 1] == '\n';
	if (le - ls > MSG_CODES_CONTEXT_MAX) {
		size_t ss = c->s, se = c->e;
		while (ss > ls && !msg_codes_after_sentence(t, ls, ss))
			ss--;
		while (se < le) {
			size_t k = msg_codes_sentence_end(t, se, le);
			if (k) {
				se += k;
				break;
			}
			se++;
		}
		ls = ss;
		le = se;
	}
	if (le - ls > MSG_CODES_CONTEXT_MAX) {
		size_t clen = c->e - c->s < MSG_CODES_CONTEXT_MAX ? c->e - c->s : MSG_CODES_CONTEXT_MAX;
		size_t half = (MSG_CODES_CONTEXT_MAX - clen) / 2;
		size_t ns = c->s - ls > half ? c->s - half : ls;
		size_t ne = le - c->e > half ? c->e + half : le;
		ls = msg_codes_char_start(t, ns, ls);
		if (ne < n)
			ne = msg_codes_char_start(t, ne, c->e);
		le = ne;
	}
	struct buf b;
	buf_init(&b);
	if (with_prev && line_start && ls > 0) {
		size_t pe = ls - 1;
		size_t plo = pe > MSG_CODES_CONTEXT_MAX ? pe - MSG_CODES_CONTEXT_MAX : 0;
		while (pe > plo && (t[pe - 1] == '\n' || t[pe - 1] == '\r' || t[pe - 1] == ' '))
			pe--;
		size_t ps = pe;
		while (ps > plo && t[ps - 1] != '\n')
			ps--;
		if ((ps == 0 || t[ps - 1] == '\n') && pe - ps + (le - ls) < MSG_CODES_CONTEXT_MAX)
			msg_codes_append_trimmed(&b, t + ps, pe - ps);
	}
	msg_codes_append_trimmed(&b, t + ls, le - ls);
	buf_cstr(&b);
	char *out = utf8_valid((const char *)b.data, b.len) ? xstrndup((const char *)b.data, b.len)
	                                                    : utf8_sanitize((const char *)b.data, b.len);
	buf_free(&b);
	return out;
}

/* ---- the whole ---- */

struct msg_codes_found {
	char *code;
	char *value;
	char *context;
	int points;
	size_t order;
};

struct msg_codes_run {
	struct msg_codes_index ix;
	struct msg_codes_found *f;
	size_t n, cap;
	size_t order;
	int subject_word; /* the subject has a code word */
	char (*subject_values)[MSG_CODES_MAX_LEN + 1];
	size_t nsubject_values;
	size_t *slot; /* open addressing on value: index + 1 into f, 0 empty */
	size_t nslot;
};

static size_t *msg_codes_slot(struct msg_codes_run *run, const char *value)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	for (size_t i = (size_t)h & (run->nslot - 1);; i = (i + 1) & (run->nslot - 1)) {
		if (run->slot[i] == 0 || strcmp(run->f[run->slot[i] - 1].value, value) == 0)
			return &run->slot[i];
	}
}

static void msg_codes_src_init(struct msg_codes_src *src, const char *t, size_t max, const struct msg_codes_index *ix)
{
	memset(src, 0, sizeof *src);
	src->t = t;
	src->n = strnlen(t, max);
	src->ix = ix;
	buf_init(&src->fold);
	msg_codes_tokenize(src);
}

static void msg_codes_src_free(struct msg_codes_src *src)
{
	free(src->tok);
	buf_free(&src->fold);
}

static char *msg_codes_copy(const char *s, size_t n)
{
	return utf8_valid(s, n) ? xstrndup(s, n) : utf8_sanitize(s, n);
}

static void msg_codes_add(struct msg_codes_run *run, const struct msg_codes_src *src, const struct msg_codes_cand *c,
                          int points, int with_prev)
{
	if ((run->n + 1) * 2 > run->nslot) {
		size_t old = run->nslot;
		size_t *olds = run->slot;
		run->nslot = old ? old * 2 : 16;
		run->slot = xcalloc(run->nslot, sizeof *run->slot);
		for (size_t i = 0; i < old; i++) {
			if (olds[i] != 0)
				*msg_codes_slot(run, run->f[olds[i] - 1].value) = olds[i];
		}
		free(olds);
	}
	size_t *slot = msg_codes_slot(run, c->value);
	if (*slot != 0) {
		struct msg_codes_found *f = &run->f[*slot - 1];
		if (points > f->points) {
			free(f->code);
			free(f->context);
			f->code = msg_codes_copy(src->t + c->s, c->e - c->s);
			f->context = msg_codes_context(src, c, with_prev);
			f->points = points;
		}
		return;
	}
	if (run->n == run->cap) {
		run->cap = run->cap ? run->cap * 2 : 8;
		run->f = xrealloc(run->f, run->cap * sizeof *run->f);
	}
	struct msg_codes_found *f = &run->f[run->n++];
	f->code = msg_codes_copy(src->t + c->s, c->e - c->s);
	f->value = xstrdup(c->value);
	f->context = msg_codes_context(src, c, with_prev);
	f->points = points;
	f->order = run->order++;
	*slot = run->n;
}

static int msg_codes_alone(const struct msg_codes_src *src, const struct msg_codes_cand *c, int *emphasis)
{
	size_t line = src->tok[c->ti].line;
	int alone = 1;
	for (size_t j = c->ti; alone && j > 0 && src->tok[j - 1].line == line; j--) {
		if (msg_codes_is_word(&src->tok[j - 1]))
			alone = 0;
	}
	for (size_t j = c->tj + 1; alone && j < src->ntok && src->tok[j].line == line; j++) {
		if (msg_codes_is_word(&src->tok[j]))
			alone = 0;
	}
	size_t b = msg_codes_neighbour(src, c, -1), a = msg_codes_neighbour(src, c, +1);
	*emphasis = b != SIZE_MAX && a != SIZE_MAX && src->tok[b].type == MSG_CODES_T_PUNCT &&
	            src->tok[a].type == MSG_CODES_T_PUNCT && src->tok[b].e == c->s && src->tok[a].s == c->e &&
	            msg_codes_emphasis_mark(src->tok[b].cp) && msg_codes_emphasis_mark(src->tok[a].cp);
	return alone;
}

/*
 * Every candidate of one source, scored. With score == 0 it only collects
 * values (for the subject's "contains the code" test).
 */
static void msg_codes_scan(struct msg_codes_run *run, const char *text, int is_subject, int collect_only)
{
	struct msg_codes_src src;
	msg_codes_src_init(&src, text, is_subject ? MSG_CODES_SUBJECT_MAX : MSG_CODES_SOURCE_MAX, &run->ix);
	for (size_t i = 0; i < src.ntok; i++) {
		if (!msg_codes_eligible(&src.tok[i]))
			continue;
		struct msg_codes_cand c;
		int ok;
		size_t j = msg_codes_chain(&src, i, &c, &ok);
		i = j;
		if (!ok)
			continue;
		if (collect_only) {
			run->subject_values =
			        xrealloc(run->subject_values, (run->nsubject_values + 1) * sizeof *run->subject_values);
			memcpy(run->subject_values[run->nsubject_values++], c.value, c.vlen + 1);
			continue;
		}
		if (msg_codes_excluded(&src, &c))
			continue;
		struct msg_codes_near before = {0, MSG_CODES_FAR, MSG_CODES_FAR, MSG_CODES_FAR, 0};
		struct msg_codes_near after = {0, MSG_CODES_FAR, MSG_CODES_FAR, MSG_CODES_FAR, 0};
		msg_codes_walk(&src, &c, -1, &before);
		msg_codes_walk(&src, &c, +1, &after);
		if (before.promo || after.promo)
			continue;
		int code_d = before.code_d < after.code_d ? before.code_d : after.code_d;
		int id_d = before.id_d < after.id_d ? before.id_d : after.id_d;
		int phone_d = before.phone_d < after.phone_d ? before.phone_d : after.phone_d;
		if (id_d < code_d)
			continue;
		if (c.vlen >= 7 && !c.alnum && phone_d < code_d)
			continue;
		int label = before.code > after.code ? before.code : after.code;
		if (label == 0 && msg_codes_postal_form(&src, &c))
			continue;
		int emphasis;
		int alone = msg_codes_alone(&src, &c, &emphasis);
		if (c.alnum) {
			/* only right beside a code word */
			int near = before.code_d <= 2 * MSG_CODES_ALNUM_BEFORE ||
			           after.code_d <= 2 * MSG_CODES_ALNUM_AFTER + 1 || (alone && before.code_d < 200);
			if (!near)
				continue;
		}
		int points = label;
		if (alone)
			points += MSG_CODES_W_ALONE;
		if (emphasis)
			points += MSG_CODES_W_EMPHASIS;
		if (run->subject_word)
			points += MSG_CODES_W_SUBJECT_WORD;
		if (!is_subject) {
			for (size_t k = 0; k < run->nsubject_values; k++) {
				if (strcmp(run->subject_values[k], c.value) == 0) {
					points += MSG_CODES_W_SUBJECT_VALUE;
					break;
				}
			}
		}
		if (c.vlen == 6)
			points += MSG_CODES_W_LEN6;
		else if (c.vlen == 4 || c.vlen == 8)
			points += MSG_CODES_W_LEN48;
		else if (c.vlen == 5 || c.vlen == 7)
			points += MSG_CODES_W_LEN57;
		if (c.grouped)
			points += MSG_CODES_W_GROUPED;
		if (points > 100)
			points = 100;
		if (points < MSG_CODES_MIN_POINTS)
			continue;
		int with_prev = alone && before.code_d >= 100 && before.code_d < 200;
		msg_codes_add(run, &src, &c, points, with_prev);
	}
	msg_codes_src_free(&src);
}

/* Does the subject name a code? */
static int msg_codes_subject_word(const struct msg_codes_index *ix, const char *subject)
{
	struct msg_codes_src src;
	msg_codes_src_init(&src, subject, MSG_CODES_SUBJECT_MAX, ix);
	int found = 0;
	for (size_t j = 0; j < src.ntok && !found; j++) {
		if (!msg_codes_is_word(&src.tok[j]))
			continue;
		int l = msg_codes_label_at(&src, j, +1);
		found = l == L_CODE || l == L_WEAK;
	}
	msg_codes_src_free(&src);
	return found;
}

static int msg_codes_cmp(const void *a, const void *b)
{
	const struct msg_codes_found *x = a, *y = b;
	if (x->points != y->points)
		return y->points - x->points;
	return x->order < y->order ? -1 : x->order > y->order;
}

void msg_codes_extract(const char *subject, const char *text, const char *html_text, struct msg_codes *out)
{
	out->items = NULL;
	out->n = 0;
	struct msg_codes_run *run = xcalloc(1, sizeof *run);
	msg_codes_index_build(&run->ix);
	if (subject != NULL) {
		run->subject_word = msg_codes_subject_word(&run->ix, subject);
		msg_codes_scan(run, subject, 1, 1);
	}
	if (text != NULL)
		msg_codes_scan(run, text, 0, 0);
	if (html_text != NULL)
		msg_codes_scan(run, html_text, 0, 0);
	if (subject != NULL)
		msg_codes_scan(run, subject, 1, 0);
	if (run->n > 0) {
		qsort(run->f, run->n, sizeof *run->f, msg_codes_cmp);
		out->items = xcalloc(run->n, sizeof *out->items);
		for (size_t i = 0; i < run->n; i++) {
			out->items[i].code = run->f[i].code;
			out->items[i].value = run->f[i].value;
			out->items[i].context = run->f[i].context;
			out->items[i].score = run->f[i].points / 100.0;
		}
		out->n = run->n;
	}
	free(run->f);
	free(run->slot);
	free(run->subject_values);
	free(run);
}

void msg_codes_free(struct msg_codes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].code);
		free(c->items[i].value);
		free(c->items[i].context);
	}
	free(c->items);
	c->items = NULL;
	c->n = 0;
}
