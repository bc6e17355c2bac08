-- A notice the relay hands to the outbox is marked relayed_at, as before (so a
-- relay of an older version, running beside a newer one in a rolling deploy,
-- skips it), with the outbox entry's id; the sender sets accepted_at once
-- WhatsApp accepted it. A notice relayed long ago, not accepted and no longer in
-- its stream (Redis lost it, or WhatsApp refused it) is sent again, a few times
-- at most (tries; kmcbot/outbox/relay.py).
ALTER TABLE notifications ADD COLUMN accepted_at timestamptz;
ALTER TABLE notifications ADD COLUMN queued_entry text;
ALTER TABLE notifications ADD COLUMN tries smallint NOT NULL DEFAULT 0;
CREATE INDEX notifications_unaccepted ON notifications (relayed_at)
    WHERE accepted_at IS NULL AND queued_entry IS NOT NULL;
