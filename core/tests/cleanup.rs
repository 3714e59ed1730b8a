//! Invariant 5: after any run, success or failure at any phase, the host mount table is
//! byte-identical and no temp dir is left; failures name the phase, the syscall and the path.

mod common;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use spinup::record::Syscall;
use spinup::runner::RunError;
use spinup::spec::{RootSwitch, SpawnMode};
use spinup::testing::require_root;
use spinup::{Phase, SetupSpec};

/// Child-side phases of a spec (the ones a fail or kill point can target).
fn child_phases(s: &SetupSpec) -> Vec<Phase> {
    s.phases()
        .into_iter()
        .filter(|p| !matches!(p, Phase::Exec | Phase::ExitReap | Phase::Teardown))
        .collect()
}

fn specs() -> Vec<SetupSpec> {
    vec![
        SetupSpec::default(),
        SetupSpec {
            spawn: SpawnMode::Clone,
            root_switch: RootSwitch::MoveChroot,
            ..SetupSpec::default()
        },
        SetupSpec {
            exec: cfg!(target_arch = "x86_64"),
            root_switch: RootSwitch::PivotPutold,
            ..SetupSpec::default()
        },
    ]
}

#[test]
fn successful_runs_leave_the_host_untouched() {
    if !require_root("successful_runs_leave_the_host_untouched") {
        return;
    }
    let before = common::host_mounts();
    let base = common::base();
    for method in RootSwitch::ALL {
        let s = SetupSpec {
            root_switch: method,
            ..SetupSpec::default()
        };
        let mut r = common::runner(&s, base.path());
        for _ in 0..5 {
            r.run_once().unwrap();
        }
        assert_eq!(
            common::leftovers(r.dir())
                .iter()
                .filter(|p| p.ends_with("upper") || p.ends_with("work"))
                .count(),
            0
        );
        drop(r);
        assert_eq!(common::host_mounts(), before, "{}", method.name());
        assert!(
            common::leftovers(base.path()).is_empty(),
            "{:?}",
            common::leftovers(base.path())
        );
    }
}

#[test]
fn a_failure_at_any_phase_leaves_no_mount_and_no_temp_dir() {
    if !require_root("a_failure_at_any_phase_leaves_no_mount_and_no_temp_dir") {
        return;
    }
    let before = common::host_mounts();
    for s in specs() {
        for phase in child_phases(&s) {
            let base = common::base();
            let spec = SetupSpec {
                fail_at: Some(phase),
                ..s.clone()
            };
            let mut r = common::runner(&spec, base.path());
            let e = r.run_once().unwrap_err();
            match &e {
                RunError::Child {
                    phase: p,
                    syscall,
                    errno,
                    path,
                    ..
                } => {
                    assert_eq!(*p, phase);
                    assert_eq!(*syscall, Syscall::FailPoint);
                    assert_eq!(*errno, Errno::ECANCELED);
                    assert!(!path.is_empty() && path != "?");
                }
                other => panic!("{phase}: {other}"),
            }
            let msg = e.to_string();
            assert!(msg.starts_with(phase.name()), "{msg}");
            // The runner is still usable: the next run fails the same way, cleanly.
            assert!(r.run_once().is_err());
            assert!(
                !r.dir().join("upper").exists() && !r.dir().join("work").exists(),
                "{phase}"
            );
            drop(r);
            assert_eq!(common::host_mounts(), before, "after a failure in {phase}");
            assert!(
                common::leftovers(base.path()).is_empty(),
                "{phase}: {:?}",
                common::leftovers(base.path())
            );
        }
    }
}

#[test]
fn a_child_killed_mid_setup_leaves_no_mount_and_no_temp_dir() {
    if !require_root("a_child_killed_mid_setup_leaves_no_mount_and_no_temp_dir") {
        return;
    }
    let before = common::host_mounts();
    for s in specs() {
        for phase in child_phases(&s) {
            let base = common::base();
            let spec = SetupSpec {
                kill_at: Some(phase),
                ..s.clone()
            };
            let mut r = common::runner(&spec, base.path());
            match r.run_once() {
                Err(RunError::Killed { signal, phase: p }) => {
                    assert_eq!(signal, Signal::SIGKILL);
                    // Killed after `phase` completed: reported as the phase it was in next.
                    assert!(p >= phase, "{p} < {phase}");
                }
                other => panic!("{phase}: {other:?}"),
            }
            drop(r);
            assert_eq!(common::host_mounts(), before, "after SIGKILL after {phase}");
            assert!(
                common::leftovers(base.path()).is_empty(),
                "{phase}: {:?}",
                common::leftovers(base.path())
            );
        }
    }
}

#[test]
fn real_kernel_errors_name_phase_syscall_and_path() {
    if !require_root("real_kernel_errors_name_phase_syscall_and_path") {
        return;
    }
    let before = common::host_mounts();
    let base = common::base();
    // An injection whose source disappears after planning: the bind mount fails with ENOENT.
    let src = base.path().join("vanishing");
    std::fs::write(&src, "x").unwrap();
    let spec = SetupSpec {
        injections: vec![format!("{}:/etc/vanishing", src.display()).parse().unwrap()],
        ..SetupSpec::default()
    };
    let mut r = common::runner(&spec, base.path());
    std::fs::remove_file(&src).unwrap();
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
        (Phase::Inject, Syscall::Mount, Errno::ENOENT)
    );
    assert!(path.contains("vanishing"), "{path}");
    let msg = e.to_string();
    assert!(
        msg.contains("inject") && msg.contains("mount") && msg.contains("vanishing"),
        "{msg}"
    );
    drop(r);
    assert_eq!(common::host_mounts(), before);
    assert!(common::leftovers(base.path()).is_empty());
}
