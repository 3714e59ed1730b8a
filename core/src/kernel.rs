//! The syscall seam of the setup steps.
//!
//! Every step is generic over [`Kernel`]: the real implementation ([`crate::sys::RealKernel`], a
//! zero-sized type, monomorphised, so the timed path pays nothing for the seam) and a
//! [`Recorder`] that logs every call in order, so the exact syscall sequence of each variant is
//! a plain unit test.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::ffi::CStr;

/// A file descriptor number owned by the setup child. The child exits right after setup, so
/// fds are plain numbers here and are closed explicitly where it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fd(pub i32);

/// The current working directory as a dirfd (`AT_FDCWD`).
pub const CWD: Fd = Fd(nix::libc::AT_FDCWD);

/// Where a mount goes: a path, or an fd reached through `/proc/self/fd/N` (so the target is
/// exactly the object that was resolved and checked, never a path resolved again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Path(&'a CStr),
    Fd(Fd),
}

/// `openat2(2)` resolve flags used by the steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: symlinks are followed, clamped to the root.
    InRoot,
    /// `RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS`: no symlink anywhere (proc, sysfs, /dev).
    InRootNoSymlinks,
}

/// The syscalls the setup steps make.
pub trait Kernel {
    fn unshare(&mut self, flags: CloneFlags) -> Result<(), Errno>;
    fn mount(
        &mut self,
        source: Option<&CStr>,
        target: Target<'_>,
        fstype: Option<&CStr>,
        flags: MsFlags,
        data: Option<&CStr>,
    ) -> Result<(), Errno>;
    fn umount2(&mut self, target: &CStr, flags: MntFlags) -> Result<(), Errno>;
    /// `openat2(dir, path, {flags, resolve})`.
    fn open_in(
        &mut self,
        dir: Fd,
        path: &CStr,
        flags: OFlag,
        resolve: Resolve,
    ) -> Result<Fd, Errno>;
    /// `openat(dir, path, flags, mode)`.
    fn openat(&mut self, dir: Fd, path: &CStr, flags: OFlag, mode: u32) -> Result<Fd, Errno>;
    fn mkdirat(&mut self, dir: Fd, path: &CStr, mode: u32) -> Result<(), Errno>;
    fn symlinkat(&mut self, target: &CStr, dir: Fd, name: &CStr) -> Result<(), Errno>;
    fn rmdir(&mut self, path: &CStr) -> Result<(), Errno>;
    fn fchdir(&mut self, fd: Fd) -> Result<(), Errno>;
    fn chdir(&mut self, path: &CStr) -> Result<(), Errno>;
    fn chroot(&mut self, path: &CStr) -> Result<(), Errno>;
    fn pivot_root(&mut self, new_root: &CStr, put_old: &CStr) -> Result<(), Errno>;
    fn sethostname(&mut self, name: &[u8]) -> Result<(), Errno>;
    fn close(&mut self, fd: Fd) -> Result<(), Errno>;
    /// `fsopen(fstype, FSOPEN_CLOEXEC)`.
    fn fsopen(&mut self, fstype: &CStr) -> Result<Fd, Errno>;
    /// `fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0)`.
    fn fsconfig_string(&mut self, fd: Fd, key: &CStr, value: &CStr) -> Result<(), Errno>;
    /// `fsconfig(fd, FSCONFIG_SET_FLAG, key, NULL, 0)`.
    fn fsconfig_flag(&mut self, fd: Fd, key: &CStr) -> Result<(), Errno>;
    /// `fsconfig(fd, FSCONFIG_SET_FD, key, NULL, value_fd)`.
    fn fsconfig_fd(&mut self, fd: Fd, key: &CStr, value: Fd) -> Result<(), Errno>;
    /// `fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`.
    fn fsconfig_create(&mut self, fd: Fd) -> Result<(), Errno>;
    /// `fsmount(fd, FSMOUNT_CLOEXEC, 0)`.
    fn fsmount(&mut self, fd: Fd) -> Result<Fd, Errno>;
    /// `move_mount(from, "", AT_FDCWD, to, MOVE_MOUNT_F_EMPTY_PATH)`.
    fn move_mount(&mut self, from: Fd, to: &CStr) -> Result<(), Errno>;
    /// Reads the fs_context messages of an `fsopen` fd into `buf` (after a failed fsconfig).
    fn read(&mut self, fd: Fd, buf: &mut [u8]) -> Result<usize, Errno>;
    /// `fstat` of both: whether they are the same inode on the same device.
    fn same_file(&mut self, a: Fd, b: Fd) -> Result<bool, Errno>;
}

#[cfg(any(test, feature = "record"))]
pub use recorder::{Call, Recorder};

#[cfg(any(test, feature = "record"))]
mod recorder {
    use super::*;
    use std::ffi::CString;

    /// One recorded syscall with its arguments.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Call {
        Unshare(CloneFlags),
        Mount {
            source: Option<CString>,
            target: String,
            fstype: Option<CString>,
            flags: MsFlags,
            data: Option<CString>,
        },
        Umount2(CString, MntFlags),
        OpenIn(Fd, CString, OFlag, Resolve),
        Openat(Fd, CString, OFlag),
        Mkdirat(Fd, CString),
        Symlinkat(CString, Fd, CString),
        Rmdir(CString),
        Fchdir(Fd),
        Chdir(CString),
        Chroot(CString),
        PivotRoot(CString, CString),
        Sethostname(Vec<u8>),
        Close(Fd),
        Fsopen(CString),
        FsconfigString(Fd, CString, CString),
        FsconfigFlag(Fd, CString),
        FsconfigFd(Fd, CString, Fd),
        FsconfigCreate(Fd),
        Fsmount(Fd),
        MoveMount(Fd, CString),
        Read(Fd),
        SameFile(Fd, Fd),
    }

    impl Call {
        /// A short name for sequence assertions: "mount", "pivot_root", ...
        pub fn name(&self) -> &'static str {
            match self {
                Call::Unshare(_) => "unshare",
                Call::Mount { .. } => "mount",
                Call::Umount2(..) => "umount2",
                Call::OpenIn(..) => "openat2",
                Call::Openat(..) => "openat",
                Call::Mkdirat(..) => "mkdirat",
                Call::Symlinkat(..) => "symlinkat",
                Call::Rmdir(_) => "rmdir",
                Call::Fchdir(_) => "fchdir",
                Call::Chdir(_) => "chdir",
                Call::Chroot(_) => "chroot",
                Call::PivotRoot(..) => "pivot_root",
                Call::Sethostname(_) => "sethostname",
                Call::Close(_) => "close",
                Call::Fsopen(_) => "fsopen",
                Call::FsconfigString(..) | Call::FsconfigFlag(..) | Call::FsconfigFd(..) => {
                    "fsconfig"
                }
                Call::FsconfigCreate(_) => "fsconfig_create",
                Call::Fsmount(_) => "fsmount",
                Call::MoveMount(..) => "move_mount",
                Call::Read(_) => "read",
                Call::SameFile(..) => "fstat",
            }
        }
    }

    /// Records every call in order; can fail chosen calls.
    #[derive(Debug, Default)]
    pub struct Recorder {
        pub calls: Vec<Call>,
        next_fd: i32,
        /// Fail every call whose rule matches: (call name, nth occurrence or any, errno).
        rules: Vec<(&'static str, Option<usize>, Errno)>,
    }

    impl Recorder {
        pub fn new() -> Self {
            Recorder {
                calls: Vec::new(),
                next_fd: 100,
                rules: Vec::new(),
            }
        }

        /// Makes the `nth` (0-based) call named `name` fail with `errno`; `None` fails all.
        pub fn fail(mut self, name: &'static str, nth: Option<usize>, errno: Errno) -> Self {
            self.rules.push((name, nth, errno));
            self
        }

        /// The names of the recorded calls, in order.
        pub fn names(&self) -> Vec<&'static str> {
            self.calls.iter().map(Call::name).collect()
        }

        fn push(&mut self, c: Call) -> Result<(), Errno> {
            let name = c.name();
            let nth = self.calls.iter().filter(|x| x.name() == name).count();
            self.calls.push(c);
            for &(n, which, e) in &self.rules {
                if n == name && which.is_none_or(|w| w == nth) {
                    return Err(e);
                }
            }
            Ok(())
        }

        fn fd(&mut self) -> Fd {
            self.next_fd += 1;
            Fd(self.next_fd)
        }
    }

    fn own(s: &CStr) -> CString {
        s.to_owned()
    }

    impl Kernel for Recorder {
        fn unshare(&mut self, flags: CloneFlags) -> Result<(), Errno> {
            self.push(Call::Unshare(flags))
        }
        fn mount(
            &mut self,
            source: Option<&CStr>,
            target: Target<'_>,
            fstype: Option<&CStr>,
            flags: MsFlags,
            data: Option<&CStr>,
        ) -> Result<(), Errno> {
            let target = match target {
                Target::Path(p) => p.to_string_lossy().into_owned(),
                Target::Fd(fd) => format!("/proc/self/fd/{}", fd.0),
            };
            self.push(Call::Mount {
                source: source.map(own),
                target,
                fstype: fstype.map(own),
                flags,
                data: data.map(own),
            })
        }
        fn umount2(&mut self, target: &CStr, flags: MntFlags) -> Result<(), Errno> {
            self.push(Call::Umount2(own(target), flags))
        }
        fn open_in(
            &mut self,
            dir: Fd,
            path: &CStr,
            flags: OFlag,
            resolve: Resolve,
        ) -> Result<Fd, Errno> {
            self.push(Call::OpenIn(dir, own(path), flags, resolve))?;
            Ok(self.fd())
        }
        fn openat(&mut self, dir: Fd, path: &CStr, flags: OFlag, _mode: u32) -> Result<Fd, Errno> {
            self.push(Call::Openat(dir, own(path), flags))?;
            Ok(self.fd())
        }
        fn mkdirat(&mut self, dir: Fd, path: &CStr, _mode: u32) -> Result<(), Errno> {
            self.push(Call::Mkdirat(dir, own(path)))
        }
        fn symlinkat(&mut self, target: &CStr, dir: Fd, name: &CStr) -> Result<(), Errno> {
            self.push(Call::Symlinkat(own(target), dir, own(name)))
        }
        fn rmdir(&mut self, path: &CStr) -> Result<(), Errno> {
            self.push(Call::Rmdir(own(path)))
        }
        fn fchdir(&mut self, fd: Fd) -> Result<(), Errno> {
            self.push(Call::Fchdir(fd))
        }
        fn chdir(&mut self, path: &CStr) -> Result<(), Errno> {
            self.push(Call::Chdir(own(path)))
        }
        fn chroot(&mut self, path: &CStr) -> Result<(), Errno> {
            self.push(Call::Chroot(own(path)))
        }
        fn pivot_root(&mut self, new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
            self.push(Call::PivotRoot(own(new_root), own(put_old)))
        }
        fn sethostname(&mut self, name: &[u8]) -> Result<(), Errno> {
            self.push(Call::Sethostname(name.to_vec()))
        }
        fn close(&mut self, fd: Fd) -> Result<(), Errno> {
            self.push(Call::Close(fd))
        }
        fn fsopen(&mut self, fstype: &CStr) -> Result<Fd, Errno> {
            self.push(Call::Fsopen(own(fstype)))?;
            Ok(self.fd())
        }
        fn fsconfig_string(&mut self, fd: Fd, key: &CStr, value: &CStr) -> Result<(), Errno> {
            self.push(Call::FsconfigString(fd, own(key), own(value)))
        }
        fn fsconfig_flag(&mut self, fd: Fd, key: &CStr) -> Result<(), Errno> {
            self.push(Call::FsconfigFlag(fd, own(key)))
        }
        fn fsconfig_fd(&mut self, fd: Fd, key: &CStr, value: Fd) -> Result<(), Errno> {
            self.push(Call::FsconfigFd(fd, own(key), value))
        }
        fn fsconfig_create(&mut self, fd: Fd) -> Result<(), Errno> {
            self.push(Call::FsconfigCreate(fd))
        }
        fn fsmount(&mut self, fd: Fd) -> Result<Fd, Errno> {
            self.push(Call::Fsmount(fd))?;
            Ok(self.fd())
        }
        fn move_mount(&mut self, from: Fd, to: &CStr) -> Result<(), Errno> {
            self.push(Call::MoveMount(from, own(to)))
        }
        fn read(&mut self, fd: Fd, _buf: &mut [u8]) -> Result<usize, Errno> {
            self.push(Call::Read(fd))?;
            Ok(0)
        }
        fn same_file(&mut self, a: Fd, b: Fd) -> Result<bool, Errno> {
            self.push(Call::SameFile(a, b))?;
            Ok(false)
        }
    }
}
