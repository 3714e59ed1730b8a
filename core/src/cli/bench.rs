//! `spinup bench`: the default suite, a summary table, and the results folder.

use super::{BenchArgs, CliError, need_root};
use crate::plan::PlanError;
use crate::report::{self, Env, Refusal, Report, RunSummary, fmt_ns};
use crate::runner::{Runner, RunnerOptions, SetupError};
use crate::suite;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Instant, SystemTime};

pub fn bench(a: BenchArgs) -> Result<(), CliError> {
    let base = a.spec.to_spec().map_err(CliError::Usage)?;
    base.validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let iterations = a.iterations.unwrap_or(if a.quick { 30 } else { 1000 });
    if iterations == 0 {
        return Err(CliError::Usage("--iterations must be at least 1".into()));
    }
    let warmup = if a.quick {
        3
    } else {
        (iterations / 20).max(10)
    };
    need_root()?;
    let configs = suite::default_suite(&base, a.quick);
    for c in &configs {
        c.spec
            .validate()
            .map_err(|e| CliError::Usage(format!("{}: {e}", c.name)))?;
    }
    let env = Env::detect();
    let date = report::env::utc_date(report::env::now_secs());
    let dir = a.out.join(format!("{date}-{}", env.slug()));
    let instrumentation = suite::measure_instrumentation();
    let pb = ProgressBar::new(configs.len() as u64 * (iterations + warmup));
    pb.set_style(
        ProgressStyle::with_template("{msg:28} {wide_bar} {pos}/{len} runs, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut runs = Vec::new();
    let mut refused = Vec::new();
    let mut hlogs = Vec::new();
    for c in &configs {
        pb.set_message(c.name.clone());
        let opts = RunnerOptions {
            tmp: a.spec.tmp.clone(),
            ..RunnerOptions::default()
        };
        let mut runner = match Runner::new(&c.spec, &opts) {
            Ok(r) => r,
            // A strategy that cannot express this many layers here is a result, not a failure.
            Err(SetupError::Plan(PlanError::Overlay(e))) if c.axis.starts_with("overlay:") => {
                refused.push(Refusal {
                    name: c.name.clone(),
                    axis: c.axis.clone(),
                    value: c.value.clone(),
                    reason: e.to_string(),
                });
                pb.inc(iterations + warmup);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let started = SystemTime::now();
        let t = Instant::now();
        let stats = runner
            .run_batch(iterations, warmup, |_| pb.inc(1))
            .map_err(|e| CliError::Usage(format!("{}: {e}", c.name)))?;
        pb.inc(warmup);
        let strategy = runner.plan().overlay_strategy.name();
        runs.push(RunSummary::from_stats(
            &c.name, &c.axis, &c.value, &c.spec, strategy, warmup, &stats,
        ));
        let log = report::hlog::write(&stats, &c.name, started, t.elapsed()).map_err(|source| {
            CliError::Io {
                what: format!("serialise histograms of {}", c.name),
                source,
            }
        })?;
        hlogs.push((format!("{}.hlog", file_name(&c.name)), log));
    }
    pb.finish_and_clear();
    let r = Report {
        format: report::FORMAT,
        date,
        finished_unix: report::env::now_secs(),
        quick: a.quick,
        env,
        instrumentation,
        runs,
        refused,
    };
    r.write(&dir)?;
    for (name, bytes) in &hlogs {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|source| CliError::Io {
            what: format!("write {}", p.display()),
            source,
        })?;
    }
    report::index::write(&a.out).map_err(|source| CliError::Io {
        what: format!("write {}/README.md", a.out.display()),
        source,
    })?;
    print!("{}", summary_table(&r));
    println!(
        "\nphase mark cost: p50 {}, p99 {}\nwrote {}/summary.json, report.md, {} plots, {} histogram logs",
        fmt_ns(r.instrumentation.mark_p50_ns),
        fmt_ns(r.instrumentation.mark_p99_ns),
        dir.display(),
        std::fs::read_dir(&dir).map_or(0, |d| d
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "svg"))
            .count()),
        hlogs.len()
    );
    Ok(())
}

/// `root_switch=pivot` -> `root_switch-pivot`, `overlay:fd-paths=38` -> `overlay-fd-paths-38`.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// One line per configuration: p50 of each phase and the total.
fn summary_table(r: &Report) -> String {
    let names = r.phase_names();
    let short = |n: &str| -> String { n.chars().take(9).collect() };
    let mut s = format!("{:<30}", "p50 per phase");
    for n in &names {
        s.push_str(&format!(" {:>9}", short(n)));
    }
    s.push_str(&format!(" {:>9} {:>9}\n", "total", "total p99"));
    for run in &r.runs {
        s.push_str(&format!("{:<30}", run.name));
        for n in &names {
            let v = run.p50(n).map_or("-".into(), fmt_ns);
            s.push_str(&format!(" {v:>9}"));
        }
        let t = run.phases.get("total");
        s.push_str(&format!(
            " {:>9} {:>9}\n",
            t.map_or("-".into(), |x| fmt_ns(x.wall.p50)),
            t.map_or("-".into(), |x| fmt_ns(x.wall.p99))
        ));
    }
    s
}
