//! The `spinup` binary: bad input is one clear line and exit code 2, before anything is
//! mounted; a non-root user is told what is missing; the main job writes a full report.

mod common;

use spinup::report::Report;
use spinup::testing::require_root;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_spinup");

fn spinup(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run spinup")
}

fn one_line_error(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("spinup: ") || err.starts_with("error: "),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_input_is_one_line_and_exit_2_before_anything_is_mounted() {
    let before = common::host_mounts();
    let base = common::base();
    let tmp = base.path().to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--layers", "501"], "501"),
        (&["run", "--layers", "0"], "layers"),
        (&["run", "--ns", "mnt,user"], "user"),
        (&["run", "--ns", "uts,pid"], "mnt"),
        (&["run", "--inject", "nonsense"], "SRC:DST"),
        (&["run", "--inject", "/a:relative"], "relative"),
        (&["run", "--mounts", "proc,floppy"], "floppy"),
        (&["run", "--mounts", "devpts"], "dev"),
        (&["run", "--hostname", &"h".repeat(65)], "hostname"),
        (&["run", "--root-switch", "teleport"], "teleport"),
        (&["run", "--iterations", "0"], "iterations"),
        (&["bench", "--iterations", "0"], "iterations"),
        (
            &["compare", "/nonexistent/a", "/nonexistent/b"],
            "/nonexistent/a",
        ),
    ];
    for (args, needle) in cases {
        let mut a = args.to_vec();
        a.extend(["--tmp", tmp].iter().filter(|_| args[0] != "compare"));
        let err = one_line_error(&spinup(&a));
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(common::host_mounts(), before);
    assert!(common::leftovers(base.path()).is_empty());
}

#[test]
fn bad_images_and_sources_are_named_when_root() {
    if !require_root("bad_images_and_sources_are_named_when_root") {
        return;
    }
    let before = common::host_mounts();
    let base = common::base();
    let tmp = base.path().to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--image", "/nonexistent/image"],
            "/nonexistent/image",
        ),
        (
            &["run", "--inject", "/nonexistent/src:/etc/x"],
            "/nonexistent/src",
        ),
        (
            &["run", "--layers", "500", "--overlay-strategy", "legacy"],
            "bytes",
        ),
    ];
    for (args, needle) in cases {
        let mut a = args.to_vec();
        a.extend(["--tmp", tmp]);
        let err = one_line_error(&spinup(&a));
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(common::host_mounts(), before);
    assert!(
        common::leftovers(base.path()).is_empty(),
        "{:?}",
        common::leftovers(base.path())
    );
}

#[test]
fn without_cap_sys_admin_it_says_what_is_missing() {
    if !require_root("without_cap_sys_admin_it_says_what_is_missing") {
        return;
    }
    // Drop to nobody with no capabilities.
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            BIN,
            "run",
            "-n",
            "1",
        ])
        .output();
    let Ok(o) = o else {
        panic!("setpriv (util-linux) is needed for this test");
    };
    let err = one_line_error(&o);
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
}

#[test]
fn run_prints_a_phase_table_and_the_container_mounts() {
    if !require_root("run_prints_a_phase_table_and_the_container_mounts") {
        return;
    }
    let base = common::base();
    let o = spinup(&[
        "run",
        "-n",
        "5",
        "--warmup",
        "1",
        "--show-mounts",
        "--tmp",
        base.path().to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for p in [
        "fork",
        "unshare",
        "fork_pid1",
        "propagation",
        "overlay",
        "inject",
        "mounts",
        "jail",
        "post_jail",
        "exit_reap",
        "teardown",
        "total",
    ] {
        assert!(out.lines().any(|l| l.starts_with(p)), "{p} row in\n{out}");
    }
    assert!(out.contains("overlay on / type overlay"), "{out}");
    assert!(out.contains("proc on /proc type proc"), "{out}");
    let o = spinup(&[
        "run",
        "-n",
        "2",
        "--json",
        "--tmp",
        base.path().to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["iterations"], 2);
    assert!(v["phases"]["jail"]["wall"]["p50"].as_u64().unwrap() > 0);
    assert!(common::leftovers(base.path()).is_empty());
}

#[test]
fn bench_writes_a_report_with_every_phase() {
    if !require_root("bench_writes_a_report_with_every_phase") {
        return;
    }
    let base = common::base();
    let out = base.path().join("results");
    let tmp = base.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let o = spinup(&[
        "bench",
        "--quick",
        "-n",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--tmp",
        tmp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dirs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(dirs.len(), 1);
    let dir = dirs[0].path();
    let r = Report::load(&dir).unwrap();
    let names = r.phase_names();
    for p in spinup::Phase::ALL {
        if p == spinup::Phase::Exec && !cfg!(target_arch = "x86_64") {
            continue;
        }
        assert!(names.contains(&p.name().to_string()), "{p} in summary");
    }
    assert!(
        r.runs
            .iter()
            .all(|x| x.iterations == 3 && x.phases.contains_key("total"))
    );
    for f in [
        "report.md",
        "phases.svg",
        "overlay_layers.svg",
        "root_switch-pivot.hlog",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("Root switch against chroot") && md.contains("per layer"),
        "{md}"
    );
    assert!(
        std::fs::read_to_string(out.join("README.md"))
            .unwrap()
            .contains(&dirs[0].file_name().to_string_lossy().into_owned())
    );
    // Compare a run with itself: nothing changes.
    let o = spinup(&["compare", dir.to_str().unwrap(), dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("0 of"), "{text}");
    // Re-render from summary.json.
    std::fs::remove_file(dir.join("report.md")).unwrap();
    assert!(spinup(&["report", dir.to_str().unwrap()]).status.success());
    assert!(dir.join("report.md").exists());
    assert!(common::leftovers(&tmp).is_empty());
}
