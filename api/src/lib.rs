//! Beacon's HTTP API. `main.rs` only parses the command line; everything else
//! lives here so integration tests can build and run the real application.
//!
//! Module map: `startup` assembles the app; `auth`, `monitors` and `health`
//! each own their routes; `error` and `extract` give every failure one JSON
//! shape; `migrate` backs the `api migrate` subcommands. The middleware
//! stack in `startup::router` uses `csrf`, `http_metrics` and `timeout`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod health;
pub mod http_metrics;
pub mod live;
pub mod migrate;
pub mod monitors;
pub mod openapi;
pub mod startup;
pub mod state;
pub mod timeout;
