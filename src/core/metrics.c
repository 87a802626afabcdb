/* metrics: a small Prometheus registry. See metrics.h. */
#include "core/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

#define METRICS_MAX_BUCKETS 32

struct metrics_series {
	char *labels; /* "" when none */
	double value; /* counter/gauge; histogram: sum */
	double count; /* histogram */
	double buckets[METRICS_MAX_BUCKETS];
	struct metrics_series *next;
};

struct metrics_family {
	char *name;
	char *help;
	enum metrics_type type;
	double bounds[METRICS_MAX_BUCKETS];
	size_t nbounds;
	struct metrics_series *series; /* in creation order */
	struct metrics_series *last;
	struct metrics_family *next;
};

struct metrics {
	struct metrics_family *families;
	struct metrics_family *last;
};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (struct metrics_family *f = m->families, *fn; f; f = fn) {
		fn = f->next;
		for (struct metrics_series *s = f->series, *sn; s; s = sn) {
			sn = s->next;
			free(s->labels);
			free(s);
		}
		free(f->name);
		free(f->help);
		free(f);
	}
	free(m);
}

static struct metrics_family *metrics_family(struct metrics *m, const char *name)
{
	for (struct metrics_family *f = m->families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

void metrics_declare(struct metrics *m, const char *name, enum metrics_type type, const char *help,
                     const double *buckets, size_t nbuckets)
{
	if (metrics_family(m, name))
		return;
	struct metrics_family *f = xcalloc(1, sizeof *f);
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->type = type;
	f->nbounds = nbuckets < METRICS_MAX_BUCKETS ? nbuckets : METRICS_MAX_BUCKETS;
	for (size_t i = 0; i < f->nbounds; i++)
		f->bounds[i] = buckets[i];
	if (m->last)
		m->last->next = f;
	else
		m->families = f;
	m->last = f;
}

static struct metrics_series *metrics_series(struct metrics *m, const char *name, const char *labels)
{
	struct metrics_family *f = metrics_family(m, name);
	if (f == NULL) {
		metrics_declare(m, name, METRICS_GAUGE, name, NULL, 0);
		f = metrics_family(m, name);
	}
	const char *l = labels ? labels : "";
	for (struct metrics_series *s = f->series; s; s = s->next)
		if (strcmp(s->labels, l) == 0)
			return s;
	struct metrics_series *s = xcalloc(1, sizeof *s);
	s->labels = xstrdup(l);
	if (f->last)
		f->last->next = s;
	else
		f->series = s;
	f->last = s;
	return s;
}

void metrics_inc(struct metrics *m, const char *name, const char *labels, double by)
{
	metrics_series(m, name, labels)->value += by;
}

void metrics_set(struct metrics *m, const char *name, const char *labels, double value)
{
	metrics_series(m, name, labels)->value = value;
}

void metrics_observe(struct metrics *m, const char *name, const char *labels, double value)
{
	struct metrics_series *s = metrics_series(m, name, labels);
	const struct metrics_family *f = metrics_family(m, name);
	s->value += value;
	s->count += 1;
	for (size_t i = 0; i < f->nbounds; i++)
		if (value <= f->bounds[i])
			s->buckets[i] += 1;
}

static void metrics_number(struct buf *b, double v)
{
	if (isinf(v))
		buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		buf_printf(b, "%lld", (long long)v);
	else
		buf_printf(b, "%.9g", v);
}

static void metrics_line(struct buf *b, const char *name, const char *suffix, const char *labels, const char *extra,
                         double v)
{
	buf_printf(b, "%s%s", name, suffix);
	int has = labels && *labels;
	if (has || extra) {
		buf_append_byte(b, '{');
		if (has)
			buf_append_str(b, labels);
		if (has && extra)
			buf_append_byte(b, ',');
		if (extra)
			buf_append_str(b, extra);
		buf_append_byte(b, '}');
	}
	buf_append_byte(b, ' ');
	metrics_number(b, v);
	buf_append_byte(b, '\n');
}

char *metrics_render(const struct metrics *m)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	struct buf b;
	buf_init(&b);
	for (const struct metrics_family *f = m->families; f; f = f->next) {
		buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
		for (const struct metrics_series *s = f->series; s; s = s->next) {
			if (f->type != METRICS_HISTOGRAM) {
				metrics_line(&b, f->name, "", s->labels, NULL, s->value);
				continue;
			}
			for (size_t i = 0; i < f->nbounds; i++) {
				char le[48];
				snprintf(le, sizeof le, "le=\"%.9g\"", f->bounds[i]);
				metrics_line(&b, f->name, "_bucket", s->labels, le, s->buckets[i]);
			}
			metrics_line(&b, f->name, "_bucket", s->labels, "le=\"+Inf\"", s->count);
			metrics_line(&b, f->name, "_sum", s->labels, NULL, s->value);
			metrics_line(&b, f->name, "_count", s->labels, NULL, s->count);
		}
	}
	return buf_cstr(&b);
}
