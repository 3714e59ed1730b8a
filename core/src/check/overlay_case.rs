//! Invariant 1: the overlay option builder never emits a string the kernel would truncate or
//! misparse. Whatever a builder returns parses back, with the kernel-parser port, into exactly
//! the layers it was given (same count, order and bytes, regular and data layers apart), with
//! as many options as it emitted (no path smuggles in `,upperdir=`), within PAGE_SIZE-1 bytes
//! (legacy) or 255 bytes per value (fsconfig); and every refusal is justified.

use crate::overlay::parse::{self, FsCall, Lsm};
use crate::overlay::{
    BuildError, BuildOptions, FsValue, KernelFeatures, OnOff, OverlayConfig, OverlayFlags, Recipe,
    RedirectDir, Strategy, build, short_link_name,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A decoded fuzz case for the option builders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayCase {
    pub cfg: OverlayConfig,
    pub strategy: Strategy,
    pub opts: BuildOptions,
}

const STRATEGIES: [Strategy; 6] = [
    Strategy::Auto,
    Strategy::Legacy,
    Strategy::LegacyCompact,
    Strategy::ShortLinks,
    Strategy::FdPaths,
    Strategy::Fsconfig,
];

impl OverlayCase {
    /// Decodes fuzz bytes. Layout: `[strategy, flags, flags2, data_layers, repeat_lo,
    /// repeat_hi, paths...]` with paths separated by NUL; with bit 0 of `flags` the last two
    /// paths are upper and work. `repeat` > 0 repeats the first path with `/<i>` appended, to
    /// reach hundreds of layers from a short input.
    pub fn decode(b: &[u8]) -> Option<OverlayCase> {
        if b.len() < 6 {
            return None;
        }
        let strategy = STRATEGIES[b[0] as usize % STRATEGIES.len()];
        let (f, f2) = (b[1], b[2]);
        let ndata = (b[3] % 4) as usize;
        let repeat = u16::from_le_bytes([b[4], b[5]]) as usize % 600;
        let mut paths: Vec<PathBuf> = b[6..]
            .split(|&c| c == 0)
            .map(|p| PathBuf::from(OsStr::from_bytes(p)))
            .collect();
        let (upper, work) = if f & 1 != 0 && paths.len() >= 3 {
            let w = paths.pop();
            (paths.pop(), w)
        } else {
            (None, None)
        };
        if repeat > 0 {
            let first = paths.first()?.clone();
            let mut v: Vec<PathBuf> = (0..repeat).map(|i| first.join(format!("{i:03}"))).collect();
            v.extend(paths.drain(1..));
            paths = v;
        }
        let ndata = ndata.min(paths.len().saturating_sub(1));
        let data = paths.split_off(paths.len() - ndata);
        let flags = OverlayFlags {
            volatile: f & 2 != 0,
            userxattr: f & 4 != 0,
            index: (f & 128 != 0).then_some(OnOff::Off),
            metacopy: match f2 & 3 {
                1 => Some(OnOff::On),
                2 => Some(OnOff::Off),
                _ => None,
            },
            redirect_dir: match (f2 >> 2) & 7 {
                1 => Some(RedirectDir::On),
                2 => Some(RedirectDir::Follow),
                3 => Some(RedirectDir::Nofollow),
                4 => Some(RedirectDir::Off),
                _ => None,
            },
            nfs_export: (f2 & 32 != 0).then_some(OnOff::On),
            ..OverlayFlags::default()
        };
        let features = KernelFeatures {
            page_size: if f & 64 != 0 { 65536 } else { 4096 },
            lowerdir_plus: f & 32 != 0,
            fsconfig_fd: f & 16 != 0,
            lsm: if f & 8 != 0 { Lsm::Selinux } else { Lsm::None },
        };
        Some(OverlayCase {
            cfg: OverlayConfig {
                lowers: paths,
                data,
                upper,
                work,
                flags,
            },
            strategy,
            opts: BuildOptions {
                features,
                margin: (f2 >> 6) as usize * 256,
                links_home: Some(PathBuf::from("/var/lib/spinup")),
                max_fd_digits: 4,
            },
        })
    }

    /// Encodes a case with plain paths (the inverse of [`decode`](Self::decode) without
    /// `repeat`), for writing seeds.
    pub fn encode(
        strategy: Strategy,
        flags: u8,
        flags2: u8,
        data: u8,
        repeat: u16,
        paths: &[&[u8]],
    ) -> Vec<u8> {
        let s = STRATEGIES.iter().position(|x| *x == strategy).unwrap_or(0) as u8;
        let mut v = vec![s, flags, flags2, data];
        v.extend_from_slice(&repeat.to_le_bytes());
        v.extend(paths.join(&0u8));
        v
    }
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// What the kernel resolves a relative layer to after `chdir(dir)`: `dir/p`, byte for byte.
fn join_rel(dir: Option<&Path>, p: &[u8]) -> Vec<u8> {
    match dir {
        Some(d) if !p.starts_with(b"/") => [bytes(d), b"/", p].concat(),
        _ => p.to_vec(),
    }
}

/// The fuzz entry point of `overlay_options`.
pub fn check_overlay_options(data: &[u8]) {
    if let Some(case) = OverlayCase::decode(data) {
        check_case(&case);
    }
}

/// Asserts invariant 1 for one case.
pub fn check_case(case: &OverlayCase) {
    let OverlayCase {
        cfg,
        strategy,
        opts,
    } = case;
    let r = build(cfg, *strategy, opts);
    let valid = cfg.validate();
    let recipe = match r {
        Err(e) => {
            justified(case, &e);
            return;
        }
        Ok(recipe) => recipe,
    };
    assert!(
        valid.is_ok(),
        "built a recipe for an invalid config ({valid:?}): {case:?}"
    );
    if *strategy != Strategy::Auto {
        assert_eq!(recipe.strategy(), *strategy);
    }
    let want_lowers: Vec<Vec<u8>> = cfg.lowers.iter().map(|p| bytes(p).to_vec()).collect();
    let want_data: Vec<Vec<u8>> = cfg.data.iter().map(|p| bytes(p).to_vec()).collect();
    let limit = opts.features.page_size - 1 - opts.margin;
    match &recipe {
        Recipe::Legacy {
            strategy,
            chdir,
            data,
            options,
        } => {
            assert!(
                data.len() <= limit,
                "{} bytes over the limit {limit}: {case:?}",
                data.len()
            );
            assert!(!data.contains(&0), "NUL in mount data");
            let p = parse::parse_legacy(data, opts.features.page_size, opts.features.lsm)
                .unwrap_or_else(|e| {
                    panic!(
                        "builder output does not parse ({e}): {:?}",
                        String::from_utf8_lossy(data)
                    )
                });
            assert!(
                p.eaten_by_lsm.is_empty(),
                "an LSM eats {:?}",
                p.eaten_by_lsm
            );
            assert_eq!(
                p.options.len(),
                *options,
                "options smuggled or lost: {:?}",
                p.options
            );
            let links = if *strategy == Strategy::ShortLinks {
                short_links(cfg, opts)
            } else {
                HashMap::new()
            };
            let resolve = |v: &[Vec<u8>]| -> Vec<Vec<u8>> {
                v.iter()
                    .map(|l| {
                        let full = join_rel(chdir.as_deref(), l);
                        if *strategy == Strategy::ShortLinks {
                            links
                                .get(&full)
                                .unwrap_or_else(|| {
                                    panic!(
                                        "{:?} is no short link of this config",
                                        String::from_utf8_lossy(&full)
                                    )
                                })
                                .clone()
                        } else {
                            full
                        }
                    })
                    .collect()
            };
            assert_eq!(resolve(&p.lowers), want_lowers, "lower layers differ");
            assert_eq!(resolve(&p.data), want_data, "data layers differ");
            assert_eq!(p.upper.as_deref(), cfg.upper.as_deref().map(bytes));
            assert_eq!(p.work.as_deref(), cfg.work.as_deref().map(bytes));
            assert_eq!(p.flags.len(), cfg.flags.options().len());
        }
        Recipe::FdPaths {
            lowers,
            data_layers,
            prefix,
            suffix,
            max_len,
            options,
        } => {
            assert!(*max_len <= limit);
            assert_eq!(lowers, &cfg.lowers);
            assert_eq!(data_layers, &cfg.data);
            // What the child formats with the largest fd numbers it can get.
            let big = 10usize.pow(opts.max_fd_digits as u32) - 1;
            let n = lowers.len() + data_layers.len();
            let fds: Vec<String> = (0..n).map(|i| (big - i).to_string()).collect();
            let mut d = prefix.clone();
            for (i, fd) in fds.iter().enumerate() {
                if i >= lowers.len() {
                    d.extend_from_slice(b"::");
                } else if i > 0 {
                    d.push(b':');
                }
                d.extend_from_slice(fd.as_bytes());
            }
            d.extend_from_slice(suffix);
            assert!(d.len() <= *max_len, "{} > bound {max_len}", d.len());
            let p = parse::parse_legacy(&d, opts.features.page_size, opts.features.lsm)
                .expect("fd-paths data parses");
            assert!(p.eaten_by_lsm.is_empty());
            assert_eq!(p.options.len(), *options);
            let got: Vec<String> = p
                .lowers
                .iter()
                .chain(&p.data)
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
            assert_eq!(got, fds);
            assert_eq!(p.upper.as_deref(), cfg.upper.as_deref().map(bytes));
        }
        Recipe::Fsconfig { params } => {
            assert!(opts.features.lowerdir_plus);
            let calls: Vec<FsCall<'_>> = params
                .iter()
                .map(|p| match &p.value {
                    FsValue::Flag => FsCall::Flag(p.key.as_bytes()),
                    FsValue::String(v) => {
                        assert!(
                            v.len() <= parse::FSCONFIG_MAX_VALUE,
                            "fsconfig value of {} bytes",
                            v.len()
                        );
                        FsCall::String(p.key.as_bytes(), v)
                    }
                    FsValue::Fd(path) => {
                        assert!(opts.features.fsconfig_fd, "fd value without kernel support");
                        FsCall::Fd(p.key.as_bytes(), bytes(path))
                    }
                })
                .collect();
            let p = parse::parse_fsconfig(calls)
                .unwrap_or_else(|e| panic!("fsconfig calls do not parse ({e}): {case:?}"));
            assert_eq!(p.lowers, want_lowers);
            assert_eq!(p.data, want_data);
            assert_eq!(p.upper.as_deref(), cfg.upper.as_deref().map(bytes));
            assert_eq!(p.work.as_deref(), cfg.work.as_deref().map(bytes));
        }
    }
}

/// Every way a short link can be named (absolute, or relative to its home) -> its layer.
fn short_links(cfg: &OverlayConfig, opts: &BuildOptions) -> HashMap<Vec<u8>, Vec<u8>> {
    let home = opts.links_home.as_deref().unwrap_or(Path::new("/"));
    let n = cfg.lowers.len() + cfg.data.len();
    let mut m = HashMap::new();
    for (i, target) in cfg.lowers.iter().chain(&cfg.data).enumerate() {
        let name = short_link_name(i, n);
        m.insert(bytes(&home.join(&name)).to_vec(), bytes(target).to_vec());
        m.insert(
            join_rel(Some(home), name.as_bytes()),
            bytes(target).to_vec(),
        );
    }
    m
}

/// A refusal must be one the kernel or the limits force.
fn justified(case: &OverlayCase, e: &BuildError) {
    let OverlayCase { cfg, opts, .. } = case;
    let limit = opts.features.page_size - 1 - opts.margin;
    match e {
        BuildError::Config(c) => assert_eq!(cfg.validate(), Err(c.clone())),
        BuildError::TooLong { len, limit: l, .. } => {
            assert_eq!(*l, limit);
            assert!(len > l, "refused {len} bytes under the limit {l}");
        }
        BuildError::Quote { .. } | BuildError::LsmToken { .. } => {
            assert_eq!(
                opts.features.lsm,
                Lsm::Selinux,
                "LSM refusal without an LSM"
            );
        }
        BuildError::ValueTooLong { len, .. } => {
            assert!(*len > parse::FSCONFIG_MAX_VALUE && !opts.features.fsconfig_fd);
        }
        BuildError::NoLowerdirPlus => assert!(!opts.features.lowerdir_plus),
        BuildError::NoCommonParent | BuildError::NoLinksHome | BuildError::NothingFits(_) => {}
    }
}

/// The fuzz entry point of `overlay_parse`: the parser port never panics on any data, its
/// results respect the kernel's limits, and a legacy string rebuilt from what it parsed
/// parses to the same layers.
pub fn check_overlay_parse(data: &[u8]) {
    for (page, lsm) in [(4096, Lsm::None), (4096, Lsm::Selinux), (65536, Lsm::None)] {
        let Ok(p) = parse::parse_legacy(data, page, lsm) else {
            continue;
        };
        assert!(p.lowers.len() + p.data.len() <= crate::spec::MAX_LAYERS);
        assert!(p.lowers.iter().chain(&p.data).all(|l| !l.is_empty()));
        if p.lowers.is_empty() {
            continue;
        }
        let cfg = OverlayConfig {
            lowers: p
                .lowers
                .iter()
                .map(|l| PathBuf::from(OsStr::from_bytes(l)))
                .collect(),
            data: p
                .data
                .iter()
                .map(|l| PathBuf::from(OsStr::from_bytes(l)))
                .collect(),
            upper: p
                .upper
                .as_ref()
                .map(|u| PathBuf::from(OsStr::from_bytes(u))),
            work: p.work.as_ref().map(|u| PathBuf::from(OsStr::from_bytes(u))),
            flags: OverlayFlags::default(),
        };
        let opts = BuildOptions {
            features: KernelFeatures {
                page_size: 1 << 20,
                lsm: Lsm::None,
                ..KernelFeatures::default()
            },
            ..BuildOptions::default()
        };
        if let Ok(Recipe::Legacy { data: again, .. }) = build(&cfg, Strategy::Legacy, &opts) {
            let q = parse::parse_legacy(&again, 1 << 20, Lsm::None).expect("rebuilt string parses");
            assert_eq!(
                (q.lowers, q.data),
                (p.lowers, p.data),
                "rebuild changed the layers"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_seeds_and_regressions_replay() {
        let a = crate::check::committed_inputs("overlay_options");
        let b = crate::check::committed_inputs("overlay_parse");
        assert!(
            a.len() >= 10 && b.len() >= 5,
            "{} {} seeds",
            a.len(),
            b.len()
        );
        for p in a {
            check_overlay_options(&std::fs::read(&p).unwrap());
        }
        for p in b {
            check_overlay_parse(&std::fs::read(&p).unwrap());
        }
    }

    #[test]
    fn decode_round_trips_encode() {
        let b = OverlayCase::encode(
            Strategy::Fsconfig,
            1 | 32,
            0,
            1,
            0,
            &[b"/a", b"/b", b"/d", b"/u", b"/w"],
        );
        let c = OverlayCase::decode(&b).unwrap();
        assert_eq!(c.strategy, Strategy::Fsconfig);
        assert_eq!(c.cfg.lowers, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.cfg.data, vec![PathBuf::from("/d")]);
        assert_eq!(c.cfg.upper, Some(PathBuf::from("/u")));
        let r = OverlayCase::decode(&OverlayCase::encode(
            Strategy::Legacy,
            0,
            0,
            0,
            500,
            &[b"/l"],
        ))
        .unwrap();
        assert_eq!(r.cfg.lowers.len(), 500);
    }

    #[test]
    fn nasty_paths_through_every_strategy() {
        let nasty: Vec<&[u8]> = vec![
            b"/a:b",
            b"/c,d",
            b"/e\\f",
            b"/g h",
            b"/i=j",
            b"/k\nl",
            b"/m\xffn",
            b"/x,upperdir=/evil",
            b"/y\\",
            b"/:lead",
            b"/trail:",
            b"/p::q",
            b"/q\"r",
            b"/s,context=t",
        ];
        let long254 = [b"/".as_slice(), &[b'a'; 253]].concat();
        let long255 = [b"/".as_slice(), &[b'a'; 254]].concat();
        let long256 = [b"/".as_slice(), &[b'a'; 255]].concat();
        for s in STRATEGIES {
            for f in [1u8, 1 | 8, 1 | 16 | 32, 1 | 8 | 16 | 32] {
                for p in nasty
                    .iter()
                    .copied()
                    .chain([&long254[..], &long255[..], &long256[..]])
                {
                    let b =
                        OverlayCase::encode(s, f, 0, 0, 0, &[p, b"/other", b"/up,per", b"/wo\\rk"]);
                    check_overlay_options(&b);
                }
            }
        }
    }
}
