//! `SetupSpec`: what one container setup does, and its validation.
//!
//! A spec is pure data. `validate` rejects every combination the runner cannot honour (or that
//! would touch the host) with an error naming the field that is wrong, before anything runs.

use crate::overlay::{OverlayFlags, Strategy};
use crate::phase::Phase;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

/// The kernel's limit on overlay lower layers (`OVL_MAX_STACK`, fs/overlayfs/params.h).
pub const MAX_LAYERS: usize = 500;

/// Longest hostname `sethostname(2)` accepts (`__NEW_UTS_LEN`).
pub const MAX_HOSTNAME: usize = 64;

/// A namespace the setup child can unshare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    Mnt,
    Uts,
    Ipc,
    Net,
    Pid,
    Cgroup,
}

impl Namespace {
    /// Every supported namespace, in the order they are unshared one by one.
    pub const ALL: [Namespace; 6] = [
        Namespace::Mnt,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Pid,
        Namespace::Cgroup,
    ];

    /// The short name (`mnt`, `uts`, ...), as in `/proc/self/ns`.
    pub const fn name(self) -> &'static str {
        match self {
            Namespace::Mnt => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Pid => "pid",
            Namespace::Cgroup => "cgroup",
        }
    }
}

/// A set of namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct NamespaceSet(u8);

impl NamespaceSet {
    /// The empty set.
    pub const EMPTY: NamespaceSet = NamespaceSet(0);

    /// mnt + uts + ipc + pid: what runc unshares for a container without its own network.
    pub fn default_set() -> Self {
        [
            Namespace::Mnt,
            Namespace::Uts,
            Namespace::Ipc,
            Namespace::Pid,
        ]
        .into_iter()
        .collect()
    }

    pub fn contains(self, ns: Namespace) -> bool {
        self.0 & (1 << ns as u8) != 0
    }

    pub fn insert(&mut self, ns: Namespace) {
        self.0 |= 1 << ns as u8;
    }

    /// Members in unshare order.
    pub fn iter(self) -> impl Iterator<Item = Namespace> {
        Namespace::ALL
            .into_iter()
            .filter(move |n| self.contains(*n))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Namespace> for NamespaceSet {
    fn from_iter<I: IntoIterator<Item = Namespace>>(iter: I) -> Self {
        let mut s = NamespaceSet::EMPTY;
        for n in iter {
            s.insert(n);
        }
        s
    }
}

impl fmt::Display for NamespaceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Namespace::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for NamespaceSet {
    type Err = String;

    /// Parses a comma-separated list such as `mnt,uts,ipc,pid`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = NamespaceSet::EMPTY;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let ns = Namespace::ALL
                .into_iter()
                .find(|n| n.name() == part)
                .ok_or_else(|| {
                    format!("unknown namespace `{part}` (expected mnt, uts, ipc, net, pid, cgroup)")
                })?;
            set.insert(ns);
        }
        Ok(set)
    }
}

/// How the namespaces are created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SpawnMode {
    /// fork, then one `unshare`, then (with a pid namespace) a fork of PID 1: runc's shape.
    Fork,
    /// One `clone()` carrying every namespace flag: crun's shape. Reports a single `clone` phase.
    Clone,
}

/// Whether `unshare` gets every flag at once or one call per namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UnshareMode {
    /// One `unshare(2)` with all flags (runc).
    Single,
    /// One `unshare(2)` per namespace (youki).
    PerNs,
}

/// Propagation given to `/` in the new mount namespace before anything is mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RootPropagation {
    /// `MS_SLAVE|MS_REC` (runc, youki).
    Rslave,
    /// `MS_PRIVATE|MS_REC` (crun).
    Rprivate,
}

/// How the child switches its root to the container rootfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RootSwitch {
    /// runc/youki: `pivot_root(".", ".")`, old root made rslave, `umount2(".", MNT_DETACH)`.
    Pivot,
    /// crun: `pivot_root(".", ".")`, old root rprivate, `umount2` in a loop until EINVAL.
    PivotPrivateLoop,
    /// Classic: mkdir put_old, `pivot_root(".", put_old)`, umount2 and rmdir put_old.
    PivotPutold,
    /// runc `--no-pivot`: hide host proc/sysfs, `mount(rootfs, "/", MS_MOVE)`, `chroot(".")`.
    MoveChroot,
    /// The baseline: `chroot(".")` only.
    Chroot,
}

impl RootSwitch {
    pub const ALL: [RootSwitch; 5] = [
        RootSwitch::Pivot,
        RootSwitch::PivotPrivateLoop,
        RootSwitch::PivotPutold,
        RootSwitch::MoveChroot,
        RootSwitch::Chroot,
    ];

    /// The CLI and report name.
    pub const fn name(self) -> &'static str {
        match self {
            RootSwitch::Pivot => "pivot",
            RootSwitch::PivotPrivateLoop => "pivot-private-loop",
            RootSwitch::PivotPutold => "pivot-putold",
            RootSwitch::MoveChroot => "move-chroot",
            RootSwitch::Chroot => "chroot",
        }
    }

    /// Whether this method uses `pivot_root(2)`, leaving the old root unmounted.
    pub const fn is_pivot(self) -> bool {
        matches!(
            self,
            RootSwitch::Pivot | RootSwitch::PivotPrivateLoop | RootSwitch::PivotPutold
        )
    }
}

/// A kernel filesystem mounted inside the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// procfs on `/proc` (in the new pid namespace when there is one).
    Proc,
    /// sysfs on `/sys`, read-only.
    Sys,
    /// tmpfs on `/dev` with null, zero, full, random, urandom, tty bound from the host and the
    /// usual symlinks.
    Dev,
    /// devpts on `/dev/pts` (needs `dev`).
    Devpts,
    /// tmpfs on `/dev/shm` (needs `dev`).
    Shm,
}

impl MountKind {
    pub const ALL: [MountKind; 5] = [
        MountKind::Proc,
        MountKind::Sys,
        MountKind::Dev,
        MountKind::Devpts,
        MountKind::Shm,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            MountKind::Proc => "proc",
            MountKind::Sys => "sys",
            MountKind::Dev => "dev",
            MountKind::Devpts => "devpts",
            MountKind::Shm => "shm",
        }
    }

    /// Parses a comma-separated list such as `proc,sys,dev,devpts`; `none` is the empty list.
    pub fn parse_list(s: &str) -> Result<Vec<MountKind>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "none" {
                continue;
            }
            let k = MountKind::ALL
                .into_iter()
                .find(|k| k.name() == part)
                .ok_or_else(|| {
                    format!("unknown mount `{part}` (expected proc, sys, dev, devpts, shm or none)")
                })?;
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The mounts runc's default spec has, in this order.
    pub fn default_list() -> Vec<MountKind> {
        vec![
            MountKind::Proc,
            MountKind::Sys,
            MountKind::Dev,
            MountKind::Devpts,
        ]
    }
}

/// A user bind mount `SRC:DST[:ro]`: a host path bound onto a path inside the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injection {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub read_only: bool,
}

impl FromStr for Injection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (rest, read_only) = match s.strip_suffix(":ro") {
            Some(r) => (r, true),
            None => (s.strip_suffix(":rw").unwrap_or(s), false),
        };
        let (src, dst) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("injection `{s}` is not SRC:DST[:ro]"))?;
        if src.is_empty() || dst.is_empty() {
            return Err(format!("injection `{s}` has an empty SRC or DST"));
        }
        Ok(Injection {
            src: PathBuf::from(src),
            dst: PathBuf::from(dst),
            read_only,
        })
    }
}

/// Where the image layers come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    /// The built-in synthetic image, generated in a temp dir.
    Synthetic {
        layers: usize,
        files_per_layer: usize,
    },
    /// A directory prepared by `spinup import` (or any directory of layer dirs).
    Dir(PathBuf),
}

impl ImageSource {
    /// Number of layers, when known without reading the disk.
    pub fn layer_count(&self) -> Option<usize> {
        match self {
            ImageSource::Synthetic { layers, .. } => Some(*layers),
            ImageSource::Dir(_) => None,
        }
    }
}

/// Default number of synthetic layers.
pub const DEFAULT_LAYERS: usize = 4;
/// Default number of files per synthetic layer.
pub const DEFAULT_FILES_PER_LAYER: usize = 100;

/// The overlay part of a setup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlaySpec {
    pub strategy: Strategy,
    pub flags: OverlayFlags,
}

/// What one container setup does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupSpec {
    pub namespaces: NamespaceSet,
    pub spawn: SpawnMode,
    pub unshare: UnshareMode,
    pub root_propagation: RootPropagation,
    pub image: ImageSource,
    pub overlay: OverlaySpec,
    /// Bind `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` from host files spinup writes.
    pub inject_etc: bool,
    pub injections: Vec<Injection>,
    pub mounts: Vec<MountKind>,
    pub root_switch: RootSwitch,
    /// Hostname set in the new UTS namespace (post_jail).
    pub hostname: String,
    /// Exec a tiny static binary at the end of setup.
    pub exec: bool,
    /// Files read inside the container after setup (untimed), e.g. `/proc/self/mountinfo`.
    pub capture: Vec<PathBuf>,
    /// Test-only: fail the run at the end of this phase.
    #[serde(skip)]
    pub fail_at: Option<Phase>,
    /// Test-only: park the child at the end of this phase; the parent then SIGKILLs it.
    #[serde(skip)]
    pub kill_at: Option<Phase>,
}

impl Default for SetupSpec {
    fn default() -> Self {
        SetupSpec {
            namespaces: NamespaceSet::default_set(),
            spawn: SpawnMode::Fork,
            unshare: UnshareMode::Single,
            root_propagation: RootPropagation::Rslave,
            image: ImageSource::Synthetic {
                layers: DEFAULT_LAYERS,
                files_per_layer: DEFAULT_FILES_PER_LAYER,
            },
            overlay: OverlaySpec {
                strategy: Strategy::Auto,
                flags: OverlayFlags::default(),
            },
            inject_etc: true,
            injections: Vec::new(),
            mounts: MountKind::default_list(),
            root_switch: RootSwitch::Pivot,
            hostname: "spinup".to_string(),
            exec: false,
            capture: Vec::new(),
            fail_at: None,
            kill_at: None,
        }
    }
}

/// A spec the runner cannot honour.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("namespaces: `mnt` is required (spinup never mounts in the host's mount namespace)")]
    NoMountNamespace,
    #[error("layers: {0} is out of range (the kernel stacks 1 to {MAX_LAYERS} lower layers)")]
    LayerCount(usize),
    #[error("files-per-layer: {0} is too many (at most 1000000)")]
    FilesPerLayer(usize),
    #[error("hostname: `{0}` must be 1 to {MAX_HOSTNAME} bytes without NUL")]
    Hostname(String),
    #[error("hostname: setting `{0}` needs the uts namespace")]
    HostnameWithoutUts(String),
    #[error("mounts: `{0}` needs `dev`")]
    NeedsDev(&'static str),
    #[error("inject: destination `{0}` must be an absolute path without `..` and not `/`")]
    InjectDestination(PathBuf),
    #[error("inject: source `{0}` must be an absolute path")]
    InjectSource(PathBuf),
    #[error("inject: destination `{0}` is given twice")]
    InjectDuplicate(PathBuf),
    #[error("capture: `{0}` must be an absolute path")]
    CapturePath(PathBuf),
    #[error(
        "root-switch: `{0}` cannot run with --root-propagation rprivate (not safe without pivot_root)"
    )]
    MoveChrootPrivate(&'static str),
    #[error("{which}: phase `{phase}` is not part of this spec")]
    PhaseNotRun { which: &'static str, phase: Phase },
    #[error("exec: the static exit binary is only built for x86_64")]
    ExecArch,
    #[error("overlay: {0}")]
    Overlay(String),
}

impl SetupSpec {
    /// The phases a run of this spec goes through, in order.
    pub fn phases(&self) -> Vec<Phase> {
        let mut v = Vec::with_capacity(12);
        match self.spawn {
            SpawnMode::Fork => {
                v.push(Phase::Fork);
                v.push(Phase::Unshare);
                if self.namespaces.contains(Namespace::Pid) {
                    v.push(Phase::ForkPid1);
                }
            }
            SpawnMode::Clone => v.push(Phase::Clone),
        }
        v.push(Phase::Propagation);
        v.push(Phase::Overlay);
        if self.inject_etc || !self.injections.is_empty() {
            v.push(Phase::Inject);
        }
        if !self.mounts.is_empty() {
            v.push(Phase::Mounts);
        }
        v.push(Phase::Jail);
        v.push(Phase::PostJail);
        if self.exec {
            v.push(Phase::Exec);
        }
        v.push(Phase::ExitReap);
        v.push(Phase::Teardown);
        v
    }

    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !self.namespaces.contains(Namespace::Mnt) {
            return Err(SpecError::NoMountNamespace);
        }
        if let ImageSource::Synthetic {
            layers,
            files_per_layer,
        } = self.image
        {
            if !(1..=MAX_LAYERS).contains(&layers) {
                return Err(SpecError::LayerCount(layers));
            }
            if files_per_layer > 1_000_000 {
                return Err(SpecError::FilesPerLayer(files_per_layer));
            }
        }
        if self.hostname.is_empty()
            || self.hostname.len() > MAX_HOSTNAME
            || self.hostname.contains('\0')
        {
            return Err(SpecError::Hostname(self.hostname.clone()));
        }
        for (k, name) in [(MountKind::Devpts, "devpts"), (MountKind::Shm, "shm")] {
            if self.mounts.contains(&k) && !self.mounts.contains(&MountKind::Dev) {
                return Err(SpecError::NeedsDev(name));
            }
        }
        let mut seen: Vec<PathBuf> = Vec::new();
        if self.inject_etc {
            seen.extend(
                ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
                    .iter()
                    .map(PathBuf::from),
            );
        }
        for inj in &self.injections {
            if !inj.src.is_absolute() {
                return Err(SpecError::InjectSource(inj.src.clone()));
            }
            let dst = normalize_container_path(&inj.dst)
                .ok_or_else(|| SpecError::InjectDestination(inj.dst.clone()))?;
            if seen.contains(&dst) {
                return Err(SpecError::InjectDuplicate(inj.dst.clone()));
            }
            seen.push(dst);
        }
        for c in &self.capture {
            if !c.is_absolute() {
                return Err(SpecError::CapturePath(c.clone()));
            }
        }
        if self.root_switch == RootSwitch::MoveChroot
            && self.root_propagation == RootPropagation::Rprivate
        {
            return Err(SpecError::MoveChrootPrivate(self.root_switch.name()));
        }
        if self.exec && !cfg!(target_arch = "x86_64") {
            return Err(SpecError::ExecArch);
        }
        let phases = self.phases();
        for (which, p) in [("fail-at", self.fail_at), ("kill-at", self.kill_at)] {
            if let Some(phase) = p {
                // Host-side phases run in the parent, and exec ends inside the exec'd binary:
                // the child cannot stop at the end of those.
                let child_side = !matches!(phase, Phase::Exec | Phase::ExitReap | Phase::Teardown);
                if !phases.contains(&phase) || !child_side {
                    return Err(SpecError::PhaseNotRun { which, phase });
                }
            }
        }
        self.overlay
            .flags
            .validate()
            .map_err(|e| SpecError::Overlay(e.to_string()))?;
        Ok(())
    }

    /// Whether the hostname is set (only with a UTS namespace).
    pub fn sets_hostname(&self) -> bool {
        self.namespaces.contains(Namespace::Uts)
    }
}

/// `/a/./b/` -> `/a/b`; `None` for relative paths, `..` components or `/` itself.
pub fn normalize_container_path(p: &Path) -> Option<PathBuf> {
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if out == Path::new("/") {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid_and_runs_runc_phases() {
        let s = SetupSpec::default();
        s.validate().unwrap();
        assert_eq!(
            s.phases(),
            vec![
                Phase::Fork,
                Phase::Unshare,
                Phase::ForkPid1,
                Phase::Propagation,
                Phase::Overlay,
                Phase::Inject,
                Phase::Mounts,
                Phase::Jail,
                Phase::PostJail,
                Phase::ExitReap,
                Phase::Teardown
            ]
        );
    }

    #[test]
    fn clone_mode_reports_one_clone_phase() {
        let s = SetupSpec {
            spawn: SpawnMode::Clone,
            exec: cfg!(target_arch = "x86_64"),
            ..SetupSpec::default()
        };
        let p = s.phases();
        assert_eq!(p[0], Phase::Clone);
        assert!(!p.contains(&Phase::Fork) && !p.contains(&Phase::Unshare));
        assert_eq!(p.contains(&Phase::Exec), s.exec);
    }

    #[test]
    fn namespace_lists_parse_and_reject_unknown() {
        let s: NamespaceSet = "mnt, pid,uts".parse().unwrap();
        assert_eq!(s.to_string(), "mnt,uts,pid");
        assert!(
            "mnt,user"
                .parse::<NamespaceSet>()
                .unwrap_err()
                .contains("`user`")
        );
    }

    #[test]
    fn rejections_name_the_field() {
        let bad = |f: &dyn Fn(&mut SetupSpec)| {
            let mut s = SetupSpec::default();
            f(&mut s);
            s.validate().unwrap_err()
        };
        assert_eq!(
            bad(&|s| s.namespaces = "uts,pid".parse().unwrap()),
            SpecError::NoMountNamespace
        );
        assert_eq!(
            bad(&|s| s.image = ImageSource::Synthetic {
                layers: 501,
                files_per_layer: 1
            }),
            SpecError::LayerCount(501)
        );
        assert_eq!(
            bad(&|s| s.image = ImageSource::Synthetic {
                layers: 0,
                files_per_layer: 1
            }),
            SpecError::LayerCount(0)
        );
        assert_eq!(
            bad(&|s| s.mounts = vec![MountKind::Devpts]),
            SpecError::NeedsDev("devpts")
        );
        assert!(matches!(
            bad(&|s| s.injections.push("/etc/passwd:/../x".parse().unwrap())),
            SpecError::InjectDestination(_)
        ));
        assert!(matches!(
            bad(&|s| s.injections.push("/etc/passwd:/etc/hosts".parse().unwrap())),
            SpecError::InjectDuplicate(_)
        ));
        assert!(matches!(
            bad(&|s| s.hostname = "x".repeat(65)),
            SpecError::Hostname(_)
        ));
        assert_eq!(
            bad(&|s| s.fail_at = Some(Phase::Clone)),
            SpecError::PhaseNotRun {
                which: "fail-at",
                phase: Phase::Clone
            }
        );
        assert_eq!(
            bad(&|s| s.fail_at = Some(Phase::Teardown)),
            SpecError::PhaseNotRun {
                which: "fail-at",
                phase: Phase::Teardown
            }
        );
    }

    #[test]
    fn injections_parse() {
        let i: Injection = "/a:/b:ro".parse().unwrap();
        assert_eq!(
            (i.src.as_path(), i.dst.as_path(), i.read_only),
            (Path::new("/a"), Path::new("/b"), true)
        );
        let i: Injection = "/a:/b".parse().unwrap();
        assert!(!i.read_only);
        assert!("/a".parse::<Injection>().is_err());
        assert!(":/b".parse::<Injection>().is_err());
    }

    #[test]
    fn container_paths_normalize() {
        assert_eq!(
            normalize_container_path(Path::new("/etc/./hosts/")),
            Some(PathBuf::from("/etc/hosts"))
        );
        assert_eq!(normalize_container_path(Path::new("/")), None);
        assert_eq!(normalize_container_path(Path::new("etc")), None);
        assert_eq!(normalize_container_path(Path::new("/a/../b")), None);
    }
}
