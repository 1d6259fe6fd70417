//! Beacon's worker, a thin binary: it registers the jobs and periodic tasks
//! of the domain crates (`jobs`) with the platform's job host and serves
//! `/health`, `/ready` and `/metrics` privately (`server`).

pub mod jobs;
pub mod server;
#[cfg(feature = "test-helpers")]
pub mod testing;
