-- One probe of a monitor. The id is the job's own check id: delivery is
-- at-least-once, so recording a redelivered job hits the primary key instead
-- of adding a second row.
CREATE TABLE checks (
    id          uuid PRIMARY KEY,
    monitor_id  uuid NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    trigger     text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    ok          boolean NOT NULL,
    status_code integer CHECK (status_code BETWEEN 100 AND 599),
    latency_ms  integer CHECK (latency_ms >= 0),
    error       text CHECK (char_length(error) <= 1000),
    checked_at  timestamptz NOT NULL DEFAULT now()
);

-- A monitor's history, newest first, with keyset pagination on (checked_at, id).
CREATE INDEX checks_monitor_id_checked_at_idx ON checks (monitor_id, checked_at DESC, id DESC);
-- Retention prunes by age across all monitors.
CREATE INDEX checks_checked_at_idx ON checks (checked_at);
