//! The setup child. Everything here runs after fork: no allocation, no lock, no logging. A
//! failure is written into the shared record as (phase, syscall, errno, path) and the child
//! `_exit`s; the parent turns that into a typed error.

use crate::fixture::EXEC_FD;
use crate::kernel::{Fd, Kernel};
use crate::phase::Phase;
use crate::plan::Plan;
use crate::record::{Fail, Shared, Stamp, Stamper, Syscall};
use crate::steps::{self, ChildState};
use crate::sys::{self, RealKernel};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::sync::atomic::Ordering::Relaxed;

/// Exit status of a child that recorded a failure.
pub const EXIT_FAILED: i32 = 1;
/// Exit status of a child that panicked (a bug).
pub const EXIT_PANIC: i32 = 101;

/// What the child needs, all allocated before fork.
pub struct ChildArgs<'a> {
    pub plan: &'a Plan,
    pub rec: &'a Shared,
    pub memfd: Fd,
    pub scratch: &'a mut [u8],
    pub fds: &'a mut [Fd],
}

/// Runs the setup phases that happen inside the child's namespaces (propagation to
/// post_jail), stamping each. Generic so the syscall order is testable with a recorder.
pub fn setup<K: Kernel>(
    k: &mut K,
    plan: &Plan,
    st: &mut ChildState<'_>,
    stamper: &mut Stamper<'_>,
) -> Result<(), (Phase, Fail)> {
    for &phase in &plan.phases {
        let r = match phase {
            Phase::Propagation => steps::propagation::run(k, plan),
            Phase::Overlay => steps::overlay_mount::run(k, plan, st),
            Phase::Inject => steps::inject::run(k, plan, st),
            Phase::Mounts => steps::mounts::run(k, plan, st),
            Phase::Jail => steps::jail::run(k, plan, st),
            Phase::PostJail => steps::post_jail::run(k, plan),
            _ => continue,
        };
        r.map_err(|f| (phase, f))?;
        stamper.mark(phase);
        checkpoint(plan, phase, stamper.record())?;
    }
    Ok(())
}

/// Test hooks at the end of a phase: a fail point, or parking until the parent kills us.
#[inline(always)]
fn checkpoint(plan: &Plan, phase: Phase, rec: &Shared) -> Result<(), (Phase, Fail)> {
    if plan.fail_at == Some(phase) {
        let f = Fail::new(
            Syscall::FailPoint,
            Errno::ECANCELED,
            plan.phase_label(phase),
        );
        return Err((phase, f));
    }
    if plan.kill_at == Some(phase) {
        rec.paused.store(1, Relaxed);
        sys::park();
    }
    Ok(())
}

fn fail_exit(rec: &Shared, phase: Phase, f: Fail) -> ! {
    rec.set_fail(phase, f);
    sys::exit_now(EXIT_FAILED)
}

/// Entry of the child forked by the parent (fork spawn mode): stamps `fork`, unshares,
/// and with a pid namespace forks PID 1 and exits.
pub fn after_fork(args: ChildArgs<'_>, begin_wall: u64) -> ! {
    {
        let plan = args.plan;
        let rec = args.rec;
        if let Some(probe) = plan.alloc_probe {
            rec.alloc[0].store(probe(), Relaxed);
        }
        let mut st = Stamper::resume(
            rec,
            Stamp {
                wall: begin_wall,
                cpu: 0,
            },
        );
        st.mark(Phase::Fork);
        if let Err((p, f)) = checkpoint(plan, Phase::Fork, rec) {
            fail_exit(rec, p, f);
        }
        if let Err(f) = steps::namespaces::run(&mut RealKernel, plan) {
            fail_exit(rec, Phase::Unshare, f);
        }
        st.mark(Phase::Unshare);
        if let Err((p, f)) = checkpoint(plan, Phase::Unshare, rec) {
            fail_exit(rec, p, f);
        }
        if !plan.pid_ns {
            in_namespaces(args, st);
        }
        // The unshared pid namespace applies to children only: fork its PID 1, as a sibling
        // (CLONE_PARENT) so the parent reaps it directly, as runc does.
        let before = st.last();
        // SAFETY: this child is single-threaded and both sides only make raw syscalls.
        let r = sys::clone_into(CloneFlags::CLONE_PARENT, move || {
            let mut st = Stamper::resume(
                rec,
                Stamp {
                    wall: before.wall,
                    cpu: 0,
                },
            );
            st.mark(Phase::ForkPid1);
            if let Err((p, f)) = checkpoint(plan, Phase::ForkPid1, rec) {
                fail_exit(rec, p, f);
            }
            in_namespaces(args, st)
        });
        match r {
            Err(e) => fail_exit(rec, Phase::ForkPid1, Fail::new(Syscall::Clone, e, 0)),
            Ok(pid) => {
                rec.pid1_parent_cpu
                    .store(Stamp::cpu_now().saturating_sub(before.cpu), Relaxed);
                rec.pid1.store(pid.as_raw(), Relaxed);
                sys::exit_now(0)
            }
        }
    }
}

/// Entry of the child cloned with every namespace flag (clone spawn mode).
pub fn after_clone(args: ChildArgs<'_>, begin_wall: u64) -> ! {
    {
        if let Some(probe) = args.plan.alloc_probe {
            args.rec.alloc[0].store(probe(), Relaxed);
        }
        let mut st = Stamper::resume(
            args.rec,
            Stamp {
                wall: begin_wall,
                cpu: 0,
            },
        );
        st.mark(Phase::Clone);
        if let Err((p, f)) = checkpoint(args.plan, Phase::Clone, args.rec) {
            fail_exit(args.rec, p, f);
        }
        in_namespaces(args, st)
    }
}

/// Setup inside the namespaces, the untimed capture, then exec or exit.
fn in_namespaces(args: ChildArgs<'_>, mut stamper: Stamper<'_>) -> ! {
    let ChildArgs {
        plan,
        rec,
        memfd,
        scratch,
        fds,
    } = args;
    let mut state = ChildState {
        root: Fd(-1),
        scratch,
        fds,
        rec,
    };
    if let Err((p, f)) = setup(&mut RealKernel, plan, &mut state, &mut stamper) {
        fail_exit(rec, p, f);
    }
    if let Some(probe) = plan.alloc_probe {
        rec.alloc[1].store(probe(), Relaxed);
    }
    capture(plan, rec);
    if let Some((path, label)) = &plan.exec {
        stamper.restart();
        let b = stamper.last();
        // The exit binary writes its entry stamp into exec_end; the parent completes the phase.
        rec.set_phase(Phase::Exec, b, b);
        if let Err(e) = sys::dup2(memfd, EXEC_FD) {
            fail_exit(rec, Phase::Exec, Fail::new(Syscall::Dup2, e, *label));
        }
        let e = sys::execve(path);
        fail_exit(rec, Phase::Exec, Fail::new(Syscall::Execve, e, *label));
    }
    let now = Stamp::now();
    rec.exit[0].store(now.wall, Relaxed);
    rec.exit[1].store(now.cpu, Relaxed);
    sys::exit_now(0)
}

/// Reads each capture path inside the container into the record: per chunk an 8-byte header
/// (u32 path label, u32 length), or on error the label with the top bit set and the errno.
fn capture(plan: &Plan, rec: &Shared) {
    use nix::fcntl::OFlag;
    let mut k = RealKernel;
    let mut chunk = [0u8; 4096];
    for (path, label) in &plan.capture {
        let head = |len: u32, err: bool| {
            let mut h = [0u8; 8];
            let l = u32::from(*label) | if err { 1 << 31 } else { 0 };
            h[..4].copy_from_slice(&l.to_le_bytes());
            h[4..].copy_from_slice(&len.to_le_bytes());
            h
        };
        let fd = match k.openat(crate::kernel::CWD, path, OFlag::O_RDONLY, 0) {
            Ok(fd) => fd,
            Err(e) => {
                rec.capture_push(&head(e as u32, true));
                continue;
            }
        };
        loop {
            match k.read(fd, &mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if !rec.capture_push(&head(n as u32, false)) || !rec.capture_push(&chunk[..n]) {
                        break;
                    }
                }
                Err(e) => {
                    rec.capture_push(&head(e as u32, true));
                    break;
                }
            }
        }
        let _ = k.close(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Call, Recorder};
    use crate::spec::{MountKind, RootPropagation, SetupSpec};
    use crate::steps::testing;
    use nix::mount::MsFlags;

    fn record(spec: &SetupSpec, k: &mut Recorder) -> Result<(), (Phase, Fail)> {
        let p = testing::plan(spec);
        let rec: Box<Shared> = sys::zeroed_box();
        let mut scratch = vec![0u8; p.plan.scratch_len.max(1)];
        let mut fds = vec![Fd(-1); 8];
        let mut st = ChildState {
            root: Fd(-1),
            scratch: &mut scratch,
            fds: &mut fds,
            rec: &rec,
        };
        let mut stamper = Stamper::resume(&rec, Stamp::now());
        let r = setup(k, &p.plan, &mut st, &mut stamper);
        for ph in &p.plan.phases {
            let in_child = matches!(
                ph,
                Phase::Propagation
                    | Phase::Overlay
                    | Phase::Inject
                    | Phase::Mounts
                    | Phase::Jail
                    | Phase::PostJail
            );
            if r.is_ok() && in_child {
                assert!(rec.phase(*ph).is_some(), "{ph} stamped");
            }
        }
        r
    }

    fn mounts(k: &Recorder) -> Vec<(Option<String>, String, MsFlags)> {
        k.calls
            .iter()
            .filter_map(|c| match c {
                Call::Mount {
                    source,
                    fstype,
                    target,
                    flags,
                    ..
                } => Some((
                    fstype
                        .as_ref()
                        .or(source.as_ref())
                        .map(|s| s.to_string_lossy().into_owned()),
                    target.clone(),
                    *flags,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn propagation_comes_before_any_mount_and_pivot_after_all() {
        let mut k = Recorder::new();
        record(&SetupSpec::default(), &mut k).unwrap();
        let m = mounts(&k);
        assert_eq!(
            m[0],
            (None, "/".to_string(), MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "/ rslave first"
        );
        let overlay = m
            .iter()
            .position(|x| x.0.as_deref() == Some("overlay"))
            .unwrap();
        assert!(
            m[..overlay]
                .iter()
                .any(|x| x.2 == MsFlags::MS_BIND | MsFlags::MS_REC),
            "self-bind before overlay"
        );
        let pivot = k.names().iter().position(|n| *n == "pivot_root").unwrap();
        let last_setup_mount = k.calls[..pivot]
            .iter()
            .rposition(|c| matches!(c, Call::Mount { .. }))
            .unwrap();
        assert!(last_setup_mount < pivot);
        assert_eq!(k.names().last(), Some(&"sethostname"));
    }

    #[test]
    fn binds_and_kernel_mounts_target_resolved_fds() {
        let mut k = Recorder::new();
        record(&SetupSpec::default(), &mut k).unwrap();
        // Every mount after the overlay targets /proc/self/fd/N until the jail.
        let m = mounts(&k);
        let overlay = m
            .iter()
            .position(|x| x.0.as_deref() == Some("overlay"))
            .unwrap();
        let jail_at = m.iter().position(|x| x.1 == ".").unwrap();
        for x in &m[overlay + 1..jail_at] {
            assert!(x.1.starts_with("/proc/self/fd/"), "{x:?}");
        }
        let kinds: Vec<&str> = m[overlay + 1..jail_at]
            .iter()
            .filter_map(|x| x.0.as_deref())
            .collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| k.ends_with("hosts")
                    || k.ends_with("hostname")
                    || k.ends_with("resolv.conf"))
                .count(),
            3
        );
        for fs in ["proc", "sysfs", "tmpfs", "devpts"] {
            assert!(kinds.contains(&fs), "{fs} mounted: {kinds:?}");
        }
        // Every resolution of a container path is an openat2 in the rootfs.
        for c in &k.calls {
            if let Call::OpenIn(dir, path, ..) = c {
                assert!(
                    !path.to_bytes().starts_with(b"/"),
                    "{path:?} relative to {dir:?}"
                );
            }
        }
    }

    #[test]
    fn rprivate_and_per_ns_variants() {
        let mut k = Recorder::new();
        let spec = SetupSpec {
            root_propagation: RootPropagation::Rprivate,
            mounts: vec![MountKind::Proc],
            inject_etc: false,
            ..SetupSpec::default()
        };
        record(&spec, &mut k).unwrap();
        let m = mounts(&k);
        assert_eq!(m[0].2, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(
            m.iter()
                .filter(|x| x.1.starts_with("/proc/self/fd/"))
                .count(),
            1,
            "only proc"
        );
    }

    #[test]
    fn missing_destination_is_created_inside_the_rootfs() {
        // openat2 of etc/hosts says ENOENT: parent resolved in the root, file created with
        // O_CREAT|O_EXCL|O_NOFOLLOW relative to it, then bound.
        let mut k = Recorder::new().fail("openat2", Some(0), Errno::ENOENT);
        record(
            &SetupSpec {
                mounts: vec![],
                ..SetupSpec::default()
            },
            &mut k,
        )
        .unwrap();
        let i = k
            .calls
            .iter()
            .position(|c| matches!(c, Call::OpenIn(_, p, ..) if p.as_c_str() == c"etc/hosts"))
            .unwrap();
        assert!(matches!(&k.calls[i + 1], Call::OpenIn(_, p, ..) if p.as_c_str() == c"etc"));
        let Call::Openat(_, name, flags) = &k.calls[i + 2] else {
            panic!("{:?}", k.calls[i + 2])
        };
        assert_eq!(name.as_c_str(), c"hosts");
        assert!(flags.contains(
            nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_NOFOLLOW
        ));
        assert!(
            matches!(&k.calls[i + 3], Call::Close(_)),
            "parent fd closed"
        );
        assert!(
            matches!(&k.calls[i + 4], Call::Mount { target, .. } if target.starts_with("/proc/self/fd/"))
        );
    }

    #[test]
    fn a_failure_stops_the_sequence_and_names_the_phase() {
        let mut k = Recorder::new().fail("mount", Some(4), Errno::EACCES);
        let (phase, f) = record(&SetupSpec::default(), &mut k).unwrap_err();
        assert_eq!(
            (phase, f.syscall, f.errno),
            (Phase::Inject, Syscall::Mount, Errno::EACCES)
        );
        assert_eq!(k.names().last(), Some(&"mount"));
    }

    #[test]
    fn fsconfig_strategy_sequence() {
        let mut spec = SetupSpec {
            mounts: vec![],
            inject_etc: false,
            ..SetupSpec::default()
        };
        spec.overlay.strategy = crate::overlay::Strategy::Fsconfig;
        spec.overlay.flags.volatile = true;
        let mut k = Recorder::new();
        record(&spec, &mut k).unwrap();
        let names = k.names();
        let a = names.iter().position(|n| *n == "fsopen").unwrap();
        let layers = crate::spec::DEFAULT_LAYERS;
        let expect: Vec<&str> = std::iter::once("fsopen")
            .chain(std::iter::repeat_n("fsconfig", layers + 3))
            .chain(["fsconfig_create", "fsmount", "move_mount", "close", "close"])
            .collect();
        assert_eq!(&names[a..a + expect.len()], &expect[..]);
        // A failing fsconfig reads the kernel's message from the context fd.
        let mut k = Recorder::new().fail("fsconfig", Some(1), Errno::EINVAL);
        let (phase, f) = record(&spec, &mut k).unwrap_err();
        assert_eq!((phase, f.syscall), (Phase::Overlay, Syscall::Fsconfig));
        assert!(k.names().contains(&"read"));
    }
}
