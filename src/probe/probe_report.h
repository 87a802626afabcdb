/*
 * probe_report: the readable report of `mailscope probe`, meant to fit one
 * screen and to be understood by someone who has never configured SMTP: the
 * recommendation first, then one line per port with what each client setting
 * meets, the certificate, and the findings with their fixes.
 *
 * Colour is the caller's decision (a TTY, NO_COLOR): this file only obeys
 * .color. Text from the server is printed with control characters escaped,
 * so a hostile banner cannot move the cursor or recolour the terminal.
 */
#ifndef MAILSCOPE_PROBE_REPORT_H
#define MAILSCOPE_PROBE_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "probe/probe_facts.h"
#include "probe/probe_rules.h"

struct buf;

#define PROBE_REPORT_WIDTH 100 /* default line width for wrapped paragraphs */

struct probe_report_options {
	bool color; /* ANSI colours */
	int width;  /* wrap paragraphs at this many columns; 0 = PROBE_REPORT_WIDTH */
};

/* Appends the report to out. */
void probe_report_format(struct buf *out, const struct probe_facts *f, const struct probe_result *r,
                         const struct probe_report_options *opt);
/* Writes the report to fp; 0, or -1 when writing failed. */
int probe_report_write(FILE *fp, const struct probe_facts *f, const struct probe_result *r,
                       const struct probe_report_options *opt);

#endif
