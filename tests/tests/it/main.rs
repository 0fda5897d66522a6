//! Workspace-wide checks and end-to-end tests across real processes: the
//! same binaries users run, over real HTTP, on real SQLite files.

mod adapters;
mod journey;
mod purity;
mod rules;
mod support;
mod workers;
