//! What several front-ends on one PostgreSQL database must agree on beyond
//! the log: the signed requests already accepted ([`seen`]) and the
//! evaluation leases given ([`leases`]). Each lives in a table of the log's
//! database, created with the log's versioned schema.

pub mod leases;
pub mod seen;
