-- A WhatsApp user who adopts a username may stop sharing their phone number;
-- their business-scoped user id (BSUID) stays. When a message carries both,
-- the pair is kept here, so a citizen who later hides the number is still the
-- same citizen: their bookings, "at most 4", language and reminders follow.
-- Erased with the citizen's data ("delete my data"); moved when WhatsApp says
-- the number or the user id changed.
CREATE TABLE citizen_ids (
    user_id  text PRIMARY KEY,          -- the BSUID, as WhatsApp sent it
    wa_id    text NOT NULL,             -- the phone number it last came with
    seen_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX citizen_ids_by_number ON citizen_ids (wa_id);
