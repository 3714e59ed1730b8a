//! A port of the kernel's overlayfs option parsing, written from the kernel's documentation and
//! behaviour (fs/namespace.c, fs/fs_context.c, fs/overlayfs/params.c, the SELinux option
//! tokeniser). It is the oracle the builders are tested and fuzzed against: whatever a builder
//! emits must parse here back into exactly the configuration it was given.

use super::escape::unescape;
use crate::spec::MAX_LAYERS;

/// `fsconfig(2)` copies keys and string values with `strndup_user(.., 256)`: at most 255 bytes.
pub const FSCONFIG_MAX_VALUE: usize = 255;

/// Whether an LSM that eats mount options before the filesystem sees them is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lsm {
    None,
    /// SELinux: removes `context=`, `fscontext=`, `defcontext=`, `rootcontext=`, `seclabel`
    /// tokens, splitting on `,` outside double quotes with no backslash awareness.
    Selinux,
}

/// The result of parsing, as the kernel would configure the mount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Every option the filesystem saw, split as the kernel splits: (key, raw value).
    pub options: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Regular lower layers, top first, unescaped (what `kern_path` receives).
    pub lowers: Vec<Vec<u8>>,
    /// Data-only lower layers.
    pub data: Vec<Vec<u8>>,
    pub upper: Option<Vec<u8>>,
    pub work: Option<Vec<u8>>,
    /// Every other option, with its value.
    pub flags: Vec<(String, Option<String>)>,
    /// Options an LSM consumed before overlayfs saw the string.
    pub eaten_by_lsm: Vec<Vec<u8>>,
}

/// Why the kernel would refuse the options. Messages follow the kernel's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "only single ':' or double '::' sequences of unescaped colons in lowerdir mount option allowed"
    )]
    TooManyColons,
    #[error("unescaped trailing colons in lowerdir mount option")]
    TrailingColons,
    #[error("cannot append lower layer")]
    CannotAppend,
    #[error("empty lowerdir")]
    EmptyLowerdir,
    #[error("too many lower directories, limit is {MAX_LAYERS}")]
    TooManyLayers,
    #[error("regular lower layers cannot follow data layers")]
    RegularAfterData,
    #[error("lowerdir+ and datadir+ cannot follow lowerdir")]
    AppendAfterLowerdir,
    #[error("unrecognized mount option \"{0}\" or missing value")]
    Unrecognized(String),
    #[error("bad value for '{0}'")]
    BadValue(String),
    #[error("unexpected value for '{0}'")]
    UnexpectedValue(String),
    #[error("fsconfig {what} is {len} bytes, more than {FSCONFIG_MAX_VALUE}")]
    ValueTooLong { what: String, len: usize },
}

/// What `mount(2)` hands the filesystem: the data up to its first NUL, cut at PAGE_SIZE-1
/// (`copy_mount_options` copies one page and `path_mount` terminates it at PAGE_SIZE-1).
pub fn mount_data(data: &[u8], page_size: usize) -> &[u8] {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    &data[..end.min(page_size.saturating_sub(1))]
}

/// SELinux's `selinux_sb_eat_lsm_opts`: returns the string overlayfs sees and the eaten tokens.
pub fn selinux_eat(data: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut eaten = Vec::new();
    let mut from = 0;
    loop {
        let mut len = 0;
        let mut open_quote = false;
        while from + len < data.len() {
            let c = data[from + len];
            if c == b'"' {
                open_quote = !open_quote;
            }
            if c == b',' && !open_quote {
                break;
            }
            len += 1;
        }
        let tok = &data[from..from + len];
        if selinux_token(tok) {
            eaten.push(tok.to_vec());
        } else {
            kept.push(tok);
        }
        if from + len >= data.len() {
            break;
        }
        from += len + 1;
    }
    (kept.join(&b","[..]), eaten)
}

fn selinux_token(tok: &[u8]) -> bool {
    for name in [&b"context"[..], b"fscontext", b"defcontext", b"rootcontext"] {
        if tok.len() > name.len() && tok.starts_with(name) && tok[name.len()] == b'=' {
            return true;
        }
    }
    tok == b"seclabel"
}

/// `ovl_next_opt`: splits on `,` not preceded by `\`.
pub fn split_options(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b',' => {
                out.push(&data[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&data[start..]);
    out
}

/// `ovl_parse_param_split_lowerdirs`: splits a `lowerdir=` value into (element, is_data) with
/// escapes kept, enforcing the colon rules.
pub fn split_lowerdirs(value: &[u8]) -> Result<Vec<(Vec<u8>, bool)>, ParseError> {
    // Each element is a data-only layer when a `::` precedes it.
    let mut elems: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut cur = Vec::new();
    let mut cur_is_data = false;
    let mut nr_colons = 0;
    let mut i = 0;
    loop {
        match value.get(i).copied() {
            Some(b'\\') => {
                cur.push(b'\\');
                i += 1;
                // The escaped byte is kept too; a trailing `\` falls through to the end check
                // with the colon count untouched, as in the kernel.
                if let Some(&n) = value.get(i) {
                    cur.push(n);
                    i += 1;
                    nr_colons = 0;
                }
            }
            Some(b':') => {
                let next_colon = value.get(i + 1) == Some(&b':');
                nr_colons += 1;
                if nr_colons == 2 && next_colon {
                    return Err(ParseError::TooManyColons);
                }
                if nr_colons == 1 {
                    elems.push((std::mem::take(&mut cur), cur_is_data));
                    cur_is_data = false;
                } else {
                    cur_is_data = true;
                }
                i += 1;
            }
            None => {
                if nr_colons > 0 {
                    return Err(ParseError::TrailingColons);
                }
                elems.push((cur, cur_is_data));
                return Ok(elems);
            }
            Some(b) => {
                cur.push(b);
                nr_colons = 0;
                i += 1;
            }
        }
    }
}

/// A parameter that needs a value got none.
fn need<'v>(v: Option<&'v [u8]>, key: &str) -> Result<&'v [u8], ParseError> {
    v.ok_or_else(|| ParseError::Unrecognized(key.to_string()))
}

/// Superblock flags the VFS consumes before the filesystem sees the option.
const SB_FLAGS: [&str; 9] = [
    "dirsync",
    "lazytime",
    "mand",
    "ro",
    "sync",
    "async",
    "nolazytime",
    "nomand",
    "rw",
];

#[derive(Default)]
struct State {
    out: Parsed,
    lowerdir_given: bool,
}

impl State {
    fn layer(&mut self, path: Vec<u8>, data: bool) -> Result<(), ParseError> {
        if path.is_empty() {
            return Err(ParseError::EmptyLowerdir);
        }
        if self.out.lowers.len() + self.out.data.len() >= MAX_LAYERS {
            return Err(ParseError::TooManyLayers);
        }
        if data {
            self.out.data.push(path);
        } else {
            if !self.out.data.is_empty() {
                return Err(ParseError::RegularAfterData);
            }
            self.out.lowers.push(path);
        }
        Ok(())
    }

    /// `ovl_parse_param` for one option. `raw` is whether path values are taken verbatim
    /// (`lowerdir+`/`datadir+`) or unescaped.
    fn param(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), ParseError> {
        let k = String::from_utf8_lossy(key).into_owned();
        self.out
            .options
            .push((key.to_vec(), value.map(|v| v.to_vec())));
        match key {
            b"lowerdir" => {
                let v = need(value, &k)?;
                // A new lowerdir= replaces every layer given so far.
                self.out.lowers.clear();
                self.out.data.clear();
                if v.is_empty() {
                    return Ok(());
                }
                self.lowerdir_given = true;
                if v[0] == b':' {
                    return Err(ParseError::CannotAppend);
                }
                let elems = split_lowerdirs(v)?;
                if elems.len() > MAX_LAYERS {
                    return Err(ParseError::TooManyLayers);
                }
                for (e, data) in elems {
                    self.layer(unescape(&e), data)?;
                }
            }
            b"lowerdir+" | b"datadir+" => {
                let v = need(value, &k)?;
                if self.lowerdir_given {
                    return Err(ParseError::AppendAfterLowerdir);
                }
                self.layer(v.to_vec(), key == b"datadir+")?;
            }
            b"upperdir" | b"workdir" => {
                let v = need(value, &k)?;
                if v.is_empty() {
                    return Err(ParseError::BadValue(k));
                }
                let p = unescape(v);
                if p.is_empty() {
                    return Err(ParseError::EmptyLowerdir);
                }
                if key == b"upperdir" {
                    self.out.upper = Some(p);
                } else {
                    self.out.work = Some(p);
                }
            }
            b"default_permissions"
            | b"userxattr"
            | b"volatile"
            | b"override_creds"
            | b"nooverride_creds" => {
                if value.is_some() {
                    return Err(ParseError::UnexpectedValue(k));
                }
                self.out.flags.push((k, None));
            }
            b"redirect_dir" | b"index" | b"uuid" | b"nfs_export" | b"xino" | b"metacopy"
            | b"verity" => {
                let v = need(value, &k)?;
                let allowed: &[&[u8]] = match key {
                    b"redirect_dir" => &[b"on", b"follow", b"nofollow", b"off"],
                    b"uuid" => &[b"off", b"null", b"auto", b"on"],
                    b"xino" => &[b"off", b"auto", b"on"],
                    b"verity" => &[b"off", b"on", b"require"],
                    _ => &[b"on", b"off"],
                };
                if !allowed.contains(&v) {
                    return Err(ParseError::BadValue(k));
                }
                self.out
                    .flags
                    .push((k, Some(String::from_utf8_lossy(v).into_owned())));
            }
            _ if value.is_none() && SB_FLAGS.contains(&k.as_str()) => {
                self.out.flags.push((k, None));
            }
            _ => return Err(ParseError::Unrecognized(k)),
        }
        Ok(())
    }
}

/// Parses legacy `mount(2)` data as the kernel does (after [`mount_data`] truncation).
pub fn parse_legacy(data: &[u8], page_size: usize, lsm: Lsm) -> Result<Parsed, ParseError> {
    let seen = mount_data(data, page_size);
    let (s, eaten) = match lsm {
        Lsm::None => (seen.to_vec(), Vec::new()),
        Lsm::Selinux => selinux_eat(seen),
    };
    let mut st = State::default();
    st.out.eaten_by_lsm = eaten;
    for tok in split_options(&s) {
        if tok.is_empty() {
            continue;
        }
        let (key, value) = match tok.iter().position(|&b| b == b'=') {
            Some(0) => continue,
            Some(i) => (&tok[..i], Some(&tok[i + 1..])),
            None => (tok, None),
        };
        st.param(key, value)?;
    }
    Ok(st.out)
}

/// One `fsconfig(2)` call as the oracle sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsCall<'a> {
    Flag(&'a [u8]),
    String(&'a [u8], &'a [u8]),
    /// `FSCONFIG_SET_FD`: the kernel names the layer by the fd's path.
    Fd(&'a [u8], &'a [u8]),
}

/// Parses a sequence of `fsconfig(2)` calls as the kernel does.
pub fn parse_fsconfig<'a>(
    calls: impl IntoIterator<Item = FsCall<'a>>,
) -> Result<Parsed, ParseError> {
    let mut st = State::default();
    for call in calls {
        let (key, value, by_fd) = match call {
            FsCall::Flag(k) => (k, None, false),
            FsCall::String(k, v) => (k, Some(v), false),
            FsCall::Fd(k, v) => (k, Some(v), true),
        };
        if key.len() > FSCONFIG_MAX_VALUE {
            return Err(ParseError::ValueTooLong {
                what: "key".into(),
                len: key.len(),
            });
        }
        if let Some(v) = value
            && !by_fd
            && v.len() > FSCONFIG_MAX_VALUE
        {
            return Err(ParseError::ValueTooLong {
                what: format!("value of {}", String::from_utf8_lossy(key)),
                len: v.len(),
            });
        }
        if by_fd {
            // A layer given by fd is named by its path verbatim: no unescaping.
            let k = String::from_utf8_lossy(key).into_owned();
            st.out
                .options
                .push((key.to_vec(), value.map(<[u8]>::to_vec)));
            let v = value.unwrap_or_default().to_vec();
            match key {
                b"lowerdir+" | b"datadir+" => {
                    if st.lowerdir_given {
                        return Err(ParseError::AppendAfterLowerdir);
                    }
                    st.layer(v, key == b"datadir+")?;
                }
                b"upperdir" => st.out.upper = Some(v),
                b"workdir" => st.out.work = Some(v),
                _ => return Err(ParseError::BadValue(k)),
            }
        } else {
            st.param(key, value)?;
        }
    }
    Ok(st.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowers(p: &Parsed) -> Vec<&[u8]> {
        p.lowers.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn kernel_doc_example() {
        // Documentation/filesystems/overlayfs.rst: -olowerdir=/a\:lower\:\:dir
        let p = parse_legacy(b"lowerdir=/a\\:lower\\:\\:dir", 4096, Lsm::None).unwrap();
        assert_eq!(lowers(&p), vec![&b"/a:lower::dir"[..]]);
    }

    #[test]
    fn splits_like_the_kernel() {
        let p = parse_legacy(
            b"lowerdir=/l1:/l\\,2::/d1::/d2,upperdir=/u\\,x,workdir=/w,index=off,volatile",
            4096,
            Lsm::None,
        )
        .unwrap();
        assert_eq!(lowers(&p), vec![&b"/l1"[..], b"/l,2"]);
        assert_eq!(p.data, vec![b"/d1".to_vec(), b"/d2".to_vec()]);
        assert_eq!(p.upper.as_deref(), Some(&b"/u,x"[..]));
        assert_eq!(p.options.len(), 5);
        assert_eq!(
            p.flags,
            vec![
                ("index".into(), Some("off".into())),
                ("volatile".into(), None)
            ]
        );
    }

    #[test]
    fn colon_rules() {
        let e = |s: &[u8]| parse_legacy(s, 4096, Lsm::None).unwrap_err();
        assert_eq!(e(b"lowerdir=/a:::/b"), ParseError::TooManyColons);
        assert_eq!(e(b"lowerdir=/a:"), ParseError::TrailingColons);
        assert_eq!(e(b"lowerdir=/a::"), ParseError::TrailingColons);
        assert_eq!(e(b"lowerdir=:/a"), ParseError::CannotAppend);
        assert_eq!(e(b"lowerdir=/a::/b:/c::/d"), ParseError::RegularAfterData);
        assert_eq!(e(b"lowerdir=\\"), ParseError::EmptyLowerdir);
        assert_eq!(e(b"lowerdir=/a:\\"), ParseError::TrailingColons);
        assert_eq!(e(b"lowerdir=/a::/b:/c"), ParseError::RegularAfterData);
        let p = parse_legacy(b"lowerdir=/a::/b::/c", 4096, Lsm::None).unwrap();
        assert_eq!((p.lowers.len(), p.data.len()), (1, 2));
        assert_eq!(
            e(b"lowerdir=/a,bogus=1"),
            ParseError::Unrecognized("bogus".into())
        );
        assert_eq!(
            e(b"lowerdir=/a,volatile=1"),
            ParseError::UnexpectedValue("volatile".into())
        );
        assert_eq!(
            e(b"lowerdir=/a,index=maybe"),
            ParseError::BadValue("index".into())
        );
        // A trailing backslash is tolerated and dropped.
        let p = parse_legacy(b"lowerdir=/a\\", 4096, Lsm::None).unwrap();
        assert_eq!(lowers(&p), vec![&b"/a"[..]]);
    }

    #[test]
    fn truncation_at_page_size() {
        let mut s = b"lowerdir=/".to_vec();
        s.extend(std::iter::repeat_n(b'a', 5000));
        let p = parse_legacy(&s, 4096, Lsm::None).unwrap();
        assert_eq!(p.lowers[0].len(), 4095 - "lowerdir=".len());
    }

    #[test]
    fn escaped_comma_can_be_eaten_by_selinux() {
        let s = b"lowerdir=/x\\,context=foo,upperdir=/u,workdir=/w";
        let plain = parse_legacy(s, 4096, Lsm::None).unwrap();
        assert_eq!(lowers(&plain), vec![&b"/x,context=foo"[..]]);
        let se = parse_legacy(s, 4096, Lsm::Selinux).unwrap();
        assert_eq!(se.eaten_by_lsm, vec![b"context=foo".to_vec()]);
        // What is left re-joins into `/x\,upperdir=/u`: the dangling escape swallows the
        // comma and the upper dir becomes part of the lower path.
        assert_eq!(lowers(&se), vec![&b"/x,upperdir=/u"[..]]);
        assert_eq!(se.upper, None);
    }

    #[test]
    fn fsconfig_limits_and_order() {
        let long = vec![b'a'; 256];
        assert!(matches!(
            parse_fsconfig([FsCall::String(b"lowerdir+", &long)]),
            Err(ParseError::ValueTooLong { len: 256, .. })
        ));
        assert!(parse_fsconfig([FsCall::Fd(b"lowerdir+", &long)]).is_ok());
        let p = parse_fsconfig([
            FsCall::String(b"lowerdir+", b"/a:b\\c"),
            FsCall::String(b"datadir+", b"/d"),
            FsCall::String(b"upperdir", b"/u\\\\x"),
        ])
        .unwrap();
        assert_eq!(lowers(&p), vec![&b"/a:b\\c"[..]]);
        assert_eq!(p.upper.as_deref(), Some(&b"/u\\x"[..]));
        assert_eq!(
            parse_fsconfig([
                FsCall::String(b"datadir+", b"/d"),
                FsCall::String(b"lowerdir+", b"/a")
            ]),
            Err(ParseError::RegularAfterData)
        );
        assert_eq!(
            parse_fsconfig([
                FsCall::String(b"lowerdir", b"/a"),
                FsCall::String(b"lowerdir+", b"/b")
            ]),
            Err(ParseError::AppendAfterLowerdir)
        );
    }
}
