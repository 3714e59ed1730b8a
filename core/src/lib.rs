//! spinup: runs, times and fuzzes every step a container runtime takes to give a process its
//! root filesystem (namespaces, overlay of N layers, /etc injections, proc/sys/dev, the root
//! switch, teardown).
//!
//! Data flow of one measured run: [`spec::SetupSpec`] (validated) -> [`fixture::Fixture`]
//! (host side, untimed) -> [`plan::Plan`] (every syscall argument precomputed) ->
//! [`runner::Runner`] (fork a child that stamps each phase into shared memory) ->
//! [`stats::Stats`] (one histogram per phase) -> `report`.

#![deny(unsafe_code)]

pub mod check;
pub mod cli;
pub mod fixture;
pub mod kernel;
pub mod layers;
pub mod mountinfo;
pub mod overlay;
pub mod phase;
pub mod plan;
pub mod record;
pub mod report;
pub mod runner;
pub mod spec;
pub mod stats;
pub mod steps;
pub mod suite;
#[allow(unsafe_code)]
pub mod sys;
pub mod testing;

pub use phase::Phase;
pub use runner::{RunError, RunRecord, Runner, RunnerOptions};
pub use spec::SetupSpec;
