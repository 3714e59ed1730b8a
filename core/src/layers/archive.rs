//! Layer archives: uncompressed, gzip or zstd tar, recognised by their magic bytes, and read
//! into [`Layer`]s for the models.

use super::model::{Entry, Kind, Layer, LayerError};
use std::io::{BufReader, Read};

/// The compression of an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Looks at the first bytes. A valid tar header wins over a magic number (an entry name may
/// well start with `\x1f\x8b`).
pub fn sniff(head: &[u8]) -> Compression {
    if is_tar_header(head) {
        Compression::None
    } else if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Whether `b` starts with a 512-byte tar header whose checksum is right.
fn is_tar_header(b: &[u8]) -> bool {
    let Some(h) = b.get(..512) else { return false };
    let field = &h[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .filter(|c| (b'0'..=b'7').contains(c))
        .collect();
    let Some(want) = std::str::from_utf8(&digits)
        .ok()
        .and_then(|d| u32::from_str_radix(d, 8).ok())
    else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(c)
            }
        })
        .sum();
    sum == want
}

/// A reader of the uncompressed tar stream, whatever the compression.
pub fn decompress<'a>(mut r: impl Read + 'a) -> Result<Box<dyn Read + 'a>, LayerError> {
    // Enough for a whole tar header, however the reader hands out bytes.
    let mut head = Vec::with_capacity(512);
    (&mut r)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| LayerError::Archive(format!("read: {e}")))?;
    let kind = sniff(&head);
    let b = BufReader::with_capacity(256 * 1024, std::io::Cursor::new(head).chain(r));
    Ok(match kind {
        Compression::None => Box::new(b),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(b)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(b)
                .map_err(|e| LayerError::Archive(format!("zstd: {e}")))?,
        ),
    })
}

/// The header facts of one archive entry (content excluded).
pub struct Meta {
    pub name: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// `SCHILY.xattr.*` PAX records: (name, value).
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Reads the header of an entry; `kind` has no file content (File(empty)).
pub fn meta<R: Read>(e: &mut tar::Entry<'_, R>) -> Result<Meta, LayerError> {
    let name = e.path_bytes().into_owned();
    let shown = String::from_utf8_lossy(&name).into_owned();
    let h = e.header();
    let mode = h
        .mode()
        .map_err(|err| LayerError::Archive(format!("{shown}: mode: {err}")))?
        & 0o7777;
    let dev = |f: std::io::Result<Option<u32>>| f.ok().flatten().unwrap_or(0);
    let kind = match h.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File(Vec::new()),
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink(
            e.link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default(),
        ),
        tar::EntryType::Link => Kind::Hardlink(
            e.link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default(),
        ),
        tar::EntryType::Char => Kind::Char(dev(h.device_major()), dev(h.device_minor())),
        tar::EntryType::Block => Kind::Block(dev(h.device_major()), dev(h.device_minor())),
        tar::EntryType::Fifo => Kind::Fifo,
        other => {
            return Err(LayerError::Unsupported {
                entry: shown,
                kind: format!("{other:?}"),
            });
        }
    };
    let (uid, gid) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
    let mut xattrs = Vec::new();
    if let Ok(Some(pax)) = e.pax_extensions() {
        for ext in pax.flatten() {
            if let Ok(k) = ext.key()
                && let Some(name) = k.strip_prefix("SCHILY.xattr.")
            {
                xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(Meta {
        name,
        kind,
        mode,
        uid,
        gid,
        xattrs,
    })
}

/// Reads a whole archive (any compression) into memory.
pub fn read_layer(r: impl Read) -> Result<Layer, LayerError> {
    let mut a = tar::Archive::new(decompress(r)?);
    let mut layer = Layer::default();
    let entries = a
        .entries()
        .map_err(|e| LayerError::Archive(e.to_string()))?;
    for e in entries {
        let mut e = e.map_err(|e| LayerError::Archive(e.to_string()))?;
        let m = meta(&mut e)?;
        let kind = match m.kind {
            Kind::File(_) => {
                let mut c = Vec::new();
                e.read_to_end(&mut c)
                    .map_err(|e| LayerError::Archive(e.to_string()))?;
                Kind::File(c)
            }
            k => k,
        };
        layer.entries.push(Entry {
            name: m.name,
            kind,
            mode: m.mode,
        });
    }
    Ok(layer)
}

/// Writes a layer as an uncompressed tar (ustar, with GNU long names when needed). Names and
/// link targets are written verbatim, so tests can build hostile archives.
pub fn write_layer(layer: &Layer) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in &layer.entries {
        let mut h = tar::Header::new_gnu();
        let (ty, data): (tar::EntryType, &[u8]) = match &e.kind {
            Kind::Dir => (tar::EntryType::Directory, &[]),
            Kind::File(c) => (tar::EntryType::Regular, c),
            Kind::Symlink(_) => (tar::EntryType::Symlink, &[]),
            Kind::Hardlink(_) => (tar::EntryType::Link, &[]),
            Kind::Char(..) => (tar::EntryType::Char, &[]),
            Kind::Block(..) => (tar::EntryType::Block, &[]),
            Kind::Fifo => (tar::EntryType::Fifo, &[]),
        };
        h.set_entry_type(ty);
        h.set_mode(e.mode);
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        if let Kind::Char(a, m) | Kind::Block(a, m) = e.kind {
            let _ = h.set_device_major(a);
            let _ = h.set_device_minor(m);
        }
        if let Kind::Symlink(t) | Kind::Hardlink(t) = &e.kind {
            raw_long(&mut b, tar::EntryType::GNULongLink, t);
            let n = t.len().min(100);
            h.as_old_mut().linkname[..n].copy_from_slice(&t[..n]);
        }
        raw_long(&mut b, tar::EntryType::GNULongName, &e.name);
        let n = e.name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&e.name[..n]);
        h.set_cksum();
        b.append(&h, data).expect("append to a Vec");
    }
    b.into_inner().expect("finish a Vec")
}

/// A GNU long-name/long-link record before an entry whose name does not fit 100 bytes.
fn raw_long(b: &mut tar::Builder<Vec<u8>>, ty: tar::EntryType, name: &[u8]) {
    if name.len() < 100 {
        return;
    }
    let mut h = tar::Header::new_gnu();
    let n = b"././@LongLink";
    h.as_old_mut().name[..n.len()].copy_from_slice(n);
    h.set_entry_type(ty);
    h.set_mode(0o644);
    let mut data = name.to_vec();
    data.push(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data.as_slice()).expect("append to a Vec");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tar_whose_first_name_looks_like_gzip_is_a_tar() {
        let l = Layer {
            entries: vec![Entry {
                name: b"\x1f\x8b\x08name".to_vec(),
                kind: Kind::File(vec![]),
                mode: 0o644,
            }],
        };
        let tar = write_layer(&l);
        assert_eq!(sniff(&tar), Compression::None);
        assert_eq!(read_layer(tar.as_slice()).unwrap(), l);
    }

    #[test]
    fn round_trip_through_every_compression() {
        let l = Layer {
            entries: vec![
                Entry {
                    name: b"d/".to_vec(),
                    kind: Kind::Dir,
                    mode: 0o700,
                },
                Entry {
                    name: b"d/f".to_vec(),
                    kind: Kind::File(b"hello".to_vec()),
                    mode: 0o640,
                },
                Entry {
                    name: [b"long/".repeat(30), b"x".to_vec()].concat(),
                    kind: Kind::File(vec![]),
                    mode: 0o600,
                },
                Entry {
                    name: b"s".to_vec(),
                    kind: Kind::Symlink(b"../../etc/passwd".to_vec()),
                    mode: 0o777,
                },
                Entry {
                    name: b"h".to_vec(),
                    kind: Kind::Hardlink(b"d/f".to_vec()),
                    mode: 0o640,
                },
                Entry {
                    name: b"../escape".to_vec(),
                    kind: Kind::File(b"x".to_vec()),
                    mode: 0o644,
                },
            ],
        };
        let tar = write_layer(&l);
        assert_eq!(read_layer(tar.as_slice()).unwrap(), l);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(sniff(&gz), Compression::Gzip);
        assert_eq!(read_layer(gz.as_slice()).unwrap(), l);
        let zs = zstd::encode_all(tar.as_slice(), 3).unwrap();
        assert_eq!(sniff(&zs), Compression::Zstd);
        assert_eq!(read_layer(zs.as_slice()).unwrap(), l);
    }
}
