ALTER TABLE users DROP COLUMN welcomed_at;
