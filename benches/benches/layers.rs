//! Layer apply against `tar -x` of the same archive (`layers/apply` vs `layers/tar-x`): a
//! 10,000-file layer (100 directories of 100 files of 1 to 4 KiB), read from a file in the
//! page cache, extracted into a fresh directory each iteration (creation and removal of the
//! directory are not timed).

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use spinup::layers::apply::{ApplyMode, ApplyOptions, apply_archive};
use spinup::layers::archive::write_layer;
use spinup::layers::model::{Entry, Kind, Layer};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn layer(dirs: usize, files: usize) -> Layer {
    let mut entries = Vec::new();
    for d in 0..dirs {
        entries.push(Entry {
            name: format!("usr/lib/pkg{d:03}/").into_bytes(),
            kind: Kind::Dir,
            mode: 0o755,
        });
        for f in 0..files {
            let size = 1024 + (d * 131 + f * 37) % 3072;
            let content = vec![(d + f) as u8; size];
            entries.push(Entry {
                name: format!("usr/lib/pkg{d:03}/file{f:03}.so").into_bytes(),
                kind: Kind::File(content),
                mode: 0o644,
            });
        }
    }
    entries.insert(
        0,
        Entry {
            name: b"usr/lib/".to_vec(),
            kind: Kind::Dir,
            mode: 0o755,
        },
    );
    entries.insert(
        0,
        Entry {
            name: b"usr/".to_vec(),
            kind: Kind::Dir,
            mode: 0o755,
        },
    );
    Layer { entries }
}

fn timed(iters: u64, base: &Path, mut f: impl FnMut(&Path)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let dir = base.join(format!("x{i}"));
        std::fs::create_dir(&dir).unwrap();
        let t = Instant::now();
        f(&dir);
        total += t.elapsed();
        std::fs::remove_dir_all(&dir).unwrap();
    }
    total
}

fn apply_vs_tar(c: &mut Criterion) {
    let base = tempfile::tempdir().unwrap();
    let tar = base.path().join("layer.tar");
    std::fs::write(&tar, write_layer(&layer(100, 100))).unwrap();
    let mut g = c.benchmark_group("layers");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    g.bench_function("apply/10k-files", |b| {
        b.iter_custom(|iters| {
            timed(iters, base.path(), |dir| {
                let f = std::fs::File::open(&tar).unwrap();
                apply_archive(f, dir, ApplyOptions::new(ApplyMode::Flatten)).unwrap();
            })
        })
    });
    g.bench_function("tar-x/10k-files", |b| {
        b.iter_custom(|iters| {
            timed(iters, base.path(), |dir| {
                let ok = Command::new("tar")
                    .arg("-xf")
                    .arg(&tar)
                    .arg("-C")
                    .arg(dir)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "tar -x failed");
            })
        })
    });
    g.finish();
}

criterion_group!(benches, apply_vs_tar);
criterion_main!(benches);
