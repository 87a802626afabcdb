/*
 * cli: failures, option complaints and JSON strings for the client
 * commands. See cli.h.
 */
#include "cmd/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cli_fail(const char *prog, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

int cli_bad_option(const char *prog, const struct option *longopts, int c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		return cli_fail(prog, "%s needs a value (see '%s --help')", arg, prog);
	if (optopt > 0 && optopt < 256 && strncmp(arg, "--", 2) != 0)
		return cli_fail(prog, "unknown option '-%c' (see '%s --help')", optopt, prog);
	size_t n = strcspn(arg, "=");
	for (const struct option *o = longopts; o->name; o++)
		if (arg[n] == '=' && o->has_arg == no_argument && strlen(o->name) == n - 2 &&
		    strncmp(arg + 2, o->name, n - 2) == 0)
			return cli_fail(prog, "--%s takes no value", o->name);
	return cli_fail(prog, "unknown option '%.*s' (see '%s --help')", (int)n, arg, prog);
}

const char *cli_json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}
