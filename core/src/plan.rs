//! `Plan`: a validated spec and its fixture turned into every syscall argument of a run,
//! computed before fork. The child only reads the plan: it never allocates, formats or
//! resolves anything by string.

use crate::fixture::{EXIT_BINARY, Fixture};
use crate::mountinfo;
use crate::overlay::{
    BuildError, BuildOptions, FsValue, KernelFeatures, OverlayConfig, Recipe, Strategy,
    short_link_targets,
};
use crate::phase::Phase;
use crate::spec::{MountKind, Namespace, RootPropagation, RootSwitch, SetupSpec, UnshareMode};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A plan that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("overlay: {0}")]
    Overlay(#[from] BuildError),
    #[error("inject: source {0} does not exist")]
    InjectSource(PathBuf),
    #[error("{what}: path {path} contains a NUL byte")]
    Nul { what: &'static str, path: PathBuf },
    #[error("fixture: {0}")]
    Fixture(#[from] crate::fixture::FixtureError),
}

/// A filesystem mounted by type (proc, sysfs, tmpfs, devpts).
#[derive(Debug)]
pub struct KernelMount {
    /// Target relative to its parent fd (the rootfs, or `/dev` for its submounts).
    pub rel: CString,
    pub source: CString,
    pub fstype: CString,
    pub flags: MsFlags,
    pub data: Option<CString>,
    /// Mode for `mkdirat` when the target is missing.
    pub mode: u32,
    pub label: u16,
}

/// One bind mount into the rootfs.
#[derive(Debug)]
pub struct InjectPlan {
    pub src: CString,
    /// Destination relative to the rootfs (`etc/hosts`).
    pub rel: CString,
    /// Each ancestor of the destination: (path relative to the rootfs, last component).
    pub parents: Vec<(CString, CString)>,
    /// The parent directory, relative to the rootfs (`.` for top-level destinations).
    pub parent_rel: CString,
    pub base: CString,
    /// The source is a directory (so the destination is created as one).
    pub dir: bool,
    pub read_only: bool,
    pub label: u16,
}

/// `/dev`: a tmpfs, device nodes bound from the host, symlinks, devpts, shm.
#[derive(Debug)]
pub struct DevPlan {
    pub tmpfs: KernelMount,
    /// (name in /dev, host device path, label).
    pub devices: Vec<(CString, CString, u16)>,
    /// (symlink target, name in /dev).
    pub symlinks: Vec<(CString, CString)>,
    pub devpts: Option<KernelMount>,
    pub shm: Option<KernelMount>,
}

/// One `fsconfig` call of the fsconfig strategy.
#[derive(Debug)]
pub enum FsconfigParam {
    Flag(CString),
    String(CString, CString, u16),
    /// The directory is opened `O_RDONLY|O_DIRECTORY` and passed with `FSCONFIG_SET_FD`.
    Fd(CString, CString, u16),
}

/// How the overlay is mounted.
#[derive(Debug)]
pub enum OverlayPlan {
    /// `mount(2)` with the data, after `chdir` when layers are relative.
    Mount {
        chdir: Option<CString>,
        data: CString,
    },
    /// Open each layer `O_PATH`, chdir to `/proc/self/fd`, mount with the fd numbers.
    FdPaths {
        lowers: Vec<(CString, u16)>,
        data_layers: Vec<(CString, u16)>,
        prefix: Vec<u8>,
        suffix: Vec<u8>,
    },
    /// `fsopen` + `fsconfig` + `fsmount` + `move_mount`.
    Fsconfig { params: Vec<FsconfigParam> },
}

/// Every argument of every syscall of one run.
#[derive(Debug)]
pub struct Plan {
    pub spec: SetupSpec,
    pub phases: Vec<Phase>,
    labels: Vec<String>,
    /// `unshare` calls: one with every flag, or one per namespace.
    pub unshare: Vec<CloneFlags>,
    /// All namespace flags at once (clone spawn mode).
    pub clone_flags: CloneFlags,
    pub pid_ns: bool,
    /// Propagation for `/` (rslave or rprivate, recursive).
    pub root_propagation: MsFlags,
    /// Propagation for the rootfs parent mount (non-recursive).
    pub parent_propagation: MsFlags,
    /// Ancestors of the rootfs, nearest first, tried until one is a mount point.
    pub ancestors: Vec<(CString, u16)>,
    pub rootfs: CString,
    pub rootfs_label: u16,
    pub overlay: OverlayPlan,
    pub overlay_label: u16,
    /// The strategy actually used (after `auto`).
    pub overlay_strategy: Strategy,
    pub injects: Vec<InjectPlan>,
    pub proc: Option<KernelMount>,
    pub sys: Option<KernelMount>,
    pub dev: Option<DevPlan>,
    pub root_switch: RootSwitch,
    /// move-chroot: host proc/sysfs mounts hidden before the move.
    pub hide: Vec<(CString, u16)>,
    pub put_old_label: u16,
    pub hostname: Option<CString>,
    pub hostname_label: u16,
    pub exec: Option<(CString, u16)>,
    pub capture: Vec<(CString, u16)>,
    pub fail_at: Option<Phase>,
    pub kill_at: Option<Phase>,
    /// Test-only: read at child start and end, stored in the record.
    pub alloc_probe: Option<fn() -> u64>,
    /// Bytes of scratch space the child needs (fd-paths data).
    pub scratch_len: usize,
}

/// The put_old directory of `pivot-putold`, relative to the new root.
pub const PUT_OLD: &std::ffi::CStr = c"spinup-old-root";
/// The same, absolute after the pivot.
pub const PUT_OLD_ABS: &std::ffi::CStr = c"/spinup-old-root";

fn cstr(what: &'static str, p: &Path) -> Result<CString, PlanError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| PlanError::Nul {
        what,
        path: p.to_path_buf(),
    })
}

fn cbytes(b: &[u8]) -> CString {
    // Callers pass text built from NUL-free parts.
    CString::new(b).unwrap_or_default()
}

impl OverlayPlan {
    /// The syscall arguments of a recipe; returns the plan and the scratch bytes the child
    /// needs. Path labels for errors are appended to `labels`.
    pub fn from_recipe(
        recipe: Recipe,
        page_size: usize,
        labels: &mut Vec<String>,
    ) -> Result<(OverlayPlan, usize), PlanError> {
        let mut lbl = |s: String| Plan::add_label(labels, s);
        Ok(match recipe {
            Recipe::Legacy { chdir, data, .. } => (
                OverlayPlan::Mount {
                    chdir: chdir.map(|c| cstr("overlay chdir", &c)).transpose()?,
                    data: cbytes(&data),
                },
                0,
            ),
            Recipe::FdPaths {
                lowers,
                data_layers,
                prefix,
                suffix,
                max_len,
                ..
            } => {
                let mut conv = |v: Vec<PathBuf>| -> Result<Vec<(CString, u16)>, PlanError> {
                    v.iter()
                        .map(|p| Ok((cstr("layer", p)?, lbl(p.display().to_string()))))
                        .collect()
                };
                let plan = OverlayPlan::FdPaths {
                    lowers: conv(lowers)?,
                    data_layers: conv(data_layers)?,
                    prefix,
                    suffix,
                };
                (plan, max_len.max(page_size) + 1)
            }
            Recipe::Fsconfig { params } => {
                let mut out = Vec::new();
                for p in params {
                    let key = cbytes(p.key.as_bytes());
                    out.push(match p.value {
                        FsValue::Flag => FsconfigParam::Flag(key),
                        FsValue::String(v) => {
                            let l = lbl(format!("{}={}", p.key, String::from_utf8_lossy(&v)));
                            FsconfigParam::String(key, cbytes(&v), l)
                        }
                        FsValue::Fd(path) => {
                            let l = lbl(path.display().to_string());
                            FsconfigParam::Fd(key, cstr("layer", &path)?, l)
                        }
                    });
                }
                (OverlayPlan::Fsconfig { params: out }, 0)
            }
        })
    }
}

impl Plan {
    /// The human label of a path index carried in a child failure.
    pub fn label(&self, i: u16) -> &str {
        self.labels.get(usize::from(i)).map_or("?", String::as_str)
    }

    fn add_label(labels: &mut Vec<String>, s: impl Into<String>) -> u16 {
        labels.push(s.into());
        (labels.len() - 1) as u16
    }

    /// Computes the plan of `spec` on `fixture`.
    pub fn build(
        spec: &SetupSpec,
        fixture: &Fixture,
        features: &KernelFeatures,
    ) -> Result<Plan, PlanError> {
        let mut labels = vec![String::from("-")];
        macro_rules! lbl {
            ($s:expr) => {
                Plan::add_label(&mut labels, $s)
            };
        }

        let flag = |n: Namespace| match n {
            Namespace::Mnt => CloneFlags::CLONE_NEWNS,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        };
        let clone_flags = spec
            .namespaces
            .iter()
            .map(flag)
            .fold(CloneFlags::empty(), |a, b| a | b);
        let unshare = match spec.unshare {
            UnshareMode::Single => vec![clone_flags],
            UnshareMode::PerNs => spec.namespaces.iter().map(flag).collect(),
        };

        let (root_propagation, parent_propagation) = match spec.root_propagation {
            RootPropagation::Rslave => (MsFlags::MS_SLAVE | MsFlags::MS_REC, MsFlags::MS_SLAVE),
            RootPropagation::Rprivate => {
                (MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_PRIVATE)
            }
        };
        let rootfs = cstr("rootfs", &fixture.rootfs)?;
        let rootfs_label = lbl!(fixture.rootfs.display().to_string());
        let mut ancestors = Vec::new();
        let mut a = fixture.rootfs.parent();
        while let Some(p) = a {
            ancestors.push((cstr("rootfs parent", p)?, lbl!(p.display().to_string())));
            a = p.parent();
        }

        // Overlay.
        let cfg = OverlayConfig {
            lowers: fixture.layers.clone(),
            data: Vec::new(),
            upper: Some(fixture.upper.clone()),
            work: Some(fixture.work.clone()),
            flags: spec.overlay.flags,
        };
        let opts = BuildOptions {
            features: *features,
            margin: 0,
            links_home: Some(fixture.links_home.clone()),
            max_fd_digits: max_fd_digits(fixture.layers.len()),
        };
        let recipe = crate::overlay::build(&cfg, spec.overlay.strategy, &opts)?;
        if recipe.strategy() == Strategy::ShortLinks {
            fixture.create_links(&short_link_targets(&cfg, &fixture.links_home))?;
        }
        let overlay_label = lbl!(format!("overlay on {}", fixture.rootfs.display()));
        let overlay_strategy = recipe.strategy();
        let (overlay, scratch_len) =
            OverlayPlan::from_recipe(recipe, features.page_size, &mut labels)?;

        // Injections: the /etc files first, then the user's, in order.
        let mut binds: Vec<(PathBuf, PathBuf, bool)> = fixture
            .etc
            .iter()
            .map(|e| (e.src.clone(), PathBuf::from(e.dst), false))
            .collect();
        for i in &spec.injections {
            let dst =
                crate::spec::normalize_container_path(&i.dst).unwrap_or_else(|| i.dst.clone());
            binds.push((i.src.clone(), dst, i.read_only));
        }
        let mut injects = Vec::new();
        for (src, dst, ro) in binds {
            let meta = std::fs::metadata(&src).map_err(|_| PlanError::InjectSource(src.clone()))?;
            let rel = dst.strip_prefix("/").unwrap_or(&dst).to_path_buf();
            let mut parents = Vec::new();
            let mut acc = PathBuf::new();
            let comps: Vec<_> = rel.components().collect();
            for c in &comps[..comps.len().saturating_sub(1)] {
                acc.push(c);
                parents.push((
                    cstr("inject", &acc)?,
                    cstr("inject", Path::new(c.as_os_str()))?,
                ));
            }
            let parent_rel = match rel.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            injects.push(InjectPlan {
                src: cstr("inject source", &src)?,
                rel: cstr("inject", &rel)?,
                parents,
                parent_rel: cstr("inject", &parent_rel)?,
                base: cstr(
                    "inject",
                    Path::new(rel.file_name().unwrap_or(OsStr::new("."))),
                )?,
                dir: meta.is_dir(),
                read_only: ro,
                label: lbl!(format!("{} -> {}", src.display(), dst.display())),
            });
        }

        // Kernel filesystems.
        let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let mut km = |rel: &str,
                      source: &str,
                      fstype: &str,
                      flags: MsFlags,
                      data: Option<&str>,
                      mode: u32,
                      label: String| KernelMount {
            rel: cbytes(rel.as_bytes()),
            source: cbytes(source.as_bytes()),
            fstype: cbytes(fstype.as_bytes()),
            flags,
            data: data.map(|d| cbytes(d.as_bytes())),
            mode,
            label: lbl!(label),
        };
        let has = |k: MountKind| spec.mounts.contains(&k);
        let proc = has(MountKind::Proc).then(|| {
            km(
                "proc",
                "proc",
                "proc",
                nosuid_nodev_noexec,
                None,
                0o555,
                "proc on /proc".into(),
            )
        });
        let sys = has(MountKind::Sys).then(|| {
            km(
                "sys",
                "sysfs",
                "sysfs",
                nosuid_nodev_noexec | MsFlags::MS_RDONLY,
                None,
                0o555,
                "sysfs on /sys".into(),
            )
        });
        let dev = if has(MountKind::Dev) {
            let tmpfs = km(
                "dev",
                "tmpfs",
                "tmpfs",
                MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
                Some("mode=755,size=65536k"),
                0o755,
                "tmpfs on /dev".into(),
            );
            let devpts = has(MountKind::Devpts).then(|| {
                km(
                    "pts",
                    "devpts",
                    "devpts",
                    MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                    Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
                    0o755,
                    "devpts on /dev/pts".into(),
                )
            });
            let shm = has(MountKind::Shm).then(|| {
                km(
                    "shm",
                    "shm",
                    "tmpfs",
                    nosuid_nodev_noexec,
                    Some("mode=1777,size=65536k"),
                    0o1777,
                    "tmpfs on /dev/shm".into(),
                )
            });
            let mut devices = Vec::new();
            for name in ["null", "zero", "full", "random", "urandom", "tty"] {
                let host = format!("/dev/{name}");
                if Path::new(&host).exists() {
                    devices.push((
                        cbytes(name.as_bytes()),
                        cbytes(host.as_bytes()),
                        lbl!(format!("{host} -> /dev/{name}")),
                    ));
                }
            }
            let mut symlinks: Vec<(CString, CString)> = [
                ("/proc/self/fd", "fd"),
                ("/proc/self/fd/0", "stdin"),
                ("/proc/self/fd/1", "stdout"),
                ("/proc/self/fd/2", "stderr"),
            ]
            .iter()
            .map(|(t, n)| (cbytes(t.as_bytes()), cbytes(n.as_bytes())))
            .collect();
            if devpts.is_some() {
                symlinks.push((c"pts/ptmx".into(), c"ptmx".into()));
            }
            Some(DevPlan {
                tmpfs,
                devices,
                symlinks,
                devpts,
                shm,
            })
        } else {
            None
        };

        // move-chroot hides every full proc/sysfs mount outside the rootfs (runc msMoveRoot).
        let mut hide = Vec::new();
        if spec.root_switch == RootSwitch::MoveChroot {
            let text = mountinfo::read_self().unwrap_or_default();
            let mut seen = Vec::new();
            for e in mountinfo::parse(&text) {
                if (e.fstype == "proc" || e.fstype == "sysfs")
                    && e.root == Path::new("/")
                    && !e.mount_point.starts_with(&fixture.rootfs)
                    && !seen.contains(&e.mount_point)
                {
                    seen.push(e.mount_point.clone());
                    hide.push((
                        cstr("hide", &e.mount_point)?,
                        lbl!(e.mount_point.display().to_string()),
                    ));
                }
            }
        }
        let put_old_label = lbl!(PUT_OLD_ABS.to_string_lossy().into_owned());

        let hostname = spec
            .sets_hostname()
            .then(|| cbytes(spec.hostname.as_bytes()));
        let hostname_label = lbl!(format!("hostname {}", spec.hostname));
        let exec = spec.exec.then(|| {
            (
                cbytes(EXIT_BINARY.as_bytes()),
                lbl!(EXIT_BINARY.to_string()),
            )
        });
        let mut capture = Vec::new();
        for c in &spec.capture {
            capture.push((cstr("capture", c)?, lbl!(c.display().to_string())));
        }

        Ok(Plan {
            phases: spec.phases(),
            pid_ns: spec.namespaces.contains(Namespace::Pid),
            unshare,
            clone_flags,
            root_propagation,
            parent_propagation,
            ancestors,
            rootfs,
            rootfs_label,
            overlay,
            overlay_label,
            overlay_strategy,
            injects,
            proc,
            sys,
            dev,
            root_switch: spec.root_switch,
            hide,
            put_old_label,
            hostname,
            hostname_label,
            exec,
            capture,
            fail_at: spec.fail_at,
            kill_at: spec.kill_at,
            alloc_probe: None,
            scratch_len,
            labels,
            spec: spec.clone(),
        })
    }

    /// The label to name in an error about `phase` as a whole (fail points).
    pub fn phase_label(&self, phase: Phase) -> u16 {
        match phase {
            Phase::Overlay => self.overlay_label,
            Phase::Inject => self.injects.last().map_or(0, |i| i.label),
            Phase::Mounts => self
                .dev
                .as_ref()
                .map(|d| d.tmpfs.label)
                .or(self.sys.as_ref().map(|s| s.label))
                .or(self.proc.as_ref().map(|p| p.label))
                .unwrap_or(0),
            Phase::PostJail => self.hostname_label,
            Phase::Exec => self.exec.as_ref().map_or(0, |e| e.1),
            _ => self.rootfs_label,
        }
    }
}

/// Decimal digits of the largest fd the child can get when it opens `layers` more (fd-paths
/// sizing). fds are allocated lowest-first, so it is bounded by the highest fd open now plus
/// the layers, with slack for fds other threads open before fork. The child still checks the
/// real length before mounting.
pub fn max_fd_digits(layers: usize) -> usize {
    let highest = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<usize>().ok())
                .max()
                .unwrap_or(2)
        })
        .unwrap_or(1024);
    (highest + layers + 64).ilog10() as usize + 1
}
