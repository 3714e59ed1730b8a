//! `spinup compare A B`: the change of every phase of every configuration both reports have,
//! with a noise threshold.

use super::{Report, fmt_ns};
use std::fmt::Write;

/// One compared phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub run: String,
    pub phase: String,
    pub a_p50: u64,
    pub b_p50: u64,
    pub a_p99: u64,
    pub b_p99: u64,
    /// Relative change of p50, B against A (0.10 = 10% slower).
    pub p50_change: f64,
    pub p99_change: f64,
    /// Whether the p50 change is beyond the threshold and beyond A's own spread.
    pub significant: bool,
}

/// Compares `b` against `a`. A p50 change counts when it exceeds `threshold` (relative) and
/// the p50-to-p90 spread of either run (so a noisy phase does not flag), and is over 1 µs.
pub fn compare(a: &Report, b: &Report, threshold: f64) -> Vec<Change> {
    let mut out = Vec::new();
    for ra in &a.runs {
        let Some(rb) = b.run(&ra.name) else { continue };
        for phase in &ra.order {
            let (Some(pa), Some(pb)) = (ra.phases.get(phase), rb.phases.get(phase)) else {
                continue;
            };
            let rel = |x: u64, y: u64| {
                if x == 0 {
                    0.0
                } else {
                    (y as f64 - x as f64) / x as f64
                }
            };
            let p50_change = rel(pa.wall.p50, pb.wall.p50);
            let spread = |p: &crate::stats::PhaseSummary| {
                if p.wall.p50 == 0 {
                    0.0
                } else {
                    (p.wall.p90 - p.wall.p50) as f64 / p.wall.p50 as f64
                }
            };
            let noise = threshold.max(spread(pa)).max(spread(pb));
            let abs = pa.wall.p50.abs_diff(pb.wall.p50);
            out.push(Change {
                run: ra.name.clone(),
                phase: phase.clone(),
                a_p50: pa.wall.p50,
                b_p50: pb.wall.p50,
                a_p99: pa.wall.p99,
                b_p99: pb.wall.p99,
                p50_change,
                p99_change: rel(pa.wall.p99, pb.wall.p99),
                significant: p50_change.abs() > noise && abs > 1_000,
            });
        }
    }
    out
}

/// A table of the changes; significant ones are marked.
pub fn render(changes: &[Change], threshold: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} {:<12} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8}",
        "configuration", "phase", "A p50", "B p50", "Δp50", "A p99", "B p99", "Δp99"
    );
    for c in changes {
        let _ = writeln!(
            s,
            "{:<28} {:<12} {:>10} {:>10} {:>+7.1}% {:>10} {:>10} {:>+7.1}%{}",
            c.run,
            c.phase,
            fmt_ns(c.a_p50),
            fmt_ns(c.b_p50),
            c.p50_change * 100.0,
            fmt_ns(c.a_p99),
            fmt_ns(c.b_p99),
            c.p99_change * 100.0,
            if c.significant {
                if c.p50_change > 0.0 {
                    "  slower"
                } else {
                    "  faster"
                }
            } else {
                ""
            }
        );
    }
    let n = changes.iter().filter(|c| c.significant).count();
    let _ = writeln!(
        s,
        "\n{n} of {} phase p50s changed beyond the noise threshold (max of {:.0}% and each run's p50-to-p90 spread, and over 1 µs).",
        changes.len(),
        threshold * 100.0
    );
    s
}
