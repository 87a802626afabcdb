/*
 * msg_codes_words: the words that say what a number is, in the languages
 * mail comes in: code words (code, OTP, PIN, Bestätigungscode, 验证码 ...),
 * identifiers (order, invoice, ticket ...), promotions, telephones, units,
 * months, currencies. Part of msg_codes (see msg_codes.h,
 * msg_codes_internal.h).
 *
 * msg_codes_labels[] is the table; msg_codes_index_new() files it by first
 * and last byte once per extraction, so looking up a word costs a few
 * comparisons. A token's label is looked up on its lower-case form (folded
 * once and kept in the source); phrases of several words are matched word
 * by word along the tokens. Also here: CJK counter characters (年, 月, 個
 * ...) and the marks that set a code apart (*123456*, 「123456」).
 *
 * Promises: lookups are memoised per token, so a label walk over the same
 * tokens costs nothing the second time. Does not: decide anything about a
 * candidate (msg_codes.c does).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_codes_internal.h"

/* ---- currency signs (a label of their own) ---- */

static int msg_codes_is_currency(uint32_t c)
{
	return c == '$' || (c >= 0xA2 && c <= 0xA5) || (c >= 0x20A0 && c <= 0x20CF) || c == 0xFFE0 || c == 0xFFE1 ||
	       c == 0xFFE5 || c == 0xFFE6;
}

/* ---- the label table ---- */

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

#define M_EQ  MSG_CODES_M_EQ
#define M_PRE MSG_CODES_M_PRE
#define M_SUF MSG_CODES_M_SUF
#define M_ANY MSG_CODES_M_ANY

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

struct msg_codes_index *msg_codes_index_new(void)
{
	struct msg_codes_index *ix = xcalloc(1, sizeof *ix);
	msg_codes_index_build(ix);
	return ix;
}

void msg_codes_index_free(struct msg_codes_index *ix)
{
	free(ix);
}

/* ---- labels of tokens ---- */

/* The lower-case form of token j (kept in src->fold). */
static const char *msg_codes_folded(struct msg_codes_src *src, size_t j, size_t *len)
{
	struct msg_codes_tok *k = &src->tok[j];
	if (k->fold_len == SIZE_MAX) {
		k->fold_off = src->fold.len;
		for (size_t i = k->s; i < k->e;) {
			uint32_t c;
			size_t l = utf8_decode((const unsigned char *)src->t + i, k->e - i, &c);
			utf8_append(&src->fold, utf8_lower(c));
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
int msg_codes_word_label(struct msg_codes_src *src, size_t j)
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
int msg_codes_label_at(struct msg_codes_src *src, size_t j, int dir)
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

/* ---- marks and counters ---- */

int msg_codes_cjk_unit(uint32_t c)
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

int msg_codes_emphasis_mark(uint32_t c)
{
	return c == '*' || c == '_' || c == '[' || c == ']' || c == '"' || c == '\'' || c == 0x300C || c == 0x300D ||
	       c == 0x3010 || c == 0x3011 || c == 0x300E || c == 0x300F || c == 0xAB || c == 0xBB || c == 0x201C ||
	       c == 0x201D || c == 0xFF3B || c == 0xFF3D;
}
