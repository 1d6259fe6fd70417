//! A NATS cluster of the test's own, run from `docker/nats/` (the file and
//! entrypoint every environment uses), so tests exercise the users,
//! permissions and routes that production runs.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use uuid::Uuid;

use super::free_port;

/// The client port of every node, each on its own address: one name then
/// reaches them all, as on Fly.
const CLIENT_PORT: u16 = 4222;

/// `n` nats-server processes on loopback addresses of their own
/// (127.a.b.2, .3, …), clustered through [`NatsCluster::NAME`], behind which
/// all of them answer, the way `<app>.internal` names every machine of an
/// app on Fly. Dropping it kills them all.
///
/// The api's password is in its second generation, the worker's in its
/// first: the api's `api-1` (the previous one) still signs in, as it does
/// for machines that have not moved on during a rotation.
pub struct NatsCluster {
    nodes: Vec<Node>,
    /// Generation 1, then 2.
    api_passwords: [String; 2],
    worker_password: String,
    route_password: String,
    logs: PathBuf,
}

struct Node {
    address: Ipv4Addr,
    monitor_port: u16,
    child: Option<Child>,
}

impl NatsCluster {
    /// The name every node answers behind.
    pub const NAME: &str = "nats.cluster.test";

    /// Starts `n` nodes behind [`Self::NAME`]. The name lives in this
    /// thread's own view of `/etc/hosts` (a private mount namespace, as
    /// `ip netns exec` gives a namespace its own), so call this in a plain
    /// `#[test]` before building the Tokio runtime: its threads then see
    /// the name, and the rest of the machine never does. Needs root.
    pub fn start(n: usize) -> Self {
        let [a, b]: [u8; 2] = rand::random();
        let addresses: Vec<Ipv4Addr> = (0..n)
            .map(|i| Ipv4Addr::new(127, a.max(1), b, 2 + u8::try_from(i).expect("few nodes")))
            .collect();
        // nats-server leaves its own address out of the name its routes
        // dial by comparing against its interface addresses, as a Fly
        // machine's 6PN address is; these loopback aliases are not interface
        // addresses, so each node dials a name of its peers instead.
        let mut names = vec![(Self::NAME.to_owned(), addresses.clone())];
        for (index, own) in addresses.iter().enumerate() {
            let peers = addresses.iter().filter(|a| *a != own).copied().collect();
            names.push((peers_name(index), peers));
        }
        name_addresses(&names);
        let logs = std::env::temp_dir().join(format!("beacon-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&logs).expect("log dir");
        let mut cluster = Self {
            nodes: addresses
                .into_iter()
                .map(|address| Node {
                    address,
                    monitor_port: free_port(),
                    child: None,
                })
                .collect(),
            api_passwords: [hex_password(), hex_password()],
            worker_password: hex_password(),
            route_password: hex_password(),
            logs,
        };
        for index in 0..n {
            cluster.start_node(index);
        }
        cluster
    }

    fn start_node(&mut self, index: usize) {
        let node = &self.nodes[index];
        let address = node.address.to_string();
        let log = std::fs::File::create(self.logs.join(format!("node-{index}.log"))).expect("log");
        let child = Command::new("sh")
            .arg(nats_dir().join("entrypoint.sh"))
            .args(["-a", &address, "-p", &CLIENT_PORT.to_string()])
            .args(["-m", &node.monitor_port.to_string()])
            // Each node's cluster port on its own address; the password is
            // the one nats.conf requires of routes.
            .arg("--cluster")
            .arg(format!(
                "nats://route:{}@{address}:6222",
                self.route_password
            ))
            // Peers learn of each other from the address a route comes
            // from; on loopback every connection comes from 127.0.0.1
            // (on Fly, from the machine's own 6PN address), so say it.
            .args(["--cluster_advertise", &format!("{address}:6222")])
            .env("NATS_CONFIG", nats_dir().join("nats.conf"))
            .env("NATS_SERVER_NAME", format!("node-{index}"))
            .env("NATS_PEERS", peers_name(index))
            .env("NATS_API_PASSWORD_1", &self.api_passwords[0])
            .env("NATS_API_PASSWORD_2", &self.api_passwords[1])
            .env("NATS_WORKER_PASSWORD_1", &self.worker_password)
            .env("NATS_ROUTE_PASSWORD", &self.route_password)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server is installed (scripts/test.sh installs it)");
        self.nodes[index].child = Some(child);
    }

    /// Waits until every live node routes to every other.
    pub async fn wait_meshed(&self) {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_some())
            .collect();
        let expected = live.len() - 1;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for &index in &live {
            loop {
                let routes = monitoring(&self.nodes[index], "routez")
                    .await
                    .and_then(|routez| routez["num_routes"].as_u64());
                if routes.is_some_and(|routes| routes as usize >= expected) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "node {index} has {routes:?} of {expected} routes after 20 s; its log:\n{}",
                    self.log(index)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// NATS_URL of `api` or `worker` (its newest user), as
    /// scripts/deploy-fly.sh builds it: `nats://api-2:<password>@nats.cluster.test:4222`.
    pub fn url(&self, service: &str) -> String {
        let (user, password) = self.newest(service);
        format!("nats://{user}:{password}@{}:{CLIENT_PORT}", Self::NAME)
    }

    /// The same, for one node's own address.
    pub fn node_url(&self, index: usize, service: &str) -> String {
        let (user, password) = self.newest(service);
        format!(
            "nats://{user}:{password}@{}:{CLIENT_PORT}",
            self.nodes[index].address
        )
    }

    /// `host:port` of one node's client port.
    pub fn node_address(&self, index: usize) -> String {
        format!("{}:{CLIENT_PORT}", self.nodes[index].address)
    }

    /// The route port of one node.
    pub fn route_address(&self, index: usize) -> String {
        format!("{}:6222", self.nodes[index].address)
    }

    /// The user and password `api`, `api-1` (the api's previous
    /// generation), `worker` or `route` signs in with.
    pub fn newest(&self, service: &str) -> (&'static str, &str) {
        match service {
            "api" => ("api-2", &self.api_passwords[1]),
            "api-1" => ("api-1", &self.api_passwords[0]),
            "worker" => ("worker-1", &self.worker_password),
            "route" => ("route", &self.route_password),
            other => panic!("no NATS service {other}"),
        }
    }

    /// The live node holding a connection of `service` (any of its users),
    /// if one does.
    pub async fn node_of(&self, service: &str) -> Option<usize> {
        let prefix = format!("{service}-");
        for (index, node) in self.nodes.iter().enumerate() {
            if node.child.is_none() {
                continue;
            }
            let Some(connz) = monitoring(node, "connz?auth=true").await else {
                continue;
            };
            let connections = connz["connections"].as_array().cloned().unwrap_or_default();
            if connections.iter().any(|c| {
                c["authorized_user"]
                    .as_str()
                    .is_some_and(|u| u.starts_with(&prefix))
            }) {
                return Some(index);
            }
        }
        None
    }

    /// Kills a node outright, as a lost machine goes.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What a node logged, for a failing test's message.
    pub fn log(&self, index: usize) -> String {
        std::fs::read_to_string(self.logs.join(format!("node-{index}.log"))).unwrap_or_default()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}

/// What node `index` dials for its routes: every other node.
fn peers_name(index: usize) -> String {
    format!("peers-of-{index}.cluster.test")
}

/// Hex, as scripts/deploy-fly.sh makes them, and always starting the way
/// that trips nats-server, which parses an environment variable as
/// configuration: `4e…` reads as a number unless the entrypoint quotes it.
fn hex_password() -> String {
    format!("4e{}", Uuid::new_v4().simple())
}

/// `docker/nats/`, from wherever this crate is built.
fn nats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/nats")
}

/// One of a node's monitoring endpoints, as JSON.
async fn monitoring(node: &Node, path: &str) -> Option<Value> {
    let url = format!("http://127.0.0.1:{}/{path}", node.monitor_port);
    reqwest::get(url).await.ok()?.json().await.ok()
}

/// Gives this thread (and the threads and processes it starts from now on)
/// an `/etc/hosts` in which each name resolves to every one of its addresses.
fn name_addresses(names: &[(String, Vec<Ipv4Addr>)]) {
    use nix::{
        mount::{MsFlags, mount},
        sched::{CloneFlags, unshare},
    };
    unshare(CloneFlags::CLONE_NEWNS)
        .expect("a private mount namespace (the NATS cluster tests run as root)");
    // Mounts made from here on stay in this namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make / private");
    let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for (name, addresses) in names {
        for address in addresses {
            hosts.push_str(&format!("\n{address} {name}"));
        }
    }
    hosts.push('\n');
    let file = std::env::temp_dir().join(format!("beacon-hosts-{}", Uuid::new_v4().simple()));
    std::fs::write(&file, hosts).expect("hosts file");
    mount(
        Some(&file),
        "/etc/hosts",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .expect("bind the hosts file");
    // The mount holds the file; its name is not needed any more.
    let _ = std::fs::remove_file(&file);
}
