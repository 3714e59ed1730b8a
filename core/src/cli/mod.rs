//! The `spinup` command line.

use crate::overlay::{OnOff, RedirectDir, Strategy, Xino};
use crate::spec::{
    ImageSource, Injection, MountKind, NamespaceSet, RootPropagation, RootSwitch, SetupSpec,
    SpawnMode, UnshareMode,
};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Microbenchmark and fuzz harness for the Linux container root filesystem setup path.
#[derive(Parser, Debug)]
#[command(name = "spinup", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one setup spec K times and print a per-phase table.
    Run(RunArgs),
    /// The main job: the default suite, written to results/<date>-<host>-<kernel>/.
    Bench(BenchArgs),
    /// Re-render report.md and the plots of a results folder, and the results index.
    Report(ReportArgs),
    /// Compare two results (folders or summary.json files), phase by phase.
    Compare(CompareArgs),
    /// Unpack an OCI image layout dir or a `docker save` archive into an image dir for
    /// `spinup run --image`.
    Import(ImportArgs),
    /// Write an image dir's merged filesystem as one tar without whiteouts (`docker export`).
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// An OCI image layout directory, or a `docker save` tar archive.
    pub source: PathBuf,
    /// The image dir to create (must not exist, or be empty).
    pub dest: PathBuf,
    /// Which image: an `org.opencontainers.image.ref.name` (OCI) or a repo tag (docker save).
    #[arg(long = "ref")]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// An image dir (from `spinup import`).
    pub image: PathBuf,
    /// Output tar file ("-" for stdout).
    #[arg(long, short = 'o', default_value = "-")]
    pub output: PathBuf,
}

/// Everything a setup spec can vary.
#[derive(Args, Debug, Clone)]
pub struct SpecArgs {
    /// Root switch method.
    #[arg(long, value_enum, default_value = "pivot")]
    pub root_switch: RootSwitch,
    /// Namespaces to create: any of mnt,uts,ipc,net,pid,cgroup (mnt is required).
    #[arg(long = "ns", default_value = "mnt,uts,ipc,pid")]
    pub namespaces: String,
    /// One unshare call for every namespace, or one per namespace.
    #[arg(long, value_enum, default_value = "single")]
    pub unshare: UnshareMode,
    /// fork + unshare (+ fork of PID 1), or one clone() with every flag.
    #[arg(long, value_enum, default_value = "fork")]
    pub spawn: SpawnMode,
    /// Propagation of / in the new mount namespace.
    #[arg(long, value_enum, default_value = "rslave")]
    pub root_propagation: RootPropagation,
    /// Layers of the synthetic image (1 to 500).
    #[arg(long, default_value_t = crate::spec::DEFAULT_LAYERS)]
    pub layers: usize,
    /// Files per synthetic layer.
    #[arg(long, default_value_t = crate::spec::DEFAULT_FILES_PER_LAYER)]
    pub files_per_layer: usize,
    /// Use an image directory (from `spinup import`) instead of the synthetic image.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// How the overlay layers are passed to the kernel.
    #[arg(long, value_enum, default_value = "auto")]
    pub overlay_strategy: Strategy,
    /// Overlay `volatile` (no syncs of the upper dir).
    #[arg(long)]
    pub volatile: bool,
    /// Overlay `userxattr`.
    #[arg(long)]
    pub userxattr: bool,
    /// Overlay `index=`.
    #[arg(long, value_enum)]
    pub index: Option<OnOffArg>,
    /// Overlay `metacopy=`.
    #[arg(long, value_enum)]
    pub metacopy: Option<OnOffArg>,
    /// Overlay `redirect_dir=`.
    #[arg(long, value_enum)]
    pub redirect_dir: Option<RedirectArg>,
    /// Overlay `xino=`.
    #[arg(long, value_enum)]
    pub xino: Option<XinoArg>,
    /// Bind SRC (host) onto DST (container), read-only with `:ro`. Repeatable.
    #[arg(long = "inject", value_name = "SRC:DST[:ro]")]
    pub inject: Vec<String>,
    /// Do not inject /etc/hosts, /etc/hostname and /etc/resolv.conf.
    #[arg(long)]
    pub no_etc: bool,
    /// Kernel filesystems to mount: any of proc,sys,dev,devpts,shm, or none.
    #[arg(long, default_value = "proc,sys,dev,devpts")]
    pub mounts: String,
    /// Hostname set in the UTS namespace.
    #[arg(long, default_value = "spinup")]
    pub hostname: String,
    /// Exec a tiny static binary at the end of setup (adds the exec phase).
    #[arg(long)]
    pub exec: bool,
    /// Where the temp dir of the run goes.
    #[arg(long, env = "TMPDIR", default_value = "/tmp")]
    pub tmp: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum OnOffArg {
    On,
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum RedirectArg {
    On,
    Follow,
    Nofollow,
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum XinoArg {
    Off,
    Auto,
    On,
}

impl SpecArgs {
    /// The spec these arguments describe (not yet validated).
    pub fn to_spec(&self) -> Result<SetupSpec, String> {
        let namespaces: NamespaceSet = self.namespaces.parse().map_err(|e| format!("--ns: {e}"))?;
        let mounts = MountKind::parse_list(&self.mounts).map_err(|e| format!("--mounts: {e}"))?;
        let injections = self
            .inject
            .iter()
            .map(|s| s.parse::<Injection>().map_err(|e| format!("--inject: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let onoff = |v: Option<OnOffArg>| {
            v.map(|x| match x {
                OnOffArg::On => OnOff::On,
                OnOffArg::Off => OnOff::Off,
            })
        };
        let mut spec = SetupSpec {
            namespaces,
            spawn: self.spawn,
            unshare: self.unshare,
            root_propagation: self.root_propagation,
            image: match &self.image {
                Some(d) => ImageSource::Dir(d.clone()),
                None => ImageSource::Synthetic {
                    layers: self.layers,
                    files_per_layer: self.files_per_layer,
                },
            },
            inject_etc: !self.no_etc,
            injections,
            mounts,
            root_switch: self.root_switch,
            hostname: self.hostname.clone(),
            exec: self.exec,
            ..SetupSpec::default()
        };
        spec.overlay.strategy = self.overlay_strategy;
        let f = &mut spec.overlay.flags;
        f.volatile = self.volatile;
        f.userxattr = self.userxattr;
        f.index = onoff(self.index);
        f.metacopy = onoff(self.metacopy);
        f.redirect_dir = self.redirect_dir.map(|r| match r {
            RedirectArg::On => RedirectDir::On,
            RedirectArg::Follow => RedirectDir::Follow,
            RedirectArg::Nofollow => RedirectDir::Nofollow,
            RedirectArg::Off => RedirectDir::Off,
        });
        f.xino = self.xino.map(|x| match x {
            XinoArg::Off => Xino::Off,
            XinoArg::Auto => Xino::Auto,
            XinoArg::On => Xino::On,
        });
        Ok(spec)
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Measured runs.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub iterations: u64,
    /// Untimed runs first.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Print the container's own mount table after setup (like `mount` inside it).
    #[arg(long)]
    pub show_mounts: bool,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// A short smoke run: fewer iterations, no overlay-strategy sweep.
    #[arg(long)]
    pub quick: bool,
    /// Measured runs per configuration (default 1000, or 30 with --quick).
    #[arg(long, short = 'n')]
    pub iterations: Option<u64>,
    /// The results directory (a folder <date>-<host>-<kernel> is written inside).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A results folder (holding summary.json).
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The baseline (folder or summary.json).
    pub a: PathBuf,
    /// The candidate.
    pub b: PathBuf,
    /// Relative p50 change below which a difference is noise, in percent.
    #[arg(long, default_value_t = 10.0)]
    pub threshold: f64,
}

mod bench;
mod run;

use crate::report::{Report, ReportError};
use crate::runner::{RunError, SetupError};
use std::process::ExitCode;

/// A failed command. Display is the one line printed after `spinup: `.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("needs CAP_SYS_ADMIN to create namespaces and mount (run as root)")]
    NotRoot,
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("run failed: {0}")]
    Run(#[from] RunError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl CliError {
    /// 2 for usage and setup errors, 1 when a run itself failed.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Run(_) => ExitCode::from(1),
            _ => ExitCode::from(2),
        }
    }
}

fn need_root() -> Result<(), CliError> {
    if crate::testing::has_cap_sys_admin() {
        Ok(())
    } else {
        Err(CliError::NotRoot)
    }
}

/// Runs a parsed command line.
pub fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Bench(a) => bench::bench(a),
        Command::Report(a) => {
            let r = Report::load(&a.dir)?;
            let written = r.write(&a.dir)?;
            for p in written {
                println!("wrote {}", p.display());
            }
            if let Some(parent) = a.dir.parent() {
                crate::report::index::write(parent).map_err(|source| CliError::Io {
                    what: format!("write {}/README.md", parent.display()),
                    source,
                })?;
            }
            Ok(())
        }
        Command::Import(a) => {
            need_root()?;
            let r = crate::layers::import::import(&a.source, &a.dest, a.reference.as_deref())
                .map_err(|e| CliError::Usage(format!("import: {e}")))?;
            println!(
                "imported {} layers from {} into {}",
                r.layers,
                r.source,
                r.dir.display()
            );
            Ok(())
        }
        Command::Export(a) => {
            let mut layers = crate::fixture::read_image_dir(&a.image)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            layers.reverse();
            let ns = crate::layers::whiteout::XattrNs::Trusted;
            let r = if a.output.as_os_str() == "-" {
                crate::layers::diff::export_stack(&layers, ns, std::io::stdout().lock()).map(drop)
            } else {
                let f = std::fs::File::create(&a.output).map_err(|source| CliError::Io {
                    what: format!("create {}", a.output.display()),
                    source,
                })?;
                crate::layers::diff::export_stack(&layers, ns, std::io::BufWriter::new(f)).map(drop)
            };
            r.map_err(|e| CliError::Usage(format!("export: {e}")))
        }
        Command::Compare(a) => {
            let ra = Report::load(&a.a)?;
            let rb = Report::load(&a.b)?;
            if !(0.0..1000.0).contains(&a.threshold) {
                return Err(CliError::Usage(format!(
                    "--threshold {} is not a percentage",
                    a.threshold
                )));
            }
            let changes = crate::report::compare::compare(&ra, &rb, a.threshold / 100.0);
            if changes.is_empty() {
                return Err(CliError::Usage(format!(
                    "{} and {} share no configuration",
                    a.a.display(),
                    a.b.display()
                )));
            }
            print!(
                "{}",
                crate::report::compare::render(&changes, a.threshold / 100.0)
            );
            Ok(())
        }
    }
}
