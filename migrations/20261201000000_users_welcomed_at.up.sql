-- Set by the welcome job, once: a redelivered job finds it set and does
-- nothing, so an account is never welcomed twice.
ALTER TABLE users ADD COLUMN welcomed_at timestamptz;
