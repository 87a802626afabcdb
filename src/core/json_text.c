/* json_text: see json_text.h. */
#include "core/json_text.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

json_t *json_text(const char *s)
{
	if (s == NULL)
		return json_null();
	size_t len = strlen(s);
	if (utf8_valid(s, len))
		return json_stringn(s, len);
	char *fixed = utf8_sanitize(s, len);
	json_t *j = json_string(fixed);
	free(fixed);
	return j;
}
