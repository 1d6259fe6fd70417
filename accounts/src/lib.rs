//! Accounts: the skeleton's own domain, kept when the example goes. Sign up
//! and log in with email and password (argon2id), sessions from
//! [`platform::session`], login and sign-up limits in Redis, and a welcome job
//! queued at sign-up.
//!
//! Like every domain crate it offers the binaries two things: [`routes`] for
//! the api and its jobs for the worker ([`Welcomes`]).

mod limits;
mod password;
mod routes;
pub mod users;
mod welcome;

use sqlx::migrate::Migrator;

pub use routes::{AccountSettings, routes};
pub use welcome::{WelcomeUser, Welcomes};

/// The skeleton's migrations (`migrations/`): the users table.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");
