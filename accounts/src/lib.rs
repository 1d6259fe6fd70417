//! Accounts: the skeleton's own domain, kept when the example goes. Sign up
//! and log in with email and password (argon2id), sessions from
//! [`platform::session`], login and sign-up limits in Redis, and a welcome job
//! queued at sign-up.
//!
//! Like every domain crate it offers the binaries three things: [`routes`]
//! for the api, its part of the live stream's snapshot ([`snapshot`]), and
//! its jobs for the worker ([`Welcomes`]).

mod limits;
mod password;
mod routes;
pub mod users;
mod welcome;

use platform::app::App;
use sqlx::migrate::Migrator;
use uuid::Uuid;

pub use routes::{AccountSettings, routes};
pub use welcome::{WelcomeUser, Welcomes};

/// The skeleton's migrations (`migrations/`): the users table.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The live event that carries the account as it is now (the welcome job
/// sends it once the account is welcomed).
pub const ACCOUNT_EVENT: &str = "account";

/// The `account` part of the live stream's snapshot: the signed-in user.
pub async fn snapshot(app: App, user_id: Uuid) -> anyhow::Result<Option<users::User>> {
    Ok(users::by_id(&app.db, user_id).await?)
}
