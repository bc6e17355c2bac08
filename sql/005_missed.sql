-- A booking not checked in by the end of its slot's day (Kolkata) is 'missed'
-- (kmcbot/jobs/missed.py marks it). It no longer holds the ID (the unique index
-- bookings_one_per_id covers 'booked' and 'attended' only) nor one of the number's
-- places, so a citizen who could not come can book again. Its slot keeps the
-- place counted: slots.booked counts booked, attended and missed bookings (the
-- place was held all day), and only a cancellation gives one back.
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('booked', 'cancelled', 'attended', 'missed'));
