//! The one place the CLIs, the miner and the evaluator talk to a coordinator
//! ([`Client`], typed by `bounties-api`), and the local files they share: key
//! files, the download cache, streamed SHA-256 ([`files`]); and an audit of a
//! coordinator over HTTP ([`audit`]).
//!
//! This is the IO shell the protocol crate's rules forbid: `bounties` itself
//! stays pure, with no IO behind any feature.

pub mod audit;
pub mod files;
mod http;

pub use files::{cache_dir, random_key, read_key_file, sha256_file, write_key_file};
pub use http::{Acted, Client, ClientError, request_timestamp_ms};
