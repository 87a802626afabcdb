/*
 * dns: the one resolver interface of the authentication checks (SPF, DKIM,
 * DMARC, ARC and `check domain`, which also asks TLSA for DANE).
 *
 * A resolver lives on a libevent event_base and answers asynchronously: a
 * query's callback runs later from that loop, never from inside dns_query().
 * Two implementations:
 *   dns_cache.c    a DNS-cache file in mailauth's JSON format (offline,
 *                  reproducible; see dns_cache_open() below)
 *   dns_unbound.c  libunbound: the real DNS, through an upstream resolver
 *                  (--resolver IP) or the ones in /etc/resolv.conf, with the
 *                  DNSSEC status of each answer when a trust anchor is given
 *
 * An answer has an rcode class, the records and a DNSSEC status. CNAMEs are
 * followed for every type (but CNAME itself): the records are those of the
 * end of the chain, whose name is in answer->canonical. The class is what
 * SPF (RFC 7208 sections 4.3, 4.4, 5) and DMARC distinguish: ok with records;
 * nxdomain and nodata (no error, nothing there: "none" / a void lookup);
 * servfail and timeout (a temporary error: "temperror").
 *
 * Does not: cache across queries (the checks memoize within one check),
 * search domains, or accept names that cannot be asked (dns_name_valid()).
 */
#ifndef MAILSCOPE_AUTH_DNS_H
#define MAILSCOPE_AUTH_DNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct json_t;

/* Longest name in text form without the trailing dot (RFC 1035 2.3.4 and RFC 7208 7.3), longest label. */
#define DNS_NAME_MAX  253
#define DNS_LABEL_MAX 63
/* Longest CNAME chain followed; a longer one (or a loop) is servfail. */
#define DNS_CNAME_MAX 8
/* Default time a query may take before it is answered as a timeout (dns_unbound.c). */
#define DNS_DEFAULT_TIMEOUT_MS 5000

/* TLSA: RFC 6698 (DANE for SMTP, RFC 7672). DNS_T_COUNT: how many types there are. */
enum dns_type { DNS_T_A, DNS_T_AAAA, DNS_T_TXT, DNS_T_MX, DNS_T_PTR, DNS_T_CNAME, DNS_T_TLSA };
#define DNS_T_COUNT (DNS_T_TLSA + 1)

enum dns_rcode {
	DNS_OK,       /* records (n >= 1) */
	DNS_NXDOMAIN, /* the name does not exist (RCODE 3) */
	DNS_NODATA,   /* the name exists, no record of the type (RCODE 0, empty answer) */
	DNS_SERVFAIL, /* RCODE 2 or any other error, a CNAME loop, a bogus DNSSEC answer */
	DNS_TIMEOUT,  /* no answer in time */
};

enum dns_sec {
	DNS_SEC_UNKNOWN,  /* not validated (no trust anchor, or a cache file that says nothing) */
	DNS_SEC_SECURE,   /* validated chain of trust */
	DNS_SEC_INSECURE, /* validated: provably unsigned */
	DNS_SEC_BOGUS,    /* signed, but the validation failed */
};

struct dns_rr {
	enum dns_type type;
	uint16_t priority;  /* MX */
	uint8_t addr[16];   /* A: 4 bytes, AAAA: 16 */
	uint8_t tlsa_usage; /* TLSA: certificate usage, selector, matching type (RFC 6698 2.1) */
	uint8_t tlsa_selector;
	uint8_t tlsa_mtype;
	char *text;         /* TXT: the strings joined (may hold NUL bytes); MX exchange, PTR and CNAME target;
	                       TLSA: the certificate association data (binary) */
	size_t len;         /* of text */
	char **chunks;      /* TXT: the character-strings as published */
	size_t *chunk_lens; /* of each chunk */
	size_t nchunks;
};

struct dns_answer {
	enum dns_rcode rcode;
	enum dns_sec sec;
	enum dns_type type;
	char *qname;     /* as asked */
	char *canonical; /* after CNAMEs (qname when there were none) */
	struct dns_rr *rr;
	size_t n;
	char *why; /* a reason for servfail/timeout/bogus, or NULL */
};

struct dns_resolver;
struct dns_query;

/*
 * The answer belongs to the callback: free it with dns_answer_free(). The
 * query handle is gone once the callback runs.
 */
typedef void (*dns_callback)(struct dns_answer *answer, void *arg);

/*
 * Starts a query; the callback runs later from the resolver's loop (also
 * for a name that dns_name_valid() rejects: servfail). Returns a handle for
 * dns_query_cancel().
 */
struct dns_query *dns_query(struct dns_resolver *r, const char *name, enum dns_type type, dns_callback cb, void *arg);
/* The callback will not run; the handle is gone. */
void dns_query_cancel(struct dns_query *q);
/* Cancels every pending query (their callbacks do not run) and frees the resolver. */
void dns_resolver_free(struct dns_resolver *r);
struct event_base *dns_resolver_base(const struct dns_resolver *r);
/* "dns-cache FILE" or "unbound (upstream 192.0.2.53)": for traces and --json. */
const char *dns_resolver_describe(const struct dns_resolver *r);

/*
 * For the CLI and tests: runs the resolver's loop until the answer is there
 * (the loop must be free for that: not inside event_base_dispatch()).
 */
struct dns_answer *dns_query_sync(struct dns_resolver *r, const char *name, enum dns_type type);

void dns_answer_free(struct dns_answer *a);
/* A deep copy. */
struct dns_answer *dns_answer_dup(const struct dns_answer *a);

/*
 * Whether name can be asked: 1..253 characters without one trailing dot,
 * labels of 1..63 characters, no NUL. Any other byte is allowed (RFC 2181
 * 11: DNS labels are binary; SPF targets may hold ':' or '/').
 */
int dns_name_valid(const char *name);
/* name in lower case (ASCII) without a trailing dot; caller frees. */
char *dns_name_normalize(const char *name);

const char *dns_type_name(enum dns_type t);            /* "TXT" */
int dns_type_parse(const char *s, enum dns_type *out); /* case-insensitive; 0 or -1 */
const char *dns_rcode_name(enum dns_rcode rc);         /* "ok", "nxdomain", ... */
const char *dns_sec_name(enum dns_sec s);              /* "secure", ... */
/*
 * The name to ask for PTR records of an address: "4.3.2.1.in-addr.arpa" or
 * the 32 nibbles of RFC 3596 2.5 under ip6.arpa (lower case). family is
 * AF_INET (4 bytes at addr) or AF_INET6 (16 bytes).
 */
void dns_reverse_name(int family, const uint8_t *addr, char *out, size_t outlen);

/* ---- dns_cache.c ---- */

/*
 * A resolver that answers from a DNS-cache file in mailauth's format:
 *   {"name": {"TXT": [["chunk", "chunk"], "one string"], "A": ["192.0.2.1"], "AAAA": ["2001:db8::1"],
 *             "MX": [{"exchange": "mx.example", "priority": 10}], "PTR": ["host.example"],
 *             "CNAME": ["target.example"], "TLSA": ["3 1 1 0123abcd..."], "TIMEOUT": true,
 *             "DNSSEC": "secure"}}
 * Names are case-insensitive and the trailing dot does not matter. A name
 * that is not in the file is nxdomain, unless it is an ancestor of one that
 * is (an empty non-terminal: nodata). A type that a name does not list is
 * nodata; "TXT": [] is nodata too. "CNAME" is followed for every other type
 * (a loop or a chain longer than DNS_CNAME_MAX is servfail). "TIMEOUT": true
 * makes every query at that name for a type without records time out (the
 * records it does have are answered: that is how the OpenSPF test suite uses
 * it). "DNSSEC" (an extension: "secure", "insecure" or "bogus") is the
 * status of that name's answers; without it the status is unknown. "TLSA"
 * (an extension too: mailauth has no TLSA) lists records in zone-file
 * presentation, "usage selector matching-type hex-data" (RFC 6698 2.2).
 *
 * Returns NULL with a message naming the file, the name and the field when
 * the file cannot be read or is malformed.
 */
struct dns_resolver *dns_cache_open(struct event_base *base, const char *path, char *err, size_t errlen);
/* The same from a parsed document (not stolen); source names it in messages. */
struct dns_resolver *dns_cache_from_json(struct event_base *base, struct json_t *root, const char *source, char *err,
                                         size_t errlen);
/* How many queries the resolver has answered: tests check what a check asked. */
size_t dns_cache_queries(const struct dns_resolver *r);

/* ---- dns_unbound.c ---- */

struct dns_unbound_config {
	/* An upstream resolver's address ("192.0.2.53", "2001:db8::53", "127.0.0.1@5353"); NULL: the
	 * nameservers of /etc/resolv.conf (without that file: full recursion from the root). */
	const char *upstream;
	/* A trust anchor file (e.g. Debian's dns-root-data /usr/share/dns/root.key) turns on DNSSEC
	 * validation; NULL: none, and every answer's status is unknown. */
	const char *trust_anchor_file;
	int timeout_ms; /* per query; 0: DNS_DEFAULT_TIMEOUT_MS */
};

struct dns_resolver *dns_unbound_new(struct event_base *base, const struct dns_unbound_config *cfg, char *err,
                                     size_t errlen);
/*
 * Local data answered without asking anyone (libunbound's local-zone and
 * local-data): for tests that must stay offline. Only before the first query.
 * zone_type is "static", "transparent", ...; rr is one record in zone-file
 * syntax ("a.example.test. 300 IN A 192.0.2.1").
 */
int dns_unbound_add_zone(struct dns_resolver *r, const char *zone, const char *zone_type, char *err, size_t errlen);
int dns_unbound_add_data(struct dns_resolver *r, const char *rr, char *err, size_t errlen);

#endif
