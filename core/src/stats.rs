//! Per-phase latency distributions: one hdrhistogram for wall time and one for CPU time per
//! phase (and for the per-run total). Memory stays flat however many runs are recorded.

use crate::phase::{Phase, TOTAL};
use crate::runner::{PhaseTime, RunRecord};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Histogram range: 1 ns to 60 s at 3 significant figures (fixed: recording never allocates).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Wall and CPU distributions of one phase.
#[derive(Clone, Debug)]
pub struct PhaseHist {
    pub wall: Histogram<u64>,
    pub cpu: Histogram<u64>,
}

impl PhaseHist {
    fn new() -> Self {
        PhaseHist {
            wall: histogram(),
            cpu: histogram(),
        }
    }

    fn record(&mut self, t: PhaseTime) {
        self.wall.saturating_record(t.wall.max(1));
        self.cpu.saturating_record(t.cpu.max(1));
    }
}

/// Distributions of every phase seen, keyed by the stable phase name, plus `total`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub phases: BTreeMap<String, PhaseHist>,
}

/// Summary statistics of one distribution, in ns.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
    pub stdev: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        Summary {
            n: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
            stdev: h.stdev(),
        }
    }
}

/// The summary of one phase.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub wall: Summary,
    pub cpu: Summary,
}

impl Stats {
    pub fn new() -> Self {
        Stats::default()
    }

    /// Adds one run.
    pub fn record(&mut self, r: &RunRecord) {
        for p in Phase::ALL {
            if let Some(t) = r.get(p) {
                self.entry(p.name()).record(t);
            }
        }
        self.entry(TOTAL).record(r.total());
    }

    fn entry(&mut self, name: &str) -> &mut PhaseHist {
        self.phases
            .entry(name.to_string())
            .or_insert_with(PhaseHist::new)
    }

    /// Merges another set of distributions (e.g. from concurrent workers).
    pub fn merge(&mut self, other: &Stats) {
        for (k, h) in &other.phases {
            let e = self.entry(k);
            let _ = e.wall.add(&h.wall);
            let _ = e.cpu.add(&h.cpu);
        }
    }

    /// Number of runs recorded.
    pub fn runs(&self) -> u64 {
        self.phases.get(TOTAL).map_or(0, |h| h.wall.len())
    }

    /// Phase names in run order, `total` last.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = Phase::ALL
            .iter()
            .map(|p| p.name().to_string())
            .filter(|n| self.phases.contains_key(n))
            .collect();
        if self.phases.contains_key(TOTAL) {
            v.push(TOTAL.to_string());
        }
        v
    }

    /// Summaries in run order.
    pub fn summaries(&self) -> Vec<(String, PhaseSummary)> {
        self.names()
            .into_iter()
            .map(|n| {
                let h = &self.phases[&n];
                (
                    n,
                    PhaseSummary {
                        wall: Summary::of(&h.wall),
                        cpu: Summary::of(&h.cpu),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fork: u64, overlay: u64) -> RunRecord {
        let mut r = RunRecord::default();
        r.phases[Phase::Fork.index()] = Some(PhaseTime {
            wall: fork,
            cpu: fork / 2,
        });
        r.phases[Phase::Overlay.index()] = Some(PhaseTime {
            wall: overlay,
            cpu: overlay,
        });
        r
    }

    #[test]
    fn percentiles_and_total() {
        let mut s = Stats::new();
        for i in 1..=100u64 {
            s.record(&run(1000 * i, 50_000));
        }
        assert_eq!(s.runs(), 100);
        assert_eq!(s.names(), vec!["fork", "overlay", "total"]);
        let sum = s.summaries();
        let fork = sum[0].1.wall;
        assert_eq!(fork.n, 100);
        assert_eq!(fork.min, 1000);
        assert!((49_900..=50_100).contains(&fork.p50), "{}", fork.p50);
        assert!((98_900..=99_100).contains(&fork.p99), "{}", fork.p99);
        let total = sum[2].1.wall;
        assert!((50_950..=51_050).contains(&total.min), "{}", total.min);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        a.record(&run(10, 20));
        b.record(&run(30, 40));
        a.merge(&b);
        assert_eq!(a.runs(), 2);
        assert_eq!(a.summaries()[0].1.wall.max, 30);
    }
}
