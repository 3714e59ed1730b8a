//! overlayfs mount options: a typed configuration validated the way the kernel does, builders
//! for every way of passing 1 to 500 layers, and a port of the kernel's option parser that the
//! tests and fuzzers use as the oracle.
//!
//! Everything here is pure: no syscall, no filesystem access.

mod build;
mod config;
mod escape;
pub mod parse;

pub use build::{
    BuildError, BuildOptions, FsParam, FsValue, KernelFeatures, Recipe, Strategy, build,
    common_parent, short_link_name, short_link_targets,
};
pub use config::{ConfigError, OnOff, OverlayConfig, OverlayFlags, RedirectDir, Uuid, Xino};
pub use escape::{
    DIR_SPECIAL, LOWER_SPECIAL, escape_backslash, escape_dir, escape_into, escape_lower,
    escaped_len, unescape,
};
