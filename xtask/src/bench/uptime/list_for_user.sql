-- The query of `list_for_user` in uptime/src/monitors/db.rs, for pgbench
-- (`cargo xtask bench`): sent prepared (-M prepared), as sqlx prepares and
-- caches every query, with the user id as a variable (-D user_id=...), since
-- pgbench's \set holds only numbers.
SELECT id, name, url, method, interval_seconds, timeout_ms, expected_status,
       state, last_checked_at, next_check_at, created_at, updated_at
FROM monitors WHERE user_id = :user_id
ORDER BY created_at, id;
