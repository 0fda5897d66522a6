//! The protocol test binary: golden vectors, adversarial cases, lifecycles and properties.

mod adversarial;
mod golden;
mod image;
mod lifecycle;
mod properties;
mod support;
mod tensorfile;
mod trust;
