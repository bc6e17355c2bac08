-- A WhatsApp message id (wamid) encodes the sender's phone number, so an erased
-- booking ("delete my data", `kmcbot purge`) no longer keeps the id of the
-- message that booked it: source_message_id (NOT NULL) becomes 'erased:<id>',
-- unique per row and never a wamid (booking/repository.ERASED_MESSAGE_ID, which
-- erasures apply from this version on). A walk-in's 'walkin:<form key>' holds
-- nothing personal and stays: the relay reads it (outbox/relay.py).
-- Here: the rows erased before this version. Nothing can look them up by
-- message any more (a lookup is by number and message, and their number is
-- gone), so a process of the version before runs beside it unchanged.
UPDATE bookings SET source_message_id = 'erased:' || id
WHERE erased_at IS NOT NULL
  AND source_message_id NOT LIKE ALL (ARRAY['walkin:%', 'erased:%']);
