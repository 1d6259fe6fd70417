//! Beacon's repository tooling, run as `cargo xtask …` (`src/main.rs`):
//! making the template yours, and proving the result works.

pub mod make_it_yours;
pub mod skeleton_check;
