//! The process-local runner: prepare, spawn, reap, collect, teardown. It runs inside the
//! forker process, so the process that forks the setup children stays small.

use super::child;
use super::{Capture, PhaseTime, RunError, RunRecord};
use crate::fixture::Fixture;
use crate::kernel::Fd;
use crate::phase::Phase;
use crate::plan::Plan;
use crate::record::{Shared, Stamp, Syscall};
use crate::spec::SpawnMode;
use crate::sys::{self, SharedMem};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// The process-local half of a runner: it spawns and reaps the setup children. It lives in
/// the forker process (see [`super::forker`]).
pub struct Local<'a> {
    plan: &'a Plan,
    fixture: &'a Fixture,
    rec: &'a SharedMem<Shared>,
    scratch: Vec<u8>,
    fds: Vec<Fd>,
}

/// How long a kill-point test waits for the child to park.
const KILL_WAIT: Duration = Duration::from_secs(20);

impl<'a> Local<'a> {
    pub fn new(plan: &'a Plan, fixture: &'a Fixture, rec: &'a SharedMem<Shared>) -> Local<'a> {
        let scratch = vec![0u8; plan.scratch_len.max(1)];
        let fds = vec![Fd(-1); fixture.layers.len() + 1];
        Local {
            plan,
            fixture,
            rec,
            scratch,
            fds,
        }
    }

    /// One run: prepare (untimed), spawn, setup, exit, reap, teardown.
    pub fn run_once(&mut self) -> Result<RunRecord, RunError> {
        self.fixture
            .prepare_run()
            .map_err(|source| RunError::Prepare {
                dir: self.fixture.dir().to_path_buf(),
                source,
            })?;
        let outcome = self.spawn_and_reap();
        // Teardown runs whatever happened; it is timed only for successful runs.
        let t = Stamp::now();
        let td = self.fixture.teardown_run();
        let end = Stamp::now();
        let mut record = outcome?;
        td.map_err(|source| RunError::Teardown {
            dir: self.fixture.dir().to_path_buf(),
            source,
        })?;
        record.phases[Phase::Teardown.index()] = Some(PhaseTime {
            wall: end.wall - t.wall,
            cpu: end.cpu - t.cpu,
        });
        Ok(record)
    }

    fn spawn_and_reap(&mut self) -> Result<RunRecord, RunError> {
        let rec: &Shared = self.rec;
        rec.reset();
        let plan = self.plan;
        let args = child::ChildArgs {
            plan,
            rec,
            memfd: self.rec.fd(),
            scratch: &mut self.scratch,
            fds: &mut self.fds,
        };
        let t0 = Stamp::now();
        // The children run allocation- and lock-free code only and end in _exit.
        let pid = match plan.spec.spawn {
            SpawnMode::Fork => sys::fork_into(move || child::after_fork(args, t0.wall))
                .map_err(|e| RunError::Spawn("fork", e))?,
            SpawnMode::Clone => {
                let flags = plan.clone_flags;
                sys::clone_into(flags, move || child::after_clone(args, t0.wall))
                    .map_err(|e| RunError::Spawn("clone", e))?
            }
        };
        rec.fork_parent_cpu
            .store(Stamp::cpu_now().saturating_sub(t0.cpu), Relaxed);

        let two_step = plan.spec.spawn == SpawnMode::Fork && plan.pid_ns;
        if plan.kill_at.is_some() {
            self.kill_when_parked(pid, two_step)?;
        }
        let rec: &Shared = self.rec;
        // The process that ends the setup: PID 1 of the new pid namespace, or the child.
        let (last, status, cpu_total, reaped) = if two_step {
            let (sa, _) = sys::wait4(pid).map_err(RunError::Wait)?;
            let pid1 = rec.pid1.load(Relaxed);
            if pid1 > 0 {
                let (sb, cpu) = sys::wait4(Pid::from_raw(pid1)).map_err(RunError::Wait)?;
                let reaped = Stamp::wall_now();
                // A failure of the intermediate child wins over PID 1's status.
                let s = if matches!(sa, WaitStatus::Exited(_, 0)) {
                    sb
                } else {
                    sa
                };
                (pid1, s, cpu, reaped)
            } else {
                (pid.as_raw(), sa, 0, Stamp::wall_now())
            }
        } else {
            let (s, cpu) = sys::wait4(pid).map_err(RunError::Wait)?;
            (pid.as_raw(), s, cpu, Stamp::wall_now())
        };
        let _ = last;
        match status {
            WaitStatus::Exited(_, 0) => {}
            WaitStatus::Exited(_, code) => {
                return Err(match rec.fail() {
                    Some((phase, f)) => RunError::Child {
                        phase,
                        syscall: f.syscall,
                        path: self.plan.label(f.path).to_string(),
                        errno: f.errno,
                        kernel_msg: rec.fs_msg(),
                        hint: hint(phase, f.syscall, f.errno),
                    },
                    None => RunError::Exit(code),
                });
            }
            WaitStatus::Signaled(_, signal, _) => {
                let phase = next_phase(self.plan, rec.last_done());
                return Err(RunError::Killed { phase, signal });
            }
            _ => return Err(RunError::Exit(-1)),
        }
        Ok(self.collect(reaped, cpu_total))
    }

    /// Waits for the child to park at its kill point, then SIGKILLs it from outside (a PID 1
    /// ignores SIGKILL sent from inside its own pid namespace).
    fn kill_when_parked(&self, pid: Pid, two_step: bool) -> Result<(), RunError> {
        let start = Instant::now();
        while self.rec.paused.load(Relaxed) == 0 {
            if start.elapsed() > KILL_WAIT {
                let _ = kill(pid, Signal::SIGKILL);
                return Err(RunError::KillTimeout(KILL_WAIT));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let pid1 = self.rec.pid1.load(Relaxed);
        let target = if two_step && pid1 > 0 {
            Pid::from_raw(pid1)
        } else {
            pid
        };
        let _ = kill(target, Signal::SIGKILL);
        Ok(())
    }

    /// Turns the record of a successful run into phase times.
    fn collect(&self, reaped: u64, cpu_total: u64) -> RunRecord {
        let rec: &Shared = self.rec;
        let mut out = RunRecord::default();
        for &p in &self.plan.phases {
            let Some((b, e)) = rec.phase(p) else { continue };
            let mut t = PhaseTime {
                wall: e.wall.saturating_sub(b.wall),
                cpu: e.cpu.saturating_sub(b.cpu),
            };
            match p {
                Phase::Fork | Phase::Clone => t.cpu += rec.fork_parent_cpu.load(Relaxed),
                Phase::ForkPid1 => t.cpu += rec.pid1_parent_cpu.load(Relaxed),
                Phase::Exec => {
                    t.wall = rec.exec_end[0].load(Relaxed).saturating_sub(b.wall);
                    t.cpu = rec.exec_end[1].load(Relaxed).saturating_sub(b.cpu);
                }
                _ => {}
            }
            out.phases[p.index()] = Some(t);
        }
        let (last_wall, last_cpu) = if self.plan.exec.is_some() {
            (rec.exec_end[0].load(Relaxed), rec.exec_end[1].load(Relaxed))
        } else {
            (rec.exit[0].load(Relaxed), rec.exit[1].load(Relaxed))
        };
        out.phases[Phase::ExitReap.index()] = Some(PhaseTime {
            wall: reaped.saturating_sub(last_wall),
            cpu: cpu_total.saturating_sub(last_cpu),
        });
        out.captures = self.decode_captures(&rec.captured());
        out
    }

    fn decode_captures(&self, bytes: &[u8]) -> Vec<Capture> {
        let mut out: Vec<Capture> = Vec::new();
        let mut i = 0;
        while i + 8 <= bytes.len() {
            let l = u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap_or_default());
            let n = u32::from_le_bytes(bytes[i + 4..i + 8].try_into().unwrap_or_default());
            i += 8;
            let path = self.plan.label((l & 0x7fff_ffff) as u16).to_string();
            let entry = match out.iter().position(|c| c.path == path) {
                Some(k) => k,
                None => {
                    out.push(Capture {
                        path,
                        content: Ok(Vec::new()),
                    });
                    out.len() - 1
                }
            };
            if l & (1 << 31) != 0 {
                out[entry].content = Err(Errno::from_raw(n as i32));
            } else {
                let end = (i + n as usize).min(bytes.len());
                if let Ok(v) = &mut out[entry].content {
                    v.extend_from_slice(&bytes[i..end]);
                }
                i = end;
            }
        }
        out
    }
}

/// The phase after the last stamped one (where a killed child was).
fn next_phase(plan: &Plan, last: Option<Phase>) -> Phase {
    match last {
        None => plan.phases[0],
        Some(l) => plan.phases.iter().copied().find(|p| *p > l).unwrap_or(l),
    }
}

/// A short explanation for failures whose errno alone is cryptic.
pub(crate) fn hint(phase: Phase, syscall: Syscall, errno: Errno) -> Option<&'static str> {
    match (phase, syscall, errno) {
        (Phase::Inject, Syscall::Openat, Errno::EEXIST) => {
            Some("the destination is a symlink whose target does not exist inside the rootfs")
        }
        (Phase::Inject, Syscall::Openat2, Errno::EBUSY) => {
            Some("the destination resolves to the rootfs itself")
        }
        (Phase::Inject, Syscall::Openat2, Errno::ELOOP) => {
            Some("too many symlinks in the destination")
        }
        (Phase::Mounts, Syscall::Openat2, Errno::ELOOP | Errno::ENOTDIR) => {
            Some("the image has a symlink or a file where a mount point directory must be")
        }
        (Phase::Overlay, Syscall::FormatData, Errno::E2BIG) => {
            Some("fd-paths mount data exceeded the page size")
        }
        (Phase::Jail, Syscall::PivotRoot, Errno::EINVAL) => Some(
            "pivot_root needs the new root to be a mount point with non-shared propagation; use --root-switch move-chroot on a ramfs root",
        ),
        _ => None,
    }
}
