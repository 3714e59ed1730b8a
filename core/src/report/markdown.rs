//! `report.md`: tables of every measured configuration, the root-switch comparison against
//! chroot, the per-layer overlay slope, and the SVG plots.

use super::svg::layer_series;
use super::{Report, RunSummary, fmt_ns};
use std::fmt::Write;

/// Least-squares slope and intercept of `y` against `x`.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let sx: f64 = points.iter().map(|p| p.0).sum();
    let sy: f64 = points.iter().map(|p| p.1).sum();
    let sxx: f64 = points.iter().map(|p| p.0 * p.0).sum();
    let sxy: f64 = points.iter().map(|p| p.0 * p.1).sum();
    let d = n * sxx - sx * sx;
    if d == 0.0 {
        return None;
    }
    let slope = (n * sxy - sx * sy) / d;
    Some((slope, (sy - slope * sx) / n))
}

/// Renders the report; `plots` are the SVG files written beside it.
pub fn render(r: &Report, plots: &[&str]) -> String {
    let mut s = String::new();
    let e = &r.env;
    let _ = writeln!(
        s,
        "# spinup results: {}, {}, Linux {}\n",
        r.date, e.hostname, e.kernel
    );
    if r.quick {
        let _ = writeln!(
            s,
            "> `--quick` run: few iterations per configuration, a smoke test. Tails (p99 and up) are not meaningful.\n"
        );
    }
    let _ = writeln!(s, "## Environment\n");
    let _ = writeln!(s, "| | |\n|---|---|");
    let rows = [
        ("kernel", format!("{} ({})", e.kernel, e.kernel_version)),
        ("arch", e.arch.clone()),
        ("CPUs", format!("{} × {}", e.cpus, e.cpu_model)),
        ("virtualized", e.virtualized.to_string()),
        ("memory", format!("{} MiB", e.memory_mib)),
        ("page size", e.page_size.to_string()),
        ("mounts in spinup's namespace", e.host_mounts.to_string()),
        (
            "rcu_expedited / rcu_normal",
            format!(
                "{} / {}",
                e.rcu_expedited.as_deref().unwrap_or("?"),
                e.rcu_normal.as_deref().unwrap_or("?")
            ),
        ),
        (
            "overlay lowerdir+ / fsconfig by fd",
            format!("{} / {}", e.overlay_lowerdir_plus, e.overlay_fsconfig_fd),
        ),
        (
            "LSM eats mount options",
            e.lsm_eats_mount_options.to_string(),
        ),
        ("spinup", e.spinup_version.clone()),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\nHarness cost: one phase mark (two clock reads, four stores) takes p50 {} (p99 {}); every phase below includes one.\n",
        fmt_ns(r.instrumentation.mark_p50_ns),
        fmt_ns(r.instrumentation.mark_p99_ns)
    );
    let _ = writeln!(
        s,
        "Times are wall clock (`CLOCK_MONOTONIC`) per phase; CPU is the task's own CPU time, so wall minus CPU is time spent blocked (RCU grace periods, locks, the other CPU). Single-shot phases are latency samples, not a load test.\n"
    );

    root_switch_section(&mut s, r);
    layers_section(&mut s, r);

    if plots.contains(&"phases.svg") {
        let _ = writeln!(
            s,
            "## Where the time goes\n\n![p50 of each phase per configuration](phases.svg)\n"
        );
    }

    let _ = writeln!(s, "## Every configuration, every phase\n");
    for run in &r.runs {
        run_table(&mut s, run);
    }
    s
}

fn root_switch_section(s: &mut String, r: &Report) {
    let runs: Vec<&RunSummary> = r.runs.iter().filter(|x| x.axis == "root_switch").collect();
    if runs.is_empty() {
        return;
    }
    let base = runs
        .iter()
        .find(|x| x.value == "chroot")
        .and_then(|x| x.p50("jail"));
    let _ = writeln!(s, "## Root switch against chroot\n");
    let _ = writeln!(
        s,
        "Same spec for every method; only `--root-switch` changes.\n"
    );
    let _ = writeln!(
        s,
        "| method | jail p50 | jail p99 | jail p50 / chroot | exit_reap p50 | total p50 | total p99 |\n|---|---|---|---|---|---|---|"
    );
    for run in runs {
        let j = run.phases.get("jail");
        let ratio = match (base, run.p50("jail")) {
            (Some(b), Some(v)) if b > 0 => format!("{:.1}×", v as f64 / b as f64),
            _ => "-".into(),
        };
        let t = run.phases.get("total");
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            run.value,
            j.map_or("-".into(), |x| fmt_ns(x.wall.p50)),
            j.map_or("-".into(), |x| fmt_ns(x.wall.p99)),
            ratio,
            run.p50("exit_reap").map_or("-".into(), fmt_ns),
            t.map_or("-".into(), |x| fmt_ns(x.wall.p50)),
            t.map_or("-".into(), |x| fmt_ns(x.wall.p99)),
        );
    }
    let _ = writeln!(s);
}

fn layers_section(s: &mut String, r: &Report) {
    let series = layer_series(r);
    if series.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Overlay mount against layers\n");
    let _ = writeln!(
        s,
        "| strategy | layers | overlay p50 | overlay p99 |\n|---|---|---|---|"
    );
    for (name, pts) in &series {
        for (n, p50, p99) in pts {
            let _ = writeln!(s, "| {name} | {n} | {} | {} |", fmt_ns(*p50), fmt_ns(*p99));
        }
    }
    let _ = writeln!(s, "\nPer-layer slope (least squares over the p50s):\n");
    for (name, pts) in &series {
        let p: Vec<(f64, f64)> = pts.iter().map(|x| (x.0 as f64, x.1 as f64)).collect();
        if let Some((slope, icpt)) = fit(&p) {
            let _ = writeln!(
                s,
                "- {name}: {} per layer, {} fixed ({} points, up to {} layers)",
                fmt_ns(slope.max(0.0) as u64),
                fmt_ns(icpt.max(0.0) as u64),
                pts.len(),
                pts.last().map_or(0, |x| x.0)
            );
        }
    }
    if !r.refused.is_empty() {
        let _ = writeln!(s, "\nRefused on this kernel (the builder's reason):\n");
        for x in &r.refused {
            let _ = writeln!(s, "- `{}`: {}", x.name, x.reason);
        }
    }
    let _ = writeln!(
        s,
        "\n![overlay mount p50 against layers](overlay_layers.svg)\n"
    );
}

fn run_table(s: &mut String, run: &RunSummary) {
    let _ = writeln!(
        s,
        "### {}\n\n{} runs after {} warm-up; overlay strategy `{}`.\n",
        run.name, run.iterations, run.warmup, run.overlay_strategy
    );
    let _ = writeln!(
        s,
        "| phase | p50 | p90 | p99 | p99.9 | max | CPU p50 | CPU p99 |\n|---|---|---|---|---|---|---|---|"
    );
    for name in &run.order {
        let Some(p) = run.phases.get(name) else {
            continue;
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            fmt_ns(p.wall.p50),
            fmt_ns(p.wall.p90),
            fmt_ns(p.wall.p99),
            fmt_ns(p.wall.p999),
            fmt_ns(p.wall.max),
            fmt_ns(p.cpu.p50),
            fmt_ns(p.cpu.p99),
        );
    }
    let _ = writeln!(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line() {
        let pts: Vec<(f64, f64)> = [1.0, 8.0, 64.0]
            .iter()
            .map(|&x| (x, 3.5 * x + 100.0))
            .collect();
        let (a, b) = fit(&pts).unwrap();
        assert!((a - 3.5).abs() < 1e-9 && (b - 100.0).abs() < 1e-9);
        assert_eq!(fit(&[(1.0, 1.0)]), None);
    }
}
