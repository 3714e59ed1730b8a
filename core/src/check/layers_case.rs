//! Invariants 2 and 3 for layers: applying a layer never writes outside the target root,
//! whatever the archive holds, and on success the tree equals the flatten model; the three
//! models agree; on the real kernel the overlay of converted layers shows the flatten model.

use crate::layers::apply::{ApplyMode, ApplyOptions, apply_archive};
use crate::layers::archive::{read_layer, write_layer};
use crate::layers::model::{self, Entry, Kind, Layer};
use crate::layers::tree::{ReadMode, Tree, read_tree};
use crate::layers::whiteout::{NameKind, XattrNs, classify};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

const NAMES: [&str; 14] = [
    "a",
    "b",
    "c",
    "d",
    "e",
    ".wh.a",
    ".wh..wh..opq",
    ".wh.",
    ".wh..",
    "..",
    ".",
    "",
    "x y",
    "é",
];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn name(&mut self) -> Option<Vec<u8>> {
        let b = self.next()?;
        let depth = 1 + (b % 3) as usize;
        let mut parts = Vec::new();
        for _ in 0..depth {
            parts.push(
                NAMES[self.next()? as usize % NAMES.len()]
                    .as_bytes()
                    .to_vec(),
            );
        }
        let mut n = parts.join(&b'/');
        if b & 0x80 != 0 {
            n.insert(0, b'/');
        }
        if b & 0x40 != 0 {
            n.push(b'/');
        }
        Some(n)
    }
}

/// Decodes fuzz bytes into layers (bottom first): a small op language whose names come from
/// a table rich in collisions, whiteouts, `..` and empty components.
pub fn decode_layers(data: &[u8]) -> Vec<Layer> {
    let mut b = Bytes(data);
    let mut layers = vec![Layer::default()];
    let mut n = 0;
    while let Some(op) = b.next() {
        n += 1;
        if n > 96 || layers.len() > 8 {
            break;
        }
        let cur = layers.last_mut().expect("one layer");
        let mut push =
            |name: Vec<u8>, kind: Kind, mode: u32| cur.entries.push(Entry { name, kind, mode });
        match op % 10 {
            0 => layers.push(Layer::default()),
            1 => {
                let Some(n) = b.name() else { break };
                push(n, Kind::Dir, 0o755);
            }
            2 => {
                let (Some(n), Some(c)) = (b.name(), b.next()) else {
                    break;
                };
                push(n, Kind::File(vec![c; (c % 7) as usize]), 0o644);
            }
            3 => {
                let (Some(n), Some(t)) = (b.name(), b.name()) else {
                    break;
                };
                push(n, Kind::Symlink(t), 0o777);
            }
            4 => {
                let (Some(n), Some(t)) = (b.name(), b.name()) else {
                    break;
                };
                push(n, Kind::Hardlink(t), 0o644);
            }
            5 => {
                let Some(n) = b.name() else { break };
                let p = Path::new(OsStr::from_bytes(&n));
                let parent = p
                    .parent()
                    .map(|x| x.as_os_str().as_bytes().to_vec())
                    .unwrap_or_default();
                let base = p
                    .file_name()
                    .map(|x| x.as_bytes().to_vec())
                    .unwrap_or_default();
                let mut w = parent;
                if !w.is_empty() {
                    w.push(b'/');
                }
                w.extend_from_slice(b".wh.");
                w.extend(base);
                push(w, Kind::File(Vec::new()), 0o600);
            }
            6 => {
                let Some(mut n) = b.name() else { break };
                if !n.ends_with(b"/") {
                    n.push(b'/');
                }
                n.extend_from_slice(b".wh..wh..opq");
                push(n, Kind::File(Vec::new()), 0o600);
            }
            7 => {
                let Some(len) = b.next() else { break };
                let raw: Vec<u8> = (0..len % 24).filter_map(|_| b.next()).collect();
                push(raw, Kind::File(b"raw".to_vec()), 0o644);
            }
            8 => {
                let Some(n) = b.name() else { break };
                push(n, Kind::Fifo, 0o644);
            }
            _ => {
                let (Some(n), Some(m)) = (b.name(), b.next()) else {
                    break;
                };
                push(n, Kind::Dir, 0o700 | u32::from(m & 0o77));
            }
        }
    }
    layers
}

/// `whiteout_names`: classification never panics and its results are well formed.
pub fn check_whiteout_names(data: &[u8]) {
    let strict = classify(data, true);
    let lenient = classify(data, false);
    match (&strict, &lenient) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Ok(NameKind::AufsMeta(_))) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        other => panic!("strict and lenient disagree: {other:?}"),
    }
    let Ok(kind) = lenient else { return };
    let relative = |p: &Path| p.components().all(|c| matches!(c, Component::Normal(_)));
    match kind {
        NameKind::Normal(p) => {
            assert!(relative(&p), "{p:?}");
            // Cleaning is idempotent.
            assert_eq!(
                classify(p.as_os_str().as_bytes(), true).ok(),
                Some(NameKind::Normal(p.clone()))
            );
        }
        NameKind::Whiteout(t) => {
            assert!(relative(&t) && !t.as_os_str().is_empty(), "{t:?}");
            let base = t
                .file_name()
                .expect("a whiteout names something")
                .as_bytes();
            assert!(base != b"." && base != b"..");
        }
        NameKind::Opaque(d) | NameKind::AufsMeta(d) => assert!(relative(&d), "{d:?}"),
    }
}

/// `flatten_models`: the three models agree on every stack they accept.
pub fn check_flatten_models(data: &[u8]) {
    let layers = decode_layers(data);
    models_agree(&layers);
}

/// Asserts the models agree; returns the flattened tree (None when a layer is refused).
pub fn models_agree(layers: &[Layer]) -> Option<Tree> {
    let m1 = model::flatten(layers, true);
    let conv = model::convert_all(layers, true);
    let (m1, conv) = match (m1, conv) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(_), Err(_)) => return None,
        (a, b) => panic!(
            "flatten and convert disagree on refusal: {:?} / {:?}",
            a.err(),
            b.err()
        ),
    };
    let mut top_first = conv.clone();
    top_first.reverse();
    let m2 = model::overlay_view(&top_first);
    let m3 = model::merge_converted(&conv);
    assert_eq!(
        m1.diff(&m2),
        Vec::<String>::new(),
        "flatten model vs overlay view model of {layers:?}"
    );
    assert_eq!(
        m1.diff(&m3),
        Vec::<String>::new(),
        "flatten model vs merged converted layers of {layers:?}"
    );
    Some(m1)
}

/// A sandbox: `root/` (the target), a canary sibling dir and a canary file beside it.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("spinup-apply-")
            .tempdir()
            .expect("tempdir");
        let p = dir.path();
        std::fs::create_dir(p.join("root")).expect("root");
        std::fs::create_dir_all(p.join("canary/sub")).expect("canary");
        std::fs::write(p.join("canary/sub/secret"), b"must not change").expect("canary file");
        std::fs::write(p.join("canary-file"), b"must not change either").expect("canary file");
        std::os::unix::fs::symlink("../canary", p.join("canary/loop")).expect("canary link");
        Sandbox { dir }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    /// Everything in the sandbox except the target root.
    fn outside(&self) -> Tree {
        let mut t = read_tree(self.dir.path(), ReadMode::Plain).expect("read sandbox");
        t.nodes
            .retain(|k, _| !k.starts_with("root") && !k.starts_with("layer"));
        t
    }
}

/// `layer_apply`: arbitrary archive bytes (first byte even) or a decoded layer written as an
/// archive (odd) applied with the flatten mode: nothing outside the root changes, and on
/// success the tree equals the flatten model of the archive.
pub fn check_layer_apply(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let tar = if sel % 2 == 0 {
        rest.to_vec()
    } else {
        match decode_layers(rest).into_iter().next() {
            Some(l) => write_layer(&l),
            None => return,
        }
    };
    let sb = Sandbox::new();
    let before = sb.outside();
    let r = apply_archive(
        tar.as_slice(),
        &sb.root(),
        ApplyOptions::new(ApplyMode::Flatten),
    );
    assert_eq!(
        sb.outside().diff(&before),
        Vec::<String>::new(),
        "something outside the root changed"
    );
    let model = read_layer(tar.as_slice()).and_then(|l| model::flatten(&[l], true));
    match (r, model) {
        (Ok(_), Ok(m)) => {
            let disk = read_tree(&sb.root(), ReadMode::Plain).expect("read root");
            assert_eq!(
                disk.diff(&m),
                Vec::<String>::new(),
                "applied tree vs flatten model"
            );
        }
        (Ok(_), Err(e)) => panic!("applied an archive the model refuses: {e}"),
        (Err(_), _) => {}
    }
}

/// Applies every layer (bottom first) in overlay form into `dirs[i]`, checking each against
/// [`model::convert`], and all of them flattened into `flat` against the flatten model.
/// Needs root (0/0 devices, trusted xattrs). Returns false when a layer is refused.
pub fn apply_stack(layers: &[Layer], dirs: &[std::path::PathBuf], flat: &Path) -> bool {
    let Some(m1) = models_agree(layers) else {
        // Refused by the models: the on-disk apply must refuse too.
        let refused = layers.iter().zip(dirs).any(|(l, d)| {
            apply_archive(
                write_layer(l).as_slice(),
                d,
                ApplyOptions::new(ApplyMode::Overlay(XattrNs::Trusted)),
            )
            .is_err()
        });
        assert!(
            refused,
            "the models refuse a stack the on-disk apply accepts"
        );
        return false;
    };
    let mut converted = Vec::new();
    for (i, (l, d)) in layers.iter().zip(dirs).enumerate() {
        let mut lower: Vec<std::path::PathBuf> = dirs[..i].to_vec();
        lower.reverse();
        let opts = ApplyOptions::new(ApplyMode::Overlay(XattrNs::Trusted)).with_lower(lower);
        apply_archive(write_layer(l).as_slice(), d, opts).expect("the models accept this layer");
        let disk = read_tree(d, ReadMode::OverlayLayer(XattrNs::Trusted)).expect("read layer");
        let below = model::view_of_bottom_first(&converted);
        let want = model::convert(&model::effect(l, true).expect("accepted above"), &below);
        assert_eq!(
            disk.diff(&want),
            Vec::<String>::new(),
            "overlay-form layer on disk vs model"
        );
        converted.push(want);
        apply_archive(
            write_layer(l).as_slice(),
            flat,
            ApplyOptions::new(ApplyMode::Flatten),
        )
        .expect("flatten apply");
    }
    let disk = read_tree(flat, ReadMode::Plain).expect("read flat");
    assert_eq!(
        disk.diff(&m1),
        Vec::<String>::new(),
        "flattened on disk vs flatten model"
    );
    true
}

/// `overlay_kernel`: as root, converted layers mounted with the overlay builder show exactly
/// the flatten model. Returns early without root.
pub fn check_overlay_kernel(data: &[u8]) {
    if !crate::testing::has_cap_sys_admin() {
        return;
    }
    let layers = decode_layers(data);
    overlay_kernel_agrees(&layers);
}

/// What an archive written from `l` holds (a tar name cannot carry a NUL, for one).
fn as_archived(l: &Layer) -> Layer {
    read_layer(write_layer(l).as_slice()).expect("an archive we wrote reads back")
}

/// The on-disk and kernel part of invariant 3 for one stack (root only).
pub fn overlay_kernel_agrees(layers: &[Layer]) {
    let layers: Vec<Layer> = layers.iter().map(as_archived).collect();
    let layers = layers.as_slice();
    use crate::overlay::{BuildOptions, OverlayConfig, Strategy, build};
    let base = tempfile::Builder::new()
        .prefix("spinup-ovl-")
        .tempdir()
        .expect("tempdir");
    let dirs: Vec<_> = (0..layers.len())
        .map(|i| base.path().join(format!("layer{i}")))
        .collect();
    for d in &dirs {
        std::fs::create_dir(d).expect("layer dir");
    }
    let flat = base.path().join("flat");
    std::fs::create_dir(&flat).expect("flat dir");
    if !apply_stack(layers, &dirs, &flat) {
        return;
    }
    let model = read_tree(&flat, ReadMode::Plain).expect("read flat");
    let (upper, work, merged) = (
        base.path().join("upper"),
        base.path().join("work"),
        base.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d).expect("dir");
    }
    let mut lowers = dirs.clone();
    lowers.reverse();
    let cfg = OverlayConfig {
        lowers,
        upper: Some(upper),
        work: Some(work),
        ..OverlayConfig::default()
    };
    let opts = BuildOptions {
        features: crate::steps::overlay_mount::features(),
        ..BuildOptions::default()
    };
    let recipe = build(&cfg, Strategy::Auto, &opts).expect("a strategy fits");
    let view = crate::testing::in_private_mount_ns(|| {
        crate::steps::overlay_mount::mount_recipe(&recipe, &merged)
            .expect("mount the converted layers");
        read_tree(&merged, ReadMode::Plain)
            .unwrap_or_else(|e| panic!("read the merged view of {layers:?}: {e}"))
    });
    assert_eq!(
        view.diff(&model),
        Vec::<String>::new(),
        "kernel's merged view vs flatten model of {layers:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_seeds_and_regressions_replay() {
        let root = crate::testing::has_cap_sys_admin();
        for (t, f) in [
            ("whiteout_names", check_whiteout_names as fn(&[u8])),
            ("flatten_models", check_flatten_models),
            ("layer_apply", check_layer_apply),
            ("overlay_kernel", check_overlay_kernel),
        ] {
            let inputs = crate::check::committed_inputs(t);
            assert!(inputs.len() >= 5, "{t}: {} seeds", inputs.len());
            if t == "overlay_kernel"
                && !root
                && !crate::testing::require_root("overlay_kernel seeds")
            {
                continue;
            }
            for p in inputs {
                f(&std::fs::read(&p).unwrap());
            }
        }
    }
}
