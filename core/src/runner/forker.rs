//! The forker: a process forked once per [`Runner`](super::Runner) before any histogram
//! exists, that spawns, reaps and cleans up after every setup child and streams the results
//! back over a pipe.
//!
//! Why: fork and exit cost grows with the forking process's resident anonymous memory (page
//! tables to copy, then tear down). The parent holds megabytes of histograms; the forker holds
//! only the plan and the fixture, so fork, fork_pid1 and exit_reap measure what a small
//! runtime process would see, not spinup's own bookkeeping.

use super::local::Local;
use super::wire;
use super::{RunError, RunRecord};
use crate::fixture::Fixture;
use crate::kernel::{Fd, Kernel};
use crate::plan::Plan;
use crate::record::Shared;
use crate::sys::{self, RealKernel, SharedMem};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

const OP_EXIT: u8 = 0;
const OP_ONCE: u8 = 1;
const OP_BATCH: u8 = 2;

/// The parent's handle on its forker.
pub struct Forker {
    pid: Pid,
    cmd: File,
    res: File,
    exited: bool,
}

impl Forker {
    /// Forks the forker. `plan`, `fixture` and `rec` are the parent's; the forker works on its
    /// copy-on-write copies (and the shared record mapping itself).
    pub fn spawn(
        plan: &Plan,
        fixture: &Fixture,
        rec: &SharedMem<Shared>,
    ) -> Result<Forker, RunError> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| RunError::Forker(format!("pipe: {e}")))
        };
        let (cmd_r, cmd_w) = pipe()?;
        let (res_r, res_w) = pipe()?;
        let parent = nix::unistd::getpid();
        // The parent's ends, closed in the forker by number (the parent keeps its own).
        let theirs = [Fd(cmd_w.as_raw_fd()), Fd(res_r.as_raw_fd())];
        let pid = sys::fork_process(move || {
            for fd in theirs {
                let _ = RealKernel.close(fd);
            }
            // Die with the parent thread: other forkers may hold copies of our command pipe,
            // so EOF alone would not tell us.
            die_with_parent(parent);
            serve(
                Local::new(plan, fixture, rec),
                File::from(cmd_r),
                File::from(res_w),
            )
        })
        .map_err(|e| RunError::Forker(format!("fork: {e}")))?;
        Ok(Forker {
            pid,
            cmd: File::from(cmd_w),
            res: File::from(res_r),
            exited: false,
        })
    }

    fn send(&mut self, op: u8, a: u64, b: u64) -> Result<(), RunError> {
        let mut m = [0u8; 17];
        m[0] = op;
        m[1..9].copy_from_slice(&a.to_le_bytes());
        m[9..].copy_from_slice(&b.to_le_bytes());
        self.cmd
            .write_all(&m)
            .map_err(|e| RunError::Forker(format!("send command: {e}")))
    }

    /// Reads one result.
    fn recv(&mut self) -> Result<RunRecord, RunError> {
        let mut len = [0u8; 4];
        self.res
            .read_exact(&mut len)
            .map_err(|e| RunError::Forker(format!("read result: {e}")))?;
        let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
        self.res
            .read_exact(&mut buf)
            .map_err(|e| RunError::Forker(format!("read result: {e}")))?;
        wire::decode(&buf).unwrap_or_else(|| Err(RunError::Forker("malformed result".into())))
    }

    /// One run.
    pub fn run_once(&mut self) -> Result<RunRecord, RunError> {
        self.send(OP_ONCE, 0, 0)?;
        self.recv()
    }

    /// `warmup` unreported runs, then `iterations` results handed to `each` as they arrive.
    /// Stops at the first error.
    pub fn run_batch(
        &mut self,
        iterations: u64,
        warmup: u64,
        mut each: impl FnMut(RunRecord),
    ) -> Result<(), RunError> {
        self.send(OP_BATCH, iterations, warmup)?;
        for _ in 0..iterations {
            each(self.recv()?);
        }
        Ok(())
    }
}

impl Drop for Forker {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.send(OP_EXIT, 0, 0);
            let _ = nix::sys::wait::waitpid(self.pid, None);
            self.exited = true;
        }
    }
}

fn reply(out: &mut File, r: &Result<RunRecord, RunError>) -> bool {
    let body = wire::encode(r);
    let mut m = Vec::with_capacity(body.len() + 4);
    m.extend_from_slice(&(body.len() as u32).to_le_bytes());
    m.extend_from_slice(&body);
    out.write_all(&m).is_ok()
}

/// The forker's loop. Never returns.
fn serve(mut local: Local<'_>, mut cmd: File, mut out: File) -> std::convert::Infallible {
    let mut m = [0u8; 17];
    loop {
        if cmd.read_exact(&mut m).is_err() {
            sys::exit_now(0);
        }
        let a = u64::from_le_bytes(m[1..9].try_into().unwrap_or_default());
        let b = u64::from_le_bytes(m[9..].try_into().unwrap_or_default());
        match m[0] {
            OP_ONCE => {
                let r = local.run_once();
                if !reply(&mut out, &r) {
                    sys::exit_now(0);
                }
            }
            OP_BATCH => {
                let mut failed = None;
                for _ in 0..b {
                    if let Err(e) = local.run_once() {
                        failed = Some(e);
                        break;
                    }
                }
                for _ in 0..a {
                    let r = match failed.take() {
                        Some(e) => Err(e),
                        None => local.run_once(),
                    };
                    let stop = r.is_err();
                    if !reply(&mut out, &r) || stop {
                        break;
                    }
                }
            }
            OP_EXIT => sys::exit_now(0),
            _ => sys::exit_now(2),
        }
    }
}

/// Asks for SIGKILL when the parent thread dies; exits if it already has.
fn die_with_parent(parent: Pid) {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if nix::unistd::getppid() != parent {
        sys::exit_now(0);
    }
}
