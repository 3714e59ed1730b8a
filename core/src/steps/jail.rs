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
                .openat(CWD, c"/", OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_PATH, 0)
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
            k.umount2(c".", MntFlags::MNT_DETACH).at(Syscall::Umount2, l)?;
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
                k.mount(None, Target::Path(path), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
                    .at(Syscall::Mount, *label)?;
                match k.umount2(path, MntFlags::MNT_DETACH) {
                    Ok(()) => {}
                    // Cannot unmount (locked): cover it instead.
                    Err(Errno::EINVAL | Errno::EPERM) => k
                        .mount(Some(c"tmpfs"), Target::Path(path), Some(c"tmpfs"), MsFlags::empty(), None)
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
