//! `spinup run`.

use super::{CliError, RunArgs, need_root};
use crate::mountinfo;
use crate::report::{RunSummary, fmt_ns};
use crate::runner::{Runner, RunnerOptions};
use indicatif::ProgressBar;

pub fn run(a: RunArgs) -> Result<(), CliError> {
    let mut spec = a.spec.to_spec().map_err(CliError::Usage)?;
    if a.iterations == 0 {
        return Err(CliError::Usage("--iterations must be at least 1".into()));
    }
    if a.show_mounts {
        spec.capture.push("/proc/self/mountinfo".into());
    }
    spec.validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    need_root()?;
    let mut runner = Runner::new(
        &spec,
        &RunnerOptions {
            tmp: a.spec.tmp.clone(),
            ..RunnerOptions::default()
        },
    )?;
    let pb = ProgressBar::new(a.iterations + a.warmup);
    let warm = a.warmup;
    for _ in 0..warm {
        runner.run_once()?;
        pb.inc(1);
    }
    let mut last = None;
    let mut stats = crate::stats::Stats::new();
    for _ in 0..a.iterations {
        let r = runner.run_once()?;
        stats.record(&r);
        last = Some(r);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let strategy = runner.plan().overlay_strategy.name();
    let summary = RunSummary::from_stats("run", "run", "run", &spec, strategy, a.warmup, &stats);
    if a.json {
        let s =
            serde_json::to_string_pretty(&summary).map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{s}");
    } else {
        println!(
            "spinup run: {} runs after {} warm-up; root switch {}, namespaces {}, {} layers ({} overlay), mounts {}",
            a.iterations,
            a.warmup,
            spec.root_switch.name(),
            spec.namespaces,
            runner.fixture().layers.len(),
            strategy,
            if spec.mounts.is_empty() {
                "none".to_string()
            } else {
                spec.mounts
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        );
        print!("{}", table(&summary));
    }
    if a.show_mounts {
        let r = last
            .as_ref()
            .and_then(|r| r.capture("/proc/self/mountinfo"));
        match r {
            Some(Ok(bytes)) => {
                println!("\nmounts inside the container (last run):");
                print!("{}", mountinfo::render_like_mount(&mountinfo::parse(bytes)));
            }
            Some(Err(e)) => {
                return Err(CliError::Usage(format!(
                    "--show-mounts: cannot read /proc/self/mountinfo inside the container: {e} (is proc in --mounts?)"
                )));
            }
            None => {}
        }
    }
    Ok(())
}

/// The per-phase table: p50/p99/max wall, p50/p99 CPU.
pub fn table(s: &RunSummary) -> String {
    let mut out = format!(
        "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "phase", "p50", "p99", "max", "CPU p50", "CPU p99"
    );
    for name in &s.order {
        let p = &s.phases[name];
        out.push_str(&format!(
            "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            name,
            fmt_ns(p.wall.p50),
            fmt_ns(p.wall.p99),
            fmt_ns(p.wall.max),
            fmt_ns(p.cpu.p50),
            fmt_ns(p.cpu.p99)
        ));
    }
    out
}
