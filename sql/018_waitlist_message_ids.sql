-- The waitlist's changes keyed on the message that made them, as a booking is
-- (bookings.source_message_id): a turn retried after its effects were committed
-- (the lease ran out; WhatsApp delivered it again after a 503) is told what the
-- first attempt did (joined, at which position; left; declined), not "already
-- on the waitlist" / "not on the waitlist" / "no offer" (kmcbot/waitlist/store.py).
-- Erased with the citizen's other fields (a wamid carries the number).
-- Only adds columns and indexes: a process of the version before runs beside it.
ALTER TABLE waitlist
    ADD COLUMN joined_by text,   -- the message that joined
    ADD COLUMN left_by   text;   -- the message that left ("stop", Leave the waitlist)
ALTER TABLE offers
    ADD COLUMN declined_by text; -- the message that said "Not now"
-- Looked up only when a leave or a decline found nothing to do (a retry, or truly
-- nothing): a citizen's few rows, by number and message.
CREATE INDEX waitlist_left_by ON waitlist (wa_id, left_by) WHERE left_by IS NOT NULL;
CREATE INDEX offers_declined_by ON offers (wa_id, declined_by) WHERE declined_by IS NOT NULL;
