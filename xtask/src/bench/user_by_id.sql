-- The query of `users::by_id` in accounts/src/users.rs, which
-- `GET /api/auth/me` sends, for pgbench (`cargo xtask bench`): sent prepared
-- (-M prepared), as sqlx prepares and caches every query, with the user id as
-- a variable (-D user_id=...), since pgbench's \set holds only numbers.
SELECT id, email, created_at, welcomed_at FROM users WHERE id = :user_id;
