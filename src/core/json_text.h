/* json_text: a JSON string of text that may be anything a peer sent. */
#ifndef MAILSCOPE_CORE_JSON_TEXT_H
#define MAILSCOPE_CORE_JSON_TEXT_H

#include <jansson.h>

/* s as a JSON string, invalid UTF-8 repaired (utf8_sanitize); null for NULL. */
json_t *json_text(const char *s);

#endif
