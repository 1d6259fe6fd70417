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
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{Arc, LazyLock},
    time::Duration,
};

use ipnet::IpNet;

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

/// Where a rule comes from: every block of IANA's special-purpose address
/// registries (IPv4 and IPv6), refused whether or not the registry marks it
/// globally reachable (nobody needs to reach an AS112 server or a TURN anycast
/// address), plus multicast and, for IPv6, everything outside global unicast
/// `2000::/3`: that covers `::/8` (IPv4-compatible `::a.b.c.d`, IPv4-mapped
/// and IPv4-translated addresses), NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`,
/// the deprecated site-local `fec0::/10` and Fly's private `fdaa::/16`.
/// 6to4 (`2002::/16`) and Teredo (`2001::/32`) sit inside `2000::/3` and are
/// refused by name: both tunnel to an IPv4 address of the sender's choosing.
///
/// <https://www.iana.org/assignments/iana-ipv4-special-registry/>,
/// <https://www.iana.org/assignments/iana-ipv6-special-registry/>.
const REFUSED_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\" address"),
    ("10.0.0.0/8", "private address"),
    ("100.64.0.0/10", "carrier-grade NAT address"),
    ("127.0.0.0/8", "loopback address"),
    // 169.254.169.254 is the metadata service on most clouds.
    ("169.254.0.0/16", "link-local or cloud metadata address"),
    ("172.16.0.0/12", "private address"),
    ("192.0.0.0/24", "IETF protocol assignment address"),
    ("192.0.2.0/24", "documentation address"),
    ("192.31.196.0/24", "AS112 service address"),
    ("192.52.193.0/24", "AMT relay address"),
    ("192.88.99.0/24", "6to4 relay address"),
    ("192.168.0.0/16", "private address"),
    ("192.175.48.0/24", "AS112 service address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("224.0.0.0/4", "multicast address"),
    ("240.0.0.0/4", "reserved or broadcast address"),
];

const REFUSED_V6: &[(&str, &str)] = &[
    ("2001::/32", "Teredo address (tunnels to IPv4)"),
    ("2001::/23", "IETF protocol assignment address"),
    ("2001:db8::/32", "documentation address"),
    ("2002::/16", "6to4 address (tunnels to IPv4)"),
    ("2620:4f:8000::/48", "AS112 service address"),
    ("3fff::/20", "documentation address"),
];

/// One table of parsed blocks, most specific first where they nest.
static RULES: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    REFUSED_V4
        .iter()
        .chain(REFUSED_V6)
        .map(|(block, reason)| (block.parse().expect("a valid CIDR block"), *reason))
        .collect()
});

/// Why an address is refused; the text ends up in the recorded check.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    if let IpAddr::V6(v6) = ip
        && let Some(reason) = outside_global_unicast(v6)
    {
        return Some(reason);
    }
    RULES
        .iter()
        .find(|(block, _)| block.contains(&ip))
        .map(|(_, reason)| *reason)
}

/// Everything an IPv6 address can be outside `2000::/3`, named.
fn outside_global_unicast(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if first & 0xe000 == 0x2000 {
        None
    } else if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_unspecified() {
        Some("unspecified address")
    } else if first & 0xff00 == 0 {
        Some("IPv4-compatible, -mapped or -translated address")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        Some("NAT64 address (translates to IPv4)")
    } else if first & 0xfe00 == 0xfc00 {
        // Fly's private network fdaa::/16 and AWS's metadata service
        // fd00:ec2::254 are both in fc00::/7.
        Some("unique-local (private) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local address")
    } else if first & 0xffc0 == 0xfec0 {
        Some("site-local (private) address")
    } else if ip.is_multicast() {
        Some("multicast address")
    } else {
        Some("address outside global unicast")
    }
}

/// A refused connection, recognisable in the error chain of a failed
/// request. Its text names the rule and never the address a name resolved
/// to, so it cannot be used to map private names.
#[derive(Debug, thiserror::Error)]
#[error("refused: {host} {}a {reason}", if *.literal { "is " } else { "resolves to " })]
pub struct ForbiddenTarget {
    /// As the user wrote it.
    pub host: String,
    pub literal: bool,
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
                literal: true,
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
                        literal: false,
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

    /// IANA's IPv4 special-purpose address registry (updated 2024-05), every
    /// block, plus multicast.
    const IANA_V4: &[&str] = &[
        "0.0.0.0/8",
        "0.0.0.0/32",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.0.0/29",
        "192.0.0.8/32",
        "192.0.0.9/32",
        "192.0.0.10/32",
        "192.0.0.170/32",
        "192.0.0.171/32",
        "192.0.2.0/24",
        "192.31.196.0/24",
        "192.52.193.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "192.175.48.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
    ];

    /// IANA's IPv6 special-purpose address registry (updated 2025-01), every
    /// block, plus what embeds, translates or tunnels IPv4 outside it and
    /// the deprecated site-local and IPv4-compatible ranges.
    const IANA_V6: &[&str] = &[
        "::1/128",
        "::/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "100:0:0:1::/64",
        "2001::/23",
        "2001::/32",
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:1::3/128",
        "2001:2::/48",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:10::/28",
        "2001:20::/28",
        "2001:30::/28",
        "2001:db8::/32",
        "2002::/16",
        "2620:4f:8000::/48",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        // Not in the registry, refused as well:
        "::/96",
        "::ffff:0:0:0/96",
        "fec0::/10",
        "ff00::/8",
    ];

    #[test]
    fn every_special_purpose_block_is_refused_from_first_to_last_address() {
        for block in IANA_V4.iter().chain(IANA_V6) {
            let net: IpNet = block.parse().expect(block);
            for ip in [net.network(), net.broadcast()] {
                assert!(
                    forbidden_reason(ip).is_some(),
                    "{ip} (in {block}) should be refused"
                );
            }
        }
    }

    #[test]
    fn ipv6_forms_that_carry_ipv4_are_refused_whatever_ipv4_they_carry() {
        for ip in [
            "::127.0.0.1",
            "::1.1.1.1",
            "::ffff:127.0.0.1",
            "::ffff:1.1.1.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:101:101::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
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
            "192.0.1.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:200::1",
        ] {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert_eq!(forbidden_reason(parsed), None, "{ip} should be allowed");
        }
    }

    #[test]
    fn refusals_name_the_rule_and_never_the_resolved_address() {
        let resolved = ForbiddenTarget {
            host: "db.internal".into(),
            literal: false,
            reason: "unique-local (private) address",
        };
        assert_eq!(
            resolved.to_string(),
            "refused: db.internal resolves to a unique-local (private) address"
        );
    }

    #[test]
    fn literal_hosts_are_checked_unless_private_targets_are_allowed() {
        let strict = TargetPolicy::default();
        let url = url::Url::parse("http://[fdaa::3]:8080/").expect("url");
        let refused = strict.check_literal_host(&url).expect_err("refused");
        assert_eq!(
            refused.to_string(),
            "refused: fdaa::3 is a unique-local (private) address"
        );
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
