//! The helpers these tests share: `api::testing` and `platform::testing`.

pub use api::testing::{
    PASSWORD, TestApp, spawn_app, spawn_app_with, spawn_peer, unique_client_address, unique_email,
};
pub use platform::testing::{
    PrivateRedis, SseStream, TestDatabase, assert_error, assert_timestamps_are_micros, eventually,
    free_port, nats_url, redis_url, unique_queue_prefix,
};
