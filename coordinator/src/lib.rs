//! The coordinator service: the sequencer over a durable log, the artifact
//! store, the scheduler, evaluation leases, the HTTP API, web pages and audit.
//!
//! The protocol itself is `bounties` (pure); everything here is the shell
//! around it: storage, sockets, clocks and processes.

pub mod access;
pub mod api;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod chart;
pub mod clock;
pub mod cluster;
pub mod datadir;
pub mod error;
pub mod ingest;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod node;
mod params;
pub mod publication;
pub mod routes;
pub mod scheduler;
pub mod sequencer;
pub mod server;
pub mod shared;
pub mod staging;
pub mod store;
pub mod web;
