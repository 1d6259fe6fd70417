//! Integration tests of the worker with the skeleton's jobs, against the
//! machine's real Postgres, Redis and NATS. Each test has its own database
//! (dropped when it ends) and its own queue prefix.

mod http;
mod welcome;

use platform::{config::Env, testing::TestDatabase};

/// The test's database with the schema the api migrates, and the worker's
/// variables.
async fn world() -> (TestDatabase, Env) {
    let database = TestDatabase::migrated(&api::routes::migrator()).await;
    let env = worker::testing::fast(database.env(platform::testing::test_env()));
    (database, env)
}
