//! `jail`: the root switch.
//!
//! - `pivot` (runc, youki): `pivot_root(".", ".")` stacks the old root on the new one at the
//!   same place; it is reached through a saved fd, made rslave so the detach cannot propagate
//!   to the host, and detached.
//! - `pivot-private-loop` (crun): the same with rprivate, then `umount2` until EINVAL peels
//!   every stacked mount.
//! - `pivot-putold` (classic, firecracker's jailer): a real put_old directory, unmounted and
//!   removed afterwards.
//! - `move-chroot` (runc `--no-pivot`): host proc/sysfs are hidden (so they cannot be
//!   re-mounted through `mnt_already_visible`), the rootfs is moved onto `/`, then `chroot`.
//! - `chroot`: the baseline; the old root stays reachable from the mount namespace.

use super::{At, ChildState};
use crate::kernel::{CWD, Kernel, Target};
use crate::plan::{PUT_OLD, PUT_OLD_ABS, Plan};
use crate::record::{Fail, Syscall};
use crate::spec::RootSwitch;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};

pub fn run<K: Kernel>(k: &mut K, plan: &Plan, st: &mut ChildState<'_>) -> Result<(), Fail> {
    let root = st.root;
    let l = plan.rootfs_label;
    match plan.root_switch {
        RootSwitch::Pivot | RootSwitch::PivotPrivateLoop => {
            let old = k
                .openat(
                    CWD,
                    c"/",
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_PATH,
                    0,
                )
                .at(Syscall::Openat, l)?;
            k.fchdir(root).at(Syscall::Fchdir, l)?;
            k.pivot_root(c".", c".").at(Syscall::PivotRoot, l)?;
            // pivot_root gives no guarantee about the cwd: go to the old root explicitly.
            k.fchdir(old).at(Syscall::Fchdir, l)?;
            let (prop, looped) = if plan.root_switch == RootSwitch::Pivot {
                (MsFlags::MS_SLAVE | MsFlags::MS_REC, false)
            } else {
                (MsFlags::MS_PRIVATE | MsFlags::MS_REC, true)
            };
            k.mount(None, Target::Path(c"."), None, prop, None)
                .at(Syscall::Mount, l)?;
            k.umount2(c".", MntFlags::MNT_DETACH)
                .at(Syscall::Umount2, l)?;
            if looped {
                loop {
                    match k.umount2(c".", MntFlags::MNT_DETACH) {
                        Ok(()) => {}
                        Err(Errno::EINVAL) => break,
                        Err(e) => return Err(Fail::new(Syscall::Umount2, e, l)),
                    }
                }
            }
            k.chdir(c"/").at(Syscall::Chdir, l)?;
            k.close(old).at(Syscall::Close, l)?;
        }
        RootSwitch::PivotPutold => {
            let p = plan.put_old_label;
            k.fchdir(root).at(Syscall::Fchdir, l)?;
            k.mkdirat(root, PUT_OLD, 0o700).at(Syscall::Mkdirat, p)?;
            k.pivot_root(c".", PUT_OLD).at(Syscall::PivotRoot, p)?;
            k.chdir(c"/").at(Syscall::Chdir, l)?;
            k.umount2(PUT_OLD_ABS, MntFlags::MNT_DETACH)
                .at(Syscall::Umount2, p)?;
            k.rmdir(PUT_OLD_ABS).at(Syscall::Rmdir, p)?;
        }
        RootSwitch::MoveChroot => {
            for (path, label) in &plan.hide {
                k.mount(
                    None,
                    Target::Path(path),
                    None,
                    MsFlags::MS_SLAVE | MsFlags::MS_REC,
                    None,
                )
                .at(Syscall::Mount, *label)?;
                match k.umount2(path, MntFlags::MNT_DETACH) {
                    Ok(()) => {}
                    // Cannot unmount (locked): cover it instead.
                    Err(Errno::EINVAL | Errno::EPERM) => k
                        .mount(
                            Some(c"tmpfs"),
                            Target::Path(path),
                            Some(c"tmpfs"),
                            MsFlags::empty(),
                            None,
                        )
                        .at(Syscall::Mount, *label)?,
                    Err(e) => return Err(Fail::new(Syscall::Umount2, e, *label)),
                }
            }
            k.fchdir(root).at(Syscall::Fchdir, l)?;
            k.mount(Some(c"."), Target::Path(c"/"), None, MsFlags::MS_MOVE, None)
                .at(Syscall::Mount, l)?;
            k.chroot(c".").at(Syscall::Chroot, l)?;
            k.chdir(c"/").at(Syscall::Chdir, l)?;
        }
        RootSwitch::Chroot => {
            k.fchdir(root).at(Syscall::Fchdir, l)?;
            k.chroot(c".").at(Syscall::Chroot, l)?;
            k.chdir(c"/").at(Syscall::Chdir, l)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Call, Fd, Recorder};
    use crate::record::Shared;
    use crate::spec::SetupSpec;
    use crate::steps::testing;

    fn jail(method: RootSwitch, k: &mut Recorder) -> (Result<(), Fail>, testing::Planned) {
        let p = testing::plan(&SetupSpec {
            root_switch: method,
            ..SetupSpec::default()
        });
        let rec: Box<Shared> = crate::sys::zeroed_box();
        let mut scratch = [0u8; 8];
        let mut fds = [Fd(-1); 2];
        let mut st = ChildState {
            root: Fd(7),
            scratch: &mut scratch,
            fds: &mut fds,
            rec: &rec,
        };
        (run(k, &p.plan, &mut st), p)
    }

    #[test]
    fn pivot_is_runcs_sequence() {
        let mut k = Recorder::new();
        jail(RootSwitch::Pivot, &mut k).0.unwrap();
        assert_eq!(
            k.names(),
            [
                "openat",
                "fchdir",
                "pivot_root",
                "fchdir",
                "mount",
                "umount2",
                "chdir",
                "close"
            ]
        );
        assert_eq!(k.calls[1], Call::Fchdir(Fd(7)), "into the rootfs");
        assert_eq!(k.calls[2], Call::PivotRoot(c".".into(), c".".into()));
        let Call::Mount { flags, target, .. } = &k.calls[4] else {
            panic!()
        };
        assert_eq!(
            *flags,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            "old root rslave before the detach"
        );
        assert_eq!(target, ".");
        assert_eq!(k.calls[5], Call::Umount2(c".".into(), MntFlags::MNT_DETACH));
    }

    #[test]
    fn private_loop_peels_until_einval() {
        // Two umount2 succeed, the third says EINVAL: the loop stops there.
        let mut k = Recorder::new().fail("umount2", Some(2), Errno::EINVAL);
        jail(RootSwitch::PivotPrivateLoop, &mut k).0.unwrap();
        assert_eq!(
            k.names(),
            [
                "openat",
                "fchdir",
                "pivot_root",
                "fchdir",
                "mount",
                "umount2",
                "umount2",
                "umount2",
                "chdir",
                "close"
            ]
        );
        let Call::Mount { flags, .. } = &k.calls[4] else {
            panic!()
        };
        assert_eq!(*flags, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        // The first umount2 must succeed: EINVAL there is an error, not the end of the loop.
        let mut k = Recorder::new().fail("umount2", Some(0), Errno::EINVAL);
        let e = jail(RootSwitch::PivotPrivateLoop, &mut k).0.unwrap_err();
        assert_eq!((e.syscall, e.errno), (Syscall::Umount2, Errno::EINVAL));
    }

    #[test]
    fn putold_makes_and_removes_the_put_old_dir() {
        let mut k = Recorder::new();
        jail(RootSwitch::PivotPutold, &mut k).0.unwrap();
        assert_eq!(
            k.names(),
            [
                "fchdir",
                "mkdirat",
                "pivot_root",
                "chdir",
                "umount2",
                "rmdir"
            ]
        );
        assert_eq!(k.calls[2], Call::PivotRoot(c".".into(), PUT_OLD.into()));
        assert_eq!(
            k.calls[4],
            Call::Umount2(PUT_OLD_ABS.into(), MntFlags::MNT_DETACH)
        );
        assert_eq!(k.calls[5], Call::Rmdir(PUT_OLD_ABS.into()));
    }

    #[test]
    fn move_chroot_hides_host_proc_and_sys_then_moves() {
        let mut k = Recorder::new();
        let (r, p) = jail(RootSwitch::MoveChroot, &mut k);
        r.unwrap();
        let n = p.plan.hide.len();
        let names = k.names();
        assert_eq!(&names[2 * n..], ["fchdir", "mount", "chroot", "chdir"]);
        for i in 0..n {
            assert_eq!(&names[2 * i..2 * i + 2], ["mount", "umount2"]);
        }
        let Call::Mount {
            source,
            flags,
            target,
            ..
        } = &k.calls[2 * n + 1]
        else {
            panic!()
        };
        assert_eq!(
            (source.as_deref(), target.as_str(), *flags),
            (Some(c"."), "/", MsFlags::MS_MOVE)
        );
        // A locked mount that cannot be unmounted is covered by a tmpfs instead.
        if n > 0 {
            let mut k = Recorder::new().fail("umount2", Some(0), Errno::EPERM);
            jail(RootSwitch::MoveChroot, &mut k).0.unwrap();
            let Call::Mount { fstype, .. } = &k.calls[2] else {
                panic!()
            };
            assert_eq!(fstype.as_deref(), Some(c"tmpfs"));
        }
    }

    #[test]
    fn chroot_is_three_calls() {
        let mut k = Recorder::new();
        jail(RootSwitch::Chroot, &mut k).0.unwrap();
        assert_eq!(
            k.calls,
            [
                Call::Fchdir(Fd(7)),
                Call::Chroot(c".".into()),
                Call::Chdir(c"/".into())
            ]
        );
    }

    #[test]
    fn failures_name_the_syscall_and_path() {
        let mut k = Recorder::new().fail("pivot_root", None, Errno::EINVAL);
        let (r, p) = jail(RootSwitch::Pivot, &mut k);
        let e = r.unwrap_err();
        assert_eq!((e.syscall, e.errno), (Syscall::PivotRoot, Errno::EINVAL));
        assert!(
            p.plan.label(e.path).ends_with("rootfs"),
            "{}",
            p.plan.label(e.path)
        );
        assert_eq!(
            k.names().last(),
            Some(&"pivot_root"),
            "nothing after the failure"
        );
    }
}
