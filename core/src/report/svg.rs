//! SVG plots of a report (plotters, SVG backend).

use super::{Report, RunSummary};
use plotters::prelude::*;

/// Colors for phases, in run order.
const PALETTE: [RGBColor; 14] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(173, 73, 74),
    RGBColor(99, 121, 57),
    RGBColor(0, 0, 0),
];

/// Renders every plot that has data: (file name, SVG text).
pub fn render_all(r: &Report) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !r.runs.is_empty()
        && let Some(s) = phases(r)
    {
        out.push(("phases.svg".to_string(), s));
    }
    let series = layer_series(r);
    if series.iter().any(|(_, pts)| pts.len() >= 2)
        && let Some(s) = layers(&series)
    {
        out.push(("overlay_layers.svg".to_string(), s));
    }
    out
}

/// Stacked p50 of every phase, one bar per configuration (the overlay-strategy sweep has its
/// own plot).
fn phases(r: &Report) -> Option<String> {
    let runs: Vec<&RunSummary> = r
        .runs
        .iter()
        .filter(|x| !x.axis.starts_with("overlay:"))
        .collect();
    let names = r.phase_names();
    let n = runs.len();
    if n == 0 {
        return None;
    }
    let max_total = runs
        .iter()
        .map(|run| names.iter().filter_map(|p| run.p50(p)).sum::<u64>())
        .max()?
        .max(1) as f64
        / 1e3;
    let mut buf = String::new();
    {
        let height = 140 + 34 * n as u32;
        let root = SVGBackend::with_string(&mut buf, (960, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let labels: Vec<String> = runs.iter().map(|x| x.name.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "p50 of each phase per configuration (µs, stacked)",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(200)
            .build_cartesian_2d(0f64..max_total * 1.25, (0..n).into_segmented())
            .ok()?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    labels.get(*i).cloned().unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .x_desc("µs")
            .draw()
            .ok()?;
        for (pi, phase) in names.iter().enumerate() {
            let color = PALETTE[pi % PALETTE.len()];
            let mut rects = Vec::new();
            for (i, run) in runs.iter().enumerate() {
                let before: u64 = names[..pi].iter().filter_map(|p| run.p50(p)).sum();
                if let Some(v) = run.p50(phase) {
                    let x0 = before as f64 / 1e3;
                    let x1 = (before + v) as f64 / 1e3;
                    let mut bar = Rectangle::new(
                        [
                            (x0, SegmentValue::Exact(i)),
                            (x1, SegmentValue::Exact(i + 1)),
                        ],
                        color.filled(),
                    );
                    bar.set_margin(5, 5, 0, 0);
                    rects.push(bar);
                }
            }
            chart
                .draw_series(rects)
                .ok()?
                .label(phase.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(buf)
}

/// One line of the layers plot: a name and (layers, overlay p50 ns, overlay p99 ns) points.
pub type Series = (String, Vec<(u64, u64, u64)>);

/// The series of runs of the `layers` axis and of `overlay:<strategy>` axes.
pub fn layer_series(r: &Report) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for run in &r.runs {
        let series = if run.axis == "layers" {
            format!("auto ({})", run.overlay_strategy)
        } else if let Some(s) = run.axis.strip_prefix("overlay:") {
            s.to_string()
        } else {
            continue;
        };
        let Some(layers) = layers_of(run) else {
            continue;
        };
        let Some(o) = run.phases.get("overlay") else {
            continue;
        };
        match out.iter_mut().find(|(n, _)| *n == series) {
            Some((_, v)) => v.push((layers, o.wall.p50, o.wall.p99)),
            None => out.push((series, vec![(layers, o.wall.p50, o.wall.p99)])),
        }
    }
    for (_, v) in &mut out {
        v.sort();
    }
    out
}

/// The layer count of a run, from its spec.
pub fn layers_of(run: &RunSummary) -> Option<u64> {
    run.spec
        .get("image")?
        .get("synthetic")?
        .get("layers")?
        .as_u64()
}

fn layers(series: &[Series]) -> Option<String> {
    let max_x = series
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.0))
        .max()? as f64;
    let max_y = series
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.1))
        .max()? as f64
        / 1e3;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (960, 540)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption("overlay mount p50 against lower layers", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x * 1.05, 0f64..max_y * 1.1)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc("lower layers")
            .y_desc("µs")
            .draw()
            .ok()?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let line: Vec<(f64, f64)> =
                pts.iter().map(|p| (p.0 as f64, p.1 as f64 / 1e3)).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                .ok()?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .ok()?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(buf)
}
