//! The full setup sequence against the real kernel (as root): every root-switch method
//! completes, injected files read back, and the pivot variants leave only the container's
//! mounts.

mod common;

use spinup::mountinfo;
use spinup::spec::{ImageSource, MountKind, RootSwitch, SpawnMode, UnshareMode};
use spinup::testing::require_root;
use spinup::{Phase, SetupSpec};
use std::collections::BTreeSet;

fn spec(method: RootSwitch) -> SetupSpec {
    SetupSpec {
        root_switch: method,
        capture: vec![
            "/etc/hosts".into(),
            "/etc/hostname".into(),
            "/etc/resolv.conf".into(),
            "/proc/self/mountinfo".into(),
            "/etc/os-release".into(),
        ],
        ..SetupSpec::default()
    }
}

fn text(r: &spinup::RunRecord, path: &str) -> String {
    match r.capture(path) {
        Some(Ok(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn every_root_switch_method_completes_with_injected_files() {
    if !require_root("every_root_switch_method_completes_with_injected_files") {
        return;
    }
    for method in RootSwitch::ALL {
        let base = common::base();
        let mut runner = common::runner(&spec(method), base.path());
        let etc = runner.fixture().etc.clone();
        for _ in 0..3 {
            let r = runner
                .run_once()
                .unwrap_or_else(|e| panic!("{}: {e}", method.name()));
            for e in &etc {
                assert_eq!(text(&r, e.dst), e.content, "{} {}", method.name(), e.dst);
            }
            // The top synthetic layer wins over the ones below.
            let top = spinup::spec::DEFAULT_LAYERS - 1;
            assert!(text(&r, "/etc/os-release").contains(&format!("LAYER={top}")));
            for p in spec(method).phases() {
                let t = r
                    .get(p)
                    .unwrap_or_else(|| panic!("{}: phase {p} missing", method.name()));
                assert!(t.wall > 0, "{} {p}", method.name());
            }
            let sum: u64 = Phase::ALL
                .iter()
                .filter_map(|p| r.get(*p))
                .map(|t| t.wall)
                .sum();
            assert_eq!(r.total().wall, sum);
        }
    }
}

#[test]
fn pivot_variants_leave_only_the_containers_mounts() {
    if !require_root("pivot_variants_leave_only_the_containers_mounts") {
        return;
    }
    let expected: BTreeSet<&str> = [
        "/",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
        "/dev",
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/pts",
    ]
    .into_iter()
    .filter(|p| !p.starts_with("/dev/") || p == &"/dev/pts" || std::path::Path::new(p).exists())
    .collect();
    let host: BTreeSet<String> = mountinfo::parse(common::host_mounts())
        .into_iter()
        .map(|e| e.mount_point.display().to_string())
        .collect();
    for method in RootSwitch::ALL.into_iter().filter(|m| m.is_pivot()) {
        let base = common::base();
        let mut runner = common::runner(&spec(method), base.path());
        let r = runner.run_once().unwrap();
        let entries = mountinfo::parse(text(&r, "/proc/self/mountinfo"));
        let points: BTreeSet<String> = entries
            .iter()
            .map(|e| e.mount_point.display().to_string())
            .collect();
        let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            points,
            want,
            "{}: mounts inside the container",
            method.name()
        );
        let root = entries
            .iter()
            .find(|e| e.mount_point.as_os_str() == "/")
            .unwrap();
        assert_eq!(root.fstype, "overlay", "{}", method.name());
        // No mount point of the host is visible except the ones the container made itself.
        for h in &host {
            assert!(
                !points.contains(h) || want.contains(h),
                "{}: host mount {h} leaked",
                method.name()
            );
        }
    }
}

#[test]
fn chroot_keeps_the_old_root_in_the_namespace() {
    if !require_root("chroot_keeps_the_old_root_in_the_namespace") {
        return;
    }
    // chroot does not detach the old root: it is still in the mount namespace, just outside
    // the process's root, so mountinfo hides it but the self-bind under the overlay remains.
    let base = common::base();
    let mut runner = common::runner(&spec(RootSwitch::Chroot), base.path());
    let r = runner.run_once().unwrap();
    let entries = mountinfo::parse(text(&r, "/proc/self/mountinfo"));
    assert!(
        entries
            .iter()
            .any(|e| e.mount_point.as_os_str() == "/" && e.fstype == "overlay")
    );
}

#[test]
fn clone_per_ns_exec_and_minimal_variants_run() {
    if !require_root("clone_per_ns_exec_and_minimal_variants_run") {
        return;
    }
    let variants = [
        SetupSpec {
            spawn: SpawnMode::Clone,
            ..SetupSpec::default()
        },
        SetupSpec {
            unshare: UnshareMode::PerNs,
            ..SetupSpec::default()
        },
        SetupSpec {
            exec: cfg!(target_arch = "x86_64"),
            ..SetupSpec::default()
        },
        SetupSpec {
            namespaces: "mnt".parse().unwrap(),
            mounts: vec![MountKind::Proc],
            inject_etc: false,
            image: ImageSource::Synthetic {
                layers: 1,
                files_per_layer: 3,
            },
            ..SetupSpec::default()
        },
        SetupSpec {
            namespaces: "mnt,uts,ipc,net,pid,cgroup".parse().unwrap(),
            mounts: MountKind::ALL.to_vec(),
            ..SetupSpec::default()
        },
    ];
    for s in variants {
        let base = common::base();
        let mut runner = common::runner(&s, base.path());
        let r = runner.run_once().unwrap_or_else(|e| panic!("{s:?}: {e}"));
        for p in s.phases() {
            assert!(r.get(p).is_some(), "{p} missing for {:?}", s.spawn);
        }
        if s.exec {
            let exec = r.get(Phase::Exec).unwrap();
            assert!(exec.wall > 0 && exec.wall < 1_000_000_000, "{exec:?}");
        }
    }
}

#[test]
fn hostname_is_set_in_the_new_uts_namespace_only() {
    if !require_root("hostname_is_set_in_the_new_uts_namespace_only") {
        return;
    }
    let before = nix::unistd::gethostname().unwrap();
    let base = common::base();
    let mut s = spec(RootSwitch::Pivot);
    s.hostname = "spinup-test-host".into();
    s.capture = vec!["/proc/sys/kernel/hostname".into()];
    let mut runner = common::runner(&s, base.path());
    let r = runner.run_once().unwrap();
    assert_eq!(
        text(&r, "/proc/sys/kernel/hostname").trim(),
        "spinup-test-host"
    );
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
}

#[test]
fn user_injections_bind_files_and_dirs_read_only_when_asked() {
    if !require_root("user_injections_bind_files_and_dirs_read_only_when_asked") {
        return;
    }
    let base = common::base();
    let src = base.path().join("src");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::write(src.join("file"), "injected\n").unwrap();
    std::fs::write(src.join("dir/inner"), "inner\n").unwrap();
    let mut s = spec(RootSwitch::Pivot);
    s.injections = vec![
        format!("{}:/opt/new/deep/file:ro", src.join("file").display())
            .parse()
            .unwrap(),
        format!("{}:/srv/data", src.join("dir").display())
            .parse()
            .unwrap(),
    ];
    s.capture = vec![
        "/opt/new/deep/file".into(),
        "/srv/data/inner".into(),
        "/proc/self/mountinfo".into(),
    ];
    let mut runner = common::runner(&s, base.path());
    let r = runner.run_once().unwrap();
    assert_eq!(text(&r, "/opt/new/deep/file"), "injected\n");
    assert_eq!(text(&r, "/srv/data/inner"), "inner\n");
    let m = mountinfo::parse(text(&r, "/proc/self/mountinfo"));
    let f = m
        .iter()
        .find(|e| e.mount_point.as_os_str() == "/opt/new/deep/file")
        .unwrap();
    assert!(
        f.mount_options.split(',').any(|o| o == "ro"),
        "{}",
        f.mount_options
    );
    let d = m
        .iter()
        .find(|e| e.mount_point.as_os_str() == "/srv/data")
        .unwrap();
    assert!(d.mount_options.split(',').any(|o| o == "rw"));
    drop(runner);
    assert_eq!(
        std::fs::read_to_string(src.join("file")).unwrap(),
        "injected\n"
    );
}
