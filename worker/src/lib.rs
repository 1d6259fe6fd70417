//! Beacon's worker, a thin binary: it registers the jobs and periodic tasks
//! of the domain crates (`jobs`) with the platform's job host and serves
//! `/health`, `/ready` and `/metrics` privately (`app`).

pub mod app;
pub mod jobs;
#[cfg(feature = "test-helpers")]
pub mod testing;
