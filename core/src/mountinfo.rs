//! Parsing of `/proc/<pid>/mountinfo` lines (proc(5)), for show-mounts, the move-chroot hide
//! list and the host-table checks.

use std::path::PathBuf;

/// One mount from mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u32,
    pub parent: u32,
    /// Root of the mount within its filesystem.
    pub root: PathBuf,
    /// Mount point, relative to the reader's root.
    pub mount_point: PathBuf,
    pub mount_options: String,
    /// Optional fields such as `shared:1`, `master:2`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
    /// The super options as raw bytes (octal escapes kept).
    pub super_options_raw: Vec<u8>,
}

/// Undoes mountinfo's octal escapes (`\040` for space, `\011`, `\012`, `\134`, ...).
pub fn unescape_octal(s: impl AsRef<[u8]>) -> Vec<u8> {
    let b = s.as_ref();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn path(s: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(unescape_octal(s)))
}

/// Parses one line; `None` if it is malformed. Paths keep their raw bytes (mountinfo only
/// escapes space, tab, newline and backslash).
pub fn parse_line(line: impl AsRef<[u8]>) -> Option<MountEntry> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut it = line.as_ref().split(|&c| c == b' ');
    let id = text(it.next()?).parse().ok()?;
    let parent = text(it.next()?).parse().ok()?;
    let _dev = it.next()?;
    let root = path(it.next()?);
    let mount_point = path(it.next()?);
    let mount_options = text(it.next()?);
    let mut optional = Vec::new();
    loop {
        let f = it.next()?;
        if f == b"-" {
            break;
        }
        optional.push(text(f));
    }
    let fstype = text(it.next()?);
    let source = text(it.next()?);
    let super_options_raw = it.collect::<Vec<_>>().join(&b' ');
    let super_options = text(&super_options_raw);
    Some(MountEntry {
        id,
        parent,
        root,
        mount_point,
        mount_options,
        optional,
        fstype,
        source,
        super_options,
        super_options_raw,
    })
}

/// Parses a whole mountinfo text, skipping malformed lines.
pub fn parse(text: impl AsRef<[u8]>) -> Vec<MountEntry> {
    text.as_ref()
        .split(|&c| c == b'\n')
        .filter_map(parse_line)
        .collect()
}

/// Renders entries as `mount(8)` prints them: `SOURCE on POINT type FS (OPTIONS)`.
pub fn render_like_mount(entries: &[MountEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        let mut opts = e.mount_options.clone();
        for o in e.super_options.split(',') {
            if o != "rw" && o != "ro" && !o.is_empty() {
                opts.push(',');
                opts.push_str(o);
            }
        }
        s.push_str(&format!(
            "{} on {} type {} ({})\n",
            e.source,
            e.mount_point.display(),
            e.fstype,
            opts
        ));
    }
    s
}

/// The calling process's mount table, raw.
pub fn read_self() -> std::io::Result<Vec<u8>> {
    std::fs::read("/proc/self/mountinfo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_line() {
        let l = "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue";
        let e = parse_line(l).unwrap();
        assert_eq!((e.id, e.parent), (36, 35));
        assert_eq!(e.mount_point, PathBuf::from("/mnt two"));
        assert_eq!(e.optional, vec!["master:1", "shared:7"]);
        assert_eq!(e.fstype, "ext3");
        assert_eq!(e.super_options, "rw,errors=continue");
        assert_eq!(
            render_like_mount(&[e]),
            "/dev/root on /mnt two type ext3 (rw,noatime,errors=continue)\n"
        );
        assert!(parse_line("garbage").is_none());
        assert_eq!(unescape_octal("a\\072b\\134"), b"a:b\\");
    }
}
