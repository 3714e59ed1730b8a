//! `mounts`: proc (in the new pid namespace), sysfs read-only, a tmpfs `/dev` with the usual
//! device nodes bound from the host and the usual symlinks, devpts, shm.
//!
//! Targets must be real directories: they are resolved with `RESOLVE_NO_SYMLINKS` (runc refuses
//! proc and sysfs on anything but an ordinary directory).

use super::{At, ChildState};
use crate::kernel::{Fd, Kernel, Resolve, Target};
use crate::plan::{DevPlan, KernelMount, Plan};
use crate::record::{Fail, Syscall};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;

pub fn run<K: Kernel>(k: &mut K, plan: &Plan, st: &mut ChildState<'_>) -> Result<(), Fail> {
    if let Some(m) = &plan.proc {
        fs_mount(k, st.root, m)?;
    }
    if let Some(m) = &plan.sys {
        fs_mount(k, st.root, m)?;
    }
    if let Some(d) = &plan.dev {
        dev(k, st.root, d)?;
    }
    Ok(())
}

const DIR: OFlag = OFlag::O_PATH
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW);

/// The target directory `m.rel` under `dir`, created if missing.
fn target<K: Kernel>(k: &mut K, dir: Fd, m: &KernelMount) -> Result<Fd, Fail> {
    match k.open_in(dir, &m.rel, DIR, Resolve::InRootNoSymlinks) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) => {
            k.mkdirat(dir, &m.rel, m.mode)
                .at(Syscall::Mkdirat, m.label)?;
            k.open_in(dir, &m.rel, DIR, Resolve::InRootNoSymlinks)
                .at(Syscall::Openat2, m.label)
        }
        Err(e) => Err(Fail::new(Syscall::Openat2, e, m.label)),
    }
}

fn fs_mount<K: Kernel>(k: &mut K, dir: Fd, m: &KernelMount) -> Result<(), Fail> {
    let fd = target(k, dir, m)?;
    k.mount(
        Some(&m.source),
        Target::Fd(fd),
        Some(&m.fstype),
        m.flags,
        m.data.as_deref(),
    )
    .at(Syscall::Mount, m.label)?;
    k.close(fd).at(Syscall::Close, m.label)
}

fn dev<K: Kernel>(k: &mut K, root: Fd, d: &DevPlan) -> Result<(), Fail> {
    fs_mount(k, root, &d.tmpfs)?;
    // Reopen: the fresh tmpfs root, not the directory it covers.
    let devfd = k
        .open_in(root, &d.tmpfs.rel, DIR, Resolve::InRootNoSymlinks)
        .at(Syscall::Openat2, d.tmpfs.label)?;
    for (name, host, label) in &d.devices {
        let f = k
            .openat(
                devfd,
                name,
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY,
                0o666,
            )
            .at(Syscall::Openat, *label)?;
        k.mount(Some(host), Target::Fd(f), None, MsFlags::MS_BIND, None)
            .at(Syscall::Mount, *label)?;
        k.close(f).at(Syscall::Close, *label)?;
    }
    for (target, name) in &d.symlinks {
        k.symlinkat(target, devfd, name)
            .at(Syscall::Symlinkat, d.tmpfs.label)?;
    }
    if let Some(m) = &d.devpts {
        fs_mount(k, devfd, m)?;
    }
    if let Some(m) = &d.shm {
        fs_mount(k, devfd, m)?;
    }
    k.close(devfd).at(Syscall::Close, d.tmpfs.label)
}
