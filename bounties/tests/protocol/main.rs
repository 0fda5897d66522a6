//! The protocol test binary: golden vectors, adversarial cases, lifecycles and properties.

mod adversarial;
mod golden;
mod lifecycle;
mod properties;
mod support;
mod tensorfile;
mod trust;
