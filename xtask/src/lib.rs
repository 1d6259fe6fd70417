//! Beacon's repository tooling, run as `cargo xtask …` (`src/main.rs`):
//! making the template yours, proving the result works, and running Beacon
//! on a Fly-like private network (`fly_net`).

pub mod bench;
pub mod cmd;
pub mod compose_smoke;
pub mod dev;
pub mod e2e;
pub mod fly_apps;
pub mod fly_net;
pub mod lint;
pub mod make_it_yours;
pub mod nginx;
pub mod processes;
pub mod skeleton_check;
pub mod test;
