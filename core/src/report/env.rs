//! The environment fingerprint recorded with every result: what makes numbers from two
//! machines comparable (or not).

use serde::{Deserialize, Serialize};
use std::fs;

/// Facts about the machine and kernel a run was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Env {
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    /// `uname -v` (build flags such as PREEMPT_DYNAMIC).
    pub kernel_version: String,
    pub arch: String,
    pub cpus: usize,
    pub cpu_model: String,
    /// Running under a hypervisor (the `hypervisor` CPU flag).
    pub virtualized: bool,
    pub memory_mib: u64,
    pub page_size: usize,
    /// Mounts in spinup's own mount namespace when it started.
    pub host_mounts: usize,
    /// `/sys/kernel/rcu_expedited`, when readable.
    pub rcu_expedited: Option<String>,
    /// `/sys/kernel/rcu_normal`, when readable.
    pub rcu_normal: Option<String>,
    pub overlay_lowerdir_plus: bool,
    pub overlay_fsconfig_fd: bool,
    pub lsm_eats_mount_options: bool,
    /// `/proc/cmdline`.
    pub cmdline: String,
    pub spinup_version: String,
}

fn read(p: &str) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

impl Env {
    /// Reads the fingerprint of this machine.
    pub fn detect() -> Env {
        let uts = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        let virtualized = cpuinfo
            .lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"));
        let memory_mib = read("/proc/meminfo")
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb / 1024);
        let f = crate::steps::overlay_mount::features();
        Env {
            hostname: field(|u| u.nodename()),
            kernel: field(|u| u.release()),
            kernel_version: field(|u| u.version()),
            arch: field(|u| u.machine()),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            virtualized,
            memory_mib,
            page_size: crate::sys::page_size(),
            host_mounts: crate::mountinfo::read_self()
                .map(|t| t.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count())
                .unwrap_or(0),
            rcu_expedited: read("/sys/kernel/rcu_expedited"),
            rcu_normal: read("/sys/kernel/rcu_normal"),
            overlay_lowerdir_plus: f.lowerdir_plus,
            overlay_fsconfig_fd: f.fsconfig_fd,
            lsm_eats_mount_options: f.lsm != crate::overlay::parse::Lsm::None,
            cmdline: read("/proc/cmdline").unwrap_or_default(),
            spinup_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// `<host>-<kernel>`, safe as a directory name.
    pub fn slug(&self) -> String {
        let s = format!("{}-{}", self.hostname, self.kernel);
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Today's UTC date as `YYYY-MM-DD` (civil-from-days, H. Hinnant's algorithm).
pub fn utc_date(unix_secs: u64) -> String {
    let z = (unix_secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

/// Seconds since the epoch now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_796_342_400), "2026-12-04");
    }
}
