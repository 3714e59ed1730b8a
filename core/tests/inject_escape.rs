//! Invariant 4: mount destinations are resolved inside the rootfs. An image whose `/etc/hosts`
//! (or `/proc`, or a user destination) is a symlink to a host path gets its mount inside the
//! rootfs or a clear error, never a host mount.

mod common;

use nix::errno::Errno;
use spinup::mountinfo;
use spinup::record::Syscall;
use spinup::runner::RunError;
use spinup::spec::ImageSource;
use spinup::testing::require_root;
use spinup::{Phase, SetupSpec};
use std::os::unix::fs::symlink;
use std::path::Path;

/// A one-layer image with the usual mount points; `f` adds to it.
fn image(base: &Path, f: impl FnOnce(&Path)) -> SetupSpec {
    let img = common::image(
        base,
        &[&[("proc", None), ("sys", None), ("dev", None), ("etc", None)]],
    );
    f(&img.join("layers/0000"));
    SetupSpec {
        image: ImageSource::Dir(img),
        capture: vec!["/etc/hosts".into(), "/proc/self/mountinfo".into()],
        ..SetupSpec::default()
    }
}

fn canary(base: &Path) -> (std::path::PathBuf, String) {
    let c = base.join("host-canary");
    std::fs::write(&c, "host file, must not change\n").unwrap();
    (c, "host file, must not change\n".into())
}

#[test]
fn absolute_symlink_to_a_host_path_is_bound_inside_the_rootfs() {
    if !require_root("absolute_symlink_to_a_host_path_is_bound_inside_the_rootfs") {
        return;
    }
    let before = common::host_mounts();
    let base = common::base();
    let (host, content) = canary(base.path());
    let spec = image(base.path(), |l| {
        // The same absolute path exists inside the image, so the link resolves there.
        let inside = l.join(host.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::write(&inside, "image copy\n").unwrap();
        symlink(&host, l.join("etc/hosts")).unwrap();
    });
    let mut r = common::runner(&spec, base.path());
    let expect = r.fixture().etc[0].content.clone();
    let run = r.run_once().unwrap();
    assert_eq!(run.capture("/etc/hosts"), Some(&Ok(expect.into_bytes())));
    let m = mountinfo::parse(
        run.capture("/proc/self/mountinfo")
            .unwrap()
            .as_ref()
            .unwrap(),
    );
    assert!(
        m.iter().any(|e| e.mount_point == host),
        "bound at the link's target inside the rootfs: {m:?}"
    );
    drop(r);
    assert_eq!(std::fs::read_to_string(&host).unwrap(), content);
    assert_eq!(common::host_mounts(), before);
}

#[test]
fn dangling_and_escaping_symlinks_fail_clearly_or_stay_inside() {
    if !require_root("dangling_and_escaping_symlinks_fail_clearly_or_stay_inside") {
        return;
    }
    let before = common::host_mounts();
    let base = common::base();
    let (host, content) = canary(base.path());

    // Target only exists on the host: a clear error, not a host mount.
    let spec = image(base.path(), |l| {
        symlink(&host, l.join("etc/hosts")).unwrap()
    });
    let mut r = common::runner(&spec, base.path());
    let e = r.run_once().unwrap_err();
    let RunError::Child {
        phase,
        syscall,
        errno,
        ref path,
        ..
    } = e
    else {
        panic!("{e}")
    };
    assert_eq!(
        (phase, syscall, errno),
        (Phase::Inject, Syscall::Openat, Errno::EEXIST)
    );
    assert!(path.ends_with("/etc/hosts"), "{path}");
    assert!(
        e.to_string().contains("does not exist inside the rootfs"),
        "{e}"
    );
    drop(r);

    // A relative link climbing out is clamped at the rootfs: it lands on /host-canary inside.
    let base2 = common::base();
    let spec = image(base2.path(), |l| {
        std::fs::write(l.join("host-canary"), "inside\n").unwrap();
        let up = "../".repeat(40);
        symlink(
            format!("{up}{}", host.display()).replace(&host.display().to_string(), "host-canary"),
            l.join("etc/hosts"),
        )
        .unwrap();
    });
    let mut r = common::runner(&spec, base2.path());
    let run = r.run_once().unwrap();
    let m = mountinfo::parse(
        run.capture("/proc/self/mountinfo")
            .unwrap()
            .as_ref()
            .unwrap(),
    );
    assert!(
        m.iter()
            .any(|e| e.mount_point.as_os_str() == "/host-canary"),
        "{m:?}"
    );
    drop(r);

    // A directory destination that resolves to the rootfs itself is refused.
    let base3 = common::base();
    let src = base3.path().join("dir");
    std::fs::create_dir(&src).unwrap();
    let mut spec = image(base3.path(), |l| symlink("/", l.join("data")).unwrap());
    spec.injections = vec![format!("{}:/data", src.display()).parse().unwrap()];
    let mut r = common::runner(&spec, base3.path());
    let e = r.run_once().unwrap_err();
    assert!(
        matches!(
            e,
            RunError::Child {
                errno: Errno::EBUSY,
                phase: Phase::Inject,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("rootfs itself"), "{e}");
    drop(r);

    // /proc as a symlink: proc must go on a real directory.
    let base4 = common::base();
    let spec = image(base4.path(), |l| {
        std::fs::remove_dir(l.join("proc")).unwrap();
        symlink("/tmp", l.join("proc")).unwrap();
    });
    let mut r = common::runner(&spec, base4.path());
    let e = r.run_once().unwrap_err();
    assert!(
        matches!(
            e,
            RunError::Child {
                errno: Errno::ELOOP | Errno::ENOTDIR,
                phase: Phase::Mounts,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("mount point directory"), "{e}");
    drop(r);

    assert_eq!(std::fs::read_to_string(&host).unwrap(), content);
    assert_eq!(common::host_mounts(), before);
}
