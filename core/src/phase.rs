//! The phases of one container setup. Their names are stable: reports, benches and JSON use them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One timed phase of a setup run, in the order a run goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Phase {
    /// `fork()` of the setup child, parent's call to the child's first instruction.
    Fork = 0,
    /// `clone()` with every namespace flag at once (crun's shape), instead of fork + unshare.
    Clone,
    /// `unshare()` of the requested namespaces.
    Unshare,
    /// With a pid namespace: the fork that makes PID 1 of it (`clone(CLONE_PARENT)`, as runc).
    ForkPid1,
    /// `/` rslave or rprivate, rootfs parent private, rootfs self-bind.
    Propagation,
    /// The overlay mount of the image layers on the rootfs.
    Overlay,
    /// Bind mounts of `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and user injections.
    Inject,
    /// proc, sysfs, the `/dev` tmpfs with its device nodes, devpts.
    Mounts,
    /// The root switch: pivot_root variants, MS_MOVE + chroot, or chroot.
    Jail,
    /// After the root switch: sethostname, read-only remounts.
    PostJail,
    /// `execve()` of a tiny static binary, to its first instruction.
    Exec,
    /// Child exit to reap: namespace destruction on the exit path.
    ExitReap,
    /// Host side: umount (if any) and removal of upper and work dirs.
    Teardown,
}

/// Number of phases.
pub const PHASE_COUNT: usize = 13;

impl Phase {
    /// Every phase, in run order.
    pub const ALL: [Phase; PHASE_COUNT] = [
        Phase::Fork,
        Phase::Clone,
        Phase::Unshare,
        Phase::ForkPid1,
        Phase::Propagation,
        Phase::Overlay,
        Phase::Inject,
        Phase::Mounts,
        Phase::Jail,
        Phase::PostJail,
        Phase::Exec,
        Phase::ExitReap,
        Phase::Teardown,
    ];

    /// The stable name used in reports, JSON and bench ids.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Fork => "fork",
            Phase::Clone => "clone",
            Phase::Unshare => "unshare",
            Phase::ForkPid1 => "fork_pid1",
            Phase::Propagation => "propagation",
            Phase::Overlay => "overlay",
            Phase::Inject => "inject",
            Phase::Mounts => "mounts",
            Phase::Jail => "jail",
            Phase::PostJail => "post_jail",
            Phase::Exec => "exec",
            Phase::ExitReap => "exit_reap",
            Phase::Teardown => "teardown",
        }
    }

    /// Index into per-phase arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The phase with this index.
    pub fn from_index(i: usize) -> Option<Phase> {
        Phase::ALL.get(i).copied()
    }

    /// Parses a stable name.
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name of the per-run sum of all phases in reports.
pub const TOTAL: &str = "total";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_match_order() {
        for (i, p) in Phase::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(Phase::from_name(p.name()), Some(p));
            assert_eq!(Phase::from_index(i), Some(p));
        }
        assert_eq!(Phase::from_name(TOTAL), None);
        assert_eq!(Phase::from_index(PHASE_COUNT), None);
    }
}
