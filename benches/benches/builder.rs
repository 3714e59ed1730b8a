//! The overlay option builders on their own (no kernel): `builder/<strategy>/layers=N`, for
//! containerd-length snapshot paths. Also the kernel-parser port on the built string.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use spinup::overlay::parse::{Lsm, parse_legacy};
use spinup::overlay::{BuildOptions, KernelFeatures, OverlayConfig, Recipe, Strategy, build};
use std::hint::black_box;
use std::path::PathBuf;

fn config(n: usize) -> OverlayConfig {
    let dir = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots";
    OverlayConfig {
        lowers: (0..n)
            .map(|i| PathBuf::from(format!("{dir}/{}/fs", 1000 + i)))
            .collect(),
        upper: Some(format!("{dir}/9999/fs").into()),
        work: Some(format!("{dir}/9999/work").into()),
        ..OverlayConfig::default()
    }
}

fn builders(c: &mut Criterion) {
    let opts = BuildOptions {
        features: KernelFeatures {
            lsm: Lsm::Selinux,
            ..KernelFeatures::default()
        },
        links_home: Some("/var/lib/containerd".into()),
        ..BuildOptions::default()
    };
    let mut g = c.benchmark_group("builder");
    for n in [1usize, 38, 128, 500] {
        let cfg = config(n);
        for s in Strategy::CONCRETE.into_iter().chain([Strategy::Auto]) {
            if build(&cfg, s, &opts).is_err() {
                continue;
            }
            g.bench_with_input(
                BenchmarkId::new(s.name(), format!("layers={n}")),
                &cfg,
                |b, cfg| b.iter(|| build(black_box(cfg), s, &opts).unwrap()),
            );
        }
    }
    let cfg = config(500);
    if let Ok(Recipe::Legacy { data, .. }) = build(&cfg, Strategy::LegacyCompact, &opts) {
        g.bench_function("parse/legacy-compact/layers=500", |b| {
            b.iter(|| parse_legacy(black_box(&data), 4096, Lsm::Selinux).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, builders);
criterion_main!(benches);
