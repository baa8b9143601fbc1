// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Trace file records into the replay: what `porthog report` does per record. */
#include <errno.h>

#include "event.h"
#include "report_feed.h"

int ph_feed_record(struct ph_feed *f, __u16 type, const void *p, __u32 len)
{
	int err = 0;

	if (!f->have_hdr && type != PH_REC_HEADER) {
		snprintf(f->bad, sizeof(f->bad), "the first record is %s, not the header",
			 ph_rec_type_name(type));
		return -EBADMSG;
	}
	switch (type) {
	case PH_REC_HEADER: {
		if (f->have_hdr)
			break;
		err = ph_rec_get_header(p, len, &f->hdr);
		if (err)
			break;
		f->have_hdr = true;
		ph_replay_header(f->rp, f->hdr.hostname, f->hdr.kernel, f->hdr.version,
				 f->hdr.attach, f->hdr.mono_to_wall_ns, f->hdr.start_wall);
		break;
	}
	case PH_REC_NETNS: {
		struct ph_netns_info n;

		err = ph_rec_get_netns(p, len, &n);
		if (!err) {
			ph_replay_netns(f->rp, &n);
			ph_rec_netns_free(&n);
		}
		break;
	}
	case PH_REC_PROC: {
		struct ph_proc_meta m;

		err = ph_rec_get_proc(p, len, &m);
		if (!err) {
			ph_replay_proc(f->rp, &m);
			ph_rec_proc_free(&m);
		}
		break;
	}
	case PH_REC_SNAP_BEGIN: {
		struct ph_rec_snap_begin b;

		err = ph_rec_get_snap_begin(p, len, &b);
		if (err || f->events_out)
			break;
		f->resync = f->started;
		f->restoring = !f->started || ph_replay_resync_begin(f->rp, b.ts_ns);
		if (!f->restoring && f->resync)
			f->past_at = true;
		break;
	}
	case PH_REC_SOCK: {
		struct ph_sock_entry s;

		err = ph_rec_get_sock(p, len, &s);
		if (!err && f->restoring)
			ph_replay_sock(f->rp, &s);
		break;
	}
	case PH_REC_SNAP_END:
		if (f->restoring && f->resync)
			ph_replay_resync_end(f->rp);
		f->restoring = f->resync = false;
		f->started = true;
		break;
	case PH_REC_EVENT: {
		struct ph_event e;

		err = ph_rec_get_event(p, len, &e);
		if (err)
			break;
		f->started = true;
		if (f->events_out)
			ph_event_print_json(f->events_out, &e, f->hdr.mono_to_wall_ns);
		else if (!ph_replay_event(f->rp, &e))
			f->past_at = true;
		break;
	}
	case PH_REC_LOST: {
		struct ph_rec_lost l;

		err = ph_rec_get_lost(p, len, &l);
		if (err)
			break;
		if (f->events_out) {
			struct ph_losses now = { .ringbuf = l.lost_total, .skipped = l.skipped_total };

			/* in the stream where the recorder noticed them, as trace --json does */
			ph_losses_print_json(f->events_out,
					     ((__s64)l.ts_ns + f->hdr.mono_to_wall_ns) / 1e9, &now,
					     &f->seen);
		} else {
			ph_replay_lost(f->rp, l.lost_total, l.skipped_total);
		}
		break;
	}
	case PH_REC_TRIGGER: {
		struct ph_rec_trigger t;

		err = ph_rec_get_trigger(p, len, &t);
		if (!err) {
			ph_replay_trigger(f->rp, (t.ts_ns + f->hdr.mono_to_wall_ns) / 1e9, t.text);
			ph_rec_trigger_free(&t);
		}
		break;
	}
	default:
		break;	/* END, or a record type of a newer version */
	}
	if (err && !f->bad[0])
		snprintf(f->bad, sizeof(f->bad), "malformed %s record", ph_rec_type_name(type));
	return err;
}
