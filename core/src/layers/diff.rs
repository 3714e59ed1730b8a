//! From overlay form back to OCI: an upper dir as a layer tar (whiteouts as `.wh.` files,
//! opaque dirs as `.wh..wh..opq`), and a whole stack as one tar without whiteouts (what
//! `docker export` gives).

use super::whiteout::{WH_OPAQUE, WH_PREFIX, XattrNs, get_xattr};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A diff or export that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(
        "{path}: has {xattr}; an upper dir with redirects or metacopy is not a layer by itself (a full diff against the lower layers is needed)"
    )]
    NeedsFullDiff { path: PathBuf, xattr: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> DiffError + '_ {
    move |source| DiffError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sorted(dir: &Path) -> Result<Vec<OsString>, DiffError> {
    let mut v: Vec<OsString> = std::fs::read_dir(dir)
        .map_err(io_at(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_at(dir))?;
    v.sort();
    Ok(v)
}

/// What a path in an overlay-form dir is.
fn is_whiteout(p: &Path, m: &std::fs::Metadata, ns: XattrNs) -> Result<bool, DiffError> {
    let ft = m.file_type();
    Ok((ft.is_char_device() && m.rdev() == 0)
        || (ft.is_file()
            && m.len() == 0
            && get_xattr(p, &ns.name("whiteout"))
                .map_err(io_at(p))?
                .is_some()))
}

/// The xattrs a layer entry keeps: overlay metadata dropped, escaped overlay names unescaped.
fn layer_xattrs(p: &Path, ns: XattrNs) -> Result<Vec<(String, Vec<u8>)>, DiffError> {
    let mut out = Vec::new();
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(p, &mut names) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(out),
        Err(e) => return Err(io_at(p)(e.into())),
    };
    for raw in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let name = String::from_utf8_lossy(raw).into_owned();
        let prefix = ns.name("");
        let kept = if let Some(rest) = name.strip_prefix(&format!("{prefix}overlay.")) {
            format!("{prefix}{rest}")
        } else if name.starts_with(&prefix) {
            continue;
        } else {
            name.clone()
        };
        if let Some(v) = get_xattr(p, &name).map_err(io_at(p))? {
            out.push((kept, v));
        }
    }
    Ok(out)
}

struct Writer<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Writer<W> {
    fn header(m: &std::fs::Metadata, ty: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(ty);
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(u64::from(m.uid()));
        h.set_gid(u64::from(m.gid()));
        h.set_mtime(m.mtime().max(0) as u64);
        h.set_size(size);
        h
    }

    fn xattrs(&mut self, x: &[(String, Vec<u8>)]) -> io::Result<()> {
        if x.is_empty() {
            return Ok(());
        }
        let recs: Vec<(String, &[u8])> = x
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
            .collect();
        self.b
            .append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// Appends the node at `src` as `name` (tar path), its content read from `src`.
    fn node(
        &mut self,
        src: &Path,
        name: &Path,
        m: &std::fs::Metadata,
        x: &[(String, Vec<u8>)],
    ) -> Result<(), DiffError> {
        let ft = m.file_type();
        let err = io_at(src);
        if ft.is_dir() {
            let mut h = Self::header(m, tar::EntryType::Directory, 0);
            self.xattrs(x).map_err(io_at(src))?;
            return self.b.append_data(&mut h, name, io::empty()).map_err(err);
        }
        if ft.is_file() && m.nlink() > 1 {
            if let Some(first) = self.links.get(&(m.dev(), m.ino())) {
                let mut h = Self::header(m, tar::EntryType::Link, 0);
                return self.b.append_link(&mut h, name, first.clone()).map_err(err);
            }
            self.links.insert((m.dev(), m.ino()), name.to_path_buf());
        }
        self.xattrs(x).map_err(io_at(src))?;
        if ft.is_file() {
            let mut h = Self::header(m, tar::EntryType::Regular, m.len());
            let f = std::fs::File::open(src).map_err(io_at(src))?;
            self.b.append_data(&mut h, name, f).map_err(err)
        } else if ft.is_symlink() {
            let mut h = Self::header(m, tar::EntryType::Symlink, 0);
            let target = std::fs::read_link(src).map_err(io_at(src))?;
            self.b.append_link(&mut h, name, target).map_err(err)
        } else {
            let ty = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = Self::header(m, ty, 0);
            let rdev = m.rdev();
            let _ = h.set_device_major(nix::sys::stat::major(rdev) as u32);
            let _ = h.set_device_minor(nix::sys::stat::minor(rdev) as u32);
            self.b.append_data(&mut h, name, io::empty()).map_err(err)
        }
    }

    fn whiteout(&mut self, name: &Path) -> Result<(), DiffError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(0);
        h.set_mtime(0);
        self.b
            .append_data(&mut h, name, io::empty())
            .map_err(io_at(name))
    }
}

/// Writes the upper dir `upper` of an overlay mount as an OCI layer tar. Refuses uppers with
/// `overlay.redirect` or `overlay.metacopy` (those need a full diff). Whiteouts are emitted
/// before the other entries of their directory.
pub fn diff_upper<W: Write>(upper: &Path, ns: XattrNs, out: W) -> Result<W, DiffError> {
    let mut w = Writer {
        b: tar::Builder::new(out),
        links: HashMap::new(),
    };
    w.b.follow_symlinks(false);
    diff_dir(upper, Path::new(""), ns, &mut w)?;
    w.b.into_inner().map_err(io_at(upper))
}

fn diff_dir<W: Write>(
    root: &Path,
    rel: &Path,
    ns: XattrNs,
    w: &mut Writer<W>,
) -> Result<(), DiffError> {
    let dir = root.join(rel);
    let names = sorted(&dir)?;
    let mut rest = Vec::new();
    for n in names {
        let p = dir.join(&n);
        let r = rel.join(&n);
        let m = std::fs::symlink_metadata(&p).map_err(io_at(&p))?;
        for x in ["redirect", "metacopy"] {
            if get_xattr(&p, &ns.name(x)).map_err(io_at(&p))?.is_some() {
                return Err(DiffError::NeedsFullDiff {
                    path: r,
                    xattr: ns.name(x),
                });
            }
        }
        if is_whiteout(&p, &m, ns)? {
            let mut wh = OsString::from(WH_PREFIX);
            wh.push(&n);
            w.whiteout(&rel.join(wh))?;
        } else {
            rest.push((p, r, m));
        }
    }
    for (p, r, m) in rest {
        let x = layer_xattrs(&p, ns)?;
        w.node(&p, &r, &m, &x)?;
        if m.is_dir() {
            if get_xattr(&p, &ns.name("opaque"))
                .map_err(io_at(&p))?
                .as_deref()
                == Some(b"y")
            {
                w.whiteout(&r.join(WH_OPAQUE))?;
            }
            diff_dir(root, &r, ns, w)?;
        }
    }
    Ok(())
}

/// Writes the merged view of overlay-form layer dirs (top first) as one tar without
/// whiteouts: names are looked up the way overlayfs does, content is read from the layer
/// that holds it.
pub fn export_stack<W: Write>(
    layers_top_first: &[PathBuf],
    ns: XattrNs,
    out: W,
) -> Result<W, DiffError> {
    let mut w = Writer {
        b: tar::Builder::new(out),
        links: HashMap::new(),
    };
    w.b.follow_symlinks(false);
    let all: Vec<&PathBuf> = layers_top_first.iter().collect();
    export_dir(&all, Path::new(""), ns, &mut w)?;
    w.b.into_inner().map_err(io_at(Path::new("export")))
}

fn export_dir<W: Write>(
    stack: &[&PathBuf],
    rel: &Path,
    ns: XattrNs,
    w: &mut Writer<W>,
) -> Result<(), DiffError> {
    let mut names: Vec<OsString> = Vec::new();
    for l in stack {
        let d = l.join(rel);
        if d.is_dir() {
            for n in sorted(&d)? {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names.sort();
    for n in names {
        let r = rel.join(&n);
        let mut dirs: Vec<&PathBuf> = Vec::new();
        let mut top: Option<(PathBuf, std::fs::Metadata)> = None;
        for l in stack {
            let p = l.join(&r);
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if is_whiteout(&p, &m, ns)? {
                break;
            }
            if m.is_dir() {
                if top.is_none() {
                    top = Some((p.clone(), m));
                }
                dirs.push(l);
                if get_xattr(&p, &ns.name("opaque"))
                    .map_err(io_at(&p))?
                    .as_deref()
                    == Some(b"y")
                {
                    break;
                }
            } else {
                if top.is_none() {
                    top = Some((p, m));
                }
                break;
            }
        }
        if let Some((p, m)) = top {
            let x = layer_xattrs(&p, ns)?;
            w.node(&p, &r, &m, &x)?;
            if !dirs.is_empty() {
                export_dir(&dirs, &r, ns, w)?;
            }
        }
    }
    Ok(())
}
