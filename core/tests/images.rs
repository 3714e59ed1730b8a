//! Real images: OCI layouts and docker-save archives built here are imported (layers in
//! overlay form, digests verified), run with `spinup run --image`, exported, checked against
//! the flatten model and against `umoci unpack`; an overlay upper dir diffs back into a layer
//! that flattens to the same tree.

mod common;

use sha2::{Digest, Sha256};
use spinup::layers::apply::{ApplyMode, ApplyOptions, apply_archive};
use spinup::layers::archive::write_layer;
use spinup::layers::diff::{DiffError, diff_upper, export_stack};
use spinup::layers::import::{ImportError, import};
use spinup::layers::model::{self, Entry, Kind, Layer};
use spinup::layers::tree::{ReadMode, Tree, read_tree};
use spinup::layers::whiteout::XattrNs;
use spinup::testing::{in_private_mount_ns, require_root};
use std::path::{Path, PathBuf};
use std::process::Command;

fn f(name: &str, c: &str) -> Entry {
    Entry {
        name: name.into(),
        kind: Kind::File(c.into()),
        mode: 0o644,
    }
}
fn d(name: &str) -> Entry {
    Entry {
        name: name.into(),
        kind: Kind::Dir,
        mode: 0o755,
    }
}
fn s(name: &str, t: &str) -> Entry {
    Entry {
        name: name.into(),
        kind: Kind::Symlink(t.into()),
        mode: 0o777,
    }
}

/// A small distro-like image: base, an update that deletes and replaces, an app layer that
/// makes a directory opaque and adds a hardlink.
fn layers() -> Vec<Layer> {
    vec![
        Layer {
            entries: vec![
                d("bin/"),
                Entry {
                    name: "bin/busybox".into(),
                    kind: Kind::File(vec![0x7f, b'E', b'L', b'F']),
                    mode: 0o755,
                },
                s("bin/sh", "busybox"),
                d("etc/"),
                f("etc/os-release", "ID=base\n"),
                f("etc/hosts", "127.0.0.1 localhost\n"),
                f("etc/hostname", "base\n"),
                f("etc/resolv.conf", "nameserver 192.0.2.1\n"),
                d("var/"),
                d("var/cache/"),
                f("var/cache/old-a", "a"),
                f("var/cache/old-b", "b"),
                d("usr/"),
                d("usr/share/"),
                f("usr/share/removed", "bye"),
                d("proc/"),
                d("sys/"),
                d("dev/"),
                d("tmp/"),
            ],
        },
        Layer {
            entries: vec![
                d("etc/"),
                f("etc/os-release", "ID=update\n"),
                d("usr/"),
                d("usr/share/"),
                f("usr/share/.wh.removed", ""),
                f("usr/share/added", "hi"),
            ],
        },
        Layer {
            entries: vec![
                d("var/"),
                d("var/cache/"),
                f("var/cache/.wh..wh..opq", ""),
                f("var/cache/fresh", "new"),
                d("app/"),
                f("app/main", "app"),
                Entry {
                    name: "app/alias".into(),
                    kind: Kind::Hardlink(b"app/main".to_vec()),
                    mode: 0o644,
                },
            ],
        },
    ]
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `blob` into an OCI layout, returns its descriptor digest.
fn put_blob(layout: &Path, blob: &[u8]) -> String {
    let h = hex(&Sha256::digest(blob));
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&h), blob).unwrap();
    format!("sha256:{h}")
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, b).unwrap();
    e.finish().unwrap()
}

/// An OCI image layout with `layers` (gzip, zstd, plain in turn), tagged `ref`.
fn oci_layout(dir: &Path, layers: &[Layer], reference: &str) -> PathBuf {
    oci_layout_with(dir, layers, reference, true)
}

/// As [`oci_layout`]; without `zstd` the zstd layers are gzip (umoci 0.4 reads no zstd).
fn oci_layout_with(dir: &Path, layers: &[Layer], reference: &str, zstd: bool) -> PathBuf {
    let layout = dir.join("oci");
    std::fs::create_dir_all(&layout).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let tar = write_layer(l);
        diff_ids.push(format!("sha256:{}", hex(&Sha256::digest(&tar))));
        let (blob, mt) = match i % 3 {
            0 => (gzip(&tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
            1 if zstd => (
                zstd::encode_all(tar.as_slice(), 3).unwrap(),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            1 => (gzip(&tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
            _ => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
        };
        let size = blob.len();
        let digest = put_blob(&layout, &blob);
        descs.push(serde_json::json!({"mediaType": mt, "digest": digest, "size": size}));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let cfg = serde_json::to_vec(&config).unwrap();
    let cfg_digest = put_blob(&layout, &cfg);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg.len()},
        "layers": descs,
    });
    let m = serde_json::to_vec(&manifest).unwrap();
    let m_digest = put_blob(&layout, &m);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m_digest, "size": m.len(),
                       "annotations": {"org.opencontainers.image.ref.name": reference}}],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    layout
}

/// A legacy `docker save` archive of `layers`, tagged `tag`.
fn docker_save(dir: &Path, layers: &[Layer], tag: &str) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut paths = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let tar = write_layer(l);
        diff_ids.push(format!("sha256:{}", hex(&Sha256::digest(&tar))));
        let p = format!("{i:064x}/layer.tar");
        add(&p, &tar);
        paths.push(p);
    }
    let cfg = serde_json::to_vec(
        &serde_json::json!({"rootfs": {"type": "layers", "diff_ids": diff_ids}}),
    )
    .unwrap();
    let cfg_name = format!("{}.json", hex(&Sha256::digest(&cfg)));
    add(&cfg_name, &cfg);
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": [tag], "Layers": paths}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let out = dir.join("image.tar");
    std::fs::write(&out, b.into_inner().unwrap()).unwrap();
    out
}

/// An image dir's merged view, through export and a flatten apply of the exported tar.
fn exported_tree(image: &Path, scratch: &Path) -> Tree {
    let mut ls = spinup::fixture::read_image_dir(image).unwrap();
    ls.reverse();
    let tar = export_stack(&ls, XattrNs::Trusted, Vec::new()).unwrap();
    let out = scratch.join("exported");
    std::fs::create_dir_all(&out).unwrap();
    apply_archive(tar.as_slice(), &out, ApplyOptions::new(ApplyMode::Flatten)).unwrap();
    read_tree(&out, ReadMode::Plain).unwrap()
}

#[test]
fn oci_and_docker_save_imports_match_the_flatten_model() {
    if !require_root("oci_and_docker_save_imports_match_the_flatten_model") {
        return;
    }
    let want = model::flatten(&layers(), true).unwrap();
    for kind in ["oci", "docker"] {
        let base = common::base();
        let src = if kind == "oci" {
            oci_layout(base.path(), &layers(), "v1")
        } else {
            docker_save(base.path(), &layers(), "spinup/test:v1")
        };
        let img = base.path().join("img");
        let r = import(&src, &img, None).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(r.layers, 3);
        // The middle layer's whiteout is a 0/0 device; the top layer's opaque dir is marked.
        let l1 = read_tree(
            &img.join("layers/0001"),
            ReadMode::OverlayLayer(XattrNs::Trusted),
        )
        .unwrap();
        assert_eq!(
            l1.get(Path::new("usr/share/removed")),
            Some(&spinup::layers::Node::Whiteout)
        );
        let l2 = read_tree(
            &img.join("layers/0002"),
            ReadMode::OverlayLayer(XattrNs::Trusted),
        )
        .unwrap();
        assert!(matches!(
            l2.get(Path::new("var/cache")),
            Some(spinup::layers::Node::Dir { opaque: true, .. })
        ));
        let got = exported_tree(&img, base.path());
        assert_eq!(
            got.diff(&want),
            Vec::<String>::new(),
            "{kind}: export vs model"
        );
    }
}

#[test]
fn tampered_or_foreign_sources_are_refused_and_leave_nothing() {
    if !require_root("tampered_or_foreign_sources_are_refused_and_leave_nothing") {
        return;
    }
    let base = common::base();
    let layout = oci_layout(base.path(), &layers(), "v1");
    // Corrupt one layer blob.
    let blobs: Vec<_> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let big = blobs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(big).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(big, bytes).unwrap();
    let img = base.path().join("img");
    let e = import(&layout, &img, None).unwrap_err();
    assert!(
        e.to_string().contains("digest") || e.to_string().contains("layer"),
        "{e}"
    );
    assert!(!img.exists(), "a failed import leaves no image dir");
    // Wrong ref, not a layout, existing destination.
    let good = oci_layout(&base.path().join("g"), &layers(), "v1");
    assert!(matches!(
        import(&good, &img, Some("v2")),
        Err(ImportError::Source { .. })
    ));
    assert!(
        import(base.path(), &img, None)
            .unwrap_err()
            .to_string()
            .contains("oci-layout")
    );
    std::fs::create_dir_all(img.join("x")).unwrap();
    assert!(matches!(
        import(&good, &img, None),
        Err(ImportError::Destination(_))
    ));
    // A layer that tries to escape is refused with its digest named.
    let evil = Layer {
        entries: vec![f("../../escape", "x")],
    };
    let bad = oci_layout(&base.path().join("e"), &[evil], "v1");
    let img2 = base.path().join("img2");
    let e = import(&bad, &img2, None).unwrap_err().to_string();
    assert!(
        e.contains("layer 0") && e.contains("sha256:") && e.contains(".."),
        "{e}"
    );
    assert!(!img2.exists() && !base.path().join("escape").exists());
}

#[test]
fn an_imported_image_runs_through_spinup_run_image() {
    if !require_root("an_imported_image_runs_through_spinup_run_image") {
        return;
    }
    let base = common::base();
    let layout = oci_layout(base.path(), &layers(), "v1");
    let img = base.path().join("img");
    let bin = env!("CARGO_BIN_EXE_spinup");
    let o = Command::new(bin)
        .arg("import")
        .arg(&layout)
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("imported 3 layers"));
    let tmp = base.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let o = Command::new(bin)
        .args(["run", "-n", "3", "--show-mounts", "--image"])
        .arg(&img)
        .arg("--tmp")
        .arg(&tmp)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("3 layers") && out.contains("overlay on / type overlay"),
        "{out}"
    );
    // Inside: the top layer's view, with the deleted file gone.
    let spec = spinup::SetupSpec {
        image: spinup::spec::ImageSource::Dir(img.clone()),
        capture: vec![
            "/etc/os-release".into(),
            "/usr/share/removed".into(),
            "/var/cache/fresh".into(),
            "/var/cache/old-a".into(),
        ],
        ..spinup::SetupSpec::default()
    };
    let mut r = common::runner(&spec, &tmp);
    let run = r.run_once().unwrap();
    assert_eq!(
        run.capture("/etc/os-release"),
        Some(&Ok(b"ID=update\n".to_vec()))
    );
    assert_eq!(run.capture("/var/cache/fresh"), Some(&Ok(b"new".to_vec())));
    assert_eq!(
        run.capture("/usr/share/removed"),
        Some(&Err(nix::errno::Errno::ENOENT))
    );
    assert_eq!(
        run.capture("/var/cache/old-a"),
        Some(&Err(nix::errno::Errno::ENOENT))
    );
    drop(r);
    // Export through the CLI too.
    let o = Command::new(bin)
        .arg("export")
        .arg(&img)
        .arg("-o")
        .arg(base.path().join("out.tar"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exported = spinup::layers::archive::read_layer(
        std::fs::File::open(base.path().join("out.tar")).unwrap(),
    )
    .unwrap();
    assert!(
        exported
            .entries
            .iter()
            .all(|e| !String::from_utf8_lossy(&e.name).contains(".wh."))
    );
    assert!(common::leftovers(&tmp).is_empty());
}

#[test]
fn export_matches_umoci_unpack() {
    if !require_root("export_matches_umoci_unpack") {
        return;
    }
    if Command::new("umoci").arg("--version").output().is_err() {
        if std::env::var("SPINUP_REQUIRE_UMOCI").as_deref() == Ok("1") {
            panic!("umoci is not installed and SPINUP_REQUIRE_UMOCI=1");
        }
        eprintln!("skipped export_matches_umoci_unpack: umoci is not installed");
        return;
    }
    let base = common::base();
    let layout = oci_layout_with(base.path(), &layers(), "v1", false);
    let img = base.path().join("img");
    import(&layout, &img, None).unwrap();
    let ours = exported_tree(&img, base.path());
    let bundle = base.path().join("bundle");
    let o = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:v1", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let theirs = read_tree(&bundle.join("rootfs"), ReadMode::Plain).unwrap();
    assert_eq!(
        ours.diff(&theirs),
        Vec::<String>::new(),
        "our export vs umoci unpack"
    );
}

#[test]
fn an_upper_dir_diffs_back_into_an_equivalent_layer() {
    if !require_root("an_upper_dir_diffs_back_into_an_equivalent_layer") {
        return;
    }
    let base = common::base();
    let all = layers();
    let (lower_layers, top) = all.split_at(2);
    // The lower layers in overlay form.
    let mut dirs = Vec::new();
    for (i, l) in lower_layers.iter().enumerate() {
        let dir = base.path().join(format!("l{i}"));
        std::fs::create_dir(&dir).unwrap();
        let mut lower = dirs.clone();
        lower.reverse();
        apply_archive(
            write_layer(l).as_slice(),
            &dir,
            ApplyOptions::new(ApplyMode::Overlay(XattrNs::Trusted)).with_lower(lower),
        )
        .unwrap();
        dirs.push(dir);
    }
    // Apply the top layer through an overlay mount, as a runtime's writes would land.
    let (upper, work, merged) = (
        base.path().join("upper"),
        base.path().join("work"),
        base.path().join("merged"),
    );
    for p in [&upper, &work, &merged] {
        std::fs::create_dir(p).unwrap();
    }
    let mut lowers = dirs.clone();
    lowers.reverse();
    let cfg = spinup::overlay::OverlayConfig {
        lowers,
        upper: Some(upper.clone()),
        work: Some(work),
        ..Default::default()
    };
    let recipe = spinup::overlay::build(
        &cfg,
        spinup::overlay::Strategy::Legacy,
        &spinup::overlay::BuildOptions::default(),
    )
    .unwrap();
    let tar = write_layer(&top[0]);
    in_private_mount_ns(|| {
        spinup::steps::overlay_mount::mount_recipe(&recipe, &merged).unwrap();
        apply_archive(
            tar.as_slice(),
            &merged,
            ApplyOptions::new(ApplyMode::Flatten),
        )
        .unwrap();
    });
    let diff = diff_upper(&upper, XattrNs::Trusted, Vec::new()).unwrap();
    let back = spinup::layers::archive::read_layer(diff.as_slice()).unwrap();
    let mut stack = lower_layers.to_vec();
    stack.push(back);
    let mut orig = lower_layers.to_vec();
    orig.push(top[0].clone());
    let a = model::flatten(&stack, true).unwrap();
    let b = model::flatten(&orig, true).unwrap();
    assert_eq!(
        a.diff(&b),
        Vec::<String>::new(),
        "diff of the upper flattens like the original layer"
    );
    // Uppers with redirects are refused rather than diffed wrongly.
    let redirected = upper.join("app");
    spinup::layers::whiteout::set_xattr(&redirected, "trusted.overlay.redirect", b"/elsewhere")
        .unwrap();
    assert!(matches!(
        diff_upper(&upper, XattrNs::Trusted, Vec::new()),
        Err(DiffError::NeedsFullDiff { .. })
    ));
}
