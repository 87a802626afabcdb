/*
 * store_common: the parts of store.h that do not depend on a backend:
 * freeing what the store hands out or takes (messages, listings, inbox
 * listings, SMTP sessions), inbox keys and the JSON columns of a header
 * summary; every backend shares them.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_backend.h"

void store_common_envelope_clear(struct store_envelope *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	free(env->mail_from);
	free(env->helo);
	free(env->helo_verb);
	free(env->client_ip);
	free(env->listener_mode);
	free(env->listener_addr);
	free(env->transfer);
	free(env->body);
	free(env->ret);
	free(env->envid);
	memset(env, 0, sizeof *env);
}

void store_common_list_item_clear(struct store_list_item *item)
{
	free(item->mail_from);
	free(item->from_json);
	free(item->to_json);
	free(item->subject);
	for (size_t i = 0; i < item->ninboxes; i++)
		free(item->inboxes[i]);
	free(item->inboxes);
	memset(item, 0, sizeof *item);
}

void store_message_free(struct store_message *m)
{
	if (m == NULL)
		return;
	store_common_envelope_clear(&m->env);
	free(m->raw);
	free(m);
}

void store_list_free(struct store_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nitems; i++)
		store_common_list_item_clear(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof *l);
}

void store_message_info_free(struct store_message_info *info)
{
	if (info == NULL)
		return;
	store_common_list_item_clear(&info->item);
	store_common_envelope_clear(&info->env);
	free(info->cc_json);
	free(info->date);
	free(info->message_id);
	memset(info, 0, sizeof *info);
	info->date_ms = INT64_MIN;
}

void store_inbox_list_free(struct store_inbox_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].address);
	free(l->items);
	memset(l, 0, sizeof *l);
}

void store_session_clear(struct store_session *s)
{
	if (s == NULL)
		return;
	free(s->listener_mode);
	free(s->listener_addr);
	free(s->client_ip);
	free(s->helo);
	free(s->tls_mode);
	free(s->tls_version);
	free(s->tls_cipher);
	free(s->tls_sni);
	free(s->auth_user);
	free(s->auth_mech);
	free(s->end_reason);
	free(s->transcript);
	free(s->diagnostics_json);
	for (size_t i = 0; i < s->ncodes; i++)
		free(s->codes[i]);
	free(s->codes);
	memset(s, 0, sizeof *s);
}

void store_session_free(struct store_session *s)
{
	if (s == NULL)
		return;
	store_session_clear(s);
	free(s);
}

void store_session_list_free(struct store_session_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nitems; i++)
		store_session_clear(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof *l);
}

/*
 * The domain starts after the last '@' that is not inside a quoted local
 * part ("a@b"@example.com). Only ASCII letters are lowered: an IDN domain
 * in UTF-8 keeps its bytes, and the local part is the recipient's business
 * (RFC 5321 2.4), so it is kept exactly as sent.
 */
char *store_inbox_key(const char *address)
{
	if (address == NULL)
		return xstrdup("");
	char *key = xstrdup(address);
	char *domain = NULL;
	int quoted = 0;
	for (char *p = key; *p; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '@' && !quoted)
			domain = p + 1;
	}
	if (domain != NULL) {
		for (char *p = domain; *p; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		}
	}
	return key;
}

static json_t *store_common_json_string(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : NULL;
	return j != NULL ? j : json_null();
}

static json_t *store_common_addr_json(const struct msg_addr *a)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", store_common_json_string(a->name));
	json_object_set_new(o, "address", store_common_json_string(a->address));
	return o;
}

static char *store_common_dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	if (s == NULL)
		abort(); /* jansson only fails to allocate */
	char *copy = xstrdup(s);
	free(s);
	return copy;
}

static char *store_common_addrs_json(const struct msg_addr *a, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, store_common_addr_json(&a[i]));
	return store_common_dump(arr);
}

void store_common_summary_json(const struct msg_summary *s, char **from_json, char **to_json, char **cc_json)
{
	*from_json = s->nfrom > 0 ? store_common_dump(store_common_addr_json(&s->from[0])) : xstrdup("null");
	*to_json = store_common_addrs_json(s->to, s->nto);
	*cc_json = store_common_addrs_json(s->cc, s->ncc);
}
