//! The bench suite behind `spinup bench`: which configurations are measured, and what the
//! harness itself costs.

use crate::overlay::Strategy;
use crate::record::{Shared, Stamp, Stamper};
use crate::report::Instrumentation;
use crate::spec::{ImageSource, RootSwitch, SetupSpec, SpawnMode};
use hdrhistogram::Histogram;

/// One configuration of the suite.
#[derive(Clone, Debug)]
pub struct Config {
    /// `axis=value`.
    pub name: String,
    pub axis: String,
    pub value: String,
    pub spec: SetupSpec,
}

fn config(axis: &str, value: &str, spec: SetupSpec) -> Config {
    Config {
        name: format!("{axis}={value}"),
        axis: axis.to_string(),
        value: value.to_string(),
        spec,
    }
}

fn with_layers(base: &SetupSpec, layers: usize, files: Option<usize>) -> SetupSpec {
    let files_per_layer = match (&base.image, files) {
        (_, Some(f)) => f,
        (
            ImageSource::Synthetic {
                files_per_layer, ..
            },
            None,
        ) => *files_per_layer,
        _ => crate::spec::DEFAULT_FILES_PER_LAYER,
    };
    SetupSpec {
        image: ImageSource::Synthetic {
            layers,
            files_per_layer,
        },
        ..base.clone()
    }
}

/// Layer counts of the overlay-strategy sweep: bracketing the legacy page limit and the
/// kernel's 500-layer cap.
pub const STRATEGY_LAYERS: [usize; 6] = [1, 2, 38, 128, 256, 500];

/// The default suite on `base`: every root-switch method; layers 1, 8, 64; the clone spawn
/// mode; exec of the static binary; and, unless `quick`, every overlay strategy across
/// [`STRATEGY_LAYERS`].
pub fn default_suite(base: &SetupSpec, quick: bool) -> Vec<Config> {
    let mut v = Vec::new();
    for m in RootSwitch::ALL {
        v.push(config(
            "root_switch",
            m.name(),
            SetupSpec {
                root_switch: m,
                ..base.clone()
            },
        ));
    }
    for n in [1, 8, 64] {
        v.push(config("layers", &n.to_string(), with_layers(base, n, None)));
    }
    v.push(config(
        "spawn",
        "clone",
        SetupSpec {
            spawn: SpawnMode::Clone,
            ..base.clone()
        },
    ));
    if cfg!(target_arch = "x86_64") {
        v.push(config(
            "exec",
            "on",
            SetupSpec {
                exec: true,
                ..base.clone()
            },
        ));
    }
    if !quick {
        for s in Strategy::CONCRETE {
            for n in STRATEGY_LAYERS {
                let mut spec = with_layers(base, n, Some(10));
                spec.overlay.strategy = s;
                v.push(config(
                    &format!("overlay:{}", s.name()),
                    &n.to_string(),
                    spec,
                ));
            }
        }
    }
    v
}

/// Measures one phase mark: 1000 batches of 1000 marks into a private record.
pub fn measure_instrumentation() -> Instrumentation {
    let rec: Box<Shared> = crate::sys::zeroed_box();
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("bounds");
    let mut st = Stamper::resume(&rec, Stamp::now());
    for _ in 0..1000 {
        let t = Stamp::wall_now();
        for _ in 0..1000 {
            st.mark(crate::Phase::Inject);
        }
        let per = (Stamp::wall_now() - t) / 1000;
        h.saturating_record(per.max(1));
    }
    Instrumentation {
        mark_p50_ns: h.value_at_quantile(0.5),
        mark_p99_ns: h.value_at_quantile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_covers_every_method_and_phase() {
        let q = default_suite(&SetupSpec::default(), true);
        for m in RootSwitch::ALL {
            assert!(
                q.iter()
                    .any(|c| c.name == format!("root_switch={}", m.name()))
            );
        }
        let mut phases: Vec<crate::Phase> = q.iter().flat_map(|c| c.spec.phases()).collect();
        phases.sort();
        phases.dedup();
        let expect = if cfg!(target_arch = "x86_64") {
            crate::Phase::ALL.len()
        } else {
            crate::Phase::ALL.len() - 1
        };
        assert_eq!(phases.len(), expect, "{phases:?}");
        for c in &q {
            c.spec.validate().unwrap();
        }
        let full = default_suite(&SetupSpec::default(), false);
        assert_eq!(
            full.len(),
            q.len() + Strategy::CONCRETE.len() * STRATEGY_LAYERS.len()
        );
        let names: std::collections::HashSet<&str> = full.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), full.len(), "names are unique");
    }

    #[test]
    fn instrumentation_is_measured() {
        let i = measure_instrumentation();
        assert!(i.mark_p50_ns > 0 && i.mark_p99_ns >= i.mark_p50_ns, "{i:?}");
    }
}
