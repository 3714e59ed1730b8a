//! Every overlay strategy against the real kernel, for N in {1, 2, 38, 128, 499, 500} and
//! layer paths with `:` `,` `\` space `=` newline and non-UTF-8 bytes, and of 254/255/256
//! bytes: each strategy mounts or refuses with a clear reason, as its builder predicted; after
//! mounting, the lowerdirs echoed in mountinfo are exactly the ones sent and the merged view
//! has every layer's file with the top layer winning. Mounts happen in a private mount
//! namespace of a test thread.

mod common;

use spinup::mountinfo;
use spinup::overlay::{
    BuildError, BuildOptions, FsValue, OverlayConfig, Recipe, Strategy, build, short_link_targets,
};
use spinup::steps::overlay_mount::{features, mount_recipe};
use spinup::testing::{in_private_mount_ns, require_root};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const COUNTS: [usize; 6] = [1, 2, 38, 128, 499, 500];

/// Makes `n` layers under `dir` (created), each with `layer-<i>` and a shared `who` file.
fn layers(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for i in 0..n {
        let l = dir.join(format!("{i:03}"));
        std::fs::create_dir_all(&l).unwrap();
        std::fs::write(l.join(format!("layer-{i}")), i.to_string()).unwrap();
        std::fs::write(l.join("who"), i.to_string()).unwrap();
        v.push(l);
    }
    v.reverse(); // top first
    v
}

/// What the kernel echoes for the layers in mountinfo, octal escapes undone.
fn echoed_layers(super_options: &[u8]) -> (Vec<Vec<u8>>, bool) {
    // lowerdir+ values are one option each; a legacy lowerdir= is one option with `:`.
    let mut plus = Vec::new();
    let mut legacy = None;
    // Options are separated by ',' (commas inside values are escaped as \054 by the kernel).
    for o in super_options.split(|&c| c == b',') {
        if let Some(v) = o.strip_prefix(b"lowerdir+=") {
            plus.push(mountinfo::unescape_octal(v));
        } else if let Some(v) = o.strip_prefix(b"lowerdir=") {
            legacy = Some(mountinfo::unescape_octal(v));
        }
    }
    match legacy {
        Some(l) => (vec![l], true),
        None => (plus, false),
    }
}

struct Outcome {
    mounted: usize,
    refused: Vec<String>,
}

/// Builds, mounts and checks one configuration with every strategy.
fn exercise(base: &Path, cfg: &OverlayConfig, top: usize, out: &mut Outcome) {
    let f = features();
    let target = base.join("merged");
    std::fs::create_dir_all(&target).unwrap();
    for s in Strategy::CONCRETE {
        let opts = BuildOptions {
            features: f,
            links_home: Some(base.join("links")),
            max_fd_digits: spinup::plan::max_fd_digits(cfg.lowers.len()),
            ..BuildOptions::default()
        };
        let recipe = match build(cfg, s, &opts) {
            Ok(r) => r,
            Err(e) => {
                // A refusal names a reason the kernel or its limits force.
                assert!(
                    matches!(
                        e,
                        BuildError::TooLong { .. }
                            | BuildError::NoCommonParent
                            | BuildError::ValueTooLong { .. }
                            | BuildError::NoLowerdirPlus
                            | BuildError::Quote { .. }
                            | BuildError::LsmToken { .. }
                    ),
                    "{}: {e}",
                    s.name()
                );
                let why = format!("{} {} layers: {e}", s.name(), cfg.lowers.len());
                eprintln!("refused as predicted: {why}");
                out.refused.push(why);
                continue;
            }
        };
        if s == Strategy::ShortLinks {
            let _ = std::fs::remove_dir_all(base.join("links"));
            for (link, t) in short_link_targets(cfg, &base.join("links")) {
                std::fs::create_dir_all(link.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(t, link).unwrap();
            }
        }
        let target2 = target.clone();
        let cfg2 = cfg.clone();
        let r2 = recipe.clone();
        in_private_mount_ns(move || {
            mount_recipe(&r2, &target2)
                .unwrap_or_else(|e| panic!("{}: predicted to mount, kernel says {e}", s.name()));
            // The merged view: every layer's own file, and the top layer's `who`.
            let n = cfg2.lowers.len();
            for i in 0..n {
                let p = target2.join(format!("layer-{i}"));
                assert_eq!(
                    std::fs::read_to_string(&p).unwrap(),
                    i.to_string(),
                    "{}: {}",
                    s.name(),
                    p.display()
                );
            }
            assert_eq!(
                std::fs::read_to_string(target2.join("who")).unwrap(),
                top.to_string(),
                "{}: precedence",
                s.name()
            );
            assert_eq!(std::fs::read_dir(&target2).unwrap().count(), n + 1);
            // mountinfo of this thread's namespace echoes what was sent.
            let mi = std::fs::read("/proc/thread-self/mountinfo").unwrap();
            let e = mountinfo::parse(&mi)
                .into_iter()
                .rfind(|e| e.mount_point == target2)
                .expect("overlay in mountinfo");
            assert_eq!(e.fstype, "overlay");
            let (echo, legacy) = echoed_layers(&e.super_options_raw);
            assert!(
                !echo.is_empty(),
                "{}: no lowerdir in {}",
                s.name(),
                e.super_options
            );
            match &r2 {
                Recipe::Legacy { data, .. } => {
                    assert!(legacy, "{}", s.name());
                    let sent = data.split(|&c| c == b',').next().unwrap();
                    // Escaped commas are part of the lowerdir value: compare the whole value.
                    let value = &data[b"lowerdir=".len()..];
                    let end = spinup::overlay::parse::split_options(value)[0].len();
                    let _ = sent;
                    assert_eq!(echo[0], &value[..end], "{}: legacy lowerdir echo", s.name());
                }
                Recipe::FdPaths { .. } => assert!(legacy),
                Recipe::Fsconfig { params } => {
                    assert!(!legacy);
                    let sent: Vec<Vec<u8>> = params
                        .iter()
                        .filter(|p| p.key == "lowerdir+")
                        .map(|p| match &p.value {
                            FsValue::String(v) => v.clone(),
                            FsValue::Fd(path) => path.as_os_str().as_bytes().to_vec(),
                            FsValue::Flag => unreachable!(),
                        })
                        .collect();
                    assert_eq!(echo, sent, "fsconfig lowerdir+ echo");
                }
            }
        });
        out.mounted += 1;
    }
}

fn config(lowers: Vec<PathBuf>, base: &Path) -> OverlayConfig {
    let upper = base.join("upper");
    let work = base.join("work");
    let _ = std::fs::remove_dir_all(&upper);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    OverlayConfig {
        lowers,
        upper: Some(upper),
        work: Some(work),
        ..OverlayConfig::default()
    }
}

#[test]
fn every_strategy_mounts_or_refuses_as_predicted_for_every_layer_count() {
    if !require_root("every_strategy_mounts_or_refuses_as_predicted_for_every_layer_count") {
        return;
    }
    let before = common::host_mounts();
    let mut out = Outcome {
        mounted: 0,
        refused: Vec::new(),
    };
    for n in COUNTS {
        let base = common::base();
        let ls = layers(&base.path().join("layers"), n);
        let cfg = config(ls, base.path());
        exercise(base.path(), &cfg, n - 1, &mut out);
    }
    // The legacy string cannot hold 500 layers of these paths; fsconfig always can.
    assert!(
        out.refused.iter().any(|r| r.starts_with("legacy 500")),
        "{:?}",
        out.refused
    );
    assert!(
        !out.refused.iter().any(|r| r.starts_with("fsconfig")),
        "{:?}",
        out.refused
    );
    assert!(out.mounted >= COUNTS.len() * 4, "{} mounts", out.mounted);
    assert_eq!(common::host_mounts(), before);
}

#[test]
fn nasty_and_long_paths_mount_or_are_refused_as_predicted() {
    if !require_root("nasty_and_long_paths_mount_or_are_refused_as_predicted") {
        return;
    }
    let before = common::host_mounts();
    let mut out = Outcome {
        mounted: 0,
        refused: Vec::new(),
    };
    let names: Vec<&[u8]> = vec![
        b"co:lon",
        b"com,ma",
        b"back\\slash",
        b"sp ace",
        b"eq=ual",
        b"new\nline",
        b"non\xffutf8",
        b"mix:,\\ =\n\xfe",
    ];
    for name in names {
        for n in [1, 2, 38] {
            let base = common::base();
            let dir = base.path().join(OsStr::from_bytes(name));
            let ls = layers(&dir, n);
            let cfg = config(ls, base.path());
            exercise(base.path(), &cfg, n - 1, &mut out);
        }
    }
    // Layer paths of exactly 254, 255 and 256 bytes (the fsconfig value limit is 255).
    for len in [254usize, 255, 256] {
        let base = common::base();
        let prefix = base.path().join("l");
        let pad = len - prefix.as_os_str().len() - "/000".len() - 1;
        let dir = prefix.join("p".repeat(pad));
        let ls = layers(&dir, 2);
        assert_eq!(ls[0].as_os_str().len(), len);
        let cfg = config(ls, base.path());
        exercise(base.path(), &cfg, 1, &mut out);
    }
    assert!(
        out.mounted > 100,
        "{} mounts, refused: {:?}",
        out.mounted,
        out.refused
    );
    assert_eq!(common::host_mounts(), before);
}

#[test]
fn the_kernel_silently_truncates_what_legacy_refuses() {
    if !require_root("the_kernel_silently_truncates_what_legacy_refuses") {
        return;
    }
    // Why the builder refuses: hand the kernel a 500-layer string anyway. mount(2) keeps
    // PAGE_SIZE-1 bytes; the mount fails or, worse, succeeds with fewer layers.
    let base = common::base();
    let ls = layers(&base.path().join("layers"), 500);
    let cfg = config(ls, base.path());
    let opts = BuildOptions {
        features: features(),
        ..BuildOptions::default()
    };
    let Err(BuildError::TooLong { len, limit, .. }) = build(&cfg, Strategy::Legacy, &opts) else {
        panic!("legacy must refuse 500 layers here");
    };
    assert!(len > limit);
    let mut data = b"lowerdir=".to_vec();
    let lowers: Vec<&[u8]> = cfg
        .lowers
        .iter()
        .map(|p| p.as_os_str().as_bytes())
        .collect();
    data.extend(lowers.join(&b':'));
    data.extend(
        format!(
            ",upperdir={},workdir={}",
            base.path().join("upper").display(),
            base.path().join("work").display()
        )
        .bytes(),
    );
    let target = base.path().join("merged");
    std::fs::create_dir_all(&target).unwrap();
    let t2 = target.clone();
    let got = in_private_mount_ns(move || {
        let r = nix::mount::mount(
            Some("overlay"),
            &t2,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(data.as_slice()),
        );
        r.map(|()| std::fs::read_dir(&t2).unwrap().count())
    });
    match got {
        Err(_) => {}
        Ok(entries) => assert!(entries < 501, "all 500 layers visible despite truncation?"),
    }
}

#[test]
fn fsconfig_failures_name_the_layer_and_carry_the_kernels_message() {
    if !require_root("fsconfig_failures_name_the_layer_and_carry_the_kernels_message") {
        return;
    }
    if !features().lowerdir_plus {
        return;
    }
    let base = common::base();
    let target = base.path().join("merged");
    std::fs::create_dir_all(&target).unwrap();
    // A missing layer: the error names it (the kernel's "failed to resolve" goes to dmesg).
    let mut ls = layers(&base.path().join("layers"), 2);
    ls.push(base.path().join("does-not-exist"));
    let cfg = config(ls, base.path());
    let recipe = build(
        &cfg,
        Strategy::Fsconfig,
        &BuildOptions {
            features: features(),
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let t = target.clone();
    let e = in_private_mount_ns(move || mount_recipe(&recipe, &t).unwrap_err());
    assert_eq!(
        (e.syscall, e.errno),
        (spinup::record::Syscall::Fsconfig, nix::errno::Errno::ENOENT)
    );
    assert!(e.path.contains("does-not-exist"), "{e}");
    // A parameter the kernel rejects through the fs_context log: its own words are in the error.
    let Recipe::Fsconfig { mut params } = build(
        &config(layers(&base.path().join("l2"), 2), base.path()),
        Strategy::Fsconfig,
        &BuildOptions {
            features: features(),
            ..BuildOptions::default()
        },
    )
    .unwrap() else {
        panic!("fsconfig recipe")
    };
    params.push(spinup::overlay::FsParam {
        key: "no_such_option",
        value: FsValue::Flag,
    });
    let e = in_private_mount_ns(move || {
        mount_recipe(&Recipe::Fsconfig { params }, &target).unwrap_err()
    });
    let msg = e.kernel_msg.clone().unwrap_or_default();
    assert!(msg.contains("no_such_option"), "kernel message: {msg:?}");
    assert!(e.to_string().contains("kernel:"), "{e}");
}
