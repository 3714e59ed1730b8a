//! `overlay`: the overlay of the image layers mounted on the rootfs, with whichever strategy
//! the plan chose, then the rootfs opened `O_PATH` for every later step.

use super::{At, ChildState};
use crate::kernel::{CWD, Fd, Kernel, Target};
use crate::plan::{FsconfigParam, OverlayPlan, Plan};
use crate::record::{Fail, Syscall};
use crate::sys::write_decimal;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use std::ffi::CStr;

pub fn run<K: Kernel>(k: &mut K, plan: &Plan, st: &mut ChildState<'_>) -> Result<(), Fail> {
    let to = To {
        path: &plan.rootfs,
        label: plan.overlay_label,
    };
    mount(k, &plan.overlay, to, st)?;
    st.root = k
        .openat(CWD, &plan.rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)
        .at(Syscall::Openat, plan.rootfs_label)?;
    Ok(())
}

/// Where the overlay goes, and the label naming it in errors.
#[derive(Clone, Copy)]
pub struct To<'a> {
    pub path: &'a CStr,
    pub label: u16,
}

/// Mounts an overlay plan on `to`.
pub fn mount<K: Kernel>(
    k: &mut K,
    ov: &OverlayPlan,
    to: To<'_>,
    st: &mut ChildState<'_>,
) -> Result<(), Fail> {
    match ov {
        OverlayPlan::Mount { chdir, data } => {
            // Relative layer paths resolve against the cwd of the mounting task; the child is
            // single-threaded, so its cwd is that task's own (what containerd gets from a
            // dedicated thread with unshare(CLONE_FS)).
            if let Some(dir) = chdir {
                k.chdir(dir).at(Syscall::Chdir, to.label)?;
            }
            mount_overlay(k, to, data)
        }
        OverlayPlan::FdPaths {
            lowers,
            data_layers,
            prefix,
            suffix,
        } => fd_paths(k, to, st, lowers, data_layers, prefix, suffix),
        OverlayPlan::Fsconfig { params } => fsconfig(k, to, st, params),
    }
}

fn mount_overlay<K: Kernel>(k: &mut K, to: To<'_>, data: &CStr) -> Result<(), Fail> {
    k.mount(
        Some(c"overlay"),
        Target::Path(to.path),
        Some(c"overlay"),
        MsFlags::empty(),
        Some(data),
    )
    .at(Syscall::Mount, to.label)
}

/// Appends `bytes` to `buf` at `*n`; false when it does not fit (one byte kept for the NUL).
fn put(buf: &mut [u8], n: &mut usize, bytes: &[u8]) -> bool {
    if *n + bytes.len() >= buf.len() {
        return false;
    }
    buf[*n..*n + bytes.len()].copy_from_slice(bytes);
    *n += bytes.len();
    true
}

fn put_fd(buf: &mut [u8], n: &mut usize, fd: Fd) -> bool {
    let mut d = [0u8; 20];
    let len = write_decimal(fd.0 as u64, &mut d);
    put(buf, n, &d[..len])
}

/// containers/storage's deep-stack form: every layer opened `O_PATH`, the mount made from
/// `/proc/self/fd` with the fd numbers as relative layer names.
fn fd_paths<K: Kernel>(
    k: &mut K,
    to: To<'_>,
    st: &mut ChildState<'_>,
    lowers: &[(std::ffi::CString, u16)],
    data_layers: &[(std::ffi::CString, u16)],
    prefix: &[u8],
    suffix: &[u8],
) -> Result<(), Fail> {
    let label = to.label;
    let mut opened = 0;
    let r = fd_paths_inner(k, to, st, lowers, data_layers, prefix, suffix, &mut opened);
    // The layer fds must not stay open in the container, nor leak on failure.
    for fd in &st.fds[..opened] {
        let c = k.close(*fd).at(Syscall::Close, label);
        if r.is_ok() {
            c?;
        }
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn fd_paths_inner<K: Kernel>(
    k: &mut K,
    to: To<'_>,
    st: &mut ChildState<'_>,
    lowers: &[(std::ffi::CString, u16)],
    data_layers: &[(std::ffi::CString, u16)],
    prefix: &[u8],
    suffix: &[u8],
    opened: &mut usize,
) -> Result<(), Fail> {
    let label = to.label;
    let too_long = Fail::new(Syscall::FormatData, Errno::E2BIG, label);
    let mut n = 0;
    if !put(st.scratch, &mut n, prefix) {
        return Err(too_long);
    }
    for (i, (path, l)) in lowers.iter().chain(data_layers).enumerate() {
        let slot = st.fds.get_mut(*opened).ok_or(too_long)?;
        let fd = k
            .openat(CWD, path, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)
            .at(Syscall::Openat, *l)?;
        *slot = fd;
        *opened += 1;
        let sep: &[u8] = if i >= lowers.len() {
            b"::"
        } else if i > 0 {
            b":"
        } else {
            b""
        };
        if !put(st.scratch, &mut n, sep) || !put_fd(st.scratch, &mut n, fd) {
            return Err(too_long);
        }
    }
    if !put(st.scratch, &mut n, suffix) {
        return Err(too_long);
    }
    st.scratch[n] = 0;
    let data = CStr::from_bytes_with_nul(&st.scratch[..=n]).map_err(|_| too_long)?;
    k.chdir(c"/proc/self/fd").at(Syscall::Chdir, label)?;
    mount_overlay(k, to, data)
}

/// Stores the kernel's fs_context messages after a failed fsconfig call.
fn keep_messages<K: Kernel>(k: &mut K, fd: Fd, st: &ChildState<'_>) {
    let mut buf = [0u8; 512];
    let mut all = [0u8; 1024];
    let mut n = 0;
    while let Ok(got) = k.read(fd, &mut buf) {
        if got == 0 || n + got + 1 > all.len() {
            break;
        }
        all[n..n + got].copy_from_slice(&buf[..got]);
        n += got;
        all[n] = b'\n';
        n += 1;
    }
    st.rec.set_fs_msg(&all[..n]);
}

fn fsconfig<K: Kernel>(
    k: &mut K,
    to: To<'_>,
    st: &mut ChildState<'_>,
    params: &[FsconfigParam],
) -> Result<(), Fail> {
    let label = to.label;
    let fs = k.fsopen(c"overlay").at(Syscall::Fsopen, label)?;
    let r = fsconfig_inner(k, fs, to, st, params);
    let c = k.close(fs).at(Syscall::Close, label);
    r.and(c)
}

fn fsconfig_inner<K: Kernel>(
    k: &mut K,
    fs: Fd,
    to: To<'_>,
    st: &mut ChildState<'_>,
    params: &[FsconfigParam],
) -> Result<(), Fail> {
    let label = to.label;
    for p in params {
        let r = match p {
            FsconfigParam::Flag(key) => k.fsconfig_flag(fs, key).at(Syscall::Fsconfig, label),
            FsconfigParam::String(key, value, l) => {
                k.fsconfig_string(fs, key, value).at(Syscall::Fsconfig, *l)
            }
            FsconfigParam::Fd(key, path, l) => {
                let dir = k
                    .openat(CWD, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)
                    .at(Syscall::Openat, *l)?;
                let r = k.fsconfig_fd(fs, key, dir).at(Syscall::Fsconfig, *l);
                k.close(dir).at(Syscall::Close, *l)?;
                r
            }
        };
        if let Err(e) = r {
            keep_messages(k, fs, st);
            return Err(e);
        }
    }
    if let Err(e) = k.fsconfig_create(fs) {
        keep_messages(k, fs, st);
        return Err(Fail::new(Syscall::Fsconfig, e, label));
    }
    let mnt = k.fsmount(fs).at(Syscall::Fsmount, label)?;
    let r = k.move_mount(mnt, to.path).at(Syscall::MoveMount, label);
    let c = k.close(mnt).at(Syscall::Close, label);
    r.and(c)
}

/// An overlay mount made outside a setup child that failed.
#[derive(Debug, thiserror::Error)]
#[error("overlay {strategy}: {syscall} on {path} failed: {errno}{}", .kernel_msg.as_ref().map(|m| format!(" (kernel: {m})")).unwrap_or_default())]
pub struct MountError {
    pub strategy: &'static str,
    pub syscall: Syscall,
    pub errno: Errno,
    pub path: String,
    pub kernel_msg: Option<String>,
}

/// Mounts `recipe` on `target` with the real kernel, in the calling thread's mount namespace.
/// The mount is made from a dedicated thread that did `unshare(CLONE_FS)` (containerd's
/// approach), so the strategies that `chdir` never move the caller's cwd. Fds it opens are
/// closed again.
pub fn mount_recipe(
    recipe: &crate::overlay::Recipe,
    target: &std::path::Path,
) -> Result<(), MountError> {
    use std::os::unix::ffi::OsStrExt;
    let strategy = recipe.strategy().name();
    let mut labels = vec![target.display().to_string()];
    let err = |syscall, errno, path: String| MountError {
        strategy,
        syscall,
        errno,
        path,
        kernel_msg: None,
    };
    let (ov, scratch_len) =
        OverlayPlan::from_recipe(recipe.clone(), crate::sys::page_size(), &mut labels)
            .map_err(|e| err(Syscall::FormatData, Errno::EINVAL, e.to_string()))?;
    let t = std::ffi::CString::new(target.as_os_str().as_bytes())
        .map_err(|_| err(Syscall::Mount, Errno::EINVAL, target.display().to_string()))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // A thread inherits its creator's namespaces; its cwd becomes its own here.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)
                .map_err(|e| err(Syscall::Unshare, e, String::new()))?;
            let rec: Box<crate::record::Shared> = crate::sys::zeroed_box();
            let mut scratch = vec![0u8; scratch_len.max(1)];
            let mut fds = vec![Fd(-1); crate::spec::MAX_LAYERS + 1];
            let mut st = ChildState {
                root: Fd(-1),
                scratch: &mut scratch,
                fds: &mut fds,
                rec: &rec,
            };
            mount(
                &mut crate::sys::RealKernel,
                &ov,
                To { path: &t, label: 0 },
                &mut st,
            )
            .map_err(|f| MountError {
                strategy,
                syscall: f.syscall,
                errno: f.errno,
                path: labels.get(usize::from(f.path)).cloned().unwrap_or_default(),
                kernel_msg: rec.fs_msg(),
            })
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// What this kernel supports for overlay mounts, probed once. The probe opens an overlay
/// fs_context and configures it, but never creates or attaches a mount.
pub fn features() -> crate::overlay::KernelFeatures {
    static F: std::sync::OnceLock<crate::overlay::KernelFeatures> = std::sync::OnceLock::new();
    *F.get_or_init(probe)
}

fn probe() -> crate::overlay::KernelFeatures {
    use crate::overlay::parse::Lsm;
    use crate::sys::RealKernel;
    let mut k = RealKernel;
    let (mut lowerdir_plus, mut fsconfig_fd) = (false, false);
    if let Ok(fs) = k.fsopen(c"overlay") {
        lowerdir_plus = k.fsconfig_string(fs, c"lowerdir+", c"/").is_ok();
        if lowerdir_plus && let Ok(d) = k.openat(CWD, c"/", OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)
        {
            fsconfig_fd = k.fsconfig_fd(fs, c"lowerdir+", d).is_ok();
            let _ = k.close(d);
        }
        let _ = k.close(fs);
    }
    let lsm_eats_options = ["/sys/fs/selinux/enforce", "/sys/fs/smackfs/load"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    crate::overlay::KernelFeatures {
        page_size: crate::sys::page_size(),
        lowerdir_plus,
        fsconfig_fd,
        lsm: if lsm_eats_options {
            Lsm::Selinux
        } else {
            Lsm::None
        },
    }
}
