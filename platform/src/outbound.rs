//! Which addresses an outbound request to a user-supplied URL may reach.
//!
//! A URL from a user (a site to watch, a webhook) is input: without this,
//! "fetch my URL" is a way to probe Fly's private network (6PN `fdaa::/16`),
//! the machine itself, or a cloud metadata service. The decision is made on
//! the addresses a name resolves to, after DNS, inside the HTTP client's
//! resolver, so it applies to every connection, including each redirect hop,
//! and a name that resolves to a private address (DNS rebinding) is refused
//! as well. `ALLOW_PRIVATE_TARGETS=true` lifts it, for development and tests
//! only.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::{AppEnv, ConfigError, Env};

/// `ALLOW_PRIVATE_TARGETS`, refused in production.
pub fn policy_from_env(env: &Env, app_env: AppEnv) -> Result<TargetPolicy, ConfigError> {
    let allow_private = env
        .var(
            "ALLOW_PRIVATE_TARGETS",
            "let requests to user-supplied URLs reach private addresses; development only, refused in production",
        )
        .flag(false)?;
    if allow_private && app_env == AppEnv::Production {
        return Err(ConfigError::new(
            "ALLOW_PRIVATE_TARGETS",
            "is true with APP_ENV=production: private targets expose the private network; unset it",
        ));
    }
    Ok(TargetPolicy {
        allow_private,
        exceptions: Vec::new(),
    })
}

/// An HTTP client that only reaches what `policy` allows: names are resolved
/// by the guard, no proxy (a proxy would resolve names itself, past the
/// guard), and no redirects followed for the caller (each hop must be
/// checked with [`TargetPolicy::check_literal_host`] first).
pub fn guarded_client(
    policy: &Arc<TargetPolicy>,
    user_agent: &str,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::clone(policy),
        }))
        .user_agent(user_agent)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

/// The innermost cause of a failed request, in words a user can act on,
/// without reqwest's "error sending request for url (...)".
pub fn describe_error(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(forbidden) = cause.downcast_ref::<ForbiddenTarget>() {
            return forbidden.to_string();
        }
        source = cause.source();
    }
    let mut root: &dyn std::error::Error = error;
    while let Some(next) = root.source() {
        root = next;
    }
    let kind = if error.is_connect() {
        "connection failed"
    } else if error.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    format!("{kind}: {root}")
}

/// Why an address is refused; the text ends up in the recorded check.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:10.0.0.1) and IPv4-compatible forms carry
            // an IPv4 address that must pass the same rules.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_private() {
        Some("private address")
    } else if ip.is_link_local() {
        // 169.254.169.254 is the metadata service on most clouds.
        Some("link-local or cloud metadata address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT address")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("broadcast, multicast or reserved address")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("IETF protocol assignment address")
    } else if (a == 198 && (18..20).contains(&b)) || ip.is_documentation() {
        Some("benchmarking or documentation address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_unspecified() {
        Some("unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        // fc00::/7: Fly's private network fdaa::/16 and AWS's metadata
        // service fd00:ec2::254 are both in it.
        Some("unique-local (private) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local address")
    } else if ip.is_multicast() {
        Some("multicast address")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation address")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64 (64:ff9b::/96) can embed any IPv4 address, private ones too.
        Some("NAT64 address")
    } else {
        None
    }
}

/// A refused connection, recognisable in the error chain of a failed request.
#[derive(Debug, thiserror::Error)]
#[error("refused: {host} resolves to {ip}, a {reason}")]
pub struct ForbiddenTarget {
    pub host: String,
    pub ip: IpAddr,
    pub reason: &'static str,
}

/// What a check may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `ALLOW_PRIVATE_TARGETS`: everything goes (development, tests).
    pub allow_private: bool,
    /// Exact addresses allowed despite the rules. Not configurable: tests
    /// use it to serve a first hop on loopback and still see the rules
    /// refuse the next one.
    pub exceptions: Vec<IpAddr>,
}

impl TargetPolicy {
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allow_private || self.exceptions.contains(&ip) {
            None
        } else {
            forbidden_reason(ip)
        }
    }

    /// The resolver never sees IP literals (`http://10.0.0.1/`): check
    /// those here, before each hop.
    pub fn check_literal_host(&self, url: &url::Url) -> Result<(), ForbiddenTarget> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        match self.refusal(ip) {
            Some(reason) => Err(ForbiddenTarget {
                host: ip.to_string(),
                ip,
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// Resolves names with the system resolver and refuses the lot if any address
/// is forbidden: a name with one public and one private address is refused,
/// rather than letting the connection race pick.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: Arc<TargetPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                if let Some(reason) = policy.refusal(addr.ip()) {
                    return Err(Box::new(ForbiddenTarget {
                        host,
                        ip: addr.ip(),
                        reason,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_of_private_address_is_refused() {
        let refused = [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fdaa:0:1:a7b:1::2",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ];
        for ip in refused {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert!(forbidden_reason(parsed).is_some(), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert_eq!(forbidden_reason(parsed), None, "{ip} should be allowed");
        }
    }

    #[test]
    fn literal_hosts_are_checked_unless_private_targets_are_allowed() {
        let strict = TargetPolicy::default();
        let url = url::Url::parse("http://[fdaa::3]:8080/").expect("url");
        let refused = strict.check_literal_host(&url).expect_err("refused");
        assert!(refused.to_string().contains("unique-local"), "{refused}");
        let open = TargetPolicy {
            allow_private: true,
            exceptions: Vec::new(),
        };
        assert!(open.check_literal_host(&url).is_ok());
        let named = url::Url::parse("http://example.com/").expect("url");
        assert!(
            strict.check_literal_host(&named).is_ok(),
            "names are left to the resolver"
        );
    }

    #[test]
    fn exceptions_allow_exactly_their_address() {
        let policy = TargetPolicy {
            allow_private: false,
            exceptions: vec!["127.0.0.1".parse().expect("ip")],
        };
        assert_eq!(policy.refusal("127.0.0.1".parse().expect("ip")), None);
        assert!(policy.refusal("127.0.0.2".parse().expect("ip")).is_some());
    }
}
