-- The waitlist (issue 22, kmcbot/waitlist/): citizens who found no place that
-- suits them wait here, in a fair order (earliest due date, then time of
-- joining), and places that appear are offered to them one citizen at a time.
--
-- A place offered is held: slots.held counts the live offers, and every booking
-- path counts booked + held against the capacity (kmcbot_book below, moves in
-- repository._check_slot, the availability snapshot), so neither the ordinary
-- lists nor a walk-in can take a held place. The schema has the last word:
-- CHECK (booked + held <= capacity).
--
-- Locks, in one order everywhere (no deadlock): the citizen's number (advisory),
-- a waitlist entry, the slot, the offer. The offer run never waits for a lock
-- (SKIP LOCKED), and runs one at a time (a transaction advisory lock).

ALTER TABLE slots ADD COLUMN held integer NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE slots ADD CONSTRAINT slots_held_within CHECK (booked + held <= capacity);

CREATE TABLE waitlist (
    id          bigserial PRIMARY KEY,
    wa_id       text,                        -- NULL once the citizen's data is erased
    id_type     text NOT NULL,
    id_hash     text,                        -- keyed hash, never the number
    id_last4    text,
    name        text,
    vaccine     text NOT NULL REFERENCES dose_intervals (vaccine),
    first_dose  date NOT NULL,
    earliest    date NOT NULL,               -- the day the second dose falls due
    lang        text NOT NULL DEFAULT 'en',
    borough     integer,                     -- the area: a borough, or a circle
    near_lat    double precision,
    near_lon    double precision,
    radius_km   real,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    status      text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'booked', 'left')),
    ended_at    timestamptz,
    CHECK ((near_lat IS NULL) = (near_lon IS NULL))
);
-- One waiting entry per ID (as one active booking per ID); "at most 4 per
-- WhatsApp user" is checked under the number's advisory lock (waitlist/store.py).
CREATE UNIQUE INDEX waitlist_one_per_id ON waitlist (id_type, id_hash)
    WHERE status = 'waiting' AND id_hash IS NOT NULL;
CREATE INDEX waitlist_by_number ON waitlist (wa_id) WHERE status = 'waiting';
CREATE INDEX waitlist_order ON waitlist (earliest, joined_at, id) WHERE status = 'waiting';

CREATE TABLE offers (
    id          bigserial PRIMARY KEY,
    entry_id    bigint NOT NULL REFERENCES waitlist (id),
    wa_id       text,                        -- the entry's, for "one live offer per user"
    slot_id     bigint NOT NULL REFERENCES slots (id),
    status      text NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'taken', 'declined', 'expired', 'void')),
    made_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    queued_at   timestamptz,                 -- handed to the outbox
    booking_id  bigint REFERENCES bookings (id),
    CHECK ((status = 'held') = (ended_at IS NULL))
);
-- A citizen (a WhatsApp user, and each entry) holds at most one live offer.
CREATE UNIQUE INDEX offers_one_live_per_user ON offers (wa_id)
    WHERE status = 'held' AND wa_id IS NOT NULL;
CREATE UNIQUE INDEX offers_one_live_per_entry ON offers (entry_id) WHERE status = 'held';
CREATE INDEX offers_live ON offers (expires_at) WHERE status = 'held';
CREATE INDEX offers_unqueued ON offers (id) WHERE queued_at IS NULL AND status = 'held';
CREATE INDEX offers_by_entry ON offers (entry_id);
CREATE INDEX offers_by_slot ON offers (slot_id);

-- kmcbot_book of 009, with held places counted as taken, and a booking made any
-- way (the chat, an offer, a walk-in) ending the same ID's waiting entry: it has
-- its place (an offer it still holds runs out, or is refused if tapped).
CREATE OR REPLACE FUNCTION kmcbot_book(
    p_reference text, p_code text, p_slot_id bigint, p_wa_id text, p_id_type text,
    p_id_hash text, p_id_last4 text, p_name text, p_vaccine text, p_first_dose date,
    p_lang text, p_message_id text, p_max_active integer
) RETURNS TABLE (
    outcome text, reference text, code text, status text, slot_id bigint, day date,
    start_time time, end_time time, vaccine text, first_dose date, id_type text,
    id_last4 text, id_hash text, name text, lang text, centre_id integer,
    centre_code text, centre_name text, address text, ward integer,
    latitude double precision, longitude double precision
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
    v_slot record;
    v_refusal text;
BEGIN
    -- A slot full right now is refused without queueing for its row lock (the
    -- hot-slot rush), unless this message booked already (a redelivery).
    IF (SELECT s.booked + s.held >= s.capacity FROM slots s WHERE s.id = p_slot_id)
       AND NOT EXISTS (SELECT 1 FROM bookings b
                       WHERE b.wa_id = p_wa_id AND b.source_message_id = p_message_id) THEN
        v_refusal := 'slot_full';
    ELSE
        -- One number's bookings in turn, so that "at most p_max_active" holds
        -- under races; locks in one order everywhere (number, then slots by id).
        PERFORM pg_advisory_xact_lock(hashtextextended(p_wa_id, 0));
        -- After the number's lock, a redelivery sees the booking its message made.
        SELECT b.id INTO v_id FROM bookings b
         WHERE b.wa_id = p_wa_id AND b.source_message_id = p_message_id;
    END IF;
    IF v_refusal IS NULL AND v_id IS NULL THEN
        SELECT s.status, s.vaccine, s.day, s.capacity, s.booked, s.held,
               s.starts_at <= now() AS started, d.min_days
          INTO v_slot
          FROM slots s JOIN dose_intervals d ON d.vaccine = s.vaccine
         WHERE s.id = p_slot_id
           FOR UPDATE OF s;
        -- The slot rules of repository._check_slot (a move) too: change both.
        v_refusal := CASE
            WHEN NOT FOUND OR v_slot.status <> 'open' THEN 'slot_gone'
            WHEN v_slot.started THEN 'slot_started'
            WHEN v_slot.vaccine <> p_vaccine THEN 'vaccine_mismatch'
            WHEN v_slot.day - p_first_dose < v_slot.min_days THEN 'not_eligible'
            WHEN v_slot.booked + v_slot.held >= v_slot.capacity THEN 'slot_full'
            WHEN (SELECT count(*) FROM bookings b
                   WHERE b.wa_id = p_wa_id AND b.status = 'booked') >= p_max_active
                THEN 'number_limit'
            WHEN EXISTS (SELECT 1 FROM bookings b
                          WHERE b.id_type = p_id_type AND b.id_hash = p_id_hash
                            AND b.status IN ('booked', 'attended'))
                THEN 'id_already_booked'
        END;
        IF v_refusal IS NULL THEN
            INSERT INTO bookings (reference, code, slot_id, wa_id, id_type, id_hash,
                                  id_last4, name, vaccine, first_dose, lang,
                                  source_message_id)
            VALUES (p_reference, p_code, p_slot_id, p_wa_id, p_id_type, p_id_hash,
                    p_id_last4, p_name, p_vaccine, p_first_dose, p_lang, p_message_id)
            RETURNING bookings.id INTO v_id;
            UPDATE slots SET booked = booked + 1 WHERE id = p_slot_id;
            INSERT INTO notifications (booking_id, kind) VALUES (v_id, 'booked');
            UPDATE waitlist SET status = 'booked', ended_at = now()
             WHERE id_type = p_id_type AND id_hash = p_id_hash AND status = 'waiting';
        END IF;
    END IF;

    -- One row either way: the view columns stay NULL on a refusal (v_id NULL).
    RETURN QUERY
    SELECT coalesce(v_refusal, 'booked'), b.reference, b.code, b.status, b.slot_id, s.day,
           s.start_time, s.end_time, b.vaccine, b.first_dose, b.id_type, b.id_last4,
           b.id_hash, b.name, b.lang, c.id, c.code, c.name, c.address, c.ward,
           c.latitude, c.longitude
      FROM (SELECT) AS one
      LEFT JOIN (bookings b JOIN slots s ON s.id = b.slot_id
                 JOIN centres c ON c.id = s.centre_id) ON b.id = v_id;
END
$$;
