//! The setup child never allocates: a counting global allocator is read at the child's first
//! and last instruction of setup (through a test probe), in every spawn mode and strategy.

mod common;

use spinup::overlay::Strategy;
use spinup::runner::RunnerOptions;
use spinup::spec::{RootSwitch, SpawnMode};
use spinup::testing::require_root;
use spinup::{Runner, SetupSpec};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn probe() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

#[test]
fn the_setup_child_never_allocates() {
    if !require_root("the_setup_child_never_allocates") {
        return;
    }
    let mut specs = Vec::new();
    for s in [
        Strategy::Legacy,
        Strategy::LegacyCompact,
        Strategy::ShortLinks,
        Strategy::FdPaths,
        Strategy::Fsconfig,
    ] {
        let mut spec = SetupSpec::default();
        spec.overlay.strategy = s;
        specs.push(spec);
    }
    for m in RootSwitch::ALL {
        specs.push(SetupSpec {
            root_switch: m,
            spawn: SpawnMode::Clone,
            ..SetupSpec::default()
        });
    }
    specs.push(SetupSpec {
        capture: vec!["/proc/self/mountinfo".into()],
        ..SetupSpec::default()
    });
    for spec in specs {
        let base = common::base();
        let opts = RunnerOptions {
            tmp: base.path().into(),
            alloc_probe: Some(probe),
        };
        let mut r = Runner::new(&spec, &opts).unwrap();
        r.run_once().unwrap();
        let (start, end) = r.alloc_probe_readings();
        assert!(start > 0, "probe was read");
        assert_eq!(
            start,
            end,
            "{:?} / {}: the child allocated {} times",
            spec.overlay.strategy,
            spec.root_switch.name(),
            end - start
        );
    }
}
