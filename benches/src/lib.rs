//! Helpers of the criterion benches: each measurement is the sum of the phase times the setup
//! children stamped (`iter_custom`), never fork+wait wall time of the harness.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use spinup::runner::{Runner, RunnerOptions};
use spinup::{Phase, SetupSpec};
use std::time::Duration;

/// Which part of a run a bench times.
#[derive(Clone, Copy, Debug)]
pub enum Measure {
    /// One phase.
    Phase(Phase),
    /// The sum of every phase.
    Total,
}

/// Whether this process may run setups (root); benches print why they skip otherwise.
pub fn can_run() -> bool {
    if spinup::testing::has_cap_sys_admin() {
        true
    } else {
        eprintln!("spinup benches need CAP_SYS_ADMIN (run as root); skipping");
        false
    }
}

/// Registers `name` in `group`: runs `spec` once per iteration and reports `what`. A spec
/// this kernel refuses (e.g. too many layers for the legacy string) is skipped with the reason.
pub fn bench_setup(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: (&str, &str),
    spec: &SetupSpec,
    what: Measure,
) {
    let mut runner = match Runner::new(spec, &RunnerOptions::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}/{}: skipped: {e}", name.0, name.1);
            return;
        }
    };
    group.bench_function(BenchmarkId::new(name.0, name.1), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let r = runner
                    .run_once()
                    .unwrap_or_else(|e| panic!("run failed: {e}"));
                let ns = match what {
                    Measure::Phase(p) => r.get(p).map_or(0, |t| t.wall),
                    Measure::Total => r.total().wall,
                };
                total += Duration::from_nanos(ns);
            }
            total
        })
    });
}
