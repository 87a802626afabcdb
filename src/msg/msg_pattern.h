/*
 * msg_pattern: a user-supplied regular expression (PCRE2) run against message
 * text, safely: match and depth limits so that a hostile pattern cannot hang
 * the server, UTF-8 mode, no JIT surprises (JIT used when available, with the
 * same limits). Pure apart from PCRE2's own allocations.
 *
 * PCRE2 restarts its match limit at every start position, so on its own it
 * bounds one attempt, not a search through a long subject; a work budget
 * (MSG_PATTERN_WORK_LIMIT + MSG_PATTERN_WORK_PER_BYTE per subject byte, for
 * the whole call) bounds that: see msg_pattern.c. A subject that is not
 * valid UTF-8 is matched with each invalid byte read as U+001A (SUB), so
 * offsets stay those of the subject and every returned string is valid
 * UTF-8. A compiled pattern may be used by several threads at once.
 */
#ifndef MAILSCOPE_MSG_PATTERN_H
#define MAILSCOPE_MSG_PATTERN_H

#include <stddef.h>

#define MSG_PATTERN_MAX_LEN        1024    /* bytes of pattern */
#define MSG_PATTERN_MATCH_LIMIT    1000000 /* PCRE2 match limit */
#define MSG_PATTERN_DEPTH_LIMIT    10000   /* PCRE2 depth limit (backtracking memory) */
#define MSG_PATTERN_MAX_MATCHES    100
#define MSG_PATTERN_HEAP_LIMIT_KIB 32768         /* PCRE2 heap limit (interpreter backtracking frames) */
#define MSG_PATTERN_JIT_STACK_MAX  (1024 * 1024) /* bytes; the JIT ignores the depth limit, this bounds it */
#define MSG_PATTERN_WORK_LIMIT     20000000      /* work units per call, whatever the subject */
#define MSG_PATTERN_WORK_PER_BYTE  8             /* plus this many per subject byte: linear scans always fit */

struct msg_pattern;

struct msg_pattern_match {
	char *match;   /* the whole match */
	char **groups; /* capture groups 1..n (NULL for a group that did not take part) */
	size_t ngroups;
	size_t offset; /* byte offset in the subject */
};

struct msg_pattern_result {
	struct msg_pattern_match *matches;
	size_t n;
};

/* Compiles; NULL with err naming the problem and its offset ("missing ) at offset 7"). */
struct msg_pattern *msg_pattern_compile(const char *pattern, int caseless, char *err, size_t errlen);
void msg_pattern_free(struct msg_pattern *p);
/* 1 when it matches somewhere, 0 when not, -1 when a limit was hit (err filled). */
int msg_pattern_test(struct msg_pattern *p, const char *subject, size_t len, char *err, size_t errlen);
/* All matches (at most MSG_PATTERN_MAX_MATCHES). 0, or -1 when a limit was hit (err filled, out empty). */
int msg_pattern_find_all(struct msg_pattern *p, const char *subject, size_t len, struct msg_pattern_result *out,
                         char *err, size_t errlen);
void msg_pattern_result_free(struct msg_pattern_result *r);

#endif
