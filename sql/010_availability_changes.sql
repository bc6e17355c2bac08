-- When each slot and centre last changed (issue 18, finding 9): every server
-- process keeps a snapshot of the open sessions, and with tens of thousands of
-- them a full reload every second held every citizen's answer up. The snapshot
-- now reads only the rows changed since its last read (kmcbot.booking.snapshot),
-- found by this column, which a trigger moves on every change (clock_timestamp:
-- the moment of the change, not of its transaction's start).
ALTER TABLE slots ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE centres ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX slots_changed ON slots (changed_at);
CREATE INDEX centres_changed ON centres (changed_at);

CREATE FUNCTION kmcbot_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := clock_timestamp();
    RETURN NEW;
END
$$;

CREATE TRIGGER slots_touch BEFORE INSERT OR UPDATE ON slots
    FOR EACH ROW EXECUTE FUNCTION kmcbot_touch();
CREATE TRIGGER centres_touch BEFORE INSERT OR UPDATE ON centres
    FOR EACH ROW EXECUTE FUNCTION kmcbot_touch();
