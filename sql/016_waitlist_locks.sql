-- The waitlist's store, reviewed (issue 22): the lock order, the offer run's cost.
--
-- 1. kmcbot_book of 014 locked the slot, then updated the ID's waiting entry,
--    which may be another number's (a family member booking from her own
--    phone), while that number's leave (waitlist/store.leave) and Book
--    (store.take) lock the entry, then the slot: PostgreSQL aborted one of them
--    (a deadlock). It now locks the ID's waiting entry right after the number,
--    before the slot: the order of 014's header everywhere (the number, an
--    entry, the slot, the offer).
-- 2. Indexes for the offer job's cheap paths (waitlist/job.py, store.py): the
--    slots holding places (few: _release_reserved and the job's trigger read
--    only those), the waiting entries by vaccine (a run finds in one probe per
--    vaccine whether anyone waits, and from when), and the entries' end (the
--    job's trigger: the latest entry left or booked).

CREATE INDEX slots_holding ON slots (id) INCLUDE (held) WHERE held > 0;
CREATE INDEX waitlist_waiting_by_vaccine ON waitlist (vaccine, earliest)
    WHERE status = 'waiting' AND wa_id IS NOT NULL;
CREATE INDEX waitlist_ended ON waitlist (ended_at) WHERE ended_at IS NOT NULL;

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
        -- The ID's waiting entry before the slot (see the header): a leave or a
        -- Book of its own number waits here, or this waits for them.
        PERFORM 1 FROM waitlist w
         WHERE w.id_type = p_id_type AND w.id_hash = p_id_hash AND w.status = 'waiting'
           FOR UPDATE;
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
