-- A notice the relay put on the outbox is not yet relayed: only WhatsApp's
-- acceptance marks it (relayed_at, set by the sender). queued_at and tries let
-- the relay send again a notice that was queued and never accepted (Redis lost
-- the entry, or WhatsApp refused it), a few times at most (kmcbot/relay.py).
ALTER TABLE notifications ADD COLUMN queued_at timestamptz;
ALTER TABLE notifications ADD COLUMN tries smallint NOT NULL DEFAULT 0;
