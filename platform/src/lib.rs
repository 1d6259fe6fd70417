//! The plumbing every Beacon service needs, and nothing of any product:
//! keep it when you replace the example.
//!
//! - [`config`]: every setting declared once, read from the environment;
//! - [`telemetry`], [`metrics`], [`health`], [`shutdown`], [`service`]: the
//!   life of a process and what it tells the outside;
//! - [`connections`]: Postgres, Redis and NATS, opened one way;
//! - [`http`]: the error shape, extractors, middleware and server;
//!   [`session`]: signed sessions and the `AuthUser` extractor;
//!   [`live`]: events to browsers over NATS and Server-Sent Events;
//! - [`jobs`]: background jobs on Redis and the host that runs them;
//! - [`limit`]: rate limits in Redis, checked and counted in one step;
//! - [`outbound`]: the guard for requests to user-supplied URLs;
//! - [`db`], [`migrate`], [`time`]: the schema and how values are written.

pub mod config;
pub mod connections;
pub mod db;
pub mod health;
pub mod http;
pub mod jobs;
pub mod limit;
pub mod live;
pub mod metrics;
pub mod migrate;
pub mod outbound;
pub mod service;
pub mod session;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-helpers")]
pub mod testing;
pub mod time;
