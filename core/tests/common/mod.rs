//! Shared helpers of the integration tests.
#![allow(dead_code)]

use spinup::SetupSpec;
use spinup::runner::{Runner, RunnerOptions};
use std::path::{Path, PathBuf};

/// A private base dir for a runner's temp dir, so a test can check nothing is left in it.
pub fn base() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("spinup-test-")
        .tempdir()
        .expect("tempdir")
}

pub fn runner(spec: &SetupSpec, base: &Path) -> Runner {
    Runner::new(
        spec,
        &RunnerOptions {
            tmp: base.to_path_buf(),
            ..RunnerOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("runner: {e}"))
}

/// The host's mount table, raw.
pub fn host_mounts() -> Vec<u8> {
    std::fs::read("/proc/self/mountinfo").expect("mountinfo")
}

/// Entries left in `dir`.
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Writes an image dir with one layer per entry of `layers` (bottom first); each layer is a
/// list of (path, content) files, or (path, None) for directories.
pub fn image(root: &Path, layers: &[&[(&str, Option<&str>)]]) -> PathBuf {
    let img = root.join("image");
    for (i, files) in layers.iter().enumerate() {
        let l = img.join(format!("layers/{i:04}"));
        std::fs::create_dir_all(&l).unwrap();
        for (p, c) in *files {
            let path = l.join(p);
            match c {
                Some(c) => {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, c).unwrap();
                }
                None => std::fs::create_dir_all(&path).unwrap(),
            }
        }
    }
    img
}
