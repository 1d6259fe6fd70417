//! What Beacon's `api` and `worker` share.
//!
//! Everything here exists because two processes must agree on it: how settings
//! are read, how logs look, when to stop, how to reach Postgres, Redis and NATS,
//! and the shape and address of the jobs and events that pass between them.

pub mod config;
pub mod db;
pub mod events;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod nats;
pub mod redis_conn;
pub mod rfc3339;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-helpers")]
pub mod testing;
