//! Builders: every way of handing the kernel an overlay of 1 to 500 layers. Each strategy is a
//! separate transformation from an [`OverlayConfig`] to a [`Recipe`], the exact arguments of the
//! syscalls that will mount it. Builders never emit anything the kernel would truncate or
//! misparse: they return an error saying why instead.

use super::config::{ConfigError, OverlayConfig};
use super::escape::{DIR_SPECIAL, LOWER_SPECIAL, escape_into, escaped_len};
use super::parse::{FSCONFIG_MAX_VALUE, Lsm};
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How the layers are passed to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The cheapest strategy that fits this kernel and this configuration.
    Auto,
    /// One escaped `mount(2)` data string with absolute paths.
    Legacy,
    /// Layers relative to their common parent, mounted after a chdir there (containerd).
    LegacyCompact,
    /// Short symlink aliases `l/<id>` to each layer (moby), relative when needed.
    ShortLinks,
    /// Each layer opened `O_PATH` and named by its fd number from `/proc/self/fd`
    /// (containers/storage).
    FdPaths,
    /// The new mount API: `fsopen("overlay")` and one `fsconfig(lowerdir+)` per layer.
    Fsconfig,
}

impl Strategy {
    /// Every concrete strategy (not `auto`).
    pub const CONCRETE: [Strategy; 5] = [
        Strategy::Legacy,
        Strategy::LegacyCompact,
        Strategy::ShortLinks,
        Strategy::FdPaths,
        Strategy::Fsconfig,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Legacy => "legacy",
            Strategy::LegacyCompact => "legacy-compact",
            Strategy::ShortLinks => "short-links",
            Strategy::FdPaths => "fd-paths",
            Strategy::Fsconfig => "fsconfig",
        }
    }
}

/// What the running kernel supports, found by a probe (or assumed, in pure tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelFeatures {
    /// `sysconf(_SC_PAGESIZE)`: the legacy data limit is one byte less.
    pub page_size: usize,
    /// `fsconfig(lowerdir+)` (Linux 6.8).
    pub lowerdir_plus: bool,
    /// `fsconfig(FSCONFIG_SET_FD)` for overlay layers (Linux 6.13).
    pub fsconfig_fd: bool,
    /// Whether an LSM that eats mount options is active.
    #[serde(skip, default = "selinux")]
    pub lsm: Lsm,
}

fn selinux() -> Lsm {
    Lsm::Selinux
}

impl Default for KernelFeatures {
    /// A 4 KiB-page kernel with the new API and, to be safe, an option-eating LSM.
    fn default() -> Self {
        KernelFeatures {
            page_size: 4096,
            lowerdir_plus: true,
            fsconfig_fd: true,
            lsm: Lsm::Selinux,
        }
    }
}

/// Inputs of the builders besides the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    pub features: KernelFeatures,
    /// Bytes kept free below PAGE_SIZE-1 in legacy strings (room for an LSM label).
    pub margin: usize,
    /// Directory holding the `l/` short links (short-links strategy).
    pub links_home: Option<PathBuf>,
    /// Most decimal digits an fd number can have in the mounting process (fd-paths strategy).
    pub max_fd_digits: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            features: KernelFeatures::default(),
            margin: 0,
            links_home: None,
            max_fd_digits: 4,
        }
    }
}

/// One `fsconfig(2)` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsParam {
    pub key: &'static str,
    pub value: FsValue,
}

/// The value of an `fsconfig(2)` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsValue {
    /// `FSCONFIG_SET_FLAG`.
    Flag,
    /// `FSCONFIG_SET_STRING`, at most 255 bytes.
    String(Vec<u8>),
    /// `FSCONFIG_SET_FD` with this directory opened `O_RDONLY|O_DIRECTORY`.
    Fd(PathBuf),
}

/// The exact arguments of the syscalls that mount one overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// `mount("overlay", target, "overlay", 0, data)`, after `chdir(chdir)` when layers are
    /// relative.
    Legacy {
        strategy: Strategy,
        chdir: Option<PathBuf>,
        data: Vec<u8>,
        /// Number of options in `data`.
        options: usize,
    },
    /// Open each layer `O_PATH|O_DIRECTORY`, `chdir("/proc/self/fd")`, then `mount(2)` with
    /// `prefix` + fd numbers joined by `:` (data layers after `::`) + `suffix`.
    FdPaths {
        lowers: Vec<PathBuf>,
        data_layers: Vec<PathBuf>,
        prefix: Vec<u8>,
        suffix: Vec<u8>,
        /// Longest the data can get, with `max_fd_digits` per fd.
        max_len: usize,
        options: usize,
    },
    /// `fsopen("overlay")`, these `fsconfig` calls, `FSCONFIG_CMD_CREATE`, `fsmount`,
    /// `move_mount` onto the target.
    Fsconfig { params: Vec<FsParam> },
}

impl Recipe {
    /// The strategy that produced this recipe.
    pub fn strategy(&self) -> Strategy {
        match self {
            Recipe::Legacy { strategy, .. } => *strategy,
            Recipe::FdPaths { .. } => Strategy::FdPaths,
            Recipe::Fsconfig { .. } => Strategy::Fsconfig,
        }
    }
}

/// Why a configuration cannot be mounted with a strategy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{strategy}: mount data would be {len} bytes, over the limit of {limit} (PAGE_SIZE-1 minus a margin of {margin}); the kernel would silently truncate it"
    )]
    TooLong {
        strategy: &'static str,
        len: usize,
        limit: usize,
        margin: usize,
    },
    #[error(
        "{strategy}: {what} path contains `\"`, which the LSM option tokeniser treats as a quote"
    )]
    Quote {
        strategy: &'static str,
        what: String,
    },
    #[error(
        "{strategy}: {what} path contains `,{token}`, which an LSM would take as its own mount option"
    )]
    LsmToken {
        strategy: &'static str,
        what: String,
        token: String,
    },
    #[error(
        "fsconfig: {what} value is {len} bytes, over the kernel's 255 and this kernel cannot pass it by fd (needs Linux 6.13)"
    )]
    ValueTooLong { what: String, len: usize },
    #[error("fsconfig: this kernel has no `lowerdir+` (needs Linux 6.8)")]
    NoLowerdirPlus,
    #[error("legacy-compact: the lower layers share no parent below `/`")]
    NoCommonParent,
    #[error("short-links: no links directory was given")]
    NoLinksHome,
    #[error("auto: no strategy fits: {0}")]
    NothingFits(String),
}

/// Builds the recipe for `strategy`.
pub fn build(
    cfg: &OverlayConfig,
    strategy: Strategy,
    opts: &BuildOptions,
) -> Result<Recipe, BuildError> {
    cfg.validate()?;
    match strategy {
        Strategy::Legacy => legacy(cfg, opts),
        Strategy::LegacyCompact => legacy_compact(cfg, opts),
        Strategy::ShortLinks => short_links(cfg, opts),
        Strategy::FdPaths => fd_paths(cfg, opts),
        Strategy::Fsconfig => fsconfig(cfg, opts),
        Strategy::Auto => auto(cfg, opts),
    }
}

/// The order `auto` tries strategies in: cheapest first, as measured by `spinup bench`
/// (`overlay:<strategy>=N`; on Linux 6.18, 2 vCPUs, overlay p50 at 1 / 128 / 500 layers:
/// legacy 136 / 564 µs / -, legacy-compact 146 / 558 µs / 2.05 ms, short-links
/// 148 / 603 µs / 2.38 ms, fsconfig 171 µs / 1.13 ms / 3.07 ms, fd-paths 174 µs / 1.35 ms /
/// 4.51 ms). One `mount(2)` parses every layer in one go; `lowerdir+` pays a syscall and a
/// path walk per layer, fd-paths an open and a `/proc` magic-link walk per layer.
const AUTO_ORDER: [Strategy; 5] = [
    Strategy::Legacy,
    Strategy::LegacyCompact,
    Strategy::ShortLinks,
    Strategy::Fsconfig,
    Strategy::FdPaths,
];

fn auto(cfg: &OverlayConfig, opts: &BuildOptions) -> Result<Recipe, BuildError> {
    let mut why = Vec::new();
    for s in AUTO_ORDER {
        match build(cfg, s, opts) {
            Ok(r) => return Ok(r),
            Err(e) => why.push(e.to_string()),
        }
    }
    Err(BuildError::NothingFits(why.join("; ")))
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// The LSM-safety rules for a path that goes into a legacy data string. `what` names the
/// path in the error (built only on error).
fn lsm_check(
    strategy: &'static str,
    what: impl Fn() -> String,
    p: &[u8],
    lsm: Lsm,
) -> Result<(), BuildError> {
    if lsm == Lsm::None {
        return Ok(());
    }
    if p.contains(&b'"') {
        return Err(BuildError::Quote {
            strategy,
            what: what(),
        });
    }
    const TOKENS: [&[u8]; 5] = [
        b"context=",
        b"fscontext=",
        b"defcontext=",
        b"rootcontext=",
        b"seclabel",
    ];
    for piece in p.split(|&b| b == b',').skip(1) {
        if let Some(t) = TOKENS.iter().find(|t| piece.starts_with(t)) {
            // `seclabel` only matches as a whole token.
            if *t != b"seclabel" || piece == b"seclabel" {
                return Err(BuildError::LsmToken {
                    strategy,
                    what: what(),
                    token: String::from_utf8_lossy(t).trim_end_matches('=').to_string(),
                });
            }
        }
    }
    Ok(())
}

/// `,upperdir=..,workdir=..` plus the flags, and how many options that is.
fn tail(
    cfg: &OverlayConfig,
    strategy: &'static str,
    lsm: Lsm,
) -> Result<(Vec<u8>, usize), BuildError> {
    let mut out = Vec::new();
    let mut n = 0;
    for (key, p) in [("upperdir", &cfg.upper), ("workdir", &cfg.work)] {
        if let Some(p) = p {
            lsm_check(strategy, || key.to_string(), bytes(p), lsm)?;
            out.push(b',');
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            escape_into(&mut out, bytes(p), DIR_SPECIAL);
            n += 1;
        }
    }
    for (k, v) in cfg.flags.options() {
        out.push(b',');
        out.extend_from_slice(k.as_bytes());
        if let Some(v) = v {
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
        }
        n += 1;
    }
    Ok((out, n))
}

fn fits(strategy: &'static str, len: usize, opts: &BuildOptions) -> Result<(), BuildError> {
    let limit = opts
        .features
        .page_size
        .saturating_sub(1)
        .saturating_sub(opts.margin);
    if len > limit {
        return Err(BuildError::TooLong {
            strategy,
            len,
            limit,
            margin: opts.margin,
        });
    }
    Ok(())
}

/// `lowerdir=` + escaped layers joined by `:` (data layers after `::`) + the tail. The
/// length is known before anything is copied, so a string that cannot fit costs no copy.
fn legacy_with<T: AsRef<[u8]>>(
    cfg: &OverlayConfig,
    opts: &BuildOptions,
    strategy: Strategy,
    chdir: Option<PathBuf>,
    regular: &[T],
    data_layers: &[T],
) -> Result<Recipe, BuildError> {
    let name = strategy.name();
    let lsm = opts.features.lsm;
    for (i, p) in regular.iter().enumerate() {
        lsm_check(name, || format!("lowerdir {i}"), p.as_ref(), lsm)?;
    }
    for (i, p) in data_layers.iter().enumerate() {
        lsm_check(name, || format!("datadir {i}"), p.as_ref(), lsm)?;
    }
    let (t, n) = tail(cfg, name, lsm)?;
    let seps = regular.len().saturating_sub(1) + 2 * data_layers.len();
    let len = b"lowerdir=".len()
        + seps
        + regular
            .iter()
            .chain(data_layers)
            .map(|p| escaped_len(p.as_ref(), LOWER_SPECIAL))
            .sum::<usize>()
        + t.len();
    fits(name, len, opts)?;
    let mut data = Vec::with_capacity(len);
    data.extend_from_slice(b"lowerdir=");
    for (i, p) in regular.iter().enumerate() {
        if i > 0 {
            data.push(b':');
        }
        escape_into(&mut data, p.as_ref(), LOWER_SPECIAL);
    }
    for p in data_layers {
        data.extend_from_slice(b"::");
        escape_into(&mut data, p.as_ref(), LOWER_SPECIAL);
    }
    data.extend(t);
    debug_assert_eq!(data.len(), len);
    Ok(Recipe::Legacy {
        strategy,
        chdir,
        data,
        options: 1 + n,
    })
}

fn legacy(cfg: &OverlayConfig, opts: &BuildOptions) -> Result<Recipe, BuildError> {
    let regular: Vec<&[u8]> = cfg.lowers.iter().map(|p| bytes(p)).collect();
    let data: Vec<&[u8]> = cfg.data.iter().map(|p| bytes(p)).collect();
    legacy_with(cfg, opts, Strategy::Legacy, None, &regular, &data)
}

/// The directory every path starts with, cut at a `/`, as bytes (so the layers relative to it
/// are exactly the original bytes after `dir/`): `None` when it would be `/` or nothing.
pub fn common_parent<P: AsRef<Path>>(paths: &[P]) -> Option<(PathBuf, Vec<&[u8]>)> {
    let all: Vec<&[u8]> = paths.iter().map(|p| bytes(p.as_ref())).collect();
    let first = *all.first()?;
    let mut k = all.iter().fold(first.len(), |n, p| {
        n.min(
            first
                .iter()
                .zip(p.iter())
                .take_while(|(a, b)| a == b)
                .count(),
        )
    });
    loop {
        // Cut at the last `/` of the common prefix.
        k = first[..k].iter().rposition(|&c| c == b'/')?;
        if k == 0 {
            return None;
        }
        // Every layer must keep a non-empty relative name that does not start with `/`.
        let rel: Vec<&[u8]> = all.iter().map(|p| &p[k + 1..]).collect();
        if rel.iter().all(|r| !r.is_empty() && r[0] != b'/') {
            return Some((PathBuf::from(OsStr::from_bytes(&first[..k])), rel));
        }
    }
}

fn legacy_compact(cfg: &OverlayConfig, opts: &BuildOptions) -> Result<Recipe, BuildError> {
    if cfg.lowers.iter().chain(&cfg.data).any(|p| !p.is_absolute()) {
        return Err(BuildError::NoCommonParent);
    }
    let all: Vec<&Path> = cfg
        .lowers
        .iter()
        .chain(&cfg.data)
        .map(PathBuf::as_path)
        .collect();
    let (common, rel) = common_parent(&all).ok_or(BuildError::NoCommonParent)?;
    let (regular, data) = rel.split_at(cfg.lowers.len());
    legacy_with(
        cfg,
        opts,
        Strategy::LegacyCompact,
        Some(common),
        regular,
        data,
    )
}

/// The alias of layer `i` of `n` under `l/`: base-36, fixed width, like moby's `l/<id>`.
pub fn short_link_name(i: usize, n: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut width = 1;
    let mut cap = 36;
    while cap < n {
        cap *= 36;
        width += 1;
    }
    let mut s = vec![b'0'; width];
    let mut v = i;
    for slot in s.iter_mut().rev() {
        *slot = DIGITS[v % 36];
        v /= 36;
    }
    format!("l/{}", String::from_utf8(s).expect("ascii"))
}

/// The links the short-links strategy expects under `home`: (link path, layer it points at),
/// regular layers first, then data layers.
pub fn short_link_targets(cfg: &OverlayConfig, home: &Path) -> Vec<(PathBuf, PathBuf)> {
    let n = cfg.lowers.len() + cfg.data.len();
    cfg.lowers
        .iter()
        .chain(&cfg.data)
        .enumerate()
        .map(|(i, p)| (home.join(short_link_name(i, n)), p.clone()))
        .collect()
}

fn short_links(cfg: &OverlayConfig, opts: &BuildOptions) -> Result<Recipe, BuildError> {
    let home = opts.links_home.as_ref().ok_or(BuildError::NoLinksHome)?;
    let n = cfg.lowers.len() + cfg.data.len();
    let names: Vec<Vec<u8>> = (0..n).map(|i| short_link_name(i, n).into_bytes()).collect();
    let (reg, dat) = names.split_at(cfg.lowers.len());
    // Absolute links first (moby); relative to the links home when that is too long.
    let abs = |v: &[Vec<u8>]| -> Vec<Vec<u8>> {
        v.iter()
            .map(|l| bytes(&home.join(std::ffi::OsStr::from_bytes(l))).to_vec())
            .collect()
    };
    match legacy_with(cfg, opts, Strategy::ShortLinks, None, &abs(reg), &abs(dat)) {
        Err(BuildError::TooLong { .. }) => legacy_with(
            cfg,
            opts,
            Strategy::ShortLinks,
            Some(home.clone()),
            reg,
            dat,
        ),
        r => r,
    }
}

fn fd_paths(cfg: &OverlayConfig, opts: &BuildOptions) -> Result<Recipe, BuildError> {
    let name = Strategy::FdPaths.name();
    let (suffix, n) = tail(cfg, name, opts.features.lsm)?;
    let prefix = b"lowerdir=".to_vec();
    let layers = cfg.lowers.len() + cfg.data.len();
    // Each fd is at most max_fd_digits; separators are ':' (or '::' before each data layer).
    let max_len = prefix.len()
        + layers * opts.max_fd_digits
        + cfg.lowers.len().saturating_sub(1)
        + 2 * cfg.data.len()
        + suffix.len();
    fits(name, max_len, opts)?;
    Ok(Recipe::FdPaths {
        lowers: cfg.lowers.clone(),
        data_layers: cfg.data.clone(),
        prefix,
        suffix,
        max_len,
        options: 1 + n,
    })
}

fn fsconfig(cfg: &OverlayConfig, opts: &BuildOptions) -> Result<Recipe, BuildError> {
    if !opts.features.lowerdir_plus {
        return Err(BuildError::NoLowerdirPlus);
    }
    let mut params = Vec::new();
    let value = |what: String, raw: Vec<u8>, path: &Path| -> Result<FsValue, BuildError> {
        if raw.len() <= FSCONFIG_MAX_VALUE {
            Ok(FsValue::String(raw))
        } else if opts.features.fsconfig_fd {
            Ok(FsValue::Fd(path.to_path_buf()))
        } else {
            Err(BuildError::ValueTooLong {
                what,
                len: raw.len(),
            })
        }
    };
    for (i, p) in cfg.lowers.iter().enumerate() {
        // lowerdir+ values are used verbatim (ovl_mount_dir_noesc): no escaping.
        let v = value(format!("lowerdir {i}"), bytes(p).to_vec(), p)?;
        params.push(FsParam {
            key: "lowerdir+",
            value: v,
        });
    }
    for (i, p) in cfg.data.iter().enumerate() {
        let v = value(format!("datadir {i}"), bytes(p).to_vec(), p)?;
        params.push(FsParam {
            key: "datadir+",
            value: v,
        });
    }
    for (key, p) in [("upperdir", &cfg.upper), ("workdir", &cfg.work)] {
        if let Some(p) = p {
            // upperdir/workdir strings go through ovl_unescape: `\` must be escaped.
            let esc = super::escape::escape_backslash(bytes(p));
            let v = value(key.to_string(), esc, p)?;
            params.push(FsParam { key, value: v });
        }
    }
    for (k, v) in cfg.flags.options() {
        let value = match v {
            Some(v) => FsValue::String(v.as_bytes().to_vec()),
            None => FsValue::Flag,
        };
        params.push(FsParam { key: k, value });
    }
    Ok(Recipe::Fsconfig { params })
}

#[cfg(test)]
mod tests {
    use super::super::parse::{Lsm, parse_legacy};
    use super::*;
    use crate::overlay::OverlayFlags;

    fn cfg(lowers: &[&str]) -> OverlayConfig {
        OverlayConfig {
            lowers: lowers.iter().map(PathBuf::from).collect(),
            data: vec![],
            upper: Some("/x/upper".into()),
            work: Some("/x/work".into()),
            flags: OverlayFlags::default(),
        }
    }

    fn many(n: usize, dir: &str) -> OverlayConfig {
        let v: Vec<String> = (0..n).map(|i| format!("{dir}/{i:04}")).collect();
        cfg(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn legacy_escapes_and_parses_back() {
        let c = cfg(&["/a:b", "/c,d", "/e\\f", "/g h=i\n"]);
        let opts = BuildOptions {
            features: KernelFeatures {
                lsm: Lsm::None,
                ..Default::default()
            },
            ..Default::default()
        };
        let Recipe::Legacy { data, options, .. } = build(&c, Strategy::Legacy, &opts).unwrap()
        else {
            panic!("legacy recipe");
        };
        assert_eq!(options, 3);
        let p = parse_legacy(&data, 4096, Lsm::None).unwrap();
        let want: Vec<Vec<u8>> = c.lowers.iter().map(|l| bytes(l).to_vec()).collect();
        assert_eq!(p.lowers, want);
        assert_eq!(p.options.len(), options);
    }

    #[test]
    fn legacy_refuses_what_it_cannot_fit() {
        let c = many(500, "/var/lib/spinup/layers");
        let e = build(&c, Strategy::Legacy, &BuildOptions::default()).unwrap_err();
        let BuildError::TooLong { len, limit, .. } = e else {
            panic!("{e}")
        };
        assert_eq!(limit, 4095);
        assert!(len > 4095);
        assert!(e.to_string().contains(&len.to_string()));
    }

    #[test]
    fn lsm_tokens_in_paths_are_refused_for_legacy_only() {
        let c = cfg(&["/x,context=foo"]);
        assert!(matches!(
            build(&c, Strategy::Legacy, &BuildOptions::default()),
            Err(BuildError::LsmToken { .. })
        ));
        assert!(matches!(
            build(&cfg(&["/a\"b"]), Strategy::Legacy, &BuildOptions::default()),
            Err(BuildError::Quote { .. })
        ));
        assert!(build(&c, Strategy::Fsconfig, &BuildOptions::default()).is_ok());
    }

    #[test]
    fn compact_is_relative_to_the_common_parent() {
        let c = many(3, "/var/lib/x/snapshots");
        let Recipe::Legacy { chdir, data, .. } =
            build(&c, Strategy::LegacyCompact, &BuildOptions::default()).unwrap()
        else {
            panic!()
        };
        assert_eq!(chdir.as_deref(), Some(Path::new("/var/lib/x/snapshots")));
        assert!(data.starts_with(b"lowerdir=0000:0001:0002,upperdir=/x/upper"));
        assert_eq!(
            common_parent(&[PathBuf::from("/a/b"), PathBuf::from("/a")]),
            None
        );
        let paths = [PathBuf::from("/x//a"), PathBuf::from("/x//b")];
        let (d, rel) = common_parent(&paths).unwrap();
        assert_eq!((d, rel), (PathBuf::from("/x/"), vec![&b"a"[..], &b"b"[..]]));
        assert_eq!(
            common_parent(&[PathBuf::from("/x//a"), PathBuf::from("/x/b")]),
            None
        );
        assert!(matches!(
            build(
                &cfg(&["/a", "/b"]),
                Strategy::LegacyCompact,
                &BuildOptions::default()
            ),
            Err(BuildError::NoCommonParent)
        ));
    }

    #[test]
    fn short_links_switch_to_relative_when_long() {
        assert_eq!(short_link_name(0, 1), "l/0");
        assert_eq!(short_link_name(37, 500), "l/11");
        assert_eq!(short_link_name(499, 500), "l/DV");
        let c = many(500, "/var/lib/spinup/layers");
        let opts = BuildOptions {
            links_home: Some("/var/lib/spinup".into()),
            ..Default::default()
        };
        let Recipe::Legacy { chdir, data, .. } = build(&c, Strategy::ShortLinks, &opts).unwrap()
        else {
            panic!()
        };
        assert_eq!(chdir.as_deref(), Some(Path::new("/var/lib/spinup")));
        assert!(data.len() <= 4095);
        let small = many(2, "/var/lib/spinup/layers");
        let Recipe::Legacy { chdir, data, .. } =
            build(&small, Strategy::ShortLinks, &opts).unwrap()
        else {
            panic!()
        };
        assert_eq!(chdir, None);
        assert!(data.starts_with(b"lowerdir=/var/lib/spinup/l/0:/var/lib/spinup/l/1,"));
    }

    #[test]
    fn fsconfig_uses_fds_for_long_values_when_it_can() {
        let long = format!("/{}", "a".repeat(255));
        let c = cfg(&[&long, "/short"]);
        let Recipe::Fsconfig { params } =
            build(&c, Strategy::Fsconfig, &BuildOptions::default()).unwrap()
        else {
            panic!()
        };
        assert_eq!(params[0].value, FsValue::Fd(PathBuf::from(&long)));
        assert_eq!(params[1].value, FsValue::String(b"/short".to_vec()));
        let old = BuildOptions {
            features: KernelFeatures {
                fsconfig_fd: false,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(
            build(&c, Strategy::Fsconfig, &old),
            Err(BuildError::ValueTooLong { len: 256, .. })
        ));
        let none = BuildOptions {
            features: KernelFeatures {
                lowerdir_plus: false,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            build(&c, Strategy::Fsconfig, &none),
            Err(BuildError::NoLowerdirPlus)
        );
    }

    #[test]
    fn auto_falls_back_in_order() {
        let c = many(500, "/var/lib/spinup/layers");
        let r = build(&c, Strategy::Auto, &BuildOptions::default()).unwrap();
        assert_eq!(r.strategy(), Strategy::LegacyCompact);
        let small = many(2, "/l");
        assert_eq!(
            build(&small, Strategy::Auto, &BuildOptions::default())
                .unwrap()
                .strategy(),
            Strategy::Legacy
        );
    }

    #[test]
    fn fd_paths_bound_fits_500_layers() {
        let c = many(500, "/var/lib/spinup/layers");
        let Recipe::FdPaths { max_len, .. } =
            build(&c, Strategy::FdPaths, &BuildOptions::default()).unwrap()
        else {
            panic!()
        };
        assert!(max_len <= 4095);
    }
}
