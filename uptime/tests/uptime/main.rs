//! Integration tests of the example: its API through the real api, its jobs
//! through the real worker, against the machine's real Postgres, Redis and
//! NATS. Each test has its own database (dropped when it ends) and its own
//! queue prefix.

mod alerts;
mod checks;
mod helpers;
mod live;
mod monitors;
mod nats_cluster;
mod outbound;
mod reliability;
mod retention;
mod scheduler;
