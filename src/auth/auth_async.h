/*
 * auth_async: what every check in src/auth (spf, dkim, dmarc, arc) does to
 * run on the resolver's event loop: its first step from a zero timer (so the
 * callback never runs inside the start call) under one deadline.
 */
#ifndef MAILSCOPE_AUTH_ASYNC_H
#define MAILSCOPE_AUTH_ASYNC_H

#include <event2/event.h>

/* Creates and arms *kick (fires at once) and *deadline (after timeout_ms), both with arg. */
void auth_async_start(struct event_base *base, struct event **kick, event_callback_fn kick_cb, struct event **deadline,
                      event_callback_fn deadline_cb, int timeout_ms, void *arg);

#endif
