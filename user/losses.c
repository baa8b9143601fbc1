// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "losses.h"

const char *ph_loss_cause_name(enum ph_loss_cause c)
{
	return c == PH_LOSS_RINGBUF ? "ringbuf" : "skipped";
}

void ph_loss_print_json(FILE *f, double ts, __u64 count, enum ph_loss_cause c)
{
	fprintf(f, "{\"ts\":%.6f,\"event\":\"lost\",\"count\":%llu,\"cause\":\"%s\"}\n", ts,
		(unsigned long long)count, ph_loss_cause_name(c));
}

void ph_losses_print_json(FILE *f, double ts, const struct ph_losses *now,
			  struct ph_losses *seen)
{
	if (now->ringbuf > seen->ringbuf)
		ph_loss_print_json(f, ts, now->ringbuf - seen->ringbuf, PH_LOSS_RINGBUF);
	if (now->skipped > seen->skipped)
		ph_loss_print_json(f, ts, now->skipped - seen->skipped, PH_LOSS_SKIPPED);
	*seen = *now;
}

void ph_losses_warn(const struct ph_losses *now, struct ph_losses *warned, bool final,
		    bool nest_catch)
{
	if (now->ringbuf != warned->ringbuf || (final && now->ringbuf))
		ph_warn("lost_events=%llu: the ring buffer was full (events came faster than "
			"porthog read them); raise --ringbuf-size",
			(unsigned long long)now->ringbuf);
	if (now->skipped != warned->skipped || (final && now->skipped))
		ph_warn("skipped_events=%llu: the kernel skipped tracepoint hits while porthog's "
			"program ran on the same CPU%s", (unsigned long long)now->skipped,
			nest_catch ? ", and the catcher could not take them (nothing to tune; "
			"the socket walk of top, serve and record repairs the table)" :
			"; drop --no-nest-catch to catch them");
	*warned = *now;
}
