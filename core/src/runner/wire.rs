//! The byte format of results sent from the forker to the parent over a pipe.

use super::{Capture, PhaseTime, RunError, RunRecord};
use crate::phase::{PHASE_COUNT, Phase};
use crate::record::Syscall;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()? as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
    fn string(&mut self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    fn phase(&mut self) -> Option<Phase> {
        Phase::from_index(self.u8()? as usize)
    }
}

fn io_error(w: &mut W, e: &std::io::Error) {
    w.i32(e.raw_os_error().unwrap_or(-1));
    w.str(&e.to_string());
}

fn read_io_error(r: &mut R<'_>) -> Option<std::io::Error> {
    let raw = r.i32()?;
    let msg = r.string()?;
    Some(if raw >= 0 {
        std::io::Error::from_raw_os_error(raw)
    } else {
        std::io::Error::other(msg)
    })
}

/// Encodes one run's result.
pub fn encode(res: &Result<RunRecord, RunError>) -> Vec<u8> {
    let mut w = W::default();
    match res {
        Ok(rec) => {
            w.u8(0);
            for p in &rec.phases {
                match p {
                    Some(t) => {
                        w.u8(1);
                        w.u64(t.wall);
                        w.u64(t.cpu);
                    }
                    None => w.u8(0),
                }
            }
            w.u32(rec.captures.len() as u32);
            for c in &rec.captures {
                w.str(&c.path);
                match &c.content {
                    Ok(b) => {
                        w.u8(1);
                        w.bytes(b);
                    }
                    Err(e) => {
                        w.u8(0);
                        w.i32(*e as i32);
                    }
                }
            }
        }
        Err(e) => {
            w.u8(1);
            match e {
                RunError::Child {
                    phase,
                    syscall,
                    path,
                    errno,
                    kernel_msg,
                    hint: _,
                } => {
                    w.u8(1);
                    w.u8(*phase as u8);
                    w.u8(*syscall as u8);
                    w.str(path);
                    w.i32(*errno as i32);
                    w.u8(kernel_msg.is_some() as u8);
                    w.str(kernel_msg.as_deref().unwrap_or(""));
                }
                RunError::Killed { phase, signal } => {
                    w.u8(2);
                    w.u8(*phase as u8);
                    w.i32(*signal as i32);
                }
                RunError::Exit(c) => {
                    w.u8(3);
                    w.i32(*c);
                }
                RunError::Spawn(what, e) => {
                    w.u8(4);
                    w.u8((*what == "clone") as u8);
                    w.i32(*e as i32);
                }
                RunError::Wait(e) => {
                    w.u8(5);
                    w.i32(*e as i32);
                }
                RunError::Prepare { dir, source } => {
                    w.u8(6);
                    w.str(&dir.to_string_lossy());
                    io_error(&mut w, source);
                }
                RunError::Teardown { dir, source } => {
                    w.u8(7);
                    w.str(&dir.to_string_lossy());
                    io_error(&mut w, source);
                }
                RunError::KillTimeout(d) => {
                    w.u8(8);
                    w.u64(d.as_millis() as u64);
                }
                RunError::Forker(msg) => {
                    w.u8(9);
                    w.str(msg);
                }
            }
        }
    }
    w.0
}

/// Decodes what [`encode`] wrote; `None` for malformed input.
pub fn decode(b: &[u8]) -> Option<Result<RunRecord, RunError>> {
    let mut r = R(b);
    if r.u8()? == 0 {
        let mut rec = RunRecord::default();
        for slot in rec.phases.iter_mut().take(PHASE_COUNT) {
            if r.u8()? == 1 {
                *slot = Some(PhaseTime {
                    wall: r.u64()?,
                    cpu: r.u64()?,
                });
            }
        }
        let n = r.u32()?;
        for _ in 0..n {
            let path = r.string()?;
            let content = if r.u8()? == 1 {
                Ok(r.bytes()?)
            } else {
                Err(Errno::from_raw(r.i32()?))
            };
            rec.captures.push(Capture { path, content });
        }
        return Some(Ok(rec));
    }
    let e = match r.u8()? {
        1 => {
            let phase = r.phase()?;
            let syscall = Syscall::from_u8(r.u8()?)?;
            let path = r.string()?;
            let errno = Errno::from_raw(r.i32()?);
            let has = r.u8()? == 1;
            let msg = r.string()?;
            RunError::Child {
                phase,
                syscall,
                path,
                errno,
                kernel_msg: has.then_some(msg),
                hint: super::local::hint(phase, syscall, errno),
            }
        }
        2 => RunError::Killed {
            phase: r.phase()?,
            signal: Signal::try_from(r.i32()?).ok()?,
        },
        3 => RunError::Exit(r.i32()?),
        4 => {
            let what = if r.u8()? == 1 { "clone" } else { "fork" };
            RunError::Spawn(what, Errno::from_raw(r.i32()?))
        }
        5 => RunError::Wait(Errno::from_raw(r.i32()?)),
        6 => RunError::Prepare {
            dir: PathBuf::from(r.string()?),
            source: read_io_error(&mut r)?,
        },
        7 => RunError::Teardown {
            dir: PathBuf::from(r.string()?),
            source: read_io_error(&mut r)?,
        },
        8 => RunError::KillTimeout(Duration::from_millis(r.u64()?)),
        9 => RunError::Forker(r.string()?),
        _ => return None,
    };
    Some(Err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_errors_round_trip() {
        let mut rec = RunRecord::default();
        rec.phases[Phase::Overlay.index()] = Some(PhaseTime { wall: 123, cpu: 45 });
        rec.captures.push(Capture {
            path: "/etc/hosts".into(),
            content: Ok(b"x\n".to_vec()),
        });
        rec.captures.push(Capture {
            path: "/nope".into(),
            content: Err(Errno::ENOENT),
        });
        let back = decode(&encode(&Ok(rec.clone()))).unwrap().unwrap();
        assert_eq!(back.phases, rec.phases);
        assert_eq!(back.captures, rec.captures);

        let e = RunError::Child {
            phase: Phase::Inject,
            syscall: Syscall::Openat,
            path: "/a -> /etc/hosts".into(),
            errno: Errno::EEXIST,
            kernel_msg: Some("msg".into()),
            hint: None,
        };
        let back = decode(&encode(&Err(e))).unwrap().unwrap_err();
        let s = back.to_string();
        assert!(
            s.contains("inject")
                && s.contains("openat")
                && s.contains("/etc/hosts")
                && s.contains("symlink"),
            "{s}"
        );
        let k = RunError::Killed {
            phase: Phase::Mounts,
            signal: Signal::SIGKILL,
        };
        assert!(matches!(
            decode(&encode(&Err(k))).unwrap(),
            Err(RunError::Killed {
                phase: Phase::Mounts,
                signal: Signal::SIGKILL
            })
        ));
        let t = RunError::Teardown {
            dir: "/d".into(),
            source: std::io::Error::from_raw_os_error(39),
        };
        assert!(
            decode(&encode(&Err(t)))
                .unwrap()
                .unwrap_err()
                .to_string()
                .contains("/d")
        );
        assert!(decode(&[1, 200]).is_none());
    }
}
