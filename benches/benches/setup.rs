//! Criterion benches of the container setup path, one group per question:
//!
//! - `root_switch/<method>`: the jail phase of each root-switch method, chroot the baseline;
//! - `setup/<phase>`: every phase of the default spec, and `setup/total`;
//! - `overlay/<strategy>/layers=N`: overlay mount time against layers for each strategy;
//! - `harness/mark`: what one phase stamp costs.
//!
//! Needs root; without it every group is skipped with a message.

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use spinup::overlay::Strategy;
use spinup::record::{Shared, Stamp, Stamper};
use spinup::spec::{ImageSource, RootSwitch};
use spinup::{Phase, SetupSpec};
use spinup_benches::{Measure, bench_setup, can_run};
use std::time::Duration;

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    // Each iteration is a whole setup in fresh children (~1 ms): flat sampling, few samples.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g
}

fn root_switch(c: &mut Criterion) {
    if !can_run() {
        return;
    }
    let mut g = configure(c, "root_switch");
    for m in RootSwitch::ALL {
        let spec = SetupSpec {
            root_switch: m,
            ..SetupSpec::default()
        };
        bench_setup(
            &mut g,
            ("jail", m.name()),
            &spec,
            Measure::Phase(Phase::Jail),
        );
    }
    g.finish();
}

fn setup_phases(c: &mut Criterion) {
    if !can_run() {
        return;
    }
    let mut g = configure(c, "setup");
    let spec = SetupSpec::default();
    for p in spec.phases() {
        bench_setup(&mut g, ("default", p.name()), &spec, Measure::Phase(p));
    }
    bench_setup(&mut g, ("default", "total"), &spec, Measure::Total);
    g.finish();
}

fn overlay_strategies(c: &mut Criterion) {
    if !can_run() {
        return;
    }
    let mut g = configure(c, "overlay");
    for s in Strategy::CONCRETE {
        for n in [1usize, 38, 128, 500] {
            let mut spec = SetupSpec {
                image: ImageSource::Synthetic {
                    layers: n,
                    files_per_layer: 4,
                },
                ..SetupSpec::default()
            };
            spec.overlay.strategy = s;
            if spec.validate().is_err() {
                continue;
            }
            bench_setup(
                &mut g,
                (s.name(), &format!("layers={n}")),
                &spec,
                Measure::Phase(Phase::Overlay),
            );
        }
    }
    g.finish();
}

fn harness(c: &mut Criterion) {
    let rec: Box<Shared> = spinup::sys::zeroed_box();
    let mut st = Stamper::resume(&rec, Stamp::now());
    c.bench_function("harness/mark", |b| b.iter(|| st.mark(Phase::Inject)));
}

criterion_group!(
    benches,
    harness,
    root_switch,
    setup_phases,
    overlay_strategies
);
criterion_main!(benches);
