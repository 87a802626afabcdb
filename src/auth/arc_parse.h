/*
 * arc_parse: the structure of an ARC chain (RFC 8617 4, 5.2 steps 1-3) and
 * the data an ARC-Seal signs (5.1.1). Pure: a parsed message in, the sets
 * or a structural failure with the reason out.
 *
 * The ARC header fields (ARC-Authentication-Results, ARC-Message-Signature,
 * ARC-Seal) are grouped by their instance i= (1..ARC_MAX_SETS): an AAR's i=
 * must come first ("i=N;", 4.1.1), AMS and AS carry it as a tag. A chain is
 * structurally valid when every instance 1..N has exactly one field of each
 * kind, no instance is beyond ARC_MAX_SETS, and the seals say cv=none for
 * i=1 and cv=pass above (5.2 step 3); a newest seal that says cv=fail fails
 * the chain first (step 2). The signatures themselves are parsed and
 * verified by arc.c.
 */
#ifndef MAILSCOPE_AUTH_ARC_PARSE_H
#define MAILSCOPE_AUTH_ARC_PARSE_H

#include <stddef.h>

#include "auth/dkim_canon.h"
#include "core/buf.h"

/* RFC 8617 4.2.1: at most 50 ARC sets; more fail the chain. */
#define ARC_MAX_SETS 50

enum arc_cv { ARC_CV_NONE, ARC_CV_PASS, ARC_CV_FAIL };

struct arc_set {
	size_t aar, ams, as; /* field indexes in the message */
	enum arc_cv cv;      /* the seal's cv= */
};

struct arc_chain {
	unsigned n;                            /* sets: instances 1..n */
	struct arc_set sets[ARC_MAX_SETS + 1]; /* sets[i] is instance i; sets[0] is unused */
};

enum arc_parse_status {
	ARC_PARSE_NONE = 0,  /* no ARC header field: the chain is "none" */
	ARC_PARSE_OK = 1,    /* structurally valid; the signatures are still to be verified */
	ARC_PARSE_FAIL = -1, /* the chain fails: err says why, *instance which set (0: none in particular) */
};

enum arc_parse_status arc_chain_parse(const struct dkim_message *m, struct arc_chain *out, unsigned *instance,
                                      char *err, size_t errlen);

/* The instance of an ARC-Authentication-Results value ("i=N; ..."): 0 and *i, or -1. */
int arc_aar_instance(const char *value, size_t len, unsigned *i);

/*
 * What the seal of instance k signs (5.1.1): the sets 1..k in order, each AAR, AMS, AS in relaxed header
 * canonicalization, the seal k last with its b= value removed and no final CRLF.
 */
void arc_seal_data(const struct dkim_message *m, const struct arc_chain *c, unsigned k, struct buf *out);

const char *arc_cv_name(enum arc_cv cv);

#endif
