//! Integration tests of the worker against the machine's real Postgres,
//! Redis and NATS, with private Redis servers, a Postgres proxy that can be
//! cut, and local HTTP targets where a test needs to break something.

mod checks;
mod helpers;
mod http;
mod outbound;
mod reliability;
mod retention;
mod scheduler;
