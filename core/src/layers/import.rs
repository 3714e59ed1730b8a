//! `spinup import`: an OCI image layout directory or a `docker save` archive, unpacked layer
//! by layer in overlay form into an image dir that `spinup run --image` uses. Blob digests
//! (and, for docker-save archives, the config's diff_ids) are verified while reading.

use super::apply::{ApplyMode, ApplyOptions, apply_archive};
use super::whiteout::XattrNs;
use crate::fixture::{IMAGE_MANIFEST, ImageManifest};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// An import that failed; the destination is removed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {what}")]
    Source { path: PathBuf, what: String },
    #[error("{0}: destination exists and is not empty")]
    Destination(PathBuf),
    #[error("layer {index} ({digest}): {source}")]
    Layer {
        index: usize,
        digest: String,
        source: super::LayerError,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn src_err(path: &Path, what: impl Into<String>) -> ImportError {
    ImportError::Source {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Debug, Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    #[serde(default)]
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Config {
    #[serde(default)]
    rootfs: RootFs,
}

#[derive(Debug, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// What was imported.
#[derive(Debug)]
pub struct Imported {
    pub dir: PathBuf,
    pub layers: usize,
    pub source: String,
}

/// A reader that hashes what passes through.
struct Hashing<R> {
    inner: R,
    h: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256:<hex>` -> the blob path under an OCI layout.
fn blob(layout: &Path, digest: &str) -> Result<PathBuf, ImportError> {
    let hexpart = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| src_err(layout, format!("digest `{digest}` is not sha256:<64 hex>")))?;
    Ok(layout.join("blobs/sha256").join(hexpart))
}

fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Result<T, ImportError> {
    let text = fs::read(p).map_err(|e| src_err(p, e.to_string()))?;
    serde_json::from_slice(&text).map_err(|e| src_err(p, format!("not the expected JSON: {e}")))
}

fn read_verified(layout: &Path, digest: &str) -> Result<Vec<u8>, ImportError> {
    let p = blob(layout, digest)?;
    let data = fs::read(&p).map_err(|e| src_err(&p, e.to_string()))?;
    let got = format!("sha256:{}", hex(&Sha256::digest(&data)));
    if got != digest {
        return Err(src_err(
            &p,
            format!("content digest is {got}, expected {digest}"),
        ));
    }
    Ok(data)
}

/// One layer to unpack: a file, the digest its bytes must have (compressed), and the digest
/// its uncompressed tar must have.
struct LayerSrc {
    path: PathBuf,
    digest: Option<String>,
    diff_id: Option<String>,
}

/// The layers of an OCI layout, bottom first. `reference` picks a manifest by its
/// `org.opencontainers.image.ref.name`; otherwise the linux one for this arch, or the only one.
fn oci_layers(layout: &Path, reference: Option<&str>) -> Result<Vec<LayerSrc>, ImportError> {
    if !layout.join("oci-layout").is_file() {
        return Err(src_err(
            layout,
            "no oci-layout file: not an OCI image layout",
        ));
    }
    let index: Index = read_json(&layout.join("index.json"))?;
    let mut cands = index.manifests;
    loop {
        let pick = pick(layout, &cands, reference)?;
        let body = read_verified(layout, &pick.digest)?;
        let at = blob(layout, &pick.digest)?;
        if pick.media_type.contains("index") || pick.media_type.contains("manifest.list") {
            let nested: Index = serde_json::from_slice(&body)
                .map_err(|e| src_err(&at, format!("not an index: {e}")))?;
            cands = nested.manifests;
            continue;
        }
        let m: Manifest = serde_json::from_slice(&body)
            .map_err(|e| src_err(&at, format!("not an image manifest: {e}")))?;
        return m
            .layers
            .into_iter()
            .map(|l| {
                if l.media_type.contains("nondistributable") || l.media_type.contains("foreign") {
                    return Err(src_err(
                        layout,
                        format!("layer {} is a foreign layer ({})", l.digest, l.media_type),
                    ));
                }
                Ok(LayerSrc {
                    path: blob(layout, &l.digest)?,
                    digest: Some(l.digest),
                    diff_id: None,
                })
            })
            .collect();
    }
}

fn pick<'a>(
    layout: &Path,
    c: &'a [Descriptor],
    reference: Option<&str>,
) -> Result<&'a Descriptor, ImportError> {
    if let Some(r) = reference {
        if let Some(d) = c.iter().find(|d| {
            d.annotations
                .get("org.opencontainers.image.ref.name")
                .map(String::as_str)
                == Some(r)
        }) {
            return Ok(d);
        }
        if c.iter().any(|d| {
            d.annotations
                .contains_key("org.opencontainers.image.ref.name")
        }) {
            return Err(src_err(layout, format!("no manifest named `{r}`")));
        }
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    c.iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .or_else(|| c.first())
        .ok_or_else(|| src_err(layout, "the index lists no manifest"))
}

/// Unpacks a `docker save` archive into `tmp` (safely) and returns its layers.
fn docker_layers(
    archive: &Path,
    tmp: &Path,
    reference: Option<&str>,
) -> Result<Vec<LayerSrc>, ImportError> {
    let f = fs::File::open(archive).map_err(|e| src_err(archive, e.to_string()))?;
    apply_archive(f, tmp, ApplyOptions::new(ApplyMode::Flatten))
        .map_err(|e| src_err(archive, format!("not a readable docker-save archive: {e}")))?;
    let mf = tmp.join("manifest.json");
    if !mf.is_file() {
        if tmp.join("oci-layout").is_file() {
            return oci_layers(tmp, reference);
        }
        return Err(src_err(
            archive,
            "no manifest.json: not a docker-save archive",
        ));
    }
    let all: Vec<DockerManifest> = read_json(&mf)?;
    let m = match reference {
        Some(r) => all
            .iter()
            .find(|m| {
                m.repo_tags
                    .as_ref()
                    .is_some_and(|t| t.iter().any(|x| x == r))
            })
            .ok_or_else(|| src_err(archive, format!("no image tagged `{r}`")))?,
        None => all
            .first()
            .ok_or_else(|| src_err(archive, "manifest.json lists no image"))?,
    };
    let cfg: Config = if m.config.is_empty() {
        Config::default()
    } else {
        read_json(&safe_join(tmp, &m.config, archive)?)?
    };
    let mut out = Vec::new();
    for (i, l) in m.layers.iter().enumerate() {
        out.push(LayerSrc {
            path: safe_join(tmp, l, archive)?,
            digest: None,
            diff_id: cfg.rootfs.diff_ids.get(i).cloned(),
        });
    }
    Ok(out)
}

/// `base/rel` for a relative path without `..`.
fn safe_join(base: &Path, rel: &str, what: &Path) -> Result<PathBuf, ImportError> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(src_err(what, format!("path `{rel}` leaves the archive")));
    }
    Ok(base.join(p))
}

/// Imports `src` (an OCI layout dir or a docker-save archive) into the new image dir `dst`.
pub fn import(src: &Path, dst: &Path, reference: Option<&str>) -> Result<Imported, ImportError> {
    if dst.exists()
        && fs::read_dir(dst)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ImportError::Destination(dst.to_path_buf()));
    }
    fs::create_dir_all(dst).map_err(|source| ImportError::Io {
        what: "create",
        path: dst.to_path_buf(),
        source,
    })?;
    let r = import_into(src, dst, reference);
    if r.is_err() {
        let _ = fs::remove_dir_all(dst);
    }
    r
}

fn import_into(src: &Path, dst: &Path, reference: Option<&str>) -> Result<Imported, ImportError> {
    let tmp = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(dst)
        .map_err(|source| ImportError::Io {
            what: "create temp dir in",
            path: dst.to_path_buf(),
            source,
        })?;
    let (layers, kind) = if src.is_dir() {
        (oci_layers(src, reference)?, "OCI layout")
    } else if src.is_file() {
        (
            docker_layers(src, tmp.path(), reference)?,
            "docker-save archive",
        )
    } else {
        return Err(src_err(src, "no such file or directory"));
    };
    let mut names = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let rel = PathBuf::from(format!("layers/{i:04}"));
        let dir = dst.join(&rel);
        fs::create_dir_all(&dir).map_err(|source| ImportError::Io {
            what: "create",
            path: dir.clone(),
            source,
        })?;
        let f = fs::File::open(&l.path).map_err(|e| src_err(&l.path, e.to_string()))?;
        let mut outer = Hashing {
            inner: io::BufReader::new(f),
            h: Sha256::new(),
        };
        let label = l
            .digest
            .clone()
            .unwrap_or_else(|| l.path.display().to_string());
        let mut lower = dirs.clone();
        lower.reverse();
        let opts = ApplyOptions::new(ApplyMode::Overlay(XattrNs::Trusted)).with_lower(lower);
        // The uncompressed stream is hashed too, for diff_ids.
        let uncompressed = {
            let inner =
                super::archive::decompress(&mut outer).map_err(|source| ImportError::Layer {
                    index: i,
                    digest: label.clone(),
                    source,
                })?;
            let mut tar_hash = Hashing {
                inner,
                h: Sha256::new(),
            };
            apply_archive(&mut tar_hash, &dir, opts).map_err(|source| ImportError::Layer {
                index: i,
                digest: label.clone(),
                source,
            })?;
            // Drain what the tar reader did not consume (end-of-archive padding).
            io::copy(&mut tar_hash, &mut io::sink())
                .map_err(|e| src_err(&l.path, e.to_string()))?;
            format!("sha256:{}", hex(&tar_hash.h.finalize()))
        };
        io::copy(&mut outer, &mut io::sink()).map_err(|e| src_err(&l.path, e.to_string()))?;
        let compressed = format!("sha256:{}", hex(&outer.h.finalize()));
        if let Some(d) = &l.digest
            && *d != compressed
        {
            return Err(src_err(
                &l.path,
                format!("content digest is {compressed}, expected {d}"),
            ));
        }
        if let Some(d) = &l.diff_id
            && *d != uncompressed
        {
            return Err(src_err(
                &l.path,
                format!("uncompressed digest is {uncompressed}, the config's diff_id is {d}"),
            ));
        }
        names.push(rel);
        dirs.push(dir);
    }
    if names.is_empty() {
        return Err(src_err(src, "the image has no layers"));
    }
    if names.len() > crate::spec::MAX_LAYERS {
        return Err(src_err(
            src,
            format!(
                "{} layers; the kernel stacks at most {}",
                names.len(),
                crate::spec::MAX_LAYERS
            ),
        ));
    }
    let m = ImageManifest {
        layers: names.clone(),
        source: format!("{kind} {}", src.display()),
    };
    let path = dst.join(IMAGE_MANIFEST);
    let json = serde_json::to_vec_pretty(&m).map_err(|e| src_err(&path, e.to_string()))?;
    fs::write(&path, json).map_err(|source| ImportError::Io {
        what: "write",
        path,
        source,
    })?;
    Ok(Imported {
        dir: dst.to_path_buf(),
        layers: names.len(),
        source: m.source,
    })
}
