//! Integration tests of the api with the skeleton's areas: one binary, so it
//! links once and every module shares the helpers. Each test starts its own
//! app on port 0 with its own freshly migrated database (dropped when the
//! test ends) and its own queue prefix, against the machine's real Postgres,
//! Redis and NATS.

mod auth;
mod errors;
mod events;
mod health;
mod helpers;
mod limits;
mod logs;
mod metrics;
mod middleware;
mod migrate;
mod openapi;
mod shutdown;
