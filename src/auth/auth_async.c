/* auth_async: see auth_async.h. */
#include "auth/auth_async.h"

#include <stddef.h>

void auth_async_start(struct event_base *base, struct event **kick, event_callback_fn kick_cb, struct event **deadline,
                      event_callback_fn deadline_cb, int timeout_ms, void *arg)
{
	*kick = evtimer_new(base, kick_cb, arg);
	struct timeval zero = {0, 0};
	evtimer_add(*kick, &zero);
	*deadline = evtimer_new(base, deadline_cb, arg);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(*deadline, &tv);
}
