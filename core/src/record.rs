//! The shared-memory record a setup child stamps its phases into.
//!
//! It is mapped `MAP_SHARED` before fork, so the child writes timings and errors with plain
//! atomic stores: no allocation, no lock, no pipe write in the timed path. The parent reads it
//! after reaping the child.

use crate::phase::{PHASE_COUNT, Phase};
use nix::errno::Errno;
use nix::time::{ClockId, clock_gettime};
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};

/// Bytes available for files captured inside the container after setup.
pub const CAPTURE_BYTES: usize = 256 * 1024;
/// Bytes kept of the kernel's fs_context message after a failed `fsconfig`.
pub const FS_MSG_BYTES: usize = 1024;

/// A point in time: `CLOCK_MONOTONIC` and the calling thread's CPU time, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub wall: u64,
    pub cpu: u64,
}

fn ns(clock: ClockId) -> u64 {
    // clock_gettime on these two clocks cannot fail for a valid clock id.
    clock_gettime(clock)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

impl Stamp {
    /// Reads both clocks (vDSO for the wall clock, one syscall for the thread CPU clock).
    #[inline(always)]
    pub fn now() -> Stamp {
        Stamp {
            wall: ns(ClockId::CLOCK_MONOTONIC),
            cpu: ns(ClockId::CLOCK_THREAD_CPUTIME_ID),
        }
    }

    /// `CLOCK_MONOTONIC` only.
    #[inline(always)]
    pub fn wall_now() -> u64 {
        ns(ClockId::CLOCK_MONOTONIC)
    }

    /// The calling thread's CPU time only.
    #[inline(always)]
    pub fn cpu_now() -> u64 {
        ns(ClockId::CLOCK_THREAD_CPUTIME_ID)
    }
}

/// A syscall a step can fail in; stored as a byte in the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Syscall {
    Fork = 1,
    Clone,
    Unshare,
    Mount,
    Umount2,
    Openat2,
    Openat,
    Mkdirat,
    Symlinkat,
    Rmdir,
    Fchdir,
    Chdir,
    Chroot,
    PivotRoot,
    Sethostname,
    Execve,
    Dup2,
    Fsopen,
    Fsconfig,
    Fsmount,
    MoveMount,
    Close,
    /// The mount data built from runtime fd numbers did not fit (fd-paths).
    FormatData,
    /// A test-only fail point.
    FailPoint,
}

impl Syscall {
    const ALL: [Syscall; 24] = [
        Syscall::Fork,
        Syscall::Clone,
        Syscall::Unshare,
        Syscall::Mount,
        Syscall::Umount2,
        Syscall::Openat2,
        Syscall::Openat,
        Syscall::Mkdirat,
        Syscall::Symlinkat,
        Syscall::Rmdir,
        Syscall::Fchdir,
        Syscall::Chdir,
        Syscall::Chroot,
        Syscall::PivotRoot,
        Syscall::Sethostname,
        Syscall::Execve,
        Syscall::Dup2,
        Syscall::Fsopen,
        Syscall::Fsconfig,
        Syscall::Fsmount,
        Syscall::MoveMount,
        Syscall::Close,
        Syscall::FormatData,
        Syscall::FailPoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Syscall::Fork => "fork",
            Syscall::Clone => "clone",
            Syscall::Unshare => "unshare",
            Syscall::Mount => "mount",
            Syscall::Umount2 => "umount2",
            Syscall::Openat2 => "openat2",
            Syscall::Openat => "openat",
            Syscall::Mkdirat => "mkdirat",
            Syscall::Symlinkat => "symlinkat",
            Syscall::Rmdir => "rmdir",
            Syscall::Fchdir => "fchdir",
            Syscall::Chdir => "chdir",
            Syscall::Chroot => "chroot",
            Syscall::PivotRoot => "pivot_root",
            Syscall::Sethostname => "sethostname",
            Syscall::Execve => "execve",
            Syscall::Dup2 => "dup2",
            Syscall::Fsopen => "fsopen",
            Syscall::Fsconfig => "fsconfig",
            Syscall::Fsmount => "fsmount",
            Syscall::MoveMount => "move_mount",
            Syscall::Close => "close",
            Syscall::FormatData => "format mount data",
            Syscall::FailPoint => "fail point",
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Syscall> {
        Syscall::ALL.into_iter().find(|s| *s as u8 == v)
    }
}

impl std::fmt::Display for Syscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a child step failed: the syscall, its errno, and the path it was working on (an index
/// into the plan's path labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    pub syscall: Syscall,
    pub errno: Errno,
    pub path: u16,
}

impl Fail {
    pub fn new(syscall: Syscall, errno: Errno, path: u16) -> Fail {
        Fail {
            syscall,
            errno,
            path,
        }
    }
}

/// The record itself. Every field is an atomic, so an all-zero mapping is a valid value.
#[repr(C)]
pub struct Shared {
    /// Per phase: begin wall, end wall, begin cpu, end cpu (ns).
    phases: [[AtomicU64; 4]; PHASE_COUNT],
    /// Bit i set when phase i was stamped.
    done: AtomicU64,
    /// CPU the parent spent in fork()/clone() (it is not on the child's clock).
    pub fork_parent_cpu: AtomicU64,
    /// CPU the intermediate child spent forking PID 1.
    pub pid1_parent_cpu: AtomicU64,
    /// PID (in the parent's namespace) of the PID-1 child, once forked.
    pub pid1: AtomicI32,
    /// Stamp taken just before the last child exits (wall, cpu).
    pub exit: [AtomicU64; 2],
    /// Written by the exec'd binary with pwrite(2) at its offset: (wall, cpu) at its entry.
    pub exec_end: [AtomicU64; 2],
    failed: AtomicU32,
    fail_phase: AtomicU32,
    fail_syscall: AtomicU32,
    fail_errno: AtomicI32,
    fail_path: AtomicU32,
    /// Set by a child that stopped at its kill point.
    pub paused: AtomicU32,
    /// Test-only allocation probe readings at child start and end.
    pub alloc: [AtomicU64; 2],
    fs_msg_len: AtomicU32,
    fs_msg: [AtomicU8; FS_MSG_BYTES],
    capture_len: AtomicU32,
    capture: [AtomicU8; CAPTURE_BYTES],
}

/// Byte offset of [`Shared::exec_end`] in the mapping (patched into the exec'd binary).
pub const EXEC_END_OFFSET: usize = std::mem::offset_of!(Shared, exec_end);

impl Shared {
    /// Clears everything a run writes (not the capture bytes, only their length).
    pub fn reset(&self) {
        for p in &self.phases {
            for v in p {
                v.store(0, Relaxed);
            }
        }
        for a in [
            &self.done,
            &self.fork_parent_cpu,
            &self.pid1_parent_cpu,
            &self.exit[0],
            &self.exit[1],
            &self.exec_end[0],
            &self.exec_end[1],
            &self.alloc[0],
            &self.alloc[1],
        ] {
            a.store(0, Relaxed);
        }
        self.pid1.store(0, Relaxed);
        for a in [
            &self.failed,
            &self.fail_phase,
            &self.fail_syscall,
            &self.fail_path,
            &self.paused,
            &self.fs_msg_len,
            &self.capture_len,
        ] {
            a.store(0, Relaxed);
        }
        self.fail_errno.store(0, Relaxed);
    }

    /// Stores one phase's begin and end stamps.
    #[inline(always)]
    pub fn set_phase(&self, p: Phase, begin: Stamp, end: Stamp) {
        let slot = &self.phases[p.index()];
        slot[0].store(begin.wall, Relaxed);
        slot[1].store(end.wall, Relaxed);
        slot[2].store(begin.cpu, Relaxed);
        slot[3].store(end.cpu, Relaxed);
        self.done.fetch_or(1 << p.index(), Relaxed);
    }

    /// (begin, end) of a stamped phase.
    pub fn phase(&self, p: Phase) -> Option<(Stamp, Stamp)> {
        if self.done.load(Relaxed) & (1 << p.index()) == 0 {
            return None;
        }
        let s = &self.phases[p.index()];
        Some((
            Stamp {
                wall: s[0].load(Relaxed),
                cpu: s[2].load(Relaxed),
            },
            Stamp {
                wall: s[1].load(Relaxed),
                cpu: s[3].load(Relaxed),
            },
        ))
    }

    /// The last phase stamped, if any.
    pub fn last_done(&self) -> Option<Phase> {
        let d = self.done.load(Relaxed);
        Phase::ALL
            .into_iter()
            .rev()
            .find(|p| d & (1 << p.index()) != 0)
    }

    /// Records the first failure of a run (later ones are ignored).
    pub fn set_fail(&self, phase: Phase, f: Fail) {
        if self.failed.swap(1, Relaxed) != 0 {
            return;
        }
        self.fail_phase.store(phase.index() as u32, Relaxed);
        self.fail_syscall.store(f.syscall as u32, Relaxed);
        self.fail_errno.store(f.errno as i32, Relaxed);
        self.fail_path.store(u32::from(f.path), Relaxed);
    }

    /// The failure a child recorded.
    pub fn fail(&self) -> Option<(Phase, Fail)> {
        if self.failed.load(Relaxed) == 0 {
            return None;
        }
        let phase = Phase::from_index(self.fail_phase.load(Relaxed) as usize)?;
        let syscall = Syscall::from_u8(self.fail_syscall.load(Relaxed) as u8)?;
        Some((
            phase,
            Fail {
                syscall,
                errno: Errno::from_raw(self.fail_errno.load(Relaxed)),
                path: self.fail_path.load(Relaxed) as u16,
            },
        ))
    }

    /// Stores the kernel's fs_context message (truncated to [`FS_MSG_BYTES`]).
    pub fn set_fs_msg(&self, msg: &[u8]) {
        let n = msg.len().min(FS_MSG_BYTES);
        for (dst, &b) in self.fs_msg.iter().zip(&msg[..n]) {
            dst.store(b, Relaxed);
        }
        self.fs_msg_len.store(n as u32, Relaxed);
    }

    /// The kernel's fs_context message, if one was stored.
    pub fn fs_msg(&self) -> Option<String> {
        let n = self.fs_msg_len.load(Relaxed) as usize;
        if n == 0 {
            return None;
        }
        let bytes: Vec<u8> = self.fs_msg[..n].iter().map(|b| b.load(Relaxed)).collect();
        Some(String::from_utf8_lossy(&bytes).trim_end().to_string())
    }

    /// Appends bytes to the capture area; returns false when it is full.
    pub fn capture_push(&self, bytes: &[u8]) -> bool {
        let at = self.capture_len.load(Relaxed) as usize;
        if at + bytes.len() > CAPTURE_BYTES {
            return false;
        }
        for (dst, &b) in self.capture[at..].iter().zip(bytes) {
            dst.store(b, Relaxed);
        }
        self.capture_len.store((at + bytes.len()) as u32, Relaxed);
        true
    }

    /// Everything captured so far.
    pub fn captured(&self) -> Vec<u8> {
        let n = self.capture_len.load(Relaxed) as usize;
        self.capture[..n].iter().map(|b| b.load(Relaxed)).collect()
    }
}

/// Stamps consecutive phases: each mark ends one phase and starts the next, so the phases of a
/// process tile its time with no gap, and a mark costs one pair of clock reads.
pub struct Stamper<'a> {
    rec: &'a Shared,
    last: Stamp,
}

impl<'a> Stamper<'a> {
    /// Starts from `begin` (the parent's pre-fork wall clock and this process's CPU clock).
    #[inline(always)]
    pub fn resume(rec: &'a Shared, begin: Stamp) -> Self {
        Stamper { rec, last: begin }
    }

    /// Ends `phase` now.
    #[inline(always)]
    pub fn mark(&mut self, phase: Phase) {
        let now = Stamp::now();
        self.rec.set_phase(phase, self.last, now);
        self.last = now;
    }

    /// Restarts the clock without ending a phase (after untimed work).
    #[inline(always)]
    pub fn restart(&mut self) {
        self.last = Stamp::now();
    }

    /// The last mark.
    pub fn last(&self) -> Stamp {
        self.last
    }

    pub fn record(&self) -> &'a Shared {
        self.rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_bytes_round_trip() {
        for s in Syscall::ALL {
            assert_eq!(Syscall::from_u8(s as u8), Some(s));
        }
        assert_eq!(Syscall::from_u8(0), None);
    }
}
