//! Image layers: OCI whiteout names, the on-disk overlay whiteout formats, layer apply,
//! flatten and overlay-view models, diff and import.

pub mod whiteout;
