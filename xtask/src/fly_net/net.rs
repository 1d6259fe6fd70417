//! The network: one namespace per machine, each with only an `fdaa:` IPv6
//! address on a bridge (Fly's 6PN), and the user's side on a link of its
//! own to the web machine. Everything made here is named after the run and
//! removed by [`Network::teardown`], which also runs on drop.

use std::{
    net::Ipv6Addr,
    path::PathBuf,
    process::{Command, Output},
};

use anyhow::{Context, bail};

/// What the machines' resolv.conf names, as on Fly.
pub const DNS: Ipv6Addr = Ipv6Addr::new(0xfdaa, 0, 0, 0, 0, 0, 0, 3);
/// The host's own address on the bridge: the private Redis and the
/// Postgres forwarder listen here, as Fly's managed services sit outside the
/// org's machines.
pub const SERVICES: Ipv6Addr = Ipv6Addr::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1);
/// The web machine's end of the user's link, and the user's.
pub const WEB_PUBLIC: &str = "192.0.2.1";
pub const CLIENT_PUBLIC: &str = "192.0.2.2";

/// Runs `ip` (or another command) and fails with what it printed.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    run("ip", args).map(|_| ())
}

pub struct Network {
    /// Short and unique: every name made here starts with it.
    pub id: String,
    bridge: String,
    namespaces: Vec<String>,
    host_links: Vec<String>,
    /// /etc/netns/<namespace>: what `ip netns exec` mounts over /etc.
    etc_dirs: Vec<PathBuf>,
    /// Addresses added to the bridge (beyond the first two).
    next_machine: u16,
}

impl Network {
    /// The bridge, with the DNS server's and the services' addresses.
    pub fn create(id: &str) -> anyhow::Result<Self> {
        let network = Self {
            id: id.to_owned(),
            bridge: format!("{id}br"),
            namespaces: Vec::new(),
            host_links: Vec::new(),
            etc_dirs: Vec::new(),
            next_machine: 0x10,
        };
        let bridge = network.bridge.clone();
        // A fixed MAC address: a bridge otherwise takes its lowest port's,
        // and changes it when that machine goes, leaving every neighbour's
        // cache pointing at a MAC nobody has.
        ip(&[
            "link",
            "add",
            &bridge,
            "address",
            "02:00:00:00:00:01",
            "type",
            "bridge",
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for address in [DNS, SERVICES] {
            network.add_host_address(address)?;
        }
        Ok(network)
    }

    /// An address of the host on the bridge (a stand-in service's).
    pub fn add_host_address(&self, address: Ipv6Addr) -> anyhow::Result<()> {
        ip(&[
            "-6",
            "addr",
            "add",
            &format!("{address}/16"),
            "dev",
            &self.bridge,
            "nodad",
        ])
    }

    pub fn remove_host_address(&self, address: Ipv6Addr) -> anyhow::Result<()> {
        ip(&[
            "-6",
            "addr",
            "del",
            &format!("{address}/16"),
            "dev",
            &self.bridge,
        ])
    }

    /// A new machine: a namespace named `<id>-<name>` with loopback and one
    /// link to the bridge carrying a fresh `fdaa:` address and nothing else;
    /// its resolv.conf names [`DNS`]. Returns the namespace and the address.
    pub fn add_machine(&mut self, name: &str) -> anyhow::Result<(String, Ipv6Addr)> {
        let namespace = format!("{}-{name}", self.id);
        let number = self.next_machine;
        self.next_machine += 1;
        let address = Ipv6Addr::new(0xfdaa, 0, 0x1, 0xa7b, number, 0, 0, 2);
        let host_link = format!("{}h{number:x}", self.id);
        self.add_namespace(&namespace)?;
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", "eth0", "netns", &namespace,
        ])?;
        self.host_links.push(host_link.clone());
        ip(&["link", "set", &host_link, "master", &self.bridge, "up"])?;
        in_ns(&namespace, &["ip", "link", "set", "eth0", "up"])?;
        in_ns(
            &namespace,
            &[
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{address}/16"),
                "dev",
                "eth0",
                "nodad",
            ],
        )?;
        Ok((namespace, address))
    }

    /// The user's side: a namespace linked to the web machine only, over
    /// IPv4 (the public internet, as far as the user can tell).
    pub fn add_client(&mut self, web_namespace: &str) -> anyhow::Result<String> {
        let namespace = format!("{}-client", self.id);
        self.add_namespace(&namespace)?;
        ip(&[
            "link",
            "add",
            "pub0",
            "netns",
            web_namespace,
            "type",
            "veth",
            "peer",
            "name",
            "pub0",
            "netns",
            &namespace,
        ])?;
        for (ns, address) in [
            (web_namespace, WEB_PUBLIC),
            (namespace.as_str(), CLIENT_PUBLIC),
        ] {
            in_ns(
                ns,
                &["ip", "addr", "add", &format!("{address}/24"), "dev", "pub0"],
            )?;
            in_ns(ns, &["ip", "link", "set", "pub0", "up"])?;
        }
        Ok(namespace)
    }

    fn add_namespace(&mut self, namespace: &str) -> anyhow::Result<()> {
        ip(&["netns", "add", namespace])?;
        self.namespaces.push(namespace.to_owned());
        in_ns(namespace, &["ip", "link", "set", "lo", "up"])?;
        let etc = PathBuf::from("/etc/netns").join(namespace);
        std::fs::create_dir_all(&etc)?;
        std::fs::write(etc.join("resolv.conf"), format!("nameserver {DNS}\n"))?;
        self.etc_dirs.push(etc);
        Ok(())
    }

    /// A machine gone: its namespace (and with it its address and link).
    pub fn remove_machine(&mut self, namespace: &str) -> anyhow::Result<()> {
        ip(&["netns", "del", namespace])?;
        self.namespaces.retain(|n| n != namespace);
        Ok(())
    }

    /// Removes everything this run made; what is already gone is skipped.
    pub fn teardown(&mut self) {
        for namespace in self.namespaces.drain(..) {
            let _ = ip(&["netns", "del", &namespace]);
        }
        for link in self.host_links.drain(..) {
            let _ = Command::new("ip").args(["link", "del", &link]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        for dir in self.etc_dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Runs a command inside a namespace, to completion.
pub fn in_ns(namespace: &str, command: &[&str]) -> anyhow::Result<Output> {
    let mut args = vec!["netns", "exec", namespace];
    args.extend_from_slice(command);
    run("ip", &args)
}
