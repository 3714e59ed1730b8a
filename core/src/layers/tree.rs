//! A filesystem tree as data: what the models compute and what is read back from disk (a
//! layer dir, a flattened rootfs, an overlay mount) to compare against them.

use super::whiteout::{XattrNs, get_xattr};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One node of a tree. Modes are the permission bits (`& 0o7777`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// `opaque`: in an overlay-form layer, `overlay.opaque="y"` (hides the same directory in
    /// every layer below). The `"x"` value only flags xattr whiteouts inside and reads as
    /// not opaque.
    Dir {
        mode: u32,
        opaque: bool,
    },
    File {
        mode: u32,
        content: Vec<u8>,
    },
    Symlink {
        target: Vec<u8>,
    },
    Char {
        mode: u32,
        rdev: (u32, u32),
    },
    Block {
        mode: u32,
        rdev: (u32, u32),
    },
    Fifo {
        mode: u32,
    },
    /// An overlay whiteout (0/0 character device, or zero-size file with an
    /// `overlay.whiteout` xattr) in an overlay-form layer.
    Whiteout,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }

    /// A directory with the default mode of directories a layer implies.
    pub fn implied_dir() -> Node {
        Node::Dir {
            mode: 0o755,
            opaque: false,
        }
    }
}

/// A tree: root-relative paths (the root itself is `""`, always a directory) to nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    pub nodes: BTreeMap<PathBuf, Node>,
}

impl Tree {
    pub fn get(&self, p: &Path) -> Option<&Node> {
        self.nodes.get(p)
    }

    /// Whether `p` is the root or a directory in the tree.
    pub fn is_dir(&self, p: &Path) -> bool {
        p.as_os_str().is_empty() || self.get(p).is_some_and(Node::is_dir)
    }

    /// Removes `p` and everything below it.
    pub fn remove_all(&mut self, p: &Path) {
        let below: Vec<PathBuf> = self.below(p).cloned().collect();
        for q in below {
            self.nodes.remove(&q);
        }
        self.nodes.remove(p);
    }

    /// Every path strictly below `p`.
    pub fn below<'a>(&'a self, p: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        let root = p.as_os_str().is_empty();
        self.nodes
            .range::<Path, _>((std::ops::Bound::Excluded(p), std::ops::Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(move |k| root || k.starts_with(p))
            .filter(move |k| *k != p)
    }

    /// Direct children of `p`.
    pub fn children<'a>(&'a self, p: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        self.below(p).filter(move |k| k.parent() == Some(p))
    }

    /// A readable line per difference with `other` (empty when equal).
    pub fn diff(&self, other: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.nodes {
            match other.nodes.get(k) {
                None => out.push(format!("only left: {} {}", k.display(), short(v))),
                Some(w) if w != v => out.push(format!(
                    "differs: {} {} vs {}",
                    k.display(),
                    short(v),
                    short(w)
                )),
                _ => {}
            }
        }
        for (k, v) in &other.nodes {
            if !self.nodes.contains_key(k) {
                out.push(format!("only right: {} {}", k.display(), short(v)));
            }
        }
        out
    }
}

fn short(n: &Node) -> String {
    match n {
        Node::File { mode, content } => format!("file {mode:o} {} bytes", content.len()),
        Node::Symlink { target } => format!("symlink -> {}", String::from_utf8_lossy(target)),
        other => format!("{other:?}"),
    }
}

/// How [`read_tree`] interprets overlay metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// A plain tree (a flattened rootfs, a merged overlay view): a 0/0 char device is a device.
    Plain,
    /// An overlay-form layer dir: 0/0 char devices and xattr whiteouts are whiteouts; dirs
    /// carry their `overlay.opaque` value.
    OverlayLayer(XattrNs),
}

/// Reads the tree under `root` (not following symlinks).
pub fn read_tree(root: &Path, mode: ReadMode) -> io::Result<Tree> {
    let mut t = Tree::default();
    walk(root, root, mode, &mut t)?;
    Ok(t)
}

fn walk(root: &Path, dir: &Path, mode: ReadMode, t: &mut Tree) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_path_buf();
        let m = std::fs::symlink_metadata(&p)?;
        let ft = m.file_type();
        let perm = m.mode() & 0o7777;
        let rdev = (
            nix::sys::stat::major(m.rdev()) as u32,
            nix::sys::stat::minor(m.rdev()) as u32,
        );
        let node = if ft.is_dir() {
            let opaque = match mode {
                ReadMode::OverlayLayer(ns) => {
                    get_xattr(&p, &ns.name("opaque"))?.as_deref() == Some(b"y")
                }
                ReadMode::Plain => false,
            };
            Node::Dir { mode: perm, opaque }
        } else if ft.is_symlink() {
            Node::Symlink {
                target: std::fs::read_link(&p)?.as_os_str().as_bytes().to_vec(),
            }
        } else if ft.is_char_device() {
            if rdev == (0, 0) && matches!(mode, ReadMode::OverlayLayer(_)) {
                Node::Whiteout
            } else {
                Node::Char { mode: perm, rdev }
            }
        } else if ft.is_block_device() {
            Node::Block { mode: perm, rdev }
        } else if ft.is_fifo() {
            Node::Fifo { mode: perm }
        } else {
            let xwhiteout = match mode {
                ReadMode::OverlayLayer(ns) => {
                    m.len() == 0 && get_xattr(&p, &ns.name("whiteout"))?.is_some()
                }
                ReadMode::Plain => false,
            };
            if xwhiteout {
                Node::Whiteout
            } else {
                Node::File {
                    mode: perm,
                    content: std::fs::read(&p)?,
                }
            }
        };
        let is_dir = node.is_dir();
        t.nodes.insert(rel, node);
        if is_dir {
            walk(root, &p, mode, t)?;
        }
    }
    Ok(())
}
