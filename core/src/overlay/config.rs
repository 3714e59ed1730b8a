//! `OverlayConfig`: layers, upper, work and typed flags, validated as the kernel validates them
//! (`ovl_fs_params_verify`, `ovl_get_lowerstack`, `ovl_mount_dir_noesc`).

use crate::spec::MAX_LAYERS;
use serde::{Deserialize, Serialize};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `PATH_MAX` including the NUL: a longer path fails `kern_path` with ENAMETOOLONG.
pub const PATH_MAX: usize = 4096;

/// `on`/`off` valued options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnOff {
    On,
    Off,
}

/// `redirect_dir=` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectDir {
    On,
    Follow,
    Nofollow,
    Off,
}

/// `xino=` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Xino {
    Off,
    Auto,
    On,
}

/// `uuid=` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Uuid {
    Off,
    Null,
    Auto,
    On,
}

/// Typed overlay flags. `None` leaves the kernel's default (module parameter or Kconfig).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OverlayFlags {
    pub volatile: bool,
    pub userxattr: bool,
    pub default_permissions: bool,
    pub index: Option<OnOff>,
    pub redirect_dir: Option<RedirectDir>,
    pub metacopy: Option<OnOff>,
    pub xino: Option<Xino>,
    pub nfs_export: Option<OnOff>,
    pub uuid: Option<Uuid>,
}

impl OnOff {
    pub const fn as_str(self) -> &'static str {
        match self {
            OnOff::On => "on",
            OnOff::Off => "off",
        }
    }
}

impl RedirectDir {
    pub const fn as_str(self) -> &'static str {
        match self {
            RedirectDir::On => "on",
            RedirectDir::Follow => "follow",
            RedirectDir::Nofollow => "nofollow",
            RedirectDir::Off => "off",
        }
    }
}

impl Xino {
    pub const fn as_str(self) -> &'static str {
        match self {
            Xino::Off => "off",
            Xino::Auto => "auto",
            Xino::On => "on",
        }
    }
}

impl Uuid {
    pub const fn as_str(self) -> &'static str {
        match self {
            Uuid::Off => "off",
            Uuid::Null => "null",
            Uuid::Auto => "auto",
            Uuid::On => "on",
        }
    }
}

impl OverlayFlags {
    /// The flags as `(key, value)` pairs, in the order the builders emit them.
    pub fn options(&self) -> Vec<(&'static str, Option<&'static str>)> {
        let mut v = Vec::new();
        if let Some(x) = self.redirect_dir {
            v.push(("redirect_dir", Some(x.as_str())));
        }
        if let Some(x) = self.index {
            v.push(("index", Some(x.as_str())));
        }
        if let Some(x) = self.uuid {
            v.push(("uuid", Some(x.as_str())));
        }
        if let Some(x) = self.nfs_export {
            v.push(("nfs_export", Some(x.as_str())));
        }
        if let Some(x) = self.xino {
            v.push(("xino", Some(x.as_str())));
        }
        if let Some(x) = self.metacopy {
            v.push(("metacopy", Some(x.as_str())));
        }
        if self.userxattr {
            v.push(("userxattr", None));
        }
        if self.volatile {
            v.push(("volatile", None));
        }
        if self.default_permissions {
            v.push(("default_permissions", None));
        }
        v
    }

    /// The explicit-conflict rules of `ovl_fs_params_verify()` that do not depend on the layers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.metacopy == Some(OnOff::On)
            && let Some(r) = self.redirect_dir
            && r != RedirectDir::On
        {
            return Err(ConfigError::Conflict(format!(
                "metacopy=on,redirect_dir={}",
                r.as_str()
            )));
        }
        if self.nfs_export == Some(OnOff::On) && self.metacopy == Some(OnOff::On) {
            return Err(ConfigError::Conflict("nfs_export=on,metacopy=on".into()));
        }
        if self.userxattr {
            if let Some(r) = self.redirect_dir
                && r != RedirectDir::Nofollow
            {
                return Err(ConfigError::Conflict(format!(
                    "userxattr,redirect_dir={}",
                    r.as_str()
                )));
            }
            if self.metacopy == Some(OnOff::On) {
                return Err(ConfigError::Conflict("userxattr,metacopy=on".into()));
            }
        }
        Ok(())
    }
}

/// One overlay mount: lower layers top first, data-only layers, upper and work.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OverlayConfig {
    /// Regular lower layers, top (leftmost in `lowerdir=`) first.
    pub lowers: Vec<PathBuf>,
    /// Data-only lower layers (`::` / `datadir+`), below all regular lowers.
    pub data: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
    pub work: Option<PathBuf>,
    pub flags: OverlayFlags,
}

/// A configuration the kernel would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no lower layer")]
    NoLower,
    #[error("{0} lower layers: the kernel stacks at most {MAX_LAYERS}")]
    TooManyLayers(usize),
    #[error("one lower layer without an upper dir: the kernel needs at least 2 lowerdirs then")]
    SingleLowerWithoutUpper,
    #[error("workdir given without upperdir")]
    WorkWithoutUpper,
    #[error("upperdir given without workdir")]
    UpperWithoutWork,
    #[error("{what} path is empty")]
    EmptyPath { what: String },
    #[error("{what} path contains a NUL byte")]
    NulInPath { what: String },
    #[error("{what} path is {len} bytes, longer than PATH_MAX-1 ({})", PATH_MAX - 1)]
    PathTooLong { what: String, len: usize },
    #[error("data-only layers need metacopy and redirect_dir, which userxattr disables")]
    DataLayersWithUserxattr,
    #[error("conflicting options: {0}")]
    Conflict(String),
}

impl OverlayConfig {
    /// Every layer with its role, for error messages: ("lowerdir 3", path).
    pub fn named_paths(&self) -> Vec<(String, &PathBuf)> {
        let mut v: Vec<(String, &PathBuf)> = Vec::new();
        for (i, p) in self.lowers.iter().enumerate() {
            v.push((format!("lowerdir {i}"), p));
        }
        for (i, p) in self.data.iter().enumerate() {
            v.push((format!("datadir {i}"), p));
        }
        if let Some(u) = &self.upper {
            v.push(("upperdir".into(), u));
        }
        if let Some(w) = &self.work {
            v.push(("workdir".into(), w));
        }
        v
    }

    /// Checks the configuration against the kernel's rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lowers.is_empty() {
            return Err(ConfigError::NoLower);
        }
        let total = self.lowers.len() + self.data.len();
        if total > MAX_LAYERS {
            return Err(ConfigError::TooManyLayers(total));
        }
        if self.upper.is_none() && self.lowers.len() + self.data.len() < 2 {
            return Err(ConfigError::SingleLowerWithoutUpper);
        }
        match (&self.upper, &self.work) {
            (None, Some(_)) => return Err(ConfigError::WorkWithoutUpper),
            (Some(_), None) => return Err(ConfigError::UpperWithoutWork),
            _ => {}
        }
        let all = self
            .lowers
            .iter()
            .chain(&self.data)
            .chain(&self.upper)
            .chain(&self.work);
        for (i, p) in all.enumerate() {
            let b = p.as_os_str().as_bytes();
            let bad = b.is_empty() || b.contains(&0) || b.len() > PATH_MAX - 1;
            if !bad {
                continue;
            }
            // Name the path only on the error path.
            let what = self.named_paths().swap_remove(i).0;
            if b.is_empty() {
                return Err(ConfigError::EmptyPath { what });
            }
            if b.contains(&0) {
                return Err(ConfigError::NulInPath { what });
            }
            return Err(ConfigError::PathTooLong { what, len: b.len() });
        }
        if !self.data.is_empty() && self.flags.userxattr {
            return Err(ConfigError::DataLayersWithUserxattr);
        }
        self.flags.validate()?;
        // nfs_export=on,index=off only conflicts where the kernel cannot fall back to
        // nfs_export=off, i.e. with an upper dir or redirect_dir=nofollow.
        if self.flags.nfs_export == Some(OnOff::On)
            && self.flags.index == Some(OnOff::Off)
            && (self.upper.is_some() || self.flags.redirect_dir == Some(RedirectDir::Nofollow))
        {
            return Err(ConfigError::Conflict("nfs_export=on,index=off".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n: usize) -> OverlayConfig {
        OverlayConfig {
            lowers: (0..n).map(|i| PathBuf::from(format!("/l/{i}"))).collect(),
            data: vec![],
            upper: Some("/u".into()),
            work: Some("/w".into()),
            flags: OverlayFlags::default(),
        }
    }

    #[test]
    fn layer_counts() {
        assert!(cfg(1).validate().is_ok());
        assert!(cfg(500).validate().is_ok());
        assert_eq!(cfg(501).validate(), Err(ConfigError::TooManyLayers(501)));
        assert_eq!(cfg(0).validate(), Err(ConfigError::NoLower));
        let mut c = cfg(1);
        c.upper = None;
        c.work = None;
        assert_eq!(c.validate(), Err(ConfigError::SingleLowerWithoutUpper));
        let mut c = cfg(2);
        c.upper = None;
        assert_eq!(c.validate(), Err(ConfigError::WorkWithoutUpper));
        let mut c = cfg(2);
        c.work = None;
        assert_eq!(c.validate(), Err(ConfigError::UpperWithoutWork));
    }

    #[test]
    fn flag_conflicts_match_the_kernel() {
        let with = |f: OverlayFlags| {
            let mut c = cfg(2);
            c.flags = f;
            c.validate()
        };
        let conflict = |s: &str| Err(ConfigError::Conflict(s.to_string()));
        assert_eq!(
            with(OverlayFlags {
                metacopy: Some(OnOff::On),
                redirect_dir: Some(RedirectDir::Off),
                ..Default::default()
            }),
            conflict("metacopy=on,redirect_dir=off")
        );
        assert!(
            with(OverlayFlags {
                metacopy: Some(OnOff::On),
                redirect_dir: Some(RedirectDir::On),
                ..Default::default()
            })
            .is_ok()
        );
        assert_eq!(
            with(OverlayFlags {
                userxattr: true,
                redirect_dir: Some(RedirectDir::On),
                ..Default::default()
            }),
            conflict("userxattr,redirect_dir=on")
        );
        assert!(
            with(OverlayFlags {
                userxattr: true,
                redirect_dir: Some(RedirectDir::Nofollow),
                ..Default::default()
            })
            .is_ok()
        );
        assert_eq!(
            with(OverlayFlags {
                userxattr: true,
                metacopy: Some(OnOff::On),
                ..Default::default()
            }),
            conflict("userxattr,metacopy=on")
        );
        assert_eq!(
            with(OverlayFlags {
                nfs_export: Some(OnOff::On),
                index: Some(OnOff::Off),
                ..Default::default()
            }),
            conflict("nfs_export=on,index=off")
        );
        assert_eq!(
            with(OverlayFlags {
                nfs_export: Some(OnOff::On),
                metacopy: Some(OnOff::On),
                ..Default::default()
            }),
            conflict("nfs_export=on,metacopy=on")
        );
    }

    #[test]
    fn bad_paths_are_named() {
        let mut c = cfg(3);
        c.lowers[1] = PathBuf::from("");
        assert_eq!(
            c.validate(),
            Err(ConfigError::EmptyPath {
                what: "lowerdir 1".into()
            })
        );
        let mut c = cfg(3);
        c.upper = Some(PathBuf::from("/".to_string() + &"a".repeat(4095)));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PathTooLong { len: 4096, .. })
        ));
    }
}
