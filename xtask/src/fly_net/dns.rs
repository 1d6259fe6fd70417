//! Fly's private DNS at `[fdaa::3]`, played by dnsmasq (Debian's
//! dnsmasq-base): it answers the names it is given (`<app>.internal` with
//! every live machine, `<region>.<app>.internal`, `<app>.flycast` with the
//! private proxy's address) from a hosts file that is rewritten and re-read
//! (SIGHUP) when machines come and go, and answers every other name with
//! NXDOMAIN: it has no upstream.

use std::{
    collections::BTreeMap,
    net::Ipv6Addr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context;
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use super::net::DNS;

pub struct Dns {
    hosts: PathBuf,
    names: BTreeMap<String, Vec<Ipv6Addr>>,
    child: Child,
}

impl Dns {
    /// Starts dnsmasq on [`DNS`] port 53, answering nothing yet.
    pub fn start(dir: &std::path::Path) -> anyhow::Result<Self> {
        let hosts = dir.join("dns-hosts");
        std::fs::write(&hosts, "")?;
        let log = std::fs::File::create(dir.join("dnsmasq.log"))?;
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                &format!("--listen-address={DNS}"),
                "--port=53",
                "--user=root",
                // Every answer fresh: nginx re-asks after its own `valid`.
                "--local-ttl=0",
                // Every name is ours: one it was not given is NXDOMAIN (or
                // NODATA for the other address family) at once, never
                // forwarded and never left to time out.
                "--local=/#/",
                "--log-queries",
                "--log-facility=-",
            ])
            .arg(format!("--addn-hosts={}", hosts.display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting dnsmasq (apt-get install dnsmasq-base)")?;
        // dnsmasq binds before it answers; a moment is enough on loopback.
        std::thread::sleep(Duration::from_millis(300));
        Ok(Self {
            hosts,
            names: BTreeMap::new(),
            child,
        })
    }

    /// Sets what `name` answers (every address, as `<app>.internal` does)
    /// and makes dnsmasq read it again.
    pub fn set(&mut self, name: &str, addresses: &[Ipv6Addr]) -> anyhow::Result<()> {
        self.names.insert(name.to_owned(), addresses.to_vec());
        let mut text = String::new();
        for (name, addresses) in &self.names {
            for address in addresses {
                text.push_str(&format!("{address} {name}\n"));
            }
        }
        std::fs::write(&self.hosts, text)?;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).context("a pid")?);
        kill(pid, Signal::SIGHUP).context("telling dnsmasq to re-read its names")?;
        // It re-reads on the signal; give it a moment before anyone asks.
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
