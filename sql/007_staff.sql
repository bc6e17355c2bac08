-- The staff console (kmcbot/staff/): accounts, their API tokens, the audit of
-- every staff action, the centre's "we have the list" and its supply.

CREATE TABLE staff_accounts (
    id             serial PRIMARY KEY,
    login          text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9][a-z0-9._-]{1,39}$'),
    name           text NOT NULL,
    role           text NOT NULL CHECK (role IN ('clerk', 'operator')),
    centre_id      integer REFERENCES centres (id),
    password_hash  text NOT NULL,             -- argon2id, never the password
    active         boolean NOT NULL DEFAULT true,
    -- Raised on disable or a new password: every cookie of the older value is out.
    session_epoch  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    -- A clerk works at one centre; an operator at all of them.
    CHECK ((role = 'clerk') = (centre_id IS NOT NULL))
);

-- Bearer tokens for the /admin JSON API, each tied to one account (and so to
-- its role and centre). Only a SHA-256 of the token is kept.
CREATE TABLE staff_api_tokens (
    id          serial PRIMARY KEY,
    staff_id    integer NOT NULL REFERENCES staff_accounts (id),
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Every staff action: who, what, when, from where. `detail` holds references,
-- counts and codes, never a citizen's name, number or ID.
CREATE TABLE staff_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    staff_id   integer REFERENCES staff_accounts (id),  -- NULL: a failed login of no account
    login      text,
    action     text NOT NULL,
    centre_id  integer REFERENCES centres (id),
    detail     jsonb NOT NULL DEFAULT '{}',
    address    text
);
CREATE INDEX staff_audit_by_time ON staff_audit (at DESC);

-- "We have the list": the centre confirmed a day's roster (once per centre and day).
CREATE TABLE list_confirmations (
    centre_id     integer NOT NULL REFERENCES centres (id),
    day           date NOT NULL,
    confirmed_by  integer NOT NULL REFERENCES staff_accounts (id),
    confirmed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (centre_id, day)
);

-- The doses a centre has (or expects) for a day, per vaccine.
CREATE TABLE centre_supply (
    centre_id    integer NOT NULL REFERENCES centres (id),
    day          date NOT NULL,
    vaccine      text NOT NULL REFERENCES dose_intervals (vaccine),
    doses        integer NOT NULL CHECK (doses >= 0),
    recorded_by  integer REFERENCES staff_accounts (id),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (centre_id, day, vaccine)
);

-- A cancelled session's reason is a code (kmcbot/staff/reasons.py) whose text
-- the citizen reads in their language; what staff typed stays here, for staff.
ALTER TABLE slots ADD COLUMN cancel_note text;

-- 'on_list': the centre has the citizen's name for that day; told once per
-- booking and day (remind_day holds the day, as for reminders).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (
    kind IN ('booked', 'moved', 'cancelled', 'slot_cancelled', 'reminder', 'on_list'));
ALTER TABLE notifications DROP CONSTRAINT notifications_reminder_has_a_day;
ALTER TABLE notifications ADD CONSTRAINT notifications_reminder_has_a_day
    CHECK ((kind IN ('reminder', 'on_list')) = (remind_day IS NOT NULL));
CREATE UNIQUE INDEX notifications_one_on_list ON notifications (booking_id, remind_day)
    WHERE kind = 'on_list';
