//! Beacon's HTTP API, a thin binary: it mounts the areas of the domain
//! crates (`routes`), serves them with the platform's middleware (`server`), and
//! runs the schema's migrations (`cli`). `main.rs` only parses the command
//! line, so integration tests build and run the real application.

pub mod cli;
pub mod routes;
pub mod server;
#[cfg(feature = "test-helpers")]
pub mod testing;
