-- What the staff and operator API (/admin) needs on top of 001.

-- The vaccines a centre gives, as an operator declared them (POST /admin/centres
-- or the centres CSV). NULL: not recorded (a centre loaded before this column
-- existed); new sessions at such a centre are then not checked against it.
ALTER TABLE centres ADD COLUMN vaccines text[];

-- When centre staff checked the citizen in (status 'attended').
ALTER TABLE bookings ADD COLUMN attended_at timestamptz;

-- The roster, the slots listing and a centre's day cancel all ask for one
-- centre's slots on one day; the unique (centre_id, vaccine, day, start_time)
-- index cannot serve that because vaccine sits between centre and day.
CREATE INDEX slots_by_centre_day ON slots (centre_id, day);
