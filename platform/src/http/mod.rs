//! The HTTP side of a service: the error shape and extractors every handler
//! uses, the middleware stack, and a server that binds `[::]` and drains on
//! shutdown. A leaf: it knows nothing of the app it serves ([`crate::area`]
//! is what API areas are built from).

mod client;
pub mod csrf;
mod error;
mod extract;
mod server;
mod stack;

pub use client::{CLIENT_IP_HEADER, ClientAddress};
pub use error::{ApiError, ErrorBody, ErrorDetail, FieldError, json_error_fallback};
pub use extract::{Json, Path, Query};
pub use server::{Serving, bind, serve};
pub use stack::{HttpConfig, REQUEST_ID, with_middleware};
