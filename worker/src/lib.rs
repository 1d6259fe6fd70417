//! Beacon's worker: runs checks from the Redis queue, schedules due monitors,
//! prunes old checks, and serves `/health`, `/ready`, `/metrics`.
//!
//! Module map: `startup` wires everything; `supervisor` keeps the apalis
//! worker alive; `job` is one check (`probe` + `outbound` for the request,
//! `store` + `light` for recording it); `scheduler` and `retention` are the
//! periodic loops; `queue` holds the Redis-side settings and housekeeping.

pub mod config;
pub mod http;
pub mod job;
pub mod light;
pub mod outbound;
pub mod probe;
pub mod queue;
pub mod retention;
pub mod scheduler;
pub mod startup;
pub mod store;
pub mod supervisor;
pub mod ticker;
