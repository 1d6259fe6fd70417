-- A URL a user watches. The bounds mirror the API's validation, so a bug
-- there cannot store a monitor the worker would choke on.
CREATE TABLE monitors (
    id                   uuid PRIMARY KEY,
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                 text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    url                  text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    method               text NOT NULL CHECK (method IN ('GET', 'HEAD', 'POST')),
    interval_seconds     integer NOT NULL CHECK (interval_seconds BETWEEN 10 AND 86400),
    timeout_ms           integer NOT NULL CHECK (timeout_ms BETWEEN 100 AND 30000),
    expected_status      integer NOT NULL CHECK (expected_status BETWEEN 100 AND 599),
    -- The traffic light: up (green), degraded (yellow), down (red), unknown (grey).
    state                text NOT NULL DEFAULT 'unknown'
                         CHECK (state IN ('up', 'degraded', 'down', 'unknown')),
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_checked_at      timestamptz,
    -- The scheduler claims rows whose next_check_at has passed and moves it on
    -- in the same statement, so scaled-out workers never claim one twice.
    next_check_at        timestamptz NOT NULL DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- A user's dashboard, in creation order.
CREATE INDEX monitors_user_id_created_at_idx ON monitors (user_id, created_at, id);
-- The scheduler's claim query.
CREATE INDEX monitors_next_check_at_idx ON monitors (next_check_at);

CREATE TRIGGER monitors_set_updated_at
    BEFORE UPDATE ON monitors
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
