//! The `bounty` command line's library half: the sponsor's spec file, and the
//! helpers the commands and the demo share.

pub mod publish;
pub mod spec_file;
