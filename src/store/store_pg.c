#include "store/store_backend.h"
#include <stdio.h>
struct store *store_pg_backend_open(const struct store_options *opt, char *err, size_t errlen)
{
	(void)opt;
	snprintf(err, errlen, "x");
	return NULL;
}
