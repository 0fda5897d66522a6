//! The miner: candle implementations of the shared architectures, training, and licensed model files.

pub mod bounty;
pub mod fused;
pub mod import;
pub mod model;
pub mod optim;
pub mod runtime;
pub mod train;
