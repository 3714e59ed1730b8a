//! Escaping of paths inside overlay option values.
//!
//! The kernel splits options on unescaped `,` (`ovl_next_opt`) and `lowerdir` on unescaped `:`
//! (`ovl_parse_param_split_lowerdirs`), then `ovl_unescape` drops every `\` and keeps the byte
//! after it. So a lowerdir element needs `\`, `:` and `,` escaped; upper/work need `\` and `,`.

/// Escapes one `lowerdir=` element: `\` -> `\\`, `:` -> `\:`, `,` -> `\,`.
pub fn escape_lower(path: &[u8]) -> Vec<u8> {
    escape(path, LOWER_SPECIAL)
}

/// Escapes an `upperdir=`/`workdir=` value: `\` -> `\\`, `,` -> `\,`. Also what an fsconfig
/// `upperdir`/`workdir` string needs (without the `,`, which is harmless to escape).
pub fn escape_dir(path: &[u8]) -> Vec<u8> {
    escape(path, DIR_SPECIAL)
}

/// Bytes a `lowerdir=` element must escape.
pub const LOWER_SPECIAL: &[u8] = b"\\:,";
/// Bytes an `upperdir=`/`workdir=` value must escape.
pub const DIR_SPECIAL: &[u8] = b"\\,";

fn escape(path: &[u8], special: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(escaped_len(path, special));
    escape_into(&mut out, path, special);
    out
}

/// Length of `path` once escaped.
pub fn escaped_len(path: &[u8], special: &[u8]) -> usize {
    path.len() + path.iter().filter(|b| special.contains(b)).count()
}

/// Appends `path`, escaped, to `out`.
pub fn escape_into(out: &mut Vec<u8>, path: &[u8], special: &[u8]) {
    for &b in path {
        if special.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// The kernel's `ovl_unescape()`: drops each `\` and keeps the next byte; a trailing `\` is
/// dropped.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' {
            i += 1;
            if i == s.len() {
                break;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Escapes only `\`: what an fsconfig `upperdir`/`workdir` string needs, since the kernel
/// unescapes it but does not split it.
pub fn escape_backslash(path: &[u8]) -> Vec<u8> {
    escape(path, b"\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        for p in [&b"/a:b,c\\d"[..], b"plain", b"\\", b"::", b"a\xffb\n"] {
            assert_eq!(unescape(&escape_lower(p)), p);
            assert_eq!(unescape(&escape_dir(p)), p);
        }
        assert_eq!(escape_lower(b"/a:b,c\\d"), b"/a\\:b\\,c\\\\d");
        assert_eq!(escape_dir(b"/a:b,c"), b"/a:b\\,c");
        assert_eq!(unescape(b"ab\\"), b"ab");
    }
}
