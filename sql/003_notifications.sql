-- Relaying notifications and scheduling reminders (kmcbot/outbox/relay.py, kmcbot/jobs/reminders.py).

-- The day a reminder is for. One reminder per booking *per day*, not per
-- booking: a citizen who is reminded and then reschedules to another day gets
-- a reminder for the new day too, and a reminder whose booking moved away
-- from its day is recognised as stale by the relay and dropped.
ALTER TABLE notifications ADD COLUMN remind_day date;
ALTER TABLE notifications ADD CONSTRAINT notifications_reminder_has_a_day
    CHECK ((kind = 'reminder') = (remind_day IS NOT NULL));

-- Exactly one reminder however many processes schedule at once:
-- INSERT ... ON CONFLICT (booking_id, remind_day) WHERE kind = 'reminder' DO NOTHING.
CREATE UNIQUE INDEX notifications_one_reminder ON notifications (booking_id, remind_day)
    WHERE kind = 'reminder';

-- The pipeline marks its turn's news relayed by booking, and the relay asks
-- whether later news of the same booking superseded a row: both by booking.
CREATE INDEX notifications_by_booking ON notifications (booking_id);
