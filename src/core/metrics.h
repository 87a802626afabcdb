/*
 * metrics: counters, gauges and histograms rendered in the Prometheus text
 * exposition format (version 0.0.4). One thread updates and renders (the
 * event loop); series are found by name + label text, so call sites stay
 * one line: metrics_inc(m, "mailscope_messages_received_total", NULL, 1).
 */
#ifndef MAILSCOPE_CORE_METRICS_H
#define MAILSCOPE_CORE_METRICS_H

#include <stddef.h>

struct metrics;

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Declares a family (its HELP text and type). Histograms take their bucket bounds here (ascending). */
void metrics_declare(struct metrics *m, const char *name, enum metrics_type type, const char *help,
                     const double *buckets, size_t nbuckets);
/* labels: "listener=\"smtp\",tls=\"none\"" (already escaped) or NULL. */
void metrics_inc(struct metrics *m, const char *name, const char *labels, double by);
void metrics_set(struct metrics *m, const char *name, const char *labels, double value);
void metrics_observe(struct metrics *m, const char *name, const char *labels, double value);
/* The whole exposition; caller frees. */
char *metrics_render(const struct metrics *m);

#endif
