/*
 * test_msg_extract: links (msg_links) and one-time codes (msg_codes).
 *
 * Unit cases pin each rule of the two tables; the corpus case runs every
 * message of tests/corpus/messages/ through msg_inspect and both extractors
 * and holds them to expected.json: each expected code must rank first, a
 * message without a code must yield none, each expected link must be found
 * with its kind, and no link may carry a kind expected.json does not give it
 * (precision). Per-file results and the totals are printed.
 */
#include <jansson.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "msg/msg_codes.h"
#include "msg/msg_inspect.h"
#include "msg/msg_links.h"
#include "msg/msg_summary.h"

/* ---- helpers ---- */

static const struct msg_link *find_link(const struct msg_links *l, const char *url, const char *source)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].url, url) == 0 && (source == NULL || strcmp(l->items[i].source, source) == 0))
			return &l->items[i];
	}
	return NULL;
}

static void assert_link(const struct msg_links *l, const char *url, const char *source, enum msg_link_kind kind)
{
	const struct msg_link *k = find_link(l, url, source);
	if (k == NULL) {
		for (size_t i = 0; i < l->n; i++)
			print_message("  have %s %s %s\n", l->items[i].source, l->items[i].url,
			              msg_link_kind_name(l->items[i].kind));
		fail_msg("no link %s from %s", url, source ? source : "any source");
	}
	if (k->kind != kind)
		fail_msg("%s: kind %s, want %s (text \"%s\")", url, msg_link_kind_name(k->kind),
		         msg_link_kind_name(kind), k->text);
}

static enum msg_link_kind kind_of_anchor(const char *href, const char *text)
{
	char html[1024];
	snprintf(html, sizeof html, "<a href=\"%s\">%s</a>", href, text);
	struct msg_links l;
	msg_links_extract(html, NULL, NULL, &l);
	assert_int_equal(l.n, 1);
	enum msg_link_kind k = l.items[0].kind;
	msg_links_free(&l);
	return k;
}

/* The best code's value, or NULL; the caller frees. */
static char *top_code(const char *subject, const char *text, const char *html_text)
{
	struct msg_codes c;
	msg_codes_extract(subject, text, html_text, &c);
	char *v = c.n > 0 ? xstrdup(c.items[0].value) : NULL;
	msg_codes_free(&c);
	return v;
}

static void assert_top(const char *subject, const char *text, const char *want)
{
	char *v = top_code(subject, text, NULL);
	if (want == NULL && v != NULL)
		fail_msg("\"%s\": found %s, want none", text, v);
	if (want != NULL && (v == NULL || strcmp(v, want) != 0))
		fail_msg("\"%s\": found %s, want %s", text, v ? v : "none", want);
	free(v);
}

/* ---- links ---- */

static void test_links_html_sources(void **state)
{
	const char *html = "<p>Hi</p><a href=\"  https://x.example/a?b=1&amp;c=2\n \">Go &amp; see</a>"
	                   "<map><area href=\"https://x.example/area\" alt=\"Region\"></map>"
	                   "<img src=\"https://cdn.example/i.png\" alt=\" Logo\n of X \">"
	                   "<img srcset=\"https://cdn.example/s1.png 1x, https://cdn.example/s2.png 2x\">"
	                   "<a href=\"relative/path\">Rel</a>";
	struct msg_links l;
	msg_links_extract(html, NULL, NULL, &l);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.items[0].url, "https://x.example/a?b=1&c=2");
	assert_string_equal(l.items[0].text, "Go & see");
	assert_string_equal(l.items[0].source, "html:a");
	assert_string_equal(l.items[1].source, "html:area");
	assert_string_equal(l.items[1].text, "Region");
	assert_string_equal(l.items[2].source, "html:img");
	assert_string_equal(l.items[2].text, "Logo of X");
	assert_string_equal(l.items[3].url, "https://cdn.example/s1.png");
	assert_string_equal(l.items[4].url, "relative/path");
	msg_links_free(&l);
}

static void test_links_skipped_schemes(void **state)
{
	const char *html = "<a href=\"javascript:alert(1)\">x</a><a href=\" JaVa\tScript:x\">x</a>"
	                   "<a href=\"data:text/html,hi\">x</a><img src=\"cid:logo@x\"><a href=\"#top\">top</a>"
	                   "<a href=\"\">empty</a><a>no href</a><a href=\"vbscript:x\">x</a>"
	                   "<a href=\"mailto:help@x.example\">Mail</a><a href=\"tel:+15550100\">Call</a>";
	struct msg_links l;
	msg_links_extract(html, NULL, NULL, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].url, "mailto:help@x.example");
	assert_string_equal(l.items[1].url, "tel:+15550100");
	msg_links_free(&l);
}

static void test_links_anchor_text(void **state)
{
	const char *html =
	        "<a href=\"https://x.example/1\">  Reset\n   <b>your</b>&nbsp;password </a>"
	        "<a href=\"https://x.example/2\"><img src=\"https://x.example/b.png\" alt=\"Verify email\"></a>"
	        "<a href=\"https://x.example/3\"><div>Block</div><div>text</div></a>";
	struct msg_links l;
	msg_links_extract(html, NULL, NULL, &l);
	assert_link(&l, "https://x.example/1", "html:a", MSG_LINK_RESET);
	assert_string_equal(find_link(&l, "https://x.example/1", "html:a")->text, "Reset your password");
	assert_link(&l, "https://x.example/2", "html:a", MSG_LINK_VERIFY);
	assert_string_equal(find_link(&l, "https://x.example/2", "html:a")->text, "Verify email");
	assert_link(&l, "https://x.example/b.png", "html:img", MSG_LINK_OTHER);
	assert_string_equal(find_link(&l, "https://x.example/3", "html:a")->text, "Block text");
	msg_links_free(&l);
}

static void test_links_dedupe(void **state)
{
	const char *html = "<a href=\"https://x.example/u\"><img src=\"https://x.example/i.png\"></a>"
	                   "<a href=\"https://x.example/u\">Unsubscribe</a><a href=\"https://x.example/u\">again</a>";
	const char *text = "https://x.example/u\nand https://x.example/u again";
	struct msg_links l;
	msg_links_extract(html, text, "<https://x.example/u>", &l);
	assert_int_equal(l.n, 4); /* html:a, html:img, text, header */
	const struct msg_link *a = find_link(&l, "https://x.example/u", "html:a");
	assert_string_equal(a->text, "Unsubscribe");
	assert_int_equal(a->kind, MSG_LINK_UNSUBSCRIBE);
	assert_string_equal(l.items[0].source, "html:a");
	assert_string_equal(l.items[2].source, "text");
	assert_string_equal(l.items[3].source, "header:List-Unsubscribe");
	msg_links_free(&l);
}

static void test_links_text_punctuation(void **state)
{
	const char *text = "See https://x.example/a. Or (https://x.example/b) or https://x.example/c_(d), "
	                   "\"https://x.example/e\", https://x.example/f?x=1&y=2! <https://x.example/g\n  /h> "
	                   "www.x.example/i; mail@www.x.example; https:// alone; https://x.example/日本語のテキスト "
	                   "HTTPS://X.EXAMPLE/J* and https://[::1]:8080/k";
	struct msg_links l;
	msg_links_extract(NULL, text, NULL, &l);
	const char *want[] = {"https://x.example/a", "https://x.example/b",         "https://x.example/c_(d)",
	                      "https://x.example/e", "https://x.example/f?x=1&y=2", "https://x.example/g/h",
	                      "www.x.example/i",     "https://x.example/",          "HTTPS://X.EXAMPLE/J",
	                      "https://[::1]:8080/k"};
	size_t nwant = sizeof want / sizeof want[0];
	if (l.n != nwant) {
		for (size_t i = 0; i < l.n; i++)
			print_message("  %s\n", l.items[i].url);
	}
	assert_int_equal(l.n, nwant);
	for (size_t i = 0; i < nwant; i++) {
		assert_string_equal(l.items[i].url, want[i]);
		assert_string_equal(l.items[i].source, "text");
	}
	msg_links_free(&l);
}

static void test_links_list_unsubscribe(void **state)
{
	struct msg_links l;
	msg_links_extract(NULL, NULL,
	                  "<mailto:leave@x.example?subject=unsubscribe>, (comment) <https://x.example/u/\r\n 1>, "
	                  "<ftp://x.example/no>, <HTTP://X.EXAMPLE/ok>",
	                  &l);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].url, "mailto:leave@x.example?subject=unsubscribe");
	assert_string_equal(l.items[1].url, "https://x.example/u/1");
	assert_string_equal(l.items[2].url, "HTTP://X.EXAMPLE/ok");
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.items[i].kind, MSG_LINK_UNSUBSCRIBE);
		assert_string_equal(l.items[i].source, "header:List-Unsubscribe");
	}
	msg_links_free(&l);
}

static void test_links_kinds_by_text(void **state)
{
	const char *u = "https://click.esp.example/ls/click?upn=abc";
	struct {
		const char *text;
		enum msg_link_kind kind;
	} cases[] = {
	        {"Reset your password", MSG_LINK_RESET},
	        {"Passwort zurücksetzen", MSG_LINK_RESET},
	        {"Restablecer contraseña", MSG_LINK_RESET},
	        {"Réinitialiser le mot de passe", MSG_LINK_RESET},
	        {"Redefinir senha", MSG_LINK_RESET},
	        {"パスワードを再設定する", MSG_LINK_RESET},
	        {"Сбросить пароль", MSG_LINK_RESET},
	        {"Verify email", MSG_LINK_VERIFY},
	        {"E-Mail bestätigen", MSG_LINK_VERIFY},
	        {"E-MAIL BESTÄTIGEN", MSG_LINK_VERIFY},
	        {"Confirmar correo", MSG_LINK_VERIFY},
	        {"Confirmer mon adresse", MSG_LINK_VERIFY},
	        {"Bevestig je e-mailadres", MSG_LINK_VERIFY},
	        {"Activate your account", MSG_LINK_VERIFY},
	        {"验证邮箱", MSG_LINK_VERIFY},
	        {"Confirm order", MSG_LINK_OTHER},
	        {"Sign in to Acme", MSG_LINK_LOGIN},
	        {"Log in", MSG_LINK_LOGIN},
	        {"Jetzt anmelden", MSG_LINK_LOGIN},
	        {"Iniciar sesión", MSG_LINK_LOGIN},
	        {"Se connecter", MSG_LINK_LOGIN},
	        {"ログイン", MSG_LINK_LOGIN},
	        {"Unsubscribe", MSG_LINK_UNSUBSCRIBE},
	        {"Newsletter abmelden", MSG_LINK_UNSUBSCRIBE},
	        {"Darse de baja", MSG_LINK_UNSUBSCRIBE},
	        {"Se désabonner", MSG_LINK_UNSUBSCRIBE},
	        {"Отписаться", MSG_LINK_UNSUBSCRIBE},
	        {"配信停止", MSG_LINK_UNSUBSCRIBE},
	        {"Bajar la app", MSG_LINK_OTHER},
	        {"Read more", MSG_LINK_OTHER},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum msg_link_kind k = kind_of_anchor(u, cases[i].text);
		if (k != cases[i].kind)
			fail_msg("\"%s\": %s, want %s", cases[i].text, msg_link_kind_name(k),
			         msg_link_kind_name(cases[i].kind));
	}
}

static void test_links_kinds_by_url(void **state)
{
	struct {
		const char *url;
		enum msg_link_kind kind;
	} cases[] = {
	        {"https://x.example/users/password/edit?reset_password_token=abc", MSG_LINK_RESET},
	        {"https://x.example/forgot-password/abc", MSG_LINK_RESET},
	        {"https://x.example/users/confirmation?confirmation_token=abc", MSG_LINK_VERIFY},
	        {"https://x.example/verify-email?t=1", MSG_LINK_VERIFY},
	        {"https://x.example/orders/123/confirmation", MSG_LINK_OTHER},
	        {"https://x.example/auth/magic?token=abc", MSG_LINK_LOGIN},
	        {"https://x.example/passwordless/start?t=1", MSG_LINK_LOGIN},
	        {"https://x.example/auth/callback?token=abc", MSG_LINK_LOGIN},
	        {"https://x.example/login", MSG_LINK_LOGIN},
	        {"https://x.example/email/unsubscribe?e=1", MSG_LINK_UNSUBSCRIBE},
	        {"https://t.example/r?url=https%3A%2F%2Fx.example%2Freset%3Ft%3D1", MSG_LINK_RESET},
	        {"mailto:leave@x.example?subject=Unsubscribe", MSG_LINK_UNSUBSCRIBE},
	        {"https://x.example/blog/presets", MSG_LINK_OTHER},
	        {"https://x.example/author/jane", MSG_LINK_OTHER},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum msg_link_kind k = kind_of_anchor(cases[i].url, "Click here");
		if (k != cases[i].kind)
			fail_msg("%s: %s, want %s", cases[i].url, msg_link_kind_name(k),
			         msg_link_kind_name(cases[i].kind));
	}
	/* anchor text first: Supabase-style magic links point at /verify */
	assert_int_equal(kind_of_anchor("https://x.example/auth/v1/verify?token=a&type=magiclink", "Log In"),
	                 MSG_LINK_LOGIN);
	assert_int_equal(kind_of_anchor("https://x.example/auth/v1/verify?token=a&type=recovery", "Click"),
	                 MSG_LINK_RESET);
}

static void test_links_context(void **state)
{
	const char *html =
	        "<p>To reset your password, <a href=\"https://x.example/1\">click here</a>.</p>"
	        "<p><a href=\"https://x.example/2\">Click here</a> to confirm your email.</p>"
	        "<p>Sign in to your account:</p><p><a href=\"https://x.example/3\">this link</a></p>"
	        "<p>If you did not ask for a password reset, <a href=\"https://x.example/4\">contact us</a>.</p>";
	struct msg_links l;
	msg_links_extract(html, NULL, NULL, &l);
	assert_link(&l, "https://x.example/1", "html:a", MSG_LINK_RESET);
	assert_link(&l, "https://x.example/2", "html:a", MSG_LINK_VERIFY);
	assert_link(&l, "https://x.example/3", "html:a", MSG_LINK_LOGIN);
	assert_link(&l, "https://x.example/4", "html:a", MSG_LINK_OTHER);
	msg_links_free(&l);

	const char *text = "Reset your password:\n\nhttps://x.example/r/1\nhttps://x.example/help\n"
	                   "Unsubscribe: https://x.example/u/2 | Help: https://x.example/h";
	msg_links_extract(NULL, text, NULL, &l);
	assert_link(&l, "https://x.example/r/1", "text", MSG_LINK_RESET);
	assert_link(&l, "https://x.example/help", "text", MSG_LINK_OTHER);
	assert_link(&l, "https://x.example/u/2", "text", MSG_LINK_UNSUBSCRIBE);
	assert_link(&l, "https://x.example/h", "text", MSG_LINK_OTHER);
	msg_links_free(&l);
}

static void test_links_kind_names(void **state)
{
	enum msg_link_kind k;
	for (int i = MSG_LINK_RESET; i <= MSG_LINK_OTHER; i++) {
		assert_int_equal(msg_link_kind_parse(msg_link_kind_name((enum msg_link_kind)i), &k), 0);
		assert_int_equal(k, i);
	}
	assert_int_equal(msg_link_kind_parse("Unsubscribe", &k), 0);
	assert_int_equal(k, MSG_LINK_UNSUBSCRIBE);
	assert_int_equal(msg_link_kind_parse("nope", &k), -1);
	assert_int_equal(msg_link_kind_parse(NULL, &k), -1);
	assert_string_equal(msg_link_kind_name((enum msg_link_kind)42), "other");
}

static void test_links_null_and_empty(void **state)
{
	struct msg_links l;
	msg_links_extract(NULL, NULL, NULL, &l);
	assert_int_equal(l.n, 0);
	msg_links_free(&l);
	msg_links_extract("", "", "", &l);
	assert_int_equal(l.n, 0);
	msg_links_free(&l);
	char *t = msg_html_text(NULL);
	assert_string_equal(t, "");
	free(t);
}

static void test_html_text(void **state)
{
	const char *html = "<html><head><title>T</title><style>p{color:red}</style><script>var a=1;</script></head>"
	                   "<body><noscript>no</noscript><template><p>tpl</p></template>"
	                   "<h1>  Hello\n   world </h1><p>one<br>two &amp; three&nbsp;&nbsp;four</p>"
	                   "<div>a<span> b </span>c</div><table><tr><td>Code</td><td>123456</td></tr></table>"
	                   "<pre>x  y\nz</pre><p>zero&#8203;width &zwnj;</p><!-- comment --></body></html>";
	char *t = msg_html_text(html);
	assert_string_equal(t, "Hello world\none\ntwo & three four\na b c\nCode 123456\nx y\nz\nzerowidth");
	free(t);
}

/* 20,000 nested elements would take gumbo seconds; the depth bound keeps it fast and keeps text and links. */
static void test_html_deep_nesting(void **state)
{
	size_t n = 200000;
	char *html = xmalloc(n * 5 + 64);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(html + k, "<div>", 5);
		k += 5;
	}
	strcpy(html + k, "deep <a href=\"https://x.example/deep\">link</a>");
	struct msg_links l;
	msg_links_extract(html, NULL, NULL, &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].url, "https://x.example/deep");
	msg_links_free(&l);
	char *t = msg_html_text(html);
	assert_string_equal(t, "deep link");
	free(t);
	/*
	 * Unclosed elements behind end tags the parser ignores must not slip past
	 * the bound (without it, 40,000 of each take gumbo tens of seconds).
	 */
	const char *ignored[] = {"<b><div></b>", "<span><div></span>", "<div><table></div>", "<a><table><a>"};
	for (size_t p = 0; p < sizeof ignored / sizeof ignored[0]; p++) {
		size_t len = strlen(ignored[p]);
		k = 0;
		for (size_t i = 0; i < 40000; i++) {
			memcpy(html + k, ignored[p], len);
			k += len;
		}
		html[k] = '\0';
		t = msg_html_text(html);
		free(t);
	}
	free(html);
}

/* ---- codes ---- */

static void test_codes_basic(void **state)
{
	struct msg_codes c;
	msg_codes_extract("Your code", "Your verification code is 482913. It expires in 10 minutes.", NULL, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.items[0].code, "482913");
	assert_string_equal(c.items[0].value, "482913");
	assert_string_equal(c.items[0].context, "Your verification code is 482913. It expires in 10 minutes.");
	assert_true(c.items[0].score > 0.5 && c.items[0].score <= 1.0);
	msg_codes_free(&c);
	msg_codes_extract(NULL, NULL, NULL, &c);
	assert_int_equal(c.n, 0);
	msg_codes_free(&c);
}

static void test_codes_grouped(void **state)
{
	assert_top(NULL, "Your code: 123 456", "123456");
	assert_top(NULL, "Your code: 123-456", "123456");
	assert_top(NULL, "Your code: 12 34 56", "123456");
	assert_top(NULL, "Your code: 1234 5678", "12345678");
	assert_top(NULL,
	           "Your code: 123\xc2\xa0"
	           "456",
	           "123456");
	assert_top(NULL, "Code: 7KQ-4PX", "7KQ4PX");
	/* unequal groups are something else */
	assert_top(NULL, "Your code: 123 4567", NULL);
	assert_top(NULL, "Code 1234 5678 9012", NULL);
	struct msg_codes c;
	msg_codes_extract(NULL, "Security code: 019-573", NULL, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.items[0].code, "019-573");
	assert_string_equal(c.items[0].value, "019573");
	msg_codes_free(&c);
}

static void test_codes_alphanumeric(void **state)
{
	assert_top(NULL, "Your sign-in code is: X4K9QZ", "X4K9QZ");
	assert_top(NULL, "Verification code:\nA7B2C9\n", "A7B2C9");
	assert_top(NULL, "Your device X4K9QZ was added.", NULL);         /* no code word */
	assert_top(NULL, "Use promo code SPRING2026 for 20% off", NULL); /* promotion, and a word in it */
	assert_top(NULL, "Your code expires on the 20th", NULL);
	assert_top(NULL, "Gutscheincode: HERBST25", NULL);
}

static void test_codes_dates_times(void **state)
{
	const char *no[] = {
	        "Code sent on 2026-11-28.",           "Code valid until 28.11.2026",
	        "Code valid until 11/28/2026",        "Your code was sent at 12:30",
	        "Code requested on 28 November 2026", "Code requested in Nov 2026",
	        "© 2026 Acme, your code provider",    "Code 2026年11月28日",
	        "Code expires in 1440 minutes",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_top(NULL, no[i], NULL);
}

static void test_codes_amounts_phones(void **state)
{
	const char *no[] = {
	        "Code: $1234",
	        "Code: 1234 €",
	        "Code: 1234 EUR",
	        "Code amount 1,234.00",
	        "Code 12.50",
	        "Call +1 555 0100 for your code",
	        "Code hotline (030) 1234567",
	        "Code line: +49 30 1234567",
	        "Phone 05551234567 (for codes)",
	        "Code 1234%",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_top(NULL, no[i], NULL);
	/* "phone" beside a six-digit code does not make it a telephone number */
	assert_top(NULL, "Enter this code on your phone: 482913", "482913");
}

static void test_codes_labelled_numbers(void **state)
{
	const char *no[] = {
	        "Order #12345678",
	        "Order number: 12345678",
	        "Invoice 20260042 (code inside)",
	        "Your ticket 445566 is open",
	        "Bestellnummer: 98765432",
	        "Commande n° 778812",
	        "Tracking number 12345678 for your code",
	        "Customer ID 88123",
	        "Reference: 20264411",
	        "注文番号: 55120034",
	        "https://x.example/verify?code=123456",
	        "mail 123456@x.example code",
	        "10115 Berlin",
	        "Springfield, IL 62701",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_top(NULL, no[i], NULL);
	/* a code word nearer than the label wins */
	assert_top(NULL, "Your account verification code: 662190", "662190");
	assert_top(NULL, "Order 12345678 - your code is 482913", "482913");
	assert_top(NULL, "Enter the code below to confirm your order:\n\n553201", "553201");
	assert_top(NULL, "Order number:\n553201", NULL);
}

static void test_codes_languages(void **state)
{
	assert_top(NULL, "Ihr Bestätigungscode lautet: 731904", "731904");
	assert_top(NULL, "Votre code de vérification est 610288.", "610288");
	assert_top(NULL, "Tu código de verificación es: 8342", "8342");
	assert_top(NULL, "Il tuo codice di verifica è 734915", "734915");
	assert_top(NULL, "Seu código é 662190", "662190");
	assert_top(NULL, "Je verificatiecode is 582017", "582017");
	assert_top(NULL, "Twój kod weryfikacyjny: 441720", "441720");
	assert_top(NULL, "Din verifieringskod är 803615", "803615");
	assert_top(NULL, "認証コード：７２９４１０", "729410");
	assert_top(NULL, "您的验证码是394027，5分钟内有效。", "394027");
	assert_top(NULL, "인증번호 [204816]을 입력해주세요.", "204816");
	assert_top(NULL, "Ваш код: 517388", "517388");
	assert_top(NULL, "123456 is your one-time password", "123456");
	assert_top(NULL, "Your OTP: 9921", "9921");
}

static void test_codes_ranking(void **state)
{
	struct msg_codes c;
	/* alone on its line with a code word above beats a number in running text */
	msg_codes_extract("Your login code",
	                  "Hi, we saw 2 sign-ins and 13 attempts since 8412 days.\nYour login code:\n\n  391604\n\n"
	                  "Reference code list 5521 for support.",
	                  NULL, &c);
	assert_true(c.n >= 1);
	assert_string_equal(c.items[0].value, "391604");
	assert_string_equal(c.items[0].context, "Your login code: 391604");
	for (size_t i = 1; i < c.n; i++)
		assert_true(c.items[i - 1].score >= c.items[i].score);
	msg_codes_free(&c);
	/* the same value in text and HTML is one code; the subject holding the value counts */
	msg_codes_extract("391604 is your code", "Code: 391604", "Your code\n391604", &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.items[0].value, "391604");
	msg_codes_free(&c);
	/* without any code word a lone number stays under the threshold */
	assert_top(NULL, "Thanks!\n\n482913\n", NULL);
	assert_top("Your code", "Thanks!\n\n482913\n", "482913");
}

/* ---- the corpus ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = xmalloc((size_t)n + 1);
	size_t got = fread(b, 1, (size_t)n, f);
	fclose(f);
	b[got] = '\0';
	*len = got;
	return b;
}

static const char *corpus_dir(char *buf, size_t size)
{
	const char *env = getenv("MAILSCOPE_SOURCE_DIR");
	if (env != NULL) {
		snprintf(buf, size, "%s/tests/corpus/messages", env);
		return buf;
	}
	char file[4096];
	snprintf(file, sizeof file, "%s", __FILE__);
	snprintf(buf, size, "%s/../corpus/messages", dirname(file));
	return buf;
}

static const char *const kinds[] = {"reset", "verify", "login", "unsubscribe"};

static int json_has(json_t *arr, const char *url)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), url) == 0)
			return 1;
	}
	return 0;
}

static void test_corpus(void **state)
{
	char dir[4096], path[8192];
	corpus_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/expected.json", dir);
	json_error_t jerr;
	json_t *expected = json_load_file(path, 0, &jerr);
	if (expected == NULL)
		fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);

	size_t files = 0, code_expected = 0, code_top = 0, code_reported = 0, code_false = 0;
	size_t link_expected = 0, link_found = 0, link_reported = 0, link_misfiled = 0;
	int failed = 0;
	const char *name;
	json_t *want;
	json_object_foreach(expected, name, want)
	{
		snprintf(path, sizeof path, "%s/%s", dir, name);
		size_t len = 0;
		char *raw = read_file(path, &len);
		if (raw == NULL)
			fail_msg("cannot read %s", path);
		files++;
		struct msg_inspection in;
		msg_inspect((const uint8_t *)raw, len, &in);
		char *html_text = in.html ? msg_html_text(in.html) : NULL;
		struct msg_links links;
		struct msg_codes codes;
		msg_links_extract(in.html, in.text, in.list_unsubscribe, &links);
		msg_codes_extract(in.summary.subject, in.text, html_text, &codes);

		struct buf line;
		buf_init(&line);
		int ok = 1;
		/* codes */
		json_t *jc = json_object_get(want, "code");
		const char *wc = json_is_string(jc) ? json_string_value(jc) : NULL;
		const char *top = codes.n > 0 ? codes.items[0].value : NULL;
		if (top != NULL)
			code_reported++;
		if (wc != NULL) {
			code_expected++;
			if (top != NULL && strcmp(top, wc) == 0) {
				code_top++;
			} else {
				ok = 0;
				buf_printf(&line, " code %s want %s;", top ? top : "none", wc);
			}
		} else if (top != NULL) {
			code_false++;
			ok = 0;
			buf_printf(&line, " code %s (%.2f \"%s\") want none;", top, codes.items[0].score,
			           codes.items[0].context);
		}
		/* links: recall */
		json_t *jl = json_object_get(want, "links");
		for (size_t k = 0; k < 4; k++) {
			json_t *arr = json_object_get(jl, kinds[k]);
			size_t i;
			json_t *v;
			enum msg_link_kind kind;
			msg_link_kind_parse(kinds[k], &kind);
			json_array_foreach(arr, i, v)
			{
				link_expected++;
				int hit = 0;
				for (size_t j = 0; j < links.n && !hit; j++)
					hit = links.items[j].kind == kind &&
					      strcmp(links.items[j].url, json_string_value(v)) == 0;
				if (hit) {
					link_found++;
				} else {
					ok = 0;
					buf_printf(&line, " missing %s %s;", kinds[k], json_string_value(v));
				}
			}
		}
		/* links: precision (each distinct url+kind once) */
		for (size_t j = 0; j < links.n; j++) {
			if (links.items[j].kind == MSG_LINK_OTHER)
				continue;
			int seen = 0;
			for (size_t q = 0; q < j && !seen; q++)
				seen = links.items[q].kind == links.items[j].kind &&
				       strcmp(links.items[q].url, links.items[j].url) == 0;
			if (seen)
				continue;
			link_reported++;
			const char *kn = msg_link_kind_name(links.items[j].kind);
			if (!json_has(json_object_get(jl, kn), links.items[j].url)) {
				link_misfiled++;
				ok = 0;
				buf_printf(&line, " misfiled %s %s (%s \"%s\");", kn, links.items[j].url,
				           links.items[j].source, links.items[j].text);
			}
		}
		print_message("%s %-40s code=%-9s links=%zu%s\n", ok ? "ok  " : "FAIL", name, top ? top : "-", links.n,
		              ok ? "" : buf_cstr(&line));
		buf_free(&line);
		if (!ok)
			failed = 1;
		msg_links_free(&links);
		msg_codes_free(&codes);
		free(html_text);
		msg_inspection_free(&in);
		free(raw);
	}
	json_decref(expected);
	size_t code_messages_with_output = code_reported;
	print_message("corpus: %zu messages\n", files);
	print_message("codes: %zu/%zu expected codes ranked first (recall %.3f); %zu of %zu code-free messages "
	              "reported a code; precision %.3f\n",
	              code_top, code_expected, code_expected ? (double)code_top / code_expected : 1.0, code_false,
	              files - code_expected,
	              code_messages_with_output ? (double)code_top / code_messages_with_output : 1.0);
	print_message("links: %zu/%zu expected found with their kind (recall %.3f); %zu of %zu classified links "
	              "misfiled (precision %.3f)\n",
	              link_found, link_expected, link_expected ? (double)link_found / link_expected : 1.0,
	              link_misfiled, link_reported,
	              link_reported ? (double)(link_reported - link_misfiled) / link_reported : 1.0);
	assert_true(files >= 30);
	assert_false(failed);
}

int main(void)
{
	msg_init();
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_links_html_sources),     cmocka_unit_test(test_links_skipped_schemes),
	        cmocka_unit_test(test_links_anchor_text),      cmocka_unit_test(test_links_dedupe),
	        cmocka_unit_test(test_links_text_punctuation), cmocka_unit_test(test_links_list_unsubscribe),
	        cmocka_unit_test(test_links_kinds_by_text),    cmocka_unit_test(test_links_kinds_by_url),
	        cmocka_unit_test(test_links_context),          cmocka_unit_test(test_links_kind_names),
	        cmocka_unit_test(test_links_null_and_empty),   cmocka_unit_test(test_html_text),
	        cmocka_unit_test(test_html_deep_nesting),      cmocka_unit_test(test_codes_basic),
	        cmocka_unit_test(test_codes_grouped),          cmocka_unit_test(test_codes_alphanumeric),
	        cmocka_unit_test(test_codes_dates_times),      cmocka_unit_test(test_codes_amounts_phones),
	        cmocka_unit_test(test_codes_labelled_numbers), cmocka_unit_test(test_codes_languages),
	        cmocka_unit_test(test_codes_ranking),          cmocka_unit_test(test_corpus),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	msg_shutdown();
	return rc;
}
