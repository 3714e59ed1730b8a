//! Helpers for tests that need root, shared by every test crate of the workspace.

/// Whether the effective capability set has `CAP_SYS_ADMIN`.
pub fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

/// The one skip helper for tests that need root. Returns `true` when the test may run.
///
/// Without `CAP_SYS_ADMIN` it prints why the test is skipped and returns `false`, unless
/// `SPINUP_REQUIRE_ROOT=1` is set (as in CI), in which case it panics: CI can never pass by
/// skipping.
pub fn require_root(test: &str) -> bool {
    if has_cap_sys_admin() {
        return true;
    }
    if std::env::var("SPINUP_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test}: needs root (CAP_SYS_ADMIN) and SPINUP_REQUIRE_ROOT=1 forbids skipping");
    }
    eprintln!("skipped {test}: needs root (CAP_SYS_ADMIN)");
    false
}

/// Runs `f` on a dedicated thread that has its own filesystem context and mount namespace
/// (`unshare(CLONE_FS | CLONE_NEWNS)`, then `/` made rprivate). Whatever `f` mounts dies with
/// the thread, also when it panics: nothing reaches the host's mount namespace.
pub fn in_private_mount_ns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(
                nix::sched::CloneFlags::CLONE_FS | nix::sched::CloneFlags::CLONE_NEWNS,
            )
            .expect("unshare(CLONE_FS|CLONE_NEWNS)");
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                nix::mount::MsFlags::MS_PRIVATE | nix::mount::MsFlags::MS_REC,
                None::<&str>,
            )
            .expect("make / rprivate");
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}
