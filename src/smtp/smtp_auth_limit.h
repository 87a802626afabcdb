/*
 * smtp_auth_limit: failed AUTH attempts per client address, across
 * connections, for the brute-force defence of smtp_session_auth.c.
 *
 * The first SMTP_AUTH_FAIL_FREE failures of an address within the window are
 * answered at once: a CI run that tests a wrong password a few times stays
 * fast (one `mailscope probe` with a wrong password fails 3 mechanisms on each
 * of its ports, 9 with the default listeners). Each later 535 is delayed
 * (fail_delay, doubling up to 8 times it: under the 10 s that clients such as
 * probe wait for a reply);
 * at fail_limit failures within the window the address is cut off: its AUTH
 * gets 421 4.7.0 and the connection closes, for one window.
 *
 * IPv6 clients are counted per /64 (one host usually holds a whole /64);
 * IPv4-mapped IPv6 addresses count as the IPv4 address. The table is bounded:
 * at capacity the least recently failing address is forgotten, so a flood
 * from many addresses costs a fixed amount of memory.
 */
#ifndef MAILSCOPE_SMTP_AUTH_LIMIT_H
#define MAILSCOPE_SMTP_AUTH_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_AUTH_FAIL_FREE             10
#define SMTP_AUTH_FAIL_DEFAULT_LIMIT    30
#define SMTP_AUTH_FAIL_DEFAULT_WINDOW   (10 * 60 * 1000)
#define SMTP_AUTH_FAIL_DEFAULT_DELAY    1000
#define SMTP_AUTH_LIMIT_DEFAULT_ENTRIES 8192

struct smtp_auth_limit;

struct smtp_auth_limit *smtp_auth_limit_new(size_t capacity, unsigned limit, int64_t window_ms);
void smtp_auth_limit_free(struct smtp_auth_limit *t);
/* Milliseconds until ip may try AUTH again; 0 when it may now. */
int64_t smtp_auth_limit_blocked(struct smtp_auth_limit *t, const char *ip, int64_t now_ms);
/* Records a failure; returns the address's failures within the window, this one included. */
unsigned smtp_auth_limit_fail(struct smtp_auth_limit *t, const char *ip, int64_t now_ms);
/* Addresses remembered (at most the capacity). */
size_t smtp_auth_limit_count(const struct smtp_auth_limit *t);
/* The delay of the reply to the nth failure: 0 up to SMTP_AUTH_FAIL_FREE, then base, 2 base, 4 base, 8 base. */
int64_t smtp_auth_limit_delay(int64_t base_ms, unsigned n);
/* "2001:db8:1:2::/64" for any address in that /64, "192.0.2.1" for itself and ::ffff:192.0.2.1. Pure. */
void smtp_auth_limit_key(const char *ip, char *out, size_t outlen);

#endif
