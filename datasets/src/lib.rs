//! Datasets: the dataset file format, loaders for CSV, IDX and text, seeded
//! splits into public and hidden parts, and the real datasets bundled with
//! the project.
//!
//! A dataset file is a safetensors file (see [`format`]); its id is its
//! tensor hash, the same function as a model's weights hash. Loaders take
//! bytes and a name for errors, check everything, and produce nothing on
//! failure; writing a file is a separate, atomic step.

pub mod bundled;
pub mod csv;
pub mod error;
pub mod format;
pub mod gz;
pub mod idx;
pub mod labelled;
pub mod split;
pub mod text;
pub mod wordpiece;

pub use error::DatasetError;
pub use format::{Dataset, Summary, Tensor};
pub use split::Split;
