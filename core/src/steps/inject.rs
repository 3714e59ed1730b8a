//! `inject`: bind mounts of `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and the user's
//! `SRC:DST[:ro]` into the rootfs.
//!
//! Destinations are resolved with `openat2(RESOLVE_IN_ROOT)` against the rootfs fd, so a
//! symlink in the image (`/etc/hosts -> /host/path`) resolves inside the rootfs, never on the
//! host; missing ones are created inside the rootfs with `O_CREAT|O_EXCL|O_NOFOLLOW`; the mount
//! targets the resolved fd through `/proc/self/fd/N`, never a path resolved again.

use super::{At, ChildState};
use crate::kernel::{Fd, Kernel, Resolve, Target};
use crate::plan::{InjectPlan, Plan};
use crate::record::{Fail, Syscall};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;

pub fn run<K: Kernel>(k: &mut K, plan: &Plan, st: &mut ChildState<'_>) -> Result<(), Fail> {
    for i in &plan.injects {
        bind(k, st.root, i)?;
    }
    Ok(())
}

fn bind<K: Kernel>(k: &mut K, root: Fd, i: &InjectPlan) -> Result<(), Fail> {
    let kind = if i.dir {
        OFlag::O_DIRECTORY
    } else {
        OFlag::empty()
    };
    let fd = match k.open_in(root, &i.rel, OFlag::O_PATH | kind, Resolve::InRoot) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => create(k, root, i)?,
        Err(e) => return Err(Fail::new(Syscall::Openat2, e, i.label)),
    };
    if i.dir && k.same_file(fd, root).at(Syscall::Openat2, i.label)? {
        // A symlink in the image resolved to the rootfs itself: never cover the root.
        return Err(Fail::new(Syscall::Openat2, Errno::EBUSY, i.label));
    }
    k.mount(
        Some(&i.src),
        Target::Fd(fd),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .at(Syscall::Mount, i.label)?;
    k.close(fd).at(Syscall::Close, i.label)?;
    if i.read_only {
        // The old fd names the covered file: reopen to reach the new bind mount.
        let fd = k
            .open_in(root, &i.rel, OFlag::O_PATH | kind, Resolve::InRoot)
            .at(Syscall::Openat2, i.label)?;
        k.mount(
            None,
            Target::Fd(fd),
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None,
        )
        .at(Syscall::Mount, i.label)?;
        k.close(fd).at(Syscall::Close, i.label)?;
    }
    Ok(())
}

/// Creates the missing destination (and its parents) inside the rootfs.
fn create<K: Kernel>(k: &mut K, root: Fd, i: &InjectPlan) -> Result<Fd, Fail> {
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let parent = match k.open_in(root, &i.parent_rel, dir_flags, Resolve::InRoot) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => {
            let mut cur = root;
            for (prefix, name) in &i.parents {
                match k.mkdirat(cur, name, 0o755) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(Fail::new(Syscall::Mkdirat, e, i.label)),
                }
                // Re-resolve from the root: `name` may be an image symlink.
                let next = k
                    .open_in(root, prefix, dir_flags, Resolve::InRoot)
                    .at(Syscall::Openat2, i.label)?;
                if cur != root {
                    k.close(cur).at(Syscall::Close, i.label)?;
                }
                cur = next;
            }
            cur
        }
        Err(e) => return Err(Fail::new(Syscall::Openat2, e, i.label)),
    };
    let fd = if i.dir {
        k.mkdirat(parent, &i.base, 0o755)
            .at(Syscall::Mkdirat, i.label)?;
        k.open_in(root, &i.rel, dir_flags, Resolve::InRoot)
            .at(Syscall::Openat2, i.label)?
    } else {
        // EEXIST here means the name exists but did not resolve: a dangling symlink.
        k.openat(
            parent,
            &i.base,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY,
            0o644,
        )
        .at(Syscall::Openat, i.label)?
    };
    if parent != root {
        k.close(parent).at(Syscall::Close, i.label)?;
    }
    Ok(fd)
}
