//! The only module with `unsafe`: the real [`Kernel`], process creation, the shared mapping
//! and exec. Each wrapper is a thin call of the C function named in its doc line.
//!
//! Everything reachable from the setup child is allocation-free: paths arrive as `&CStr`
//! (precomputed in the plan), fd paths are formatted into stack buffers.

use crate::kernel::{Fd, Kernel, Resolve, Target};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr;

/// Formats `/proc/self/fd/<fd>` NUL-terminated into `buf`.
pub fn fd_path(fd: Fd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let n = write_decimal(fd.0.max(0) as u64, &mut buf[PREFIX.len()..31]);
    buf[PREFIX.len() + n] = 0;
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"/proc/self/fd")
}

/// Writes `v` in decimal at the start of `out`; returns the number of digits written.
pub fn write_decimal(mut v: u64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    let n = digits.len().min(out.len());
    out[..n].copy_from_slice(&digits[..n]);
    n
}

fn ret(r: libc::c_int) -> Result<(), Errno> {
    Errno::result(r).map(drop)
}

fn ret_fd(r: libc::c_long) -> Result<Fd, Errno> {
    Errno::result(r).map(|fd| Fd(fd as i32))
}

fn opt_ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

/// The real kernel: each method is one syscall.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealKernel;

const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_SET_FD: libc::c_uint = 5;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

impl Kernel for RealKernel {
    /// `unshare(flags)`
    #[inline]
    fn unshare(&mut self, flags: CloneFlags) -> Result<(), Errno> {
        // SAFETY: unshare takes no pointers; the child calling it is single-threaded, which
        // CLONE_NEWPID/NEWNS-with-threads rules require.
        ret(unsafe { libc::unshare(flags.bits()) })
    }

    /// `mount(source, target, fstype, flags, data)`, the target possibly `/proc/self/fd/N`.
    #[inline]
    fn mount(
        &mut self,
        source: Option<&CStr>,
        target: Target<'_>,
        fstype: Option<&CStr>,
        flags: MsFlags,
        data: Option<&CStr>,
    ) -> Result<(), Errno> {
        let mut buf = [0u8; 32];
        let t = match target {
            Target::Path(p) => p,
            Target::Fd(fd) => fd_path(fd, &mut buf),
        };
        // SAFETY: every pointer is NULL or comes from a `&CStr` that outlives the call.
        ret(unsafe {
            libc::mount(
                opt_ptr(source),
                t.as_ptr(),
                opt_ptr(fstype),
                flags.bits(),
                opt_ptr(data).cast(),
            )
        })
    }

    /// `umount2(target, flags)`
    #[inline]
    fn umount2(&mut self, target: &CStr, flags: MntFlags) -> Result<(), Errno> {
        // SAFETY: `target` is a NUL-terminated string borrowed for the call.
        ret(unsafe { libc::umount2(target.as_ptr(), flags.bits()) })
    }

    /// `openat2(dir, path, {flags | O_CLOEXEC, resolve}, sizeof)`
    #[inline]
    fn open_in(
        &mut self,
        dir: Fd,
        path: &CStr,
        flags: OFlag,
        resolve: Resolve,
    ) -> Result<Fd, Errno> {
        let resolve = match resolve {
            Resolve::InRoot => libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
            Resolve::InRootNoSymlinks => libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS,
        };
        // SAFETY: open_how is plain old data; all-zero is its documented default.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | OFlag::O_CLOEXEC).bits() as u64;
        how.resolve = resolve;
        // SAFETY: `path` is NUL-terminated and `how` is a live, initialised open_how whose
        // size is passed alongside; openat2 only reads them.
        ret_fd(unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.0,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        })
    }

    /// `openat(dir, path, flags | O_CLOEXEC, mode)`
    #[inline]
    fn openat(&mut self, dir: Fd, path: &CStr, flags: OFlag, mode: u32) -> Result<Fd, Errno> {
        // SAFETY: `path` is NUL-terminated and borrowed for the call.
        let fd = unsafe {
            libc::openat(
                dir.0,
                path.as_ptr(),
                (flags | OFlag::O_CLOEXEC).bits(),
                mode,
            )
        };
        ret_fd(fd as libc::c_long)
    }

    /// `mkdirat(dir, path, mode)`
    #[inline]
    fn mkdirat(&mut self, dir: Fd, path: &CStr, mode: u32) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and borrowed for the call.
        ret(unsafe { libc::mkdirat(dir.0, path.as_ptr(), mode) })
    }

    /// `symlinkat(target, dir, name)`
    #[inline]
    fn symlinkat(&mut self, target: &CStr, dir: Fd, name: &CStr) -> Result<(), Errno> {
        // SAFETY: both strings are NUL-terminated and borrowed for the call.
        ret(unsafe { libc::symlinkat(target.as_ptr(), dir.0, name.as_ptr()) })
    }

    /// `rmdir(path)`
    #[inline]
    fn rmdir(&mut self, path: &CStr) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and borrowed for the call.
        ret(unsafe { libc::rmdir(path.as_ptr()) })
    }

    /// `fchdir(fd)`
    #[inline]
    fn fchdir(&mut self, fd: Fd) -> Result<(), Errno> {
        // SAFETY: takes no pointers; a bad fd is reported as EBADF.
        ret(unsafe { libc::fchdir(fd.0) })
    }

    /// `chdir(path)`
    #[inline]
    fn chdir(&mut self, path: &CStr) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and borrowed for the call.
        ret(unsafe { libc::chdir(path.as_ptr()) })
    }

    /// `chroot(path)`
    #[inline]
    fn chroot(&mut self, path: &CStr) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and borrowed for the call.
        ret(unsafe { libc::chroot(path.as_ptr()) })
    }

    /// `pivot_root(new_root, put_old)`
    #[inline]
    fn pivot_root(&mut self, new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
        // SAFETY: both strings are NUL-terminated and borrowed for the call.
        let r = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
        Errno::result(r).map(drop)
    }

    /// `sethostname(name, len)`
    #[inline]
    fn sethostname(&mut self, name: &[u8]) -> Result<(), Errno> {
        // SAFETY: the kernel reads exactly `name.len()` bytes from `name`.
        ret(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
    }

    /// `close(fd)`
    #[inline]
    fn close(&mut self, fd: Fd) -> Result<(), Errno> {
        // SAFETY: the steps close each fd they opened at most once and never use it after.
        ret(unsafe { libc::close(fd.0) })
    }

    /// `fsopen(fstype, FSOPEN_CLOEXEC)`
    #[inline]
    fn fsopen(&mut self, fstype: &CStr) -> Result<Fd, Errno> {
        // SAFETY: `fstype` is NUL-terminated and borrowed for the call.
        ret_fd(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })
    }

    /// `fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0)`
    #[inline]
    fn fsconfig_string(&mut self, fd: Fd, key: &CStr, value: &CStr) -> Result<(), Errno> {
        // SAFETY: key and value are NUL-terminated and borrowed for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fd.0,
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        };
        Errno::result(r).map(drop)
    }

    /// `fsconfig(fd, FSCONFIG_SET_FLAG, key, NULL, 0)`
    #[inline]
    fn fsconfig_flag(&mut self, fd: Fd, key: &CStr) -> Result<(), Errno> {
        // SAFETY: key is NUL-terminated and borrowed for the call; value is NULL as required.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fd.0,
                FSCONFIG_SET_FLAG,
                key.as_ptr(),
                ptr::null::<u8>(),
                0,
            )
        };
        Errno::result(r).map(drop)
    }

    /// `fsconfig(fd, FSCONFIG_SET_FD, key, NULL, value)`
    #[inline]
    fn fsconfig_fd(&mut self, fd: Fd, key: &CStr, value: Fd) -> Result<(), Errno> {
        // SAFETY: key is NUL-terminated and borrowed for the call; value is NULL as required.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fd.0,
                FSCONFIG_SET_FD,
                key.as_ptr(),
                ptr::null::<u8>(),
                value.0,
            )
        };
        Errno::result(r).map(drop)
    }

    /// `fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`
    #[inline]
    fn fsconfig_create(&mut self, fd: Fd) -> Result<(), Errno> {
        // SAFETY: no pointers are passed (NULL key and value, as the command requires).
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fd.0,
                FSCONFIG_CMD_CREATE,
                ptr::null::<u8>(),
                ptr::null::<u8>(),
                0,
            )
        };
        Errno::result(r).map(drop)
    }

    /// `fsmount(fd, FSMOUNT_CLOEXEC, 0)`
    #[inline]
    fn fsmount(&mut self, fd: Fd) -> Result<Fd, Errno> {
        // SAFETY: takes no pointers.
        ret_fd(unsafe { libc::syscall(libc::SYS_fsmount, fd.0, FSMOUNT_CLOEXEC, 0) })
    }

    /// `move_mount(from, "", AT_FDCWD, to, MOVE_MOUNT_F_EMPTY_PATH)`
    #[inline]
    fn move_mount(&mut self, from: Fd, to: &CStr) -> Result<(), Errno> {
        // SAFETY: "" and `to` are NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                from.0,
                c"".as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        Errno::result(r).map(drop)
    }

    /// `read(fd, buf, len)`
    #[inline]
    fn read(&mut self, fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we own mutably.
        let r = unsafe { libc::read(fd.0, buf.as_mut_ptr().cast(), buf.len()) };
        Errno::result(r).map(|n| n as usize)
    }

    /// `fstat(a)`, `fstat(b)`: same `st_dev` and `st_ino`.
    #[inline]
    fn same_file(&mut self, a: Fd, b: Fd) -> Result<bool, Errno> {
        let id = |fd: Fd| -> Result<(u64, u64), Errno> {
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: fstat writes a full `struct stat` into `st` on success.
            Errno::result(unsafe { libc::fstat(fd.0, st.as_mut_ptr()) })?;
            // SAFETY: initialised by the successful fstat above.
            let st = unsafe { st.assume_init() };
            Ok((st.st_dev, st.st_ino))
        };
        Ok(id(a)? == id(b)?)
    }
}

/// `fork()`; the child runs `child`, which never returns.
///
/// Crate-private because of what the child may do: in a multi-threaded parent (a test
/// harness) the child may only call async-signal-safe functions until it execs or exits, so
/// `child` must not allocate, lock or log. The callers are the setup child's entry points,
/// which are written to that rule.
pub(crate) fn fork_into(child: impl FnOnce() -> std::convert::Infallible) -> Result<Pid, Errno> {
    // SAFETY: the child side runs only `child` (allocation- and lock-free by the contract
    // above) and never returns from it; `guard_child` _exits on unwind.
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        0 => guard_child(child),
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// `fork()` of a helper process (the forker) that runs `child` and never returns.
///
/// Unlike the setup child, the helper may allocate (glibc's malloc is fork-safe); it must
/// not take locks another thread of the parent may hold (stdio, the environment) and it
/// must end in `_exit`.
pub(crate) fn fork_process(child: impl FnOnce() -> std::convert::Infallible) -> Result<Pid, Errno> {
    // SAFETY: the child runs only `child` under the contract above and never returns into the
    // parent's code (`guard_child` _exits on unwind).
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        0 => guard_child(child),
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// `clone(flags | SIGCHLD, NULL, ...)`: a fork-like clone (no new stack, no CLONE_VM) that can
/// carry namespace flags or `CLONE_PARENT`; the child runs `child`, which never returns.
///
/// As [`fork_into`]; in addition glibc's cached thread id is stale in the child, so `child`
/// must not use pthread functions, `raise` or `abort`: it makes raw syscalls and `_exit`s.
pub(crate) fn clone_into(
    flags: CloneFlags,
    child: impl FnOnce() -> std::convert::Infallible,
) -> Result<Pid, Errno> {
    let flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: without CLONE_VM and with a NULL stack the child gets a copy-on-write copy of
    // this stack, exactly like fork; the pointer arguments are NULL (unused for these flags).
    // The child side only runs `child` under the contract above.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            ptr::null_mut::<libc::c_void>(),
            ptr::null_mut::<libc::c_int>(),
            ptr::null_mut::<libc::c_int>(),
            0usize,
        )
    };
    match Errno::result(r)? {
        0 => guard_child(child),
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// Runs a child body and `_exit`s if it unwinds, so a panic never returns into the parent's
/// code in the child.
fn guard_child(child: impl FnOnce() -> std::convert::Infallible) -> ! {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)) {
        Ok(never) => match never {},
        Err(_) => exit_now(crate::runner::child::EXIT_PANIC),
    }
}

/// `_exit(code)`: ends the process without running atexit handlers or unwinding.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of ours.
    unsafe { libc::_exit(code) }
}

/// `pause()` forever: a child parked at its kill point.
pub fn park() -> ! {
    loop {
        // SAFETY: pause takes no arguments; it returns only when a handled signal arrives.
        unsafe { libc::pause() };
    }
}

/// `wait4(pid, &status, 0, &rusage)`: the wait status and the child's total CPU time in ns
/// (user + system; the kernel reports it in microseconds).
pub fn wait4(pid: Pid) -> Result<(nix::sys::wait::WaitStatus, u64), Errno> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `ru` are live locals the kernel writes into.
        let r = unsafe { libc::wait4(pid.as_raw(), &mut status, libc::__WALL, &mut ru) };
        match Errno::result(r) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    let ws = nix::sys::wait::WaitStatus::from_raw(pid, status)?;
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    Ok((ws, tv(ru.ru_utime) + tv(ru.ru_stime)))
}

/// `dup2(old, new)`: the copy does not have `O_CLOEXEC`, so it survives exec.
pub fn dup2(old: Fd, new: i32) -> Result<(), Errno> {
    // SAFETY: takes no pointers; the child owns every fd number it targets.
    ret(unsafe { libc::dup2(old.0, new) })
}

/// `execve(path, [path, NULL], [NULL])`. Returns only on failure.
pub fn execve(path: &CStr) -> Errno {
    let argv: [*const libc::c_char; 2] = [path.as_ptr(), ptr::null()];
    let envp: [*const libc::c_char; 1] = [ptr::null()];
    // SAFETY: argv and envp are NULL-terminated arrays on this stack frame pointing at a
    // NUL-terminated string that outlives the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// A `MAP_SHARED` mapping of one `T` backed by a memfd, zero-filled, visible to forked
/// children and (through the fd) to exec'd ones.
pub struct SharedMem<T: ZeroValid> {
    ptr: ptr::NonNull<T>,
    fd: OwnedFd,
}

/// Types for which the all-zero bit pattern is a valid value and which are safe to share
/// between processes (only atomics and plain integers inside).
///
/// # Safety
/// Implementors must satisfy both properties.
pub unsafe trait ZeroValid: Sync {}

// SAFETY: `Shared` holds only atomic integers (zero is valid for each) and has no pointers.
unsafe impl ZeroValid for crate::record::Shared {}

impl<T: ZeroValid> SharedMem<T> {
    /// Creates the memfd, sizes it and maps it.
    pub fn new(name: &CStr) -> Result<Self, Errno> {
        use nix::sys::memfd::{MFdFlags, memfd_create};
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC)?;
        let len = std::mem::size_of::<T>();
        nix::unistd::ftruncate(&fd, len as libc::off_t)?;
        // SAFETY: a fresh shared mapping of `len` bytes of our own memfd; the kernel picks the
        // address. It is page-aligned, so aligned for T.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let ptr = ptr::NonNull::new(p.cast::<T>()).ok_or(Errno::ENOMEM)?;
        Ok(SharedMem { ptr, fd })
    }

    /// The memfd behind the mapping.
    pub fn fd(&self) -> Fd {
        Fd(self.fd.as_raw_fd())
    }
}

impl<T: ZeroValid> std::ops::Deref for SharedMem<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the mapping is live for &self's lifetime, aligned, initialised (zero-filled
        // memfd, valid for T per ZeroValid) and only ever accessed through shared references.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ZeroValid> Drop for SharedMem<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`; no reference outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), std::mem::size_of::<T>()) };
    }
}

// SAFETY: the mapping is only accessed through &T and T: Sync.
unsafe impl<T: ZeroValid> Send for SharedMem<T> {}
// SAFETY: as above.
unsafe impl<T: ZeroValid> Sync for SharedMem<T> {}

/// A heap `T` with every byte zero (a record for tests and in-process use).
pub fn zeroed_box<T: ZeroValid>() -> Box<T> {
    // SAFETY: ZeroValid guarantees the all-zero bit pattern is a valid T.
    unsafe { Box::<T>::new_zeroed().assume_init() }
}

/// `sysconf(_SC_PAGESIZE)`.
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |v| v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_format_without_allocating() {
        let mut b = [0u8; 32];
        assert_eq!(fd_path(Fd(7), &mut b), c"/proc/self/fd/7");
        assert_eq!(fd_path(Fd(1234567), &mut b), c"/proc/self/fd/1234567");
        assert_eq!(fd_path(Fd(i32::MAX), &mut b).to_bytes().len(), 14 + 10);
    }

    #[test]
    fn shared_mem_is_zeroed_and_shared_with_fork() {
        let m: SharedMem<crate::record::Shared> = SharedMem::new(c"spinup-test").unwrap();
        assert_eq!(m.last_done(), None);
        m.pid1.store(42, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(m.pid1.load(std::sync::atomic::Ordering::Relaxed), 42);
    }
}
