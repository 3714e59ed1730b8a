//! Applies a layer archive to a directory, streaming, with every filesystem operation relative
//! to a directory fd reached from the target root one `O_NOFOLLOW` component at a time.
//! Nothing outside the root can be touched whatever the archive holds: names are validated
//! (no `..`, no bad whiteouts, no duplicates) and parents are never resolved through a
//! symlink; a lower-layer non-directory in the way of a parent is replaced by a directory.
//!
//! Two modes:
//! - [`ApplyMode::Overlay`]: the layer into its own (empty) directory, in overlay form:
//!   whiteouts become 0/0 character devices (or, where mknod is refused, zero-size files with
//!   an `overlay.whiteout` xattr and the parent marked `overlay.opaque="x"`), opaque
//!   directories get `overlay.opaque="y"`;
//! - [`ApplyMode::Flatten`]: onto a tree holding the layers below, deleting what whiteouts
//!   and opaque markers hide.
//!
//! Whiteouts and opaque markers are applied after the content of the layer, so the order of
//! entries in the archive never changes the result (see [`super::model`]).

use super::archive::{Meta, decompress, meta};
use super::model::{Classified, Content, Effect, EffectBuilder, Kind, Layer, LayerError};
use super::tree::Node;
use super::whiteout::XattrNs;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How a layer is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMode {
    /// Into the layer's own empty directory, in overlay form.
    Overlay(XattrNs),
    /// Onto a tree holding the layers below.
    Flatten,
}

/// Options of an apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    pub mode: ApplyMode,
    /// Refuse AUFS `.wh..wh.*` metadata instead of skipping it.
    pub strict: bool,
    /// Apply the archive's uid/gid (needs CAP_CHOWN).
    pub same_owner: bool,
    /// Overlay mode: the overlay-form dirs of the layers below, top first. A whiteout is only
    /// written for a path that exists in their merged view (see [`super::model::convert`]).
    pub lower: Vec<PathBuf>,
}

impl ApplyOptions {
    pub fn new(mode: ApplyMode) -> Self {
        ApplyOptions {
            mode,
            strict: true,
            same_owner: rustix::process::geteuid().is_root(),
            lower: Vec::new(),
        }
    }

    /// Sets the layers below (top first).
    pub fn with_lower(mut self, lower: Vec<PathBuf>) -> Self {
        self.lower = lower;
        self
    }
}

fn io(op: &'static str, p: &Path, e: impl Into<std::io::Error>) -> LayerError {
    LayerError::Io {
        op,
        path: p.display().to_string(),
        source: e.into(),
    }
}

/// The process umask, read without changing it (other threads may be creating files).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

struct Applier {
    root: OwnedFd,
    opts: ApplyOptions,
    umask: u32,
    builder: EffectBuilder,
    /// The last parent directory resolved: (path, fd). Only fds, so a later entry cannot
    /// redirect it; dropped whenever anything is removed.
    cache: Option<(PathBuf, OwnedFd)>,
    entries: usize,
}

const DIR_PATH: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const DIR_READ: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Applier {
    fn new(root: &Path, opts: ApplyOptions) -> Result<Applier, LayerError> {
        let fd = rustix::fs::open(root, DIR_PATH, Mode::empty())
            .map_err(|e| io("open target", root, e))?;
        Ok(Applier {
            root: fd,
            builder: EffectBuilder::new(opts.strict),
            opts,
            umask: umask(),
            cache: None,
            entries: 0,
        })
    }

    /// As [`dir_fd`](Self::dir_fd), but moves the cached fd out instead of duplicating it;
    /// hand it back with [`put_dir`](Self::put_dir).
    fn take_dir(&mut self, dir: &Path) -> Result<OwnedFd, LayerError> {
        if let Some((p, _)) = &self.cache
            && p == dir
            && let Some((_, fd)) = self.cache.take()
        {
            return Ok(fd);
        }
        let fd = self.dir_fd(dir)?;
        self.cache = None;
        Ok(fd)
    }

    /// Caches `fd` as the directory `dir`.
    fn put_dir(&mut self, dir: PathBuf, fd: OwnedFd) {
        if self.cache.is_none() {
            self.cache = Some((dir, fd));
        }
    }

    /// The directory `dir` (root-relative), created (0755, mode fixed later) where missing;
    /// a non-directory in the way is replaced.
    fn dir_fd(&mut self, dir: &Path) -> Result<OwnedFd, LayerError> {
        if dir.as_os_str().is_empty() {
            return rustix::io::dup(&self.root).map_err(|e| io("dup", dir, e));
        }
        if let Some((p, fd)) = &self.cache
            && p == dir
        {
            return rustix::io::dup(fd).map_err(|e| io("dup", dir, e));
        }
        let mut cur = rustix::io::dup(&self.root).map_err(|e| io("dup", dir, e))?;
        let mut walked = PathBuf::new();
        for c in dir.components() {
            let name = c.as_os_str();
            walked.push(name);
            let next = match rustix::fs::openat(&cur, name, DIR_PATH, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    mkdir(&cur, name, &walked)?;
                    rustix::fs::openat(&cur, name, DIR_PATH, Mode::empty())
                        .map_err(|e| io("open", &walked, e))?
                }
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    // A lower layer's non-directory (the builder refused the layer's own).
                    remove(&cur, name, &walked)?;
                    self.cache = None;
                    mkdir(&cur, name, &walked)?;
                    rustix::fs::openat(&cur, name, DIR_PATH, Mode::empty())
                        .map_err(|e| io("open", &walked, e))?
                }
                Err(e) => return Err(io("open", &walked, e)),
            };
            cur = next;
        }
        let keep = rustix::io::dup(&cur).map_err(|e| io("dup", dir, e))?;
        self.cache = Some((dir.to_path_buf(), keep));
        Ok(cur)
    }

    fn entry(&mut self, m: &Meta, content: &mut dyn Read) -> Result<(), LayerError> {
        self.entries += 1;
        let (path, c) = match self.builder.add_parts(&m.name, &m.kind, m.mode)? {
            Classified::Content(p, c) => (p, c),
            // Markers are applied once the whole layer is known.
            Classified::Whiteout(_) | Classified::Opaque(_) | Classified::Skip => return Ok(()),
        };
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let name = path.file_name().unwrap_or(OsStr::new("")).to_os_string();
        let pfd = self.take_dir(&parent)?;
        self.materialise(m, content, &path, &c, &pfd, &name)?;
        // Removing `name` (a lower entry in the way) never removes its parent: still valid.
        self.put_dir(parent, pfd);
        Ok(())
    }

    fn materialise(
        &mut self,
        m: &Meta,
        content: &mut dyn Read,
        path: &Path,
        c: &Content,
        pfd: &OwnedFd,
        name: &OsStr,
    ) -> Result<(), LayerError> {
        let owner = self.opts.same_owner && (m.uid != 0 || m.gid != 0);
        let ids = || {
            (
                Some(rustix::fs::Uid::from_raw(m.uid as u32)),
                Some(rustix::fs::Gid::from_raw(m.gid as u32)),
            )
        };
        match (c, &m.kind) {
            (Content::Dir, _) => {
                match rustix::fs::mkdirat(pfd, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        if !is_dir_at(pfd, name) {
                            remove(pfd, name, path)?;
                            self.cache = None;
                            mkdir(pfd, name, path)?;
                        }
                    }
                    Err(e) => return Err(io("mkdir", path, e)),
                }
                if owner || !m.xattrs.is_empty() {
                    let fd = rustix::fs::openat(pfd, name, DIR_READ, Mode::empty())
                        .map_err(|e| io("open", path, e))?;
                    if owner {
                        let (u, g) = ids();
                        rustix::fs::fchown(&fd, u, g).map_err(|e| io("chown", path, e))?;
                    }
                    set_xattrs(&fd, &m.xattrs, path)?;
                }
            }
            (Content::Node(Node::File { mode, .. }), _) => {
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                let fd = self.create(pfd, name, path, |d, n| {
                    rustix::fs::openat(d, n, flags, Mode::from_raw_mode(*mode & 0o777))
                })?;
                let mut f = std::fs::File::from(fd);
                std::io::copy(content, &mut f).map_err(|e| io("write", path, e))?;
                if mode & 0o7000 != 0 || mode & self.umask != 0 {
                    rustix::fs::fchmod(&f, Mode::from_raw_mode(*mode))
                        .map_err(|e| io("chmod", path, e))?;
                }
                if owner {
                    let (u, g) = ids();
                    rustix::fs::fchown(&f, u, g).map_err(|e| io("chown", path, e))?;
                }
                set_xattrs(&f, &m.xattrs, path)?;
            }
            (Content::Node(Node::Symlink { target }), _) => {
                self.create(pfd, name, path, |d, n| {
                    rustix::fs::symlinkat(OsStr::from_bytes(target), d, n)
                })?;
                if owner {
                    let (u, g) = ids();
                    rustix::fs::chownat(pfd, name, u, g, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| io("chown", path, e))?;
                }
            }
            (Content::Hardlink(target), _) => {
                let tparent = target.parent().unwrap_or(Path::new("")).to_path_buf();
                let tname = target.file_name().unwrap_or(OsStr::new("")).to_os_string();
                let tfd = self.dir_fd(&tparent)?;
                self.create(pfd, name, path, |d, n| {
                    rustix::fs::linkat(&tfd, &tname, d, n, AtFlags::empty())
                })?;
            }
            (Content::Node(n), _) => {
                let (ft, mode, rdev) = match n {
                    Node::Char { mode, rdev } => (FileType::CharacterDevice, *mode, *rdev),
                    Node::Block { mode, rdev } => (FileType::BlockDevice, *mode, *rdev),
                    Node::Fifo { mode } => (FileType::Fifo, *mode, (0, 0)),
                    _ => unreachable!("the builder only yields these nodes"),
                };
                let dev = rustix::fs::makedev(rdev.0, rdev.1);
                self.create(pfd, name, path, |d, n| {
                    rustix::fs::mknodat(d, n, ft, Mode::from_raw_mode(mode), dev)
                })?;
                rustix::fs::chmodat(pfd, name, Mode::from_raw_mode(mode), AtFlags::empty())
                    .map_err(|e| io("chmod", path, e))?;
            }
        }
        Ok(())
    }

    /// Runs `make`; when something (from a lower layer) is in the way, removes it and retries.
    fn create<T>(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        path: &Path,
        make: impl Fn(&OwnedFd, &OsStr) -> rustix::io::Result<T>,
    ) -> Result<T, LayerError> {
        match make(pfd, name) {
            Ok(v) => Ok(v),
            Err(Errno::EXIST) => {
                remove(pfd, name, path)?;
                self.cache = None;
                make(pfd, name).map_err(|e| io("create", path, e))
            }
            Err(e) => Err(io("create", path, e)),
        }
    }

    fn finish(mut self) -> Result<Effect, LayerError> {
        let fx = std::mem::take(&mut self.builder).finish()?;
        // Every directory the layer holds gets its mode (explicit, or 0755 when implied).
        for (d, mode) in &fx.dir_modes {
            let parent = d.parent().unwrap_or(Path::new("")).to_path_buf();
            let name = d.file_name().unwrap_or(OsStr::new(""));
            let pfd = self.dir_fd(&parent)?;
            let fd = match rustix::fs::openat(&pfd, name, DIR_READ, Mode::empty()) {
                Ok(fd) => fd,
                Err(_) => {
                    // A marker implied it, or a lower non-dir is in the way.
                    drop(self.dir_fd(d)?);
                    rustix::fs::openat(&pfd, name, DIR_READ, Mode::empty())
                        .map_err(|e| io("open", d, e))?
                }
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(*mode)).map_err(|e| io("chmod", d, e))?;
        }
        match self.opts.mode {
            ApplyMode::Overlay(ns) => self.markers_overlay(&fx, ns)?,
            ApplyMode::Flatten => self.markers_flatten(&fx)?,
        }
        Ok(fx)
    }

    fn markers_overlay(&mut self, fx: &Effect, ns: XattrNs) -> Result<(), LayerError> {
        let mut opaque: BTreeSet<PathBuf> = fx.opaques.clone();
        for w in &fx.whiteouts {
            if fx.dir_modes.contains_key(w) {
                opaque.insert(w.clone());
            }
        }
        for d in &opaque {
            let fd = self.dir_fd(d)?;
            let rd = rustix::fs::openat(&fd, ".", DIR_READ, Mode::empty())
                .map_err(|e| io("open", d, e))?;
            rustix::fs::fsetxattr(
                &rd,
                ns.name("opaque").as_str(),
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|e| io("set opaque xattr on", d, e))?;
        }
        for w in &fx.whiteouts {
            if fx.keep.contains(w)
                || w.ancestors().skip(1).any(|a| opaque.contains(a))
                || !exists_below(&self.opts.lower, w, ns)
            {
                continue;
            }
            let parent = w.parent().unwrap_or(Path::new("")).to_path_buf();
            let name = w.file_name().unwrap_or(OsStr::new("")).to_os_string();
            let pfd = self.dir_fd(&parent)?;
            match rustix::fs::mknodat(&pfd, &name, FileType::CharacterDevice, Mode::empty(), 0) {
                Ok(()) => {}
                Err(Errno::PERM) => {
                    // No CAP_MKNOD: the xattr whiteout (Linux 6.7+).
                    let flags = OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC;
                    let f = rustix::fs::openat(&pfd, &name, flags, Mode::from_raw_mode(0o600))
                        .map_err(|e| io("create", w, e))?;
                    rustix::fs::fsetxattr(
                        &f,
                        ns.name("whiteout").as_str(),
                        b"",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| io("set whiteout xattr on", w, e))?;
                    let pd = rustix::fs::openat(&pfd, ".", DIR_READ, Mode::empty())
                        .map_err(|e| io("open", &parent, e))?;
                    rustix::fs::fsetxattr(
                        &pd,
                        ns.name("opaque").as_str(),
                        b"x",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| io("set opaque xattr on", &parent, e))?;
                }
                Err(e) => return Err(io("mknod whiteout", w, e)),
            }
        }
        Ok(())
    }

    fn markers_flatten(&mut self, fx: &Effect) -> Result<(), LayerError> {
        self.cache = None;
        for w in &fx.whiteouts {
            self.remove_unkept(w, &fx.keep)?;
        }
        for d in &fx.opaques {
            let fd = self.dir_fd(d)?;
            for child in list(&fd, d)? {
                self.remove_unkept(&d.join(child), &fx.keep)?;
            }
        }
        Ok(())
    }

    /// Removes everything at or below `p` the layer does not keep.
    fn remove_unkept(&mut self, p: &Path, keep: &BTreeSet<PathBuf>) -> Result<(), LayerError> {
        let parent = p.parent().unwrap_or(Path::new(""));
        let name = p.file_name().unwrap_or(OsStr::new(""));
        // Walk without creating: a missing parent means nothing to remove.
        let Some(pfd) = self.existing_dir(parent)? else {
            return Ok(());
        };
        if !keep.contains(p) {
            match rustix::fs::statat(&pfd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => return Err(io("stat", p, e)),
                Ok(_) => {}
            }
            self.cache = None;
            return remove(&pfd, name, p);
        }
        if !is_dir_at(&pfd, name) {
            return Ok(());
        }
        let fd = rustix::fs::openat(&pfd, name, DIR_PATH, Mode::empty())
            .map_err(|e| io("open", p, e))?;
        for child in list(&fd, p)? {
            self.remove_unkept(&p.join(child), keep)?;
        }
        Ok(())
    }

    /// The directory `dir` if it exists as a real directory chain.
    fn existing_dir(&self, dir: &Path) -> Result<Option<OwnedFd>, LayerError> {
        let mut cur = rustix::io::dup(&self.root).map_err(|e| io("dup", dir, e))?;
        for c in dir.components() {
            match rustix::fs::openat(&cur, c.as_os_str(), DIR_PATH, Mode::empty()) {
                Ok(fd) => cur = fd,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(None),
                Err(e) => return Err(io("open", dir, e)),
            }
        }
        Ok(Some(cur))
    }
}

/// Whether `p` exists in the overlay view of the overlay-form layer dirs `lower` (top first):
/// looked up the way overlayfs does (a whiteout hides below, a non-directory ends the
/// lookup, directories merge down to the first opaque one).
pub fn exists_below(lower: &[PathBuf], p: &Path, ns: XattrNs) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut stack: Vec<&PathBuf> = lower.iter().collect();
    let mut prefix = PathBuf::new();
    let comps: Vec<_> = p.components().collect();
    for (i, c) in comps.iter().enumerate() {
        prefix.push(c);
        let mut dirs = Vec::new();
        let mut nondir = false;
        for l in &stack {
            let q = l.join(&prefix);
            let Ok(m) = std::fs::symlink_metadata(&q) else {
                continue;
            };
            let ft = m.file_type();
            let whiteout = (ft.is_char_device() && m.rdev() == 0)
                || (ft.is_file()
                    && m.len() == 0
                    && super::whiteout::get_xattr(&q, &ns.name("whiteout"))
                        .ok()
                        .flatten()
                        .is_some());
            if whiteout {
                break;
            }
            if ft.is_dir() {
                dirs.push(*l);
                if super::whiteout::get_xattr(&q, &ns.name("opaque"))
                    .ok()
                    .flatten()
                    .as_deref()
                    == Some(b"y")
                {
                    break;
                }
            } else {
                nondir = dirs.is_empty();
                break;
            }
        }
        if i + 1 == comps.len() {
            return !dirs.is_empty() || nondir;
        }
        if dirs.is_empty() {
            return false;
        }
        stack = dirs;
    }
    false
}

fn mkdir(dir: &OwnedFd, name: &OsStr, path: &Path) -> Result<(), LayerError> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(io("mkdir", path, e)),
    }
}

fn is_dir_at(dir: &OwnedFd, name: &OsStr) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// Names in a directory (without `.` and `..`).
fn list(fd: &OwnedFd, path: &Path) -> Result<Vec<std::ffi::OsString>, LayerError> {
    let rd =
        rustix::fs::openat(fd, ".", DIR_READ, Mode::empty()).map_err(|e| io("open", path, e))?;
    let mut out = Vec::new();
    for e in Dir::read_from(&rd).map_err(|e| io("read dir", path, e))? {
        let e = e.map_err(|e| io("read dir", path, e))?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(out)
}

/// Removes `name` under `dir`, recursively for directories, never following symlinks.
fn remove(dir: &OwnedFd, name: &OsStr, path: &Path) -> Result<(), LayerError> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(io("unlink", path, e)),
    }
    let sub =
        rustix::fs::openat(dir, name, DIR_PATH, Mode::empty()).map_err(|e| io("open", path, e))?;
    for child in list(&sub, path)? {
        remove(&sub, &child, &path.join(&child))?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).map_err(|e| io("rmdir", path, e))
}

/// Sets an archive's xattrs, escaping overlay ones one level (`trusted.overlay.X` is stored as
/// `trusted.overlay.overlay.X`) so a layer can never forge overlay metadata.
fn set_xattrs(fd: &impl AsFd, xattrs: &[(String, Vec<u8>)], path: &Path) -> Result<(), LayerError> {
    for (k, v) in xattrs {
        let name = escape_overlay_xattr(k);
        rustix::fs::fsetxattr(fd, name.as_str(), v, rustix::fs::XattrFlags::empty())
            .map_err(|e| io("set xattr on", path, e))?;
    }
    Ok(())
}

/// `<ns>.overlay.X` -> `<ns>.overlay.overlay.X`; other names unchanged.
pub fn escape_overlay_xattr(name: &str) -> String {
    for ns in ["trusted.overlay.", "user.overlay."] {
        if let Some(rest) = name.strip_prefix(ns) {
            return format!("{ns}overlay.{rest}");
        }
    }
    name.to_string()
}

/// Applies an archive (uncompressed, gzip or zstd) to `root`. Returns the layer's effect.
pub fn apply_archive(r: impl Read, root: &Path, opts: ApplyOptions) -> Result<Effect, LayerError> {
    let mut a = Applier::new(root, opts)?;
    let mut ar = tar::Archive::new(decompress(r)?);
    let entries = ar
        .entries()
        .map_err(|e| LayerError::Archive(e.to_string()))?;
    for e in entries {
        let mut e = e.map_err(|e| LayerError::Archive(e.to_string()))?;
        let m = meta(&mut e)?;
        a.entry(&m, &mut e)?;
    }
    a.finish()
}

/// Applies an in-memory layer to `root`.
pub fn apply_layer(layer: &Layer, root: &Path, opts: ApplyOptions) -> Result<Effect, LayerError> {
    let mut a = Applier::new(root, opts)?;
    for e in &layer.entries {
        let (kind, mut content): (Kind, &[u8]) = match &e.kind {
            Kind::File(c) => (Kind::File(Vec::new()), c.as_slice()),
            k => (k.clone(), &[]),
        };
        let m = Meta {
            name: e.name.clone(),
            kind,
            mode: e.mode,
            uid: 0,
            gid: 0,
            xattrs: Vec::new(),
        };
        a.entry(&m, &mut content)?;
    }
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_xattrs_are_escaped() {
        assert_eq!(
            escape_overlay_xattr("trusted.overlay.opaque"),
            "trusted.overlay.overlay.opaque"
        );
        assert_eq!(
            escape_overlay_xattr("user.overlay.whiteout"),
            "user.overlay.overlay.whiteout"
        );
        assert_eq!(
            escape_overlay_xattr("security.capability"),
            "security.capability"
        );
    }
}
