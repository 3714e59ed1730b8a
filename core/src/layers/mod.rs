//! Image layers: OCI whiteout names, the overlay whiteout formats, the layer models (flatten,
//! overlay conversion and view), applying layer archives to disk, diffing an upper dir back
//! into a layer, exporting a stack, and importing images.

pub mod apply;
pub mod archive;
pub mod diff;
pub mod import;
pub mod model;
pub mod tree;
pub mod whiteout;

pub use model::{Entry, Kind, Layer, LayerError};
pub use tree::{Node, Tree};
