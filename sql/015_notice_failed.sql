-- A notice (reminder, on the list, session cancelled, booking news) that
-- WhatsApp accepted and then reported failed in a status webhook (e.g. 131047:
-- the 24-hour window had closed; 131026: the number is not on WhatsApp) is
-- marked on its booking, for the staff console's roster and the admin roster:
-- the citizen may not know. A later notice of the same kind delivered clears it.
-- Only adds columns: a process of the version before runs beside it.
ALTER TABLE bookings
    ADD COLUMN notice_failed_kind text,
    ADD COLUMN notice_failed_code integer,
    ADD COLUMN notice_failed_at   timestamptz;
