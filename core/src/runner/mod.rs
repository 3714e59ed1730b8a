//! Runs a [`Plan`] in fresh children and collects [`RunRecord`]s: one run, or batches into
//! per-phase histograms.

pub mod child;
mod forker;
mod local;
mod wire;

use crate::fixture::{Fixture, FixtureError};
use crate::overlay::KernelFeatures;
use crate::phase::{PHASE_COUNT, Phase};
use crate::plan::{Plan, PlanError};
use crate::record::{Shared, Syscall};
use crate::spec::{SetupSpec, SpecError};
use crate::stats::Stats;
use crate::sys::SharedMem;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Wall and CPU time of one phase of one run, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseTime {
    pub wall: u64,
    pub cpu: u64,
}

/// One file read inside the container after setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    pub path: String,
    pub content: Result<Vec<u8>, Errno>,
}

/// The timings of one run.
#[derive(Clone, Debug, Default)]
pub struct RunRecord {
    pub phases: [Option<PhaseTime>; PHASE_COUNT],
    pub captures: Vec<Capture>,
}

impl RunRecord {
    pub fn get(&self, p: Phase) -> Option<PhaseTime> {
        self.phases[p.index()]
    }

    /// The sum of every phase.
    pub fn total(&self) -> PhaseTime {
        self.phases
            .iter()
            .flatten()
            .fold(PhaseTime::default(), |a, t| PhaseTime {
                wall: a.wall + t.wall,
                cpu: a.cpu + t.cpu,
            })
    }

    /// The captured content of `path`.
    pub fn capture(&self, path: &str) -> Option<&Result<Vec<u8>, Errno>> {
        self.captures
            .iter()
            .find(|c| c.path == path)
            .map(|c| &c.content)
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{phase}: {syscall} on {path} failed: {errno}{}{}", .kernel_msg.as_ref().map(|m| format!(" (kernel: {m})")).unwrap_or_default(), .hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Child {
        phase: Phase,
        syscall: Syscall,
        path: String,
        errno: Errno,
        kernel_msg: Option<String>,
        hint: Option<&'static str>,
    },
    #[error("setup child was killed by {signal} during {phase}")]
    Killed { phase: Phase, signal: Signal },
    #[error("setup child exited with status {0} without recording a failure")]
    Exit(i32),
    #[error("{0}: {1}")]
    Spawn(&'static str, Errno),
    #[error("wait for setup child: {0}")]
    Wait(Errno),
    #[error("prepare upper and work dirs in {dir}: {source}")]
    Prepare {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("teardown: remove upper and work dirs in {dir}: {source}")]
    Teardown {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("setup child did not reach its kill point within {0:?}")]
    KillTimeout(Duration),
    #[error("forker process: {0}")]
    Forker(String),
}

impl RunError {
    /// The phase the error happened in, when known.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            RunError::Child { phase, .. } | RunError::Killed { phase, .. } => Some(*phase),
            RunError::Teardown { .. } => Some(Phase::Teardown),
            _ => None,
        }
    }
}

/// Why a runner could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("map the run record: {0}")]
    Record(Errno),
    #[error("start the forker: {0}")]
    Forker(RunError),
}

/// Where the runner puts its temp dir, and test hooks.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    pub tmp: PathBuf,
    /// Test-only: a function read at child start and end (an allocation counter).
    #[doc(hidden)]
    pub alloc_probe: Option<fn() -> u64>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            tmp: std::env::temp_dir(),
            alloc_probe: None,
        }
    }
}

/// A spec ready to run: its fixture and plan, the shared record, and the forker process that
/// spawns the setup children.
///
/// The forker dies with the thread that created the runner: use a runner on that thread.
pub struct Runner {
    // Field order is drop order: the forker exits before the fixture's temp dir goes.
    forker: forker::Forker,
    rec: SharedMem<Shared>,
    plan: Plan,
    fixture: Fixture,
}

impl Runner {
    /// Validates the spec, builds the fixture and the plan, starts the forker.
    pub fn new(spec: &SetupSpec, opts: &RunnerOptions) -> Result<Runner, SetupError> {
        spec.validate()?;
        let features = crate::steps::overlay_mount::features();
        Self::with_features(spec, opts, &features)
    }

    /// As [`Runner::new`] with explicit kernel features.
    pub fn with_features(
        spec: &SetupSpec,
        opts: &RunnerOptions,
        features: &KernelFeatures,
    ) -> Result<Runner, SetupError> {
        spec.validate()?;
        let fixture = Fixture::create(spec, &opts.tmp)?;
        // Write the new fixture back now, so its writeback does not run during the timed runs.
        nix::unistd::sync();
        let mut plan = Plan::build(spec, &fixture, features)?;
        plan.alloc_probe = opts.alloc_probe;
        let rec = SharedMem::new(c"spinup-record").map_err(SetupError::Record)?;
        let forker = forker::Forker::spawn(&plan, &fixture, &rec).map_err(SetupError::Forker)?;
        Ok(Runner {
            forker,
            rec,
            plan,
            fixture,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn fixture(&self) -> &Fixture {
        &self.fixture
    }

    /// The temp dir of this runner.
    pub fn dir(&self) -> &Path {
        self.fixture.dir()
    }

    /// The allocation probe readings of the last run (start, end).
    #[doc(hidden)]
    pub fn alloc_probe_readings(&self) -> (u64, u64) {
        (
            self.rec.alloc[0].load(Relaxed),
            self.rec.alloc[1].load(Relaxed),
        )
    }

    /// One run: prepare (untimed), spawn, setup, exit, reap, teardown.
    pub fn run_once(&mut self) -> Result<RunRecord, RunError> {
        self.forker.run_once()
    }

    /// `warmup` untimed runs, then `iterations` runs into per-phase histograms; `on_run` is
    /// called with the count after each.
    pub fn run_batch(
        &mut self,
        iterations: u64,
        warmup: u64,
        mut on_run: impl FnMut(u64),
    ) -> Result<Stats, RunError> {
        let mut stats = Stats::new();
        let mut n = 0;
        self.forker.run_batch(iterations, warmup, |r| {
            stats.record(&r);
            n += 1;
            on_run(n);
        })?;
        Ok(stats)
    }
}
