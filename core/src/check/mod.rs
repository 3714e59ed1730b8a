//! The invariants that fuzz targets and tests both assert. Each `check_*` function takes raw
//! fuzz bytes, decodes them into a case, and panics with an explanation when an invariant
//! breaks. The fuzz targets are one-line wrappers; `cargo test` replays every committed seed
//! and regression input through the same functions.

pub mod layers_case;
pub mod overlay_case;

pub use layers_case::{
    check_flatten_models, check_layer_apply, check_overlay_kernel, check_whiteout_names,
};
pub use overlay_case::{OverlayCase, check_overlay_options, check_overlay_parse};

use std::path::{Path, PathBuf};

/// Every file of `fuzz/corpus/<target>/seed-*` and `fuzz/regressions/<target>/*` under the
/// workspace root.
pub fn committed_inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut v = Vec::new();
    for (dir, seeds_only) in [
        (root.join("corpus").join(target), true),
        (root.join("regressions").join(target), false),
    ] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_file() && (!seeds_only || name.starts_with("seed-")) {
                    v.push(e.path());
                }
            }
        }
    }
    v.sort();
    v
}
