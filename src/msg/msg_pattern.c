/*
 * msg_pattern: user-supplied PCRE2 patterns run against message text with
 * every cost bounded. See msg_pattern.h.
 *
 * Patterns are compiled in UTF-8 mode with Unicode properties (\w, \d, \b
 * and case folding know more than ASCII) and without \C, which could cut a
 * character in half. The JIT is used when the library has it; otherwise
 * the interpreter runs, with the same results and the same limits.
 *
 * What bounds the cost of one call:
 *   - PCRE2's match limit and depth limit, and a heap limit, end one runaway
 *     attempt (nested quantifiers such as "(a+)+$") quickly. The JIT ignores
 *     the depth limit; its stack is capped at MSG_PATTERN_JIT_STACK_MAX.
 *   - Both engines restart the match limit at every start position, so a
 *     pattern that costs just under the limit per position ("(?:a|a)?"
 *     eleven times, then "(?:b|c)") ran 83 s on a 20 KB subject, and a
 *     plain scan such as "\w+!" is quadratic (9 s on 100 KB) without
 *     touching any limit. So every pattern is compiled with automatic
 *     callouts, and the callout charges each step 1 plus the distance the
 *     match position moved since the previous one (the characters scanned
 *     in between). When a call (msg_pattern_test, or all the matches of
 *     msg_pattern_find_all) has spent MSG_PATTERN_WORK_LIMIT plus
 *     MSG_PATTERN_WORK_PER_BYTE per subject byte, matching stops. Linear
 *     searches spend about 2-3 units per byte, so any subject can be
 *     searched; the budget ends what is worse than linear. Callouts cost
 *     little (measured on 1 MB of text: JIT 1.8 ms -> 4.5 ms for \d{6};
 *     the interpreter does not notice).
 *   - The subject is checked for valid UTF-8 once per call and PCRE2 is
 *     told not to check it again: PCRE2_MATCH_INVALID_UTF would make the
 *     interpreter re-validate the rest of the subject at every match, which
 *     is quadratic in find_all (1 s instead of 22 ms on 1 MB). Invalid
 *     bytes are read as U+001A instead, one byte for one, so offsets stay
 *     those of the caller's subject.
 * Hitting any of these is reported as -1 with a message that says the
 * pattern is too expensive and how to fix it.
 *
 * Per-call state (match context, JIT stack, match data, the budget) lives
 * in the call, so a compiled pattern is never written to after compiling.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "msg/msg_pattern.h"

#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "core/xmalloc.h"

/* The JIT stack starts this small and grows up to MSG_PATTERN_JIT_STACK_MAX. */
#define MSG_PATTERN_JIT_STACK_START (32 * 1024)
/* What an invalid UTF-8 byte of a subject is read as (ASCII SUB). */
#define MSG_PATTERN_INVALID_BYTE 0x1A

struct msg_pattern {
	pcre2_code *code;
	uint32_t ncaptures;
	int crlf_newline; /* "\r\n" is one newline: an empty match never stops between them */
	int jit;
};

/* The work budget of one call, charged by msg_pattern_callout(). */
struct msg_pattern_budget {
	size_t spent;
	size_t limit;
	size_t last_position;
};

/* The state of one call: the subject as matched, and PCRE2's per-call objects. */
struct msg_pattern_run {
	struct msg_pattern *p;
	const uint8_t *subject;
	size_t len;
	uint8_t *repaired; /* a copy with invalid bytes replaced, or NULL */
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack;
	pcre2_match_data *md;
	struct msg_pattern_budget budget;
};

/* PCRE2 could not allocate: the same policy as xmalloc (core/xmalloc.h). */
static void msg_pattern_oom(void)
{
	fprintf(stderr, "mailscope: out of memory (PCRE2)\n");
	abort();
}

static void msg_pattern_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void msg_pattern_error(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct msg_pattern *msg_pattern_compile(const char *pattern, int caseless, char *err, size_t errlen)
{
	if (pattern == NULL) {
		msg_pattern_error(err, errlen, "no pattern given");
		return NULL;
	}
	size_t plen = strlen(pattern);
	if (plen > MSG_PATTERN_MAX_LEN) {
		msg_pattern_error(err, errlen, "pattern is too long (%zu bytes, at most %d)", plen,
		                  MSG_PATTERN_MAX_LEN);
		return NULL;
	}
	uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C | PCRE2_AUTO_CALLOUT;
	if (caseless)
		options |= PCRE2_CASELESS;

	int code;
	PCRE2_SIZE offset;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, plen, options, &code, &offset, NULL);
	if (re == NULL) {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", code);
		msg_pattern_error(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)offset);
		return NULL;
	}

	struct msg_pattern *p = xcalloc(1, sizeof *p);
	p->code = re;
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &p->ncaptures);
	uint32_t newline = 0;
	pcre2_pattern_info(re, PCRE2_INFO_NEWLINE, &newline);
	p->crlf_newline =
	        newline == PCRE2_NEWLINE_CRLF || newline == PCRE2_NEWLINE_ANY || newline == PCRE2_NEWLINE_ANYCRLF;
	/* A JIT that cannot compile (no JIT in this build, no executable memory) leaves the interpreter. */
	p->jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
	return p;
}

void msg_pattern_free(struct msg_pattern *p)
{
	if (p == NULL)
		return;
	pcre2_code_free(p->code);
	free(p);
}

/*
 * Called by PCRE2 before every item of the pattern (PCRE2_AUTO_CALLOUT):
 * charges the budget, and a negative return ends the match with that code.
 */
static int msg_pattern_callout(pcre2_callout_block *block, void *data)
{
	struct msg_pattern_budget *b = data;
	size_t pos = block->current_position;
	size_t moved = pos > b->last_position ? pos - b->last_position : b->last_position - pos;
	b->last_position = pos;
	b->spent += 1 + moved;
	return b->spent > b->limit ? PCRE2_ERROR_CALLOUT : 0;
}

static void msg_pattern_run_init(struct msg_pattern_run *r, struct msg_pattern *p, const char *subject, size_t len)
{
	memset(r, 0, sizeof *r);
	r->p = p;
	r->subject = subject != NULL ? (const uint8_t *)subject : (const uint8_t *)"";
	r->len = subject != NULL ? len : 0;
	if (!utf8_valid((const char *)r->subject, r->len)) {
		r->repaired = xmalloc(r->len + 1);
		size_t i = 0;
		while (i < r->len) {
			size_t n = utf8_sequence_len(r->subject + i, r->len - i);
			if (n == 0) {
				r->repaired[i++] = MSG_PATTERN_INVALID_BYTE;
			} else {
				memcpy(r->repaired + i, r->subject + i, n);
				i += n;
			}
		}
		r->repaired[r->len] = '\0';
		r->subject = r->repaired;
	}

	r->budget.limit = MSG_PATTERN_WORK_LIMIT;
	if (r->len < (SIZE_MAX - MSG_PATTERN_WORK_LIMIT) / MSG_PATTERN_WORK_PER_BYTE)
		r->budget.limit += r->len * MSG_PATTERN_WORK_PER_BYTE;
	else
		r->budget.limit = SIZE_MAX;

	r->mctx = pcre2_match_context_create(NULL);
	if (r->mctx == NULL)
		msg_pattern_oom();
	pcre2_set_match_limit(r->mctx, MSG_PATTERN_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, MSG_PATTERN_DEPTH_LIMIT);
	pcre2_set_heap_limit(r->mctx, MSG_PATTERN_HEAP_LIMIT_KIB);
	pcre2_set_callout(r->mctx, msg_pattern_callout, &r->budget);
	if (p->jit) {
		r->jit_stack = pcre2_jit_stack_create(MSG_PATTERN_JIT_STACK_START, MSG_PATTERN_JIT_STACK_MAX, NULL);
		if (r->jit_stack != NULL)
			pcre2_jit_stack_assign(r->mctx, NULL, r->jit_stack);
		/* Without a stack of its own the JIT uses 32 KiB on the machine stack: still bounded. */
	}
	r->md = pcre2_match_data_create_from_pattern(p->code, NULL);
	if (r->md == NULL)
		msg_pattern_oom();
}

static void msg_pattern_run_free(struct msg_pattern_run *r)
{
	pcre2_match_data_free(r->md);
	pcre2_jit_stack_free(r->jit_stack);
	pcre2_match_context_free(r->mctx);
	free(r->repaired);
}

/* One pcre2_match() from offset start; PCRE2's return code. */
static int msg_pattern_run_match(struct msg_pattern_run *r, size_t start, uint32_t options)
{
	r->budget.last_position = start;
	return pcre2_match(r->p->code, r->subject, r->len, start, options | PCRE2_NO_UTF_CHECK, r->md, r->mctx);
}

/* Fills err for a negative pcre2_match() code other than "no match". */
static void msg_pattern_match_error(int rc, char *err, size_t errlen)
{
	switch (rc) {
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_CALLOUT:
		msg_pattern_error(
		        err, errlen,
		        "pattern is too expensive: it backtracks too much on this text (%s); "
		        "avoid nested or adjacent quantifiers over the same characters, e.g. (a+)+ or \\w+\\w+, "
		        "and anchor or narrow it",
		        rc == PCRE2_ERROR_MATCHLIMIT ? "match limit reached" : "work limit reached");
		break;
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		msg_pattern_error(err, errlen,
		                  "pattern is too expensive: it nests too deeply on this text (%s); "
		                  "use possessive or atomic groups, e.g. (?>...) or a++, or a narrower pattern",
		                  rc == PCRE2_ERROR_DEPTHLIMIT  ? "depth limit reached"
		                  : rc == PCRE2_ERROR_HEAPLIMIT ? "memory limit reached"
		                                                : "JIT stack limit reached");
		break;
	default: {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(rc, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", rc);
		msg_pattern_error(err, errlen, "matching failed: %s", (const char *)msg);
		break;
	}
	}
}

int msg_pattern_test(struct msg_pattern *p, const char *subject, size_t len, char *err, size_t errlen)
{
	if (p == NULL) {
		msg_pattern_error(err, errlen, "no pattern given");
		return -1;
	}
	struct msg_pattern_run r;
	msg_pattern_run_init(&r, p, subject, len);
	int rc = msg_pattern_run_match(&r, 0, 0);
	msg_pattern_run_free(&r);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	msg_pattern_match_error(rc, err, errlen);
	return -1;
}

/* A NUL-terminated copy of subject[start, end), valid UTF-8 whatever the bounds. */
static char *msg_pattern_copy(const struct msg_pattern_run *r, size_t start, size_t end)
{
	const char *s = (const char *)r->subject + start;
	size_t n = end - start;
	if (utf8_valid(s, n))
		return xstrndup(s, n);
	return utf8_sanitize(s, n);
}

static void msg_pattern_add_match(struct msg_pattern_run *r, struct msg_pattern_result *out, int rc)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
	struct msg_pattern_match *m = &out->matches[out->n++];
	size_t start = ov[0], end = ov[1] >= ov[0] ? ov[1] : ov[0];
	m->match = msg_pattern_copy(r, start, end);
	m->offset = start;
	m->ngroups = r->p->ncaptures;
	m->groups = m->ngroups > 0 ? xcalloc(m->ngroups, sizeof *m->groups) : NULL;
	for (size_t g = 1; g <= m->ngroups; g++) {
		if ((int)g >= rc || ov[2 * g] == PCRE2_UNSET || ov[2 * g + 1] < ov[2 * g])
			continue; /* this group did not take part in the match */
		m->groups[g - 1] = msg_pattern_copy(r, ov[2 * g], ov[2 * g + 1]);
	}
}

/* Where to try again after an empty match at pos failed to be followed by a non-empty one: one character on. */
static size_t msg_pattern_next_char(const struct msg_pattern_run *r, size_t pos)
{
	if (r->p->crlf_newline && pos + 1 < r->len && r->subject[pos] == '\r' && r->subject[pos + 1] == '\n')
		return pos + 2;
	size_t n = utf8_sequence_len(r->subject + pos, r->len - pos);
	return pos + (n > 0 ? n : 1);
}

/*
 * Perl's way of finding successive matches: after an empty match the next
 * attempt starts at the same place but must be non-empty there
 * (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED); only when that fails does the
 * search move on, by one whole character. So "a*" on "baa" finds "" at 0,
 * "aa" at 1 and "" at 3.
 */
int msg_pattern_find_all(struct msg_pattern *p, const char *subject, size_t len, struct msg_pattern_result *out,
                         char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (p == NULL) {
		msg_pattern_error(err, errlen, "no pattern given");
		return -1;
	}
	struct msg_pattern_run r;
	msg_pattern_run_init(&r, p, subject, len);
	out->matches = xcalloc(MSG_PATTERN_MAX_MATCHES, sizeof *out->matches);

	size_t start = 0;
	uint32_t options = 0;
	int status = 0;
	while (out->n < MSG_PATTERN_MAX_MATCHES && start <= r.len) {
		int rc = msg_pattern_run_match(&r, start, options);
		if (rc == PCRE2_ERROR_NOMATCH) {
			if (options == 0 || start >= r.len)
				break;
			start = msg_pattern_next_char(&r, start);
			options = 0;
			continue;
		}
		if (rc < 0) {
			msg_pattern_match_error(rc, err, errlen);
			status = -1;
			break;
		}
		msg_pattern_add_match(&r, out, rc);
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r.md);
		size_t end = ov[1] >= ov[0] ? ov[1] : ov[0];
		if (end < start) {
			/* \K can put a match's end before where the attempt began: never go backwards. */
			start = msg_pattern_next_char(&r, start);
			options = 0;
		} else if (ov[0] == ov[1]) {
			if (end >= r.len)
				break;
			start = end;
			options = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
		} else {
			start = end;
			options = 0;
		}
	}
	msg_pattern_run_free(&r);
	if (status != 0 || out->n == 0) {
		msg_pattern_result_free(out);
		return status;
	}
	return 0;
}

void msg_pattern_result_free(struct msg_pattern_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->matches[i].match);
		for (size_t g = 0; g < r->matches[i].ngroups; g++)
			free(r->matches[i].groups[g]);
		free(r->matches[i].groups);
	}
	free(r->matches);
	memset(r, 0, sizeof *r);
}
