//! OCI whiteout names and the overlayfs whiteout formats.
//!
//! OCI layers mark a deletion with an empty file `.wh.<name>` and an opaque directory with
//! `.wh..wh..opq`. overlayfs wants a 0/0 character device (or, since Linux 6.7, a zero-size
//! regular file with an `overlay.whiteout` xattr inside a directory marked
//! `overlay.opaque="x"`), and an `overlay.opaque="y"` xattr on opaque directories.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The OCI whiteout prefix.
pub const WH_PREFIX: &str = ".wh.";
/// AUFS metadata prefix (`.wh..wh.plnk`, ...).
pub const WH_META_PREFIX: &str = ".wh..wh.";
/// The opaque-directory marker.
pub const WH_OPAQUE: &str = ".wh..wh..opq";

/// Which xattr namespace overlay metadata lives in: `trusted.` normally, `user.` with the
/// `userxattr` mount option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XattrNs {
    Trusted,
    User,
}

impl XattrNs {
    /// `<ns>.overlay.<what>`.
    pub fn name(self, what: &str) -> String {
        match self {
            XattrNs::Trusted => format!("trusted.overlay.{what}"),
            XattrNs::User => format!("user.overlay.{what}"),
        }
    }
}

/// What a (cleaned) layer entry name means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// A normal path.
    Normal(PathBuf),
    /// `dir/.wh.name`: delete `dir/name` in lower layers.
    Whiteout(PathBuf),
    /// `dir/.wh..wh..opq`: hide everything below `dir` in lower layers.
    Opaque(PathBuf),
    /// AUFS metadata (`.wh..wh.plnk`, ...), skipped in lenient mode.
    AufsMeta(PathBuf),
}

/// A layer entry name that must be refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("entry `{0}` has a `..` component")]
    DotDot(String),
    #[error("entry `{0}` has an empty name")]
    Empty(String),
    #[error("entry `{0}` contains a NUL byte")]
    Nul(String),
    #[error("entry `{0}` is a whiteout with no name, or of `.` or `..`")]
    BadWhiteout(String),
    #[error("entry `{0}` is AUFS whiteout metadata, refused in strict mode")]
    AufsMeta(String),
    #[error("entry `{0}` whites out or makes opaque the layer root")]
    Root(String),
}

/// Cleans a tar entry name into a root-relative path: strips leading `/` and `.` components,
/// refuses `..` anywhere. An empty result is the layer root (`""`).
pub fn clean(name: &[u8]) -> Result<PathBuf, NameError> {
    let shown = || String::from_utf8_lossy(name).into_owned();
    if name.contains(&0) {
        return Err(NameError::Nul(shown()));
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(name)).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(NameError::DotDot(shown())),
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => return Err(NameError::DotDot(shown())),
        }
    }
    Ok(out)
}

/// Classifies a tar entry name with the OCI rules. `strict` refuses AUFS metadata.
pub fn classify(name: &[u8], strict: bool) -> Result<NameKind, NameError> {
    let shown = || String::from_utf8_lossy(name).into_owned();
    let path = clean(name)?;
    let Some(base) = path.file_name() else {
        return Ok(NameKind::Normal(path));
    };
    let base = base.as_bytes();
    let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
    if base == WH_OPAQUE.as_bytes() {
        return Ok(NameKind::Opaque(parent));
    }
    if base.starts_with(WH_META_PREFIX.as_bytes()) {
        return if strict {
            Err(NameError::AufsMeta(shown()))
        } else {
            Ok(NameKind::AufsMeta(path))
        };
    }
    if let Some(target) = base.strip_prefix(WH_PREFIX.as_bytes()) {
        if target.is_empty() || target == b"." || target == b".." {
            return Err(NameError::BadWhiteout(shown()));
        }
        return Ok(NameKind::Whiteout(parent.join(OsStr::from_bytes(target))));
    }
    Ok(NameKind::Normal(path))
}

/// Creates an overlay whiteout at `path`: a 0/0 character device, or where mknod is not
/// allowed, the xattr form (zero-size file with `<ns>.overlay.whiteout`, parent marked
/// `<ns>.overlay.opaque="x"`).
pub fn make_whiteout(path: &Path, ns: XattrNs) -> io::Result<()> {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    match mknodat(CWD, path, FileType::CharacterDevice, Mode::empty(), 0) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::PERM => make_xattr_whiteout(path, ns),
        Err(e) => Err(e.into()),
    }
}

/// The xattr whiteout form (Linux 6.7+).
pub fn make_xattr_whiteout(path: &Path, ns: XattrNs) -> io::Result<()> {
    std::fs::File::create(path)?;
    set_xattr(path, &ns.name("whiteout"), b"")?;
    if let Some(parent) = path.parent() {
        set_xattr(parent, &ns.name("opaque"), b"x")?;
    }
    Ok(())
}

/// Marks `dir` opaque (`<ns>.overlay.opaque="y"`).
pub fn make_opaque(dir: &Path, ns: XattrNs) -> io::Result<()> {
    set_xattr(dir, &ns.name("opaque"), b"y")
}

/// `lsetxattr(path, name, value, 0)`.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty())
        .map_err(io::Error::from)
}

/// `lgetxattr(path, name)`, `None` when absent.
pub fn get_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(e) if e == rustix::io::Errno::NODATA => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_spec() {
        let c = |s: &str| classify(s.as_bytes(), true);
        assert_eq!(c("a/b"), Ok(NameKind::Normal("a/b".into())));
        assert_eq!(c("/./a/b/"), Ok(NameKind::Normal("a/b".into())));
        assert_eq!(c("a/.wh.b"), Ok(NameKind::Whiteout("a/b".into())));
        assert_eq!(c(".wh.b"), Ok(NameKind::Whiteout("b".into())));
        assert_eq!(c("a/.wh..wh..opq"), Ok(NameKind::Opaque("a".into())));
        assert_eq!(
            c(".wh.etc/file"),
            Ok(NameKind::Normal(".wh.etc/file".into()))
        );
        assert!(matches!(c("a/.wh."), Err(NameError::BadWhiteout(_))));
        assert!(matches!(c(".wh.."), Err(NameError::BadWhiteout(_))));
        assert!(matches!(c("etc/.wh..."), Err(NameError::BadWhiteout(_))));
        assert!(matches!(c("a/../b"), Err(NameError::DotDot(_))));
        assert!(matches!(c("../x"), Err(NameError::DotDot(_))));
        assert!(matches!(c("a/.wh..wh.plnk"), Err(NameError::AufsMeta(_))));
        assert_eq!(
            classify(b"a/.wh..wh.plnk", false),
            Ok(NameKind::AufsMeta("a/.wh..wh.plnk".into()))
        );
        assert!(matches!(classify(b"a\0b", false), Err(NameError::Nul(_))));
        assert_eq!(c("."), Ok(NameKind::Normal("".into())));
    }
}
