//! `results/README.md`: an index of every published run folder.

use super::{Report, fmt_ns};
use std::fmt::Write;
use std::path::Path;

/// Rewrites `<results>/README.md` from every `*/summary.json` found there.
pub fn write(results: &Path) -> std::io::Result<String> {
    let mut rows = Vec::new();
    if let Ok(rd) = std::fs::read_dir(results) {
        for e in rd.flatten() {
            let p = e.path();
            if let Ok(r) = Report::load(&p) {
                rows.push((e.file_name().to_string_lossy().into_owned(), r));
            }
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    let mut s = String::from(
        "# spinup results\n\nOne folder per run of `spinup bench`: `summary.json` (every phase of every configuration, with the environment), `report.md` (tables and plots), `*.svg`, and the raw histograms (`*.hlog`). Compare two runs with `spinup compare <A> <B>`.\n\n",
    );
    let _ = writeln!(
        s,
        "| run | kernel | CPUs | virtualized | quick | configurations | default total p50 |\n|---|---|---|---|---|---|---|"
    );
    for (dir, r) in &rows {
        let total = r
            .run("root_switch=pivot")
            .and_then(|x| x.p50("total"))
            .map_or("-".into(), fmt_ns);
        let _ = writeln!(
            s,
            "| [{dir}]({dir}/report.md) | {} | {} | {} | {} | {} | {} |",
            r.env.kernel,
            r.env.cpus,
            r.env.virtualized,
            r.quick,
            r.runs.len(),
            total
        );
    }
    std::fs::write(results.join("README.md"), &s)?;
    Ok(s)
}
