//! Who is asking: the client's address, for per-address limits.
//!
//! On Fly the only address worth trusting is the one Fly's proxy vouches for
//! at the public edge: `Fly-Client-IP`, as the web app receives it (the proxy
//! overwrites whatever the client sent). nginx passes it on in
//! [`CLIENT_IP_HEADER`], set with `proxy_set_header`, which replaces any
//! value the client sent. The hop from nginx to the api goes through Fly's
//! proxy again (Flycast), which rewrites its own headers, so the api cannot
//! read `Fly-Client-IP` itself: it would be nginx's address.
//!
//! The api trusts [`CLIENT_IP_HEADER`] from whoever reaches it. That is
//! sound because only the private network reaches it (Flycast, no public
//! IP); a request without the header is counted by its TCP peer.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderName, request::Parts},
};
use ipnet::Ipv6Net;

/// Set by nginx (`docker/nginx/api-proxy.conf`) to the client's address.
pub const CLIENT_IP_HEADER: HeaderName = HeaderName::from_static("x-client-ip");

/// The client's address; `None` only when neither the header nor the peer
/// is known (a router called without a server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// What per-address limits count by: an IPv4 address, or the /64 an
    /// IPv6 address is in (one subscriber gets a whole /64 and could
    /// otherwise take a fresh address for every attempt). IPv4-mapped
    /// addresses count as their IPv4 address.
    pub fn limit_key(&self) -> String {
        match self.0.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => Ipv6Net::new(v6, 64)
                .map(|net| net.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
            None => "unknown".to_owned(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let from_header = parts
            .headers
            .get(CLIENT_IP_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<IpAddr>().ok());
        let peer = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip())
        };
        Ok(Self(from_header.or_else(peer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = ClientAddress(Some("2a01:4f8:1:2:aaaa::1".parse().expect("ip")));
        let b = ClientAddress(Some("2a01:4f8:1:2:bbbb::9".parse().expect("ip")));
        assert_eq!(a.limit_key(), "2a01:4f8:1:2::/64");
        assert_eq!(a.limit_key(), b.limit_key());
        let mapped = ClientAddress(Some("::ffff:203.0.113.9".parse().expect("ip")));
        assert_eq!(mapped.limit_key(), "203.0.113.9");
        assert_eq!(ClientAddress(None).limit_key(), "unknown");
    }
}
