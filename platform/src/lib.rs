//! The plumbing every Beacon service needs, and nothing of any product:
//! keep it when you replace the example.
//!
//! From the bottom up (no module uses one above it; `xtask/tests/modules.rs`
//! fails on a cycle):
//!
//! - [`config`], [`time`], [`shutdown`]: settings declared once, how values
//!   are written, the stop signal;
//! - [`telemetry`], [`http`]: logging; the error shape, extractors,
//!   middleware and server;
//! - [`db`], [`connections`], [`queue`], [`limit`], [`session`], [`live`],
//!   [`outbound`]: Postgres, Redis and NATS; pushing jobs; rate limits in
//!   Redis; signed sessions and the `AuthUser` extractor; events to browsers
//!   over NATS and Server-Sent Events; the guard for user-supplied URLs;
//! - [`app`]: the composition root, what every part of a process shares;
//! - [`health`], [`metrics`], [`jobs`], [`area`], [`migrate`], [`service`]:
//!   liveness and readiness, `/metrics`, the host that runs jobs, what API
//!   areas are built from, the migrate commands, the life of a process;
//! - [`events`]: `GET /api/events`, every area's live stream in one.

pub mod app;
pub mod area;
pub mod config;
pub mod connections;
pub mod db;
pub mod events;
pub mod health;
pub mod http;
pub mod jobs;
pub mod limit;
pub mod live;
pub mod metrics;
pub mod migrate;
pub mod outbound;
pub mod queue;
pub mod service;
pub mod session;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-helpers")]
pub mod testing;
pub mod time;
