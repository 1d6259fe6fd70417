-- Where an account's alerts go: one webhook, set in the dashboard.
CREATE TABLE webhooks (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    url        text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    -- json: Beacon's own payload; slack: `{"text": …}`, which Slack's incoming
    -- webhooks (and Mattermost's, and Discord's /slack endpoint) accept.
    format     text NOT NULL CHECK (format IN ('json', 'slack')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER webhooks_set_updated_at
    BEFORE UPDATE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One alert per change worth telling: a monitor turned red, or recovered.
-- It is written in the transaction that records the check causing it (one
-- per check: check_id is unique), so a change is never alerted twice, and
-- it is the outbox the send job works from: pending until sent or given up.
CREATE TABLE alerts (
    id         uuid PRIMARY KEY,
    monitor_id uuid NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    -- Pruned with its check by retention.
    check_id   uuid NOT NULL UNIQUE REFERENCES checks (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('down', 'recovered')),
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts   integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text CHECK (char_length(last_error) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- When it was last handed to the queue; the outbox sweep re-queues the
    -- pending ones that have waited too long (their queueing failed).
    queued_at  timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);

-- An account's alert history, newest first.
CREATE INDEX alerts_monitor_id_created_at_idx ON alerts (monitor_id, created_at DESC);
-- The outbox sweep.
CREATE INDEX alerts_pending_queued_at_idx ON alerts (queued_at) WHERE status = 'pending';
