-- Centres, slots, bookings and dose intervals. The invariants a citizen relies
-- on live here too, so that no bug in Python can overbook or double-book.

CREATE TABLE centres (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'health_centre' CHECK (kind IN ('mega', 'health_centre')),
    borough     integer,
    ward        integer,
    address     text NOT NULL,
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The per-vaccine interval table: eligibility is data, not code.
CREATE TABLE dose_intervals (
    vaccine   text PRIMARY KEY,
    min_days  integer NOT NULL CHECK (min_days >= 0),
    max_days  integer NOT NULL,
    CHECK (max_days >= min_days)
);

INSERT INTO dose_intervals (vaccine, min_days, max_days) VALUES
    ('covishield', 84, 112),   -- 12-16 weeks
    ('covaxin', 28, 42),       -- 4-6 weeks
    ('sputnik_v', 21, 90);

CREATE TABLE slots (
    id             bigserial PRIMARY KEY,
    centre_id      integer NOT NULL REFERENCES centres (id),
    vaccine        text NOT NULL REFERENCES dose_intervals (vaccine),
    day            date NOT NULL,
    start_time     time NOT NULL,
    end_time       time NOT NULL,
    -- day + start_time in Kolkata time: "bookable until it starts" compares with now().
    starts_at      timestamptz NOT NULL,
    capacity       integer NOT NULL CHECK (capacity >= 0),
    booked         integer NOT NULL DEFAULT 0 CHECK (booked >= 0),
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cancelled')),
    cancel_reason  text,
    CHECK (end_time > start_time),
    CHECK (booked <= capacity),
    UNIQUE (centre_id, vaccine, day, start_time)
);

CREATE INDEX slots_open_by_time ON slots (starts_at) WHERE status = 'open';

CREATE TABLE bookings (
    id                 bigserial PRIMARY KEY,
    reference          text NOT NULL UNIQUE,
    code               text NOT NULL CHECK (code ~ '^[0-9]{4}$'),
    slot_id            bigint NOT NULL REFERENCES slots (id),
    wa_id              text,            -- NULL once the citizen's data is erased
    id_type            text NOT NULL,
    id_hash            text,            -- HMAC of the ID number under the pepper; never the number
    id_last4           text,
    name               text,
    vaccine            text NOT NULL REFERENCES dose_intervals (vaccine),
    first_dose         date NOT NULL,
    lang               text NOT NULL DEFAULT 'en',
    status             text NOT NULL DEFAULT 'booked'
                       CHECK (status IN ('booked', 'cancelled', 'attended')),
    source_message_id  text NOT NULL UNIQUE,  -- a redelivered message never books twice
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    cancel_reason      text,
    erased_at          timestamptz
);

-- One active second-dose booking per ID (an attended one counts: the dose was given).
CREATE UNIQUE INDEX bookings_one_per_id ON bookings (id_type, id_hash)
    WHERE status IN ('booked', 'attended') AND id_hash IS NOT NULL;
CREATE INDEX bookings_active_by_number ON bookings (wa_id) WHERE status = 'booked';
CREATE INDEX bookings_by_slot ON bookings (slot_id, status);

-- News of a change, written in the same transaction as the change and relayed
-- to WhatsApp from here: a Redis crash can cost a chat reply, never this.
CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    booking_id  bigint NOT NULL REFERENCES bookings (id),
    kind        text NOT NULL CHECK (kind IN ('booked', 'moved', 'cancelled', 'slot_cancelled', 'reminder')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    relayed_at  timestamptz
);

CREATE INDEX notifications_pending ON notifications (created_at) WHERE relayed_at IS NULL;
