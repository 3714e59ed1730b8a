//! Result reports: `summary.json` (every phase of every configuration, with the environment
//! fingerprint), `report.md` with embedded SVG plots, raw `.hlog` histograms, the results
//! index, and the comparison of two runs.

pub mod compare;
pub mod env;
pub mod hlog;
pub mod index;
pub mod markdown;
pub mod svg;

use crate::stats::{PhaseSummary, Stats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use env::Env;

/// One measured configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Unique name, `axis=value` (`root_switch=pivot`, `layers=64`).
    pub name: String,
    /// The bench axis this configuration belongs to.
    pub axis: String,
    /// The axis value.
    pub value: String,
    /// The spec, as JSON.
    pub spec: serde_json::Value,
    /// The overlay strategy actually used.
    pub overlay_strategy: String,
    pub iterations: u64,
    pub warmup: u64,
    /// Per phase (stable names, plus `total`): wall and CPU summaries in ns.
    pub phases: BTreeMap<String, PhaseSummary>,
    /// Phase names in run order.
    pub order: Vec<String>,
}

impl RunSummary {
    pub fn from_stats(
        name: &str,
        axis: &str,
        value: &str,
        spec: &crate::SetupSpec,
        strategy: &str,
        warmup: u64,
        stats: &Stats,
    ) -> Self {
        let s = stats.summaries();
        RunSummary {
            name: name.to_string(),
            axis: axis.to_string(),
            value: value.to_string(),
            spec: serde_json::to_value(spec).unwrap_or(serde_json::Value::Null),
            overlay_strategy: strategy.to_string(),
            iterations: stats.runs(),
            warmup,
            order: s.iter().map(|(n, _)| n.clone()).collect(),
            phases: s.into_iter().collect(),
        }
    }

    /// p50 wall ns of a phase.
    pub fn p50(&self, phase: &str) -> Option<u64> {
        self.phases.get(phase).map(|p| p.wall.p50)
    }
}

/// What the harness itself costs, measured in the same session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Instrumentation {
    /// One phase mark (two clock reads and four stores): p50 and p99 ns.
    pub mark_p50_ns: u64,
    pub mark_p99_ns: u64,
}

/// A configuration the builder or the kernel refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub name: String,
    pub axis: String,
    pub value: String,
    pub reason: String,
}

/// The whole `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Format version of this file.
    pub format: u32,
    /// UTC date of the run, `YYYY-MM-DD`.
    pub date: String,
    /// Seconds since the epoch when the run finished.
    pub finished_unix: u64,
    /// `--quick` runs are smoke tests: few iterations, wide error.
    pub quick: bool,
    pub env: Env,
    pub instrumentation: Instrumentation,
    pub runs: Vec<RunSummary>,
    /// Configurations that could not run here (e.g. too many layers for a strategy).
    #[serde(default)]
    pub refused: Vec<Refusal>,
}

/// Current `summary.json` format.
pub const FORMAT: u32 = 1;

impl Report {
    pub fn run(&self, name: &str) -> Option<&RunSummary> {
        self.runs.iter().find(|r| r.name == name)
    }

    /// Every phase name any run has.
    pub fn phase_names(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for p in crate::Phase::ALL {
            if self.runs.iter().any(|r| r.phases.contains_key(p.name())) {
                v.push(p.name().to_string());
            }
        }
        v
    }

    /// Reads a `summary.json` (a file or the folder holding it).
    pub fn load(path: &Path) -> Result<Report, ReportError> {
        let file = if path.is_dir() {
            path.join("summary.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ReportError::Io {
            path: file.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ReportError::Parse {
            path: file,
            why: e.to_string(),
        })
    }

    /// Writes `summary.json`, `report.md` and the SVG plots into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut written = Vec::new();
        let mut put = |name: &str, bytes: &[u8]| -> Result<(), ReportError> {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|source| ReportError::Io {
                path: p.clone(),
                source,
            })?;
            written.push(p);
            Ok(())
        };
        let json = serde_json::to_string_pretty(self).map_err(|e| ReportError::Parse {
            path: dir.join("summary.json"),
            why: e.to_string(),
        })?;
        put("summary.json", json.as_bytes())?;
        let plots = svg::render_all(self);
        for (name, body) in &plots {
            put(name, body.as_bytes())?;
        }
        let names: Vec<&str> = plots.iter().map(|(n, _)| n.as_str()).collect();
        put("report.md", markdown::render(self, &names).as_bytes())?;
        Ok(written)
    }
}

/// A report that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Parse { path: PathBuf, why: String },
}

/// Formats ns for tables: `812 ns`, `12.3 µs`, `1.52 ms`, `2.10 s`.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_formatting() {
        assert_eq!(fmt_ns(812), "812 ns");
        assert_eq!(fmt_ns(12_345), "12.3 µs");
        assert_eq!(fmt_ns(1_520_000), "1.52 ms");
        assert_eq!(fmt_ns(2_100_000_000), "2.10 s");
    }
}
