//! Integration tests: one binary, so it links once and every module shares
//! the helpers. Each test starts its own app on port 0 with its own freshly
//! migrated database and its own queue name, against the machine's real
//! Postgres, Redis and NATS.

mod auth;
mod errors;
mod health;
mod helpers;
mod live;
mod logs;
mod metrics;
mod middleware;
mod migrate;
mod monitors;
mod openapi;
mod pool;
mod shutdown;
