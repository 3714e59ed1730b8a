//! The semantics of a layer stack, as pure functions: what a layer changes ([`Effect`],
//! decided for the whole layer before anything is applied, so the order of entries inside a
//! layer never matters), and three independent models of the result:
//!
//! - [`flatten`]: apply each layer's effect bottom to top onto one tree (OCI semantics);
//! - [`overlay_view`] of [`convert`]ed layers: each layer in overlay form (0/0 whiteouts,
//!   opaque dirs), merged top to bottom the way overlayfs looks names up;
//! - [`merge_converted`]: the overlay-form layers applied bottom to top.
//!
//! Rules (OCI image-spec layer.md, plus what overlayfs can represent):
//! - names are cleaned; `..` anywhere, bad whiteout names and duplicate paths are errors;
//! - a whiteout only hides lower layers: an entry of the same layer survives it, and
//!   `.wh..wh..opq` applies first whatever its position;
//! - directories a layer implies (parents of its entries and markers) have mode 0755, as the
//!   layer's own directory would in an overlay; an explicit directory entry sets its mode;
//! - a layer entry below one of the same layer's non-directories is an error, a lower
//!   non-directory in the way is replaced by a directory;
//! - hardlinks point at an earlier non-directory entry of the same layer;
//! - a 0/0 character device entry is refused (overlayfs would read it as a whiteout), and so
//!   is a whiteout or opaque marker for the layer root.

use super::tree::{Node, Tree};
use super::whiteout::{NameError, NameKind, classify};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// An entry by reference (the builder never needs to own it).
struct EntryRef<'a> {
    name: &'a [u8],
    kind: &'a Kind,
    mode: u32,
}
use std::path::{Path, PathBuf};

/// What a tar entry holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    /// A hardlink to this (raw, uncleaned) name.
    Hardlink(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// One tar entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The raw name in the archive.
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
}

/// A layer: its entries in archive order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layer {
    pub entries: Vec<Entry>,
}

/// A layer that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("entry `{0}` appears twice in the layer")]
    Duplicate(String),
    #[error("entry `{entry}` is below `{parent}`, which this layer makes a non-directory")]
    ParentNotDir { entry: String, parent: String },
    #[error("hardlink `{entry}` points at `{target}`, which is not an earlier file of this layer")]
    HardlinkTarget { entry: String, target: String },
    #[error("symlink `{0}` has an empty target or one with a NUL byte")]
    SymlinkTarget(String),
    #[error("entry `{0}` is a 0/0 character device, which overlayfs reads as a whiteout")]
    DeviceWhiteout(String),
    #[error("opaque marker for `{0}`, which this layer makes a non-directory")]
    OpaqueOnNonDir(String),
    #[error("entry `{0}` would replace the layer root with a non-directory")]
    RootNotDir(String),
    #[error("layer archive: {0}")]
    Archive(String),
    #[error("entry `{entry}` has unsupported type {kind}")]
    Unsupported { entry: String, kind: String },
    #[error("{op} `{path}`: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// One change of a layer, in archive order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Dir,
    Node(Node),
    /// A hardlink to an earlier entry of the layer (cleaned path).
    Hardlink(PathBuf),
}

/// What a layer does, decided for the whole layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effect {
    /// Content entries in archive order (cleaned paths).
    pub content: Vec<(PathBuf, Content)>,
    /// Whiteout targets that take effect (not below another whiteout of the layer).
    pub whiteouts: BTreeSet<PathBuf>,
    /// Directories marked opaque.
    pub opaques: BTreeSet<PathBuf>,
    /// Paths the layer itself holds: content, opaque dirs, and every directory it implies.
    pub keep: BTreeSet<PathBuf>,
    /// Mode of every directory the layer holds (explicit, or 0755 when implied).
    pub dir_modes: BTreeMap<PathBuf, u32>,
}

impl Effect {
    /// Whether `p` is a non-directory entry of the layer.
    pub fn is_content_file(&self, p: &Path) -> bool {
        self.keep.contains(p) && !self.dir_modes.contains_key(p)
    }
}

fn ancestors(p: &Path) -> impl Iterator<Item = &Path> {
    p.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty())
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// Builds a layer's [`Effect`] one entry at a time. The on-disk apply feeds it while it
/// streams the archive, so the rules live in one place.
#[derive(Default)]
pub struct EffectBuilder {
    strict: bool,
    content: Vec<(PathBuf, Content)>,
    seen: HashSet<PathBuf>,
    /// Non-directory entries of the layer.
    files: HashSet<PathBuf>,
    /// Directories of the layer (explicit with their mode, or implied). Closed under
    /// ancestors and disjoint from `files`.
    dirs: HashMap<PathBuf, Option<u32>>,
    whiteouts: BTreeSet<PathBuf>,
    opaques: BTreeSet<PathBuf>,
}

/// What the builder made of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    Content(PathBuf, Content),
    Whiteout(PathBuf),
    Opaque(PathBuf),
    /// The layer root (`./`) or skipped AUFS metadata.
    Skip,
}

impl EffectBuilder {
    pub fn new(strict: bool) -> Self {
        EffectBuilder {
            strict,
            ..EffectBuilder::default()
        }
    }

    fn imply(&mut self, p: &Path) -> Result<(), LayerError> {
        // `dirs` is closed under ancestors: a known parent means every ancestor is known.
        if let Some(parent) = p.parent()
            && (parent.as_os_str().is_empty() || self.dirs.contains_key(parent))
        {
            return Ok(());
        }
        for a in ancestors(p) {
            if self.files.contains(a) {
                return Err(LayerError::ParentNotDir {
                    entry: shown(p),
                    parent: shown(a),
                });
            }
            self.dirs.entry(a.to_path_buf()).or_insert(None);
        }
        Ok(())
    }

    /// Takes one entry; returns what it is.
    pub fn add(&mut self, e: &Entry) -> Result<Classified, LayerError> {
        self.add_parts(&e.name, &e.kind, e.mode)
    }

    /// [`add`](Self::add) from the parts of an entry.
    pub fn add_parts(
        &mut self,
        name: &[u8],
        kind: &Kind,
        mode: u32,
    ) -> Result<Classified, LayerError> {
        let e = EntryRef { name, kind, mode };
        let shown_name = || String::from_utf8_lossy(e.name).into_owned();
        match classify(e.name, self.strict)? {
            NameKind::AufsMeta(_) => Ok(Classified::Skip),
            NameKind::Opaque(d) => {
                if d.as_os_str().is_empty() {
                    return Err(NameError::Root(shown_name()).into());
                }
                if !self.opaques.insert(d.clone()) {
                    return Err(LayerError::Duplicate(shown_name()));
                }
                if self.files.contains(&d) {
                    return Err(LayerError::OpaqueOnNonDir(shown(&d)));
                }
                self.imply(&d)?;
                self.dirs.entry(d.clone()).or_insert(None);
                Ok(Classified::Opaque(d))
            }
            NameKind::Whiteout(t) => {
                if !self.whiteouts.insert(t.clone()) {
                    return Err(LayerError::Duplicate(shown_name()));
                }
                Ok(Classified::Whiteout(t))
            }
            NameKind::Normal(p) => {
                if p.as_os_str().is_empty() {
                    return match *e.kind {
                        Kind::Dir => Ok(Classified::Skip),
                        _ => Err(LayerError::RootNotDir(shown_name())),
                    };
                }
                if !self.seen.insert(p.clone()) {
                    return Err(LayerError::Duplicate(shown(&p)));
                }
                self.imply(&p)?;
                let content = match e.kind {
                    Kind::Dir => {
                        self.dirs.insert(p.clone(), Some(e.mode & 0o7777));
                        Content::Dir
                    }
                    other => {
                        // A non-dir where the layer already implied a directory.
                        if self.dirs.contains_key(&p) {
                            let child = self
                                .content
                                .iter()
                                .map(|(q, _)| q)
                                .find(|q| q.starts_with(&p) && *q != &p)
                                .cloned()
                                .unwrap_or_else(|| p.join("?"));
                            return Err(if self.opaques.contains(&p) {
                                LayerError::OpaqueOnNonDir(shown(&p))
                            } else {
                                LayerError::ParentNotDir {
                                    entry: shown(&child),
                                    parent: shown(&p),
                                }
                            });
                        }
                        let node = match other {
                            Kind::File(c) => Node::File {
                                mode: e.mode & 0o7777,
                                content: c.clone(),
                            },
                            Kind::Symlink(t) if t.is_empty() || t.contains(&0) => {
                                return Err(LayerError::SymlinkTarget(shown(&p)));
                            }
                            Kind::Symlink(t) => Node::Symlink { target: t.clone() },
                            Kind::Char(0, 0) => return Err(LayerError::DeviceWhiteout(shown(&p))),
                            Kind::Char(a, b) => Node::Char {
                                mode: e.mode & 0o7777,
                                rdev: (*a, *b),
                            },
                            Kind::Block(a, b) => Node::Block {
                                mode: e.mode & 0o7777,
                                rdev: (*a, *b),
                            },
                            Kind::Fifo => Node::Fifo {
                                mode: e.mode & 0o7777,
                            },
                            Kind::Hardlink(t) => {
                                let target = match classify(t, true) {
                                    Ok(NameKind::Normal(t)) if self.files.contains(&t) => t,
                                    _ => {
                                        return Err(LayerError::HardlinkTarget {
                                            entry: shown(&p),
                                            target: String::from_utf8_lossy(t).into_owned(),
                                        });
                                    }
                                };
                                self.files.insert(p.clone());
                                self.content
                                    .push((p.clone(), Content::Hardlink(target.clone())));
                                return Ok(Classified::Content(p, Content::Hardlink(target)));
                            }
                            Kind::Dir => unreachable!("handled above"),
                        };
                        self.files.insert(p.clone());
                        Content::Node(node)
                    }
                };
                self.content.push((p.clone(), content.clone()));
                Ok(Classified::Content(p, content))
            }
        }
    }

    /// Decides the layer's effect once every entry was added.
    pub fn finish(self) -> Result<Effect, LayerError> {
        let mut keep: BTreeSet<PathBuf> = self.files.iter().cloned().collect();
        keep.extend(self.dirs.keys().cloned());
        // A whiteout below another whiteout of the layer (that the layer does not itself
        // keep) is moot: its parent is gone.
        let gone: BTreeSet<&PathBuf> = self
            .whiteouts
            .iter()
            .filter(|w| !keep.contains(*w))
            .collect();
        let effective: BTreeSet<PathBuf> = self
            .whiteouts
            .iter()
            .filter(|t| !ancestors(t).any(|a| gone.contains(&a.to_path_buf())))
            .cloned()
            .collect();
        let mut dir_modes: BTreeMap<PathBuf, u32> = self
            .dirs
            .iter()
            .map(|(k, m)| (k.clone(), m.unwrap_or(0o755)))
            .collect();
        for t in &effective {
            for a in ancestors(t) {
                if self.files.contains(a) {
                    return Err(LayerError::ParentNotDir {
                        entry: shown(t),
                        parent: shown(a),
                    });
                }
                keep.insert(a.to_path_buf());
                dir_modes.entry(a.to_path_buf()).or_insert(0o755);
            }
        }
        Ok(Effect {
            content: self.content,
            whiteouts: effective,
            opaques: self.opaques,
            keep,
            dir_modes,
        })
    }
}

/// The effect of a whole layer.
pub fn effect(layer: &Layer, strict: bool) -> Result<Effect, LayerError> {
    let mut b = EffectBuilder::new(strict);
    for e in &layer.entries {
        b.add(e)?;
    }
    b.finish()
}

/// Removes everything at or below `p` that the layer does not keep.
pub fn remove_unkept(tree: &mut Tree, p: &Path, keep: &BTreeSet<PathBuf>) {
    if !keep.contains(p) {
        tree.remove_all(p);
        return;
    }
    if !tree.is_dir(p) {
        return;
    }
    let children: Vec<PathBuf> = tree.children(p).cloned().collect();
    for c in children {
        remove_unkept(tree, &c, keep);
    }
}

/// Applies one layer's effect onto a flattened tree.
pub fn apply_effect(tree: &mut Tree, fx: &Effect) {
    let ensure_dir = |tree: &mut Tree, d: &Path| {
        let mode = fx.dir_modes.get(d).copied().unwrap_or(0o755);
        match tree.nodes.get_mut(d) {
            Some(Node::Dir { mode: m, .. }) => *m = mode,
            Some(_) => {
                tree.remove_all(d);
                tree.nodes.insert(
                    d.to_path_buf(),
                    Node::Dir {
                        mode,
                        opaque: false,
                    },
                );
            }
            None => {
                tree.nodes.insert(
                    d.to_path_buf(),
                    Node::Dir {
                        mode,
                        opaque: false,
                    },
                );
            }
        }
    };
    for (p, c) in &fx.content {
        let mut chain: Vec<&Path> = ancestors(p).collect();
        chain.reverse();
        for a in chain {
            ensure_dir(tree, a);
        }
        match c {
            Content::Dir => ensure_dir(tree, p),
            Content::Node(n) => {
                tree.remove_all(p);
                tree.nodes.insert(p.clone(), n.clone());
            }
            Content::Hardlink(t) => {
                let n = tree
                    .get(t)
                    .cloned()
                    .expect("hardlink target is an earlier entry");
                tree.remove_all(p);
                tree.nodes.insert(p.clone(), n);
            }
        }
    }
    // Directories the markers imply.
    for d in &fx.keep {
        if fx.dir_modes.contains_key(d) {
            ensure_dir(tree, d);
        }
    }
    for t in &fx.whiteouts {
        remove_unkept(tree, t, &fx.keep);
    }
    for d in &fx.opaques {
        let children: Vec<PathBuf> = tree.children(d).cloned().collect();
        for c in children {
            remove_unkept(tree, &c, &fx.keep);
        }
    }
}

/// Model 1: the layers (bottom first) flattened into one tree.
pub fn flatten(layers: &[Layer], strict: bool) -> Result<Tree, LayerError> {
    let mut t = Tree::default();
    for l in layers {
        apply_effect(&mut t, &effect(l, strict)?);
    }
    Ok(t)
}

/// One layer in overlay form: its own content, directories it implies, opaque directories
/// (`"y"`), and a whiteout node for every path of `lower` (the merged view of the layers
/// below) it deletes. A whiteout of a path that does not exist below is left out: in a
/// directory that is not merged overlayfs does not filter whiteouts from readdir, so it would
/// list a name it cannot look up.
pub fn convert(fx: &Effect, lower: &Tree) -> Tree {
    let mut t = Tree::default();
    let mut order: BTreeMap<&PathBuf, &Content> = BTreeMap::new();
    for (p, c) in &fx.content {
        order.insert(p, c);
    }
    for p in &fx.keep {
        let node = match order.get(p) {
            Some(Content::Node(n)) => n.clone(),
            Some(Content::Hardlink(target)) => match order.get(target) {
                Some(Content::Node(n)) => n.clone(),
                _ => unreachable!("hardlink target is a file of the layer"),
            },
            _ => Node::Dir {
                mode: fx.dir_modes.get(p).copied().unwrap_or(0o755),
                opaque: fx.opaques.contains(p),
            },
        };
        t.nodes.insert(p.clone(), node);
    }
    // A whiteout of a path the layer keeps as a directory hides the lower one: opaque.
    for w in &fx.whiteouts {
        if let Some(Node::Dir { opaque, .. }) = t.nodes.get_mut(w) {
            *opaque = true;
        }
    }
    let opaque_dirs: BTreeSet<PathBuf> = t
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n, Node::Dir { opaque: true, .. }))
        .map(|(k, _)| k.clone())
        .collect();
    for w in &fx.whiteouts {
        if fx.keep.contains(w)
            || ancestors(w).any(|a| opaque_dirs.contains(a))
            || lower.get(w).is_none()
        {
            continue;
        }
        t.nodes.insert(w.clone(), Node::Whiteout);
    }
    t
}

/// Model 2: what overlayfs shows for converted layers (top first): a name is looked up from
/// the top; a whiteout hides it below; a non-directory ends the lookup; directories merge down
/// to (and including) the first opaque one.
pub fn overlay_view(layers_top_first: &[Tree]) -> Tree {
    let mut out = Tree::default();
    let all: Vec<usize> = (0..layers_top_first.len()).collect();
    merge_dir(layers_top_first, Path::new(""), &all, &mut out);
    out
}

fn merge_dir(layers: &[Tree], dir: &Path, stack: &[usize], out: &mut Tree) {
    let mut names: BTreeSet<PathBuf> = BTreeSet::new();
    for &i in stack {
        names.extend(layers[i].children(dir).cloned());
    }
    for child in names {
        let mut dirs: Vec<usize> = Vec::new();
        let mut found: Option<Node> = None;
        for &i in stack {
            match layers[i].get(&child) {
                None => continue,
                Some(Node::Whiteout) => break,
                Some(Node::Dir { mode, opaque }) => {
                    if dirs.is_empty() {
                        found = Some(Node::Dir {
                            mode: *mode,
                            opaque: false,
                        });
                    }
                    dirs.push(i);
                    if *opaque {
                        break;
                    }
                }
                Some(n) => {
                    if dirs.is_empty() {
                        found = Some(n.clone());
                    }
                    break;
                }
            }
        }
        if let Some(n) = found {
            out.nodes.insert(child.clone(), n);
            if !dirs.is_empty() {
                merge_dir(layers, &child, &dirs, out);
            }
        }
    }
}

/// Model 3: converted layers (bottom first) applied one over the other: an opaque directory
/// drops what is below it, a whiteout deletes, anything else replaces.
pub fn merge_converted(layers_bottom_first: &[Tree]) -> Tree {
    let mut t = Tree::default();
    for l in layers_bottom_first {
        for (p, n) in &l.nodes {
            match n {
                Node::Whiteout => t.remove_all(p),
                Node::Dir { mode, opaque } => {
                    if *opaque || !t.is_dir(p) {
                        t.remove_all(p);
                    }
                    t.nodes.insert(
                        p.clone(),
                        Node::Dir {
                            mode: *mode,
                            opaque: false,
                        },
                    );
                }
                other => {
                    t.remove_all(p);
                    t.nodes.insert(p.clone(), other.clone());
                }
            }
        }
    }
    t
}

/// Converts every layer (bottom first) and returns the converted trees, bottom first.
pub fn convert_all(layers: &[Layer], strict: bool) -> Result<Vec<Tree>, LayerError> {
    let mut out: Vec<Tree> = Vec::with_capacity(layers.len());
    for l in layers {
        let fx = effect(l, strict)?;
        let lower = view_of_bottom_first(&out);
        out.push(convert(&fx, &lower));
    }
    Ok(out)
}

/// The overlay view of converted layers given bottom first.
pub fn view_of_bottom_first(converted: &[Tree]) -> Tree {
    let top_first: Vec<Tree> = converted.iter().rev().cloned().collect();
    overlay_view(&top_first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, c: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: Kind::File(c.into()),
            mode: 0o644,
        }
    }
    fn d(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: Kind::Dir,
            mode: 0o755,
        }
    }
    fn wh(name: &str) -> Entry {
        f(name, "")
    }
    fn layer(e: Vec<Entry>) -> Layer {
        Layer { entries: e }
    }

    /// All three models, asserting they agree.
    fn models(layers: &[Layer]) -> Tree {
        let m1 = flatten(layers, true).unwrap();
        let conv = convert_all(layers, true).unwrap();
        let mut top_first = conv.clone();
        top_first.reverse();
        let m2 = overlay_view(&top_first);
        let m3 = merge_converted(&conv);
        assert_eq!(
            m1.diff(&m2),
            Vec::<String>::new(),
            "flatten vs overlay view"
        );
        assert_eq!(
            m1.diff(&m3),
            Vec::<String>::new(),
            "flatten vs merged converted"
        );
        m1
    }

    fn paths(t: &Tree) -> Vec<String> {
        t.nodes.keys().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn image_spec_examples() {
        // layer.md: the opaque marker applies first regardless of its position.
        let base = layer(vec![
            d("a/"),
            d("a/b/"),
            f("a/b/old", "x"),
            f("a/keep-below", "y"),
        ]);
        let marker_last = layer(vec![
            d("a/"),
            d("a/b/"),
            d("a/b/c/"),
            f("a/b/c/foo", "1"),
            wh("a/.wh..wh..opq"),
        ]);
        let marker_first = layer(vec![
            wh("a/.wh..wh..opq"),
            d("a/"),
            d("a/b/"),
            d("a/b/c/"),
            f("a/b/c/foo", "1"),
        ]);
        let t1 = models(&[base.clone(), marker_last]);
        let t2 = models(&[base, marker_first]);
        assert_eq!(t1, t2);
        assert_eq!(paths(&t1), vec!["a", "a/b", "a/b/c", "a/b/c/foo"]);
    }

    #[test]
    fn same_layer_entries_survive_their_whiteout_in_any_order() {
        let base = layer(vec![f("x", "lower"), d("dir/"), f("dir/lower", "l")]);
        for l in [
            layer(vec![wh(".wh.x"), f("x", "upper")]),
            layer(vec![f("x", "upper"), wh(".wh.x")]),
        ] {
            let t = models(&[base.clone(), l]);
            assert_eq!(
                t.get(Path::new("x")),
                Some(&Node::File {
                    mode: 0o644,
                    content: b"upper".to_vec()
                })
            );
        }
        // A whiteout of a dir the layer re-creates hides only the lower content.
        for l in [
            layer(vec![wh(".wh.dir"), d("dir/"), f("dir/new", "n")]),
            layer(vec![d("dir/"), f("dir/new", "n"), wh(".wh.dir")]),
        ] {
            let t = models(&[base.clone(), l]);
            assert_eq!(paths(&t), vec!["dir", "dir/new", "x"]);
        }
    }

    #[test]
    fn nested_and_implied() {
        let base = layer(vec![
            d("foo/"),
            f("foo/bar", "1"),
            f("foo/baz", "2"),
            f("file", "f"),
        ]);
        // `.wh.foo` and `foo/.wh.bar` in one layer: foo is gone.
        let t = models(&[base.clone(), layer(vec![wh(".wh.foo"), wh("foo/.wh.bar")])]);
        assert_eq!(paths(&t), vec!["file"]);
        // A whiteout below a lower file: the file is replaced by an (empty) implied directory.
        let t = models(&[base.clone(), layer(vec![wh("file/.wh.x")])]);
        assert_eq!(t.get(Path::new("file")), Some(&Node::implied_dir()));
        // Implied directories take 0755 over a lower mode.
        let lower = layer(vec![Entry {
            name: "p/".into(),
            kind: Kind::Dir,
            mode: 0o700,
        }]);
        let t = models(&[lower, layer(vec![f("p/q", "")])]);
        assert_eq!(t.get(Path::new("p")), Some(&Node::implied_dir()));
    }

    #[test]
    fn refusals() {
        let e = |l: Vec<Entry>| effect(&layer(l), true).unwrap_err();
        assert!(matches!(
            e(vec![f("a", "1"), f("a", "2")]),
            LayerError::Duplicate(_)
        ));
        assert!(matches!(
            e(vec![f("a", "1"), f("./a", "2")]),
            LayerError::Duplicate(_)
        ));
        assert!(matches!(
            e(vec![f("a", "1"), f("a/b", "2")]),
            LayerError::ParentNotDir { .. }
        ));
        assert!(matches!(
            e(vec![f("a/b", "2"), f("a", "1")]),
            LayerError::ParentNotDir { .. }
        ));
        assert!(matches!(e(vec![f("../a", "1")]), LayerError::Name(_)));
        assert!(matches!(e(vec![wh("etc/.wh..")]), LayerError::Name(_)));
        assert!(matches!(e(vec![wh(".wh..wh..opq")]), LayerError::Name(_)));
        assert!(matches!(
            e(vec![f("a", "1"), wh("a/.wh..wh..opq")]),
            LayerError::OpaqueOnNonDir(_)
        ));
        assert!(matches!(
            e(vec![Entry {
                name: "./".into(),
                kind: Kind::Symlink(b"/".to_vec()),
                mode: 0
            }]),
            LayerError::RootNotDir(_)
        ));
        assert!(matches!(
            e(vec![Entry {
                name: "w".into(),
                kind: Kind::Char(0, 0),
                mode: 0
            }]),
            LayerError::DeviceWhiteout(_)
        ));
        assert!(matches!(
            e(vec![Entry {
                name: "l".into(),
                kind: Kind::Hardlink(b"../../etc/shadow".to_vec()),
                mode: 0
            }]),
            LayerError::HardlinkTarget { .. }
        ));
        assert!(matches!(
            e(vec![
                Entry {
                    name: "l".into(),
                    kind: Kind::Hardlink(b"later".to_vec()),
                    mode: 0
                },
                f("later", "")
            ]),
            LayerError::HardlinkTarget { .. }
        ));
    }

    #[test]
    fn conversion_shapes() {
        let fx = effect(
            &layer(vec![
                wh(".wh.gone"),
                d("o/"),
                wh("o/.wh..wh..opq"),
                wh("o/.wh.inner"),
                wh(".wh.absent"),
                f("x", ""),
            ]),
            true,
        )
        .unwrap();
        let mut lower = Tree::default();
        lower.nodes.insert("gone".into(), Node::implied_dir());
        let c = convert(&fx, &lower);
        assert_eq!(c.get(Path::new("gone")), Some(&Node::Whiteout));
        assert_eq!(c.get(Path::new("absent")), None, "nothing below to hide");
        assert_eq!(
            c.get(Path::new("o")),
            Some(&Node::Dir {
                mode: 0o755,
                opaque: true
            })
        );
        assert_eq!(
            c.get(Path::new("o/inner")),
            None,
            "no whiteout inside an opaque dir"
        );
    }
}
